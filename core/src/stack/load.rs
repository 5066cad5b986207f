//! From compose files' text to one typed [`ComposeFile`]: YAML (anchors and `<<` merge keys
//! resolved), `x-` extension keys dropped, keys swarm ignores dropped with a warning naming
//! them, variables interpolated in values, several files merged in order, then typed.
//!
//! Pure: the caller reads the files and the environment and passes them in; every error says
//! which file and which key (`FILE:LINE:COLUMN` for YAML syntax).

use super::compose::ComposeFile;
use super::interpolate::{substitute, Variables};
use super::StackError;
use serde_norway::{Mapping, Value};

/// One compose file as the operator named it (`-c PATH`) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// The merged, interpolated and typed result, and what the operator should be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub file: ComposeFile,
    pub warnings: Vec<String>,
}

/// Service keys that swarm mode does not use: dropped, and named in one warning (docker's
/// "Ignoring unsupported options"). `restart` is named too, yet still read when
/// `deploy.restart_policy` is absent, as docker does.
pub const UNSUPPORTED_SERVICE_KEYS: &[&str] = &[
    "build",
    "cgroup_parent",
    "cgroupns_mode",
    "devices",
    "domainname",
    "external_links",
    "ipc",
    "links",
    "mac_address",
    "network_mode",
    "pid",
    "privileged",
    "restart",
    "security_opt",
    "shm_size",
    "userns_mode",
];

/// Service keys docker calls deprecated: dropped with docker's explanation.
pub const DEPRECATED_SERVICE_KEYS: &[(&str, &str)] = &[
    ("container_name", "Setting the container name is not supported."),
    ("expose", "Exposing ports is unnecessary - services on the same network can access each other's containers on any port."),
];

/// Service keys the compose format has and swarm ignores without a word (docker's converter
/// never reads them).
const SILENT_SERVICE_KEYS: &[&str] = &["depends_on", "tmpfs"];

/// Service keys that make docker refuse the whole file, with what to do instead.
pub const FORBIDDEN_SERVICE_KEYS: &[(&str, &str)] = &[
    ("cpu_quota", "Set resource limits using deploy.resources"),
    ("cpu_shares", "Set resource limits using deploy.resources"),
    ("cpuset", "Set resource limits using deploy.resources"),
    ("extends", "Support for `extends` is not implemented yet."),
    ("mem_limit", "Set resource limits using deploy.resources"),
    ("memswap_limit", "Set resource limits using deploy.resources"),
    (
        "volume_driver",
        "Instead of setting the volume driver on the service, define a volume using the top-level `volumes` option and specify the driver there.",
    ),
    (
        "volumes_from",
        "To share a volume between services, define it using the top-level `volumes` option and reference it from each service that shares it using the service-level `volumes` option.",
    ),
];

/// Loads `sources` in order; a later file's values override or extend an earlier one's.
/// Without `vars`, values are left as written (`stack config --skip-interpolation`).
pub fn load(sources: &[Source], vars: Option<&Variables>) -> Result<Loaded, StackError> {
    let mut warnings = Vec::new();
    let mut dropped = Dropped::default();
    let mut merged: Option<Value> = None;
    for src in sources {
        let mut v = parse(src)?;
        strip(&mut v, &mut dropped);
        if !dropped.forbidden.is_empty() {
            dropped.forbidden.sort();
            dropped.forbidden.dedup();
            return Err(StackError::Forbidden { file: src.name.clone(), options: dropped.forbidden });
        }
        if let Some(vars) = vars {
            interpolate(&mut v, vars, &src.name, &mut String::new())?;
        }
        merged = Some(match merged {
            None => v,
            Some(mut base) => {
                merge(&mut base, v, &[]);
                base
            }
        });
    }
    for list in [&mut dropped.unsupported, &mut dropped.deprecated] {
        list.sort();
        list.dedup();
    }
    if !dropped.unsupported.is_empty() {
        warnings.push(format!("Ignoring unsupported options: {}", dropped.unsupported.join(", ")));
    }
    if !dropped.deprecated.is_empty() {
        warnings.push(format!("Ignoring deprecated options:\n\n{}", dropped.deprecated.join("\n\n")));
    }
    let files = sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let value = merged.unwrap_or(Value::Mapping(Mapping::new()));
    let file: ComposeFile = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        StackError::Invalid { file: files.clone(), path, message: type_message(e.inner()) }
    })?;
    Ok(Loaded { file, warnings })
}

/// serde's message, in the words a compose user needs.
fn type_message(e: &serde_norway::Error) -> String {
    let m = e.to_string();
    match m.split_once(", expected one of") {
        Some((head, _)) if head.starts_with("unknown field") => format!("{head}: not a compose key swarm knows (check the spelling and the indentation)"),
        _ => m,
    }
}

fn parse(src: &Source) -> Result<Value, StackError> {
    let syntax = |e: serde_norway::Error| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        // The message repeats the location at its end ("… at line 3 column 5").
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        StackError::Syntax { file: src.name.clone(), line, column, message }
    };
    let mut v: Value = serde_norway::from_str(&src.text).map_err(syntax)?;
    v.apply_merge().map_err(syntax)?;
    match v {
        Value::Mapping(_) => Ok(v),
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        _ => Err(StackError::Invalid { file: src.name.clone(), path: ".".into(), message: "a compose file is a mapping (services:, networks:, …)".into() }),
    }
}

/// Service keys taken out of the files, by what docker does about them.
#[derive(Debug, Default)]
struct Dropped {
    unsupported: Vec<String>,
    deprecated: Vec<String>,
    forbidden: Vec<String>,
}

/// Drops `x-` keys where compose allows them (the top level, each service, network, volume,
/// secret and config) and the service keys swarm ignores (collected in `unsupported`).
fn strip(v: &mut Value, found: &mut Dropped) {
    let Value::Mapping(top) = v else { return };
    top.retain(|k, _| !is_extension(k));
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        let Some(Value::Mapping(m)) = top.get_mut(section) else { continue };
        m.retain(|k, _| !is_extension(k));
        for (_, def) in m.iter_mut() {
            if let Value::Mapping(d) = def {
                d.retain(|k, _| !is_extension(k));
                if section == "services" {
                    d.retain(|k, _| {
                        let Some(key) = k.as_str() else { return true };
                        if UNSUPPORTED_SERVICE_KEYS.contains(&key) {
                            found.unsupported.push(key.to_string());
                            return key == "restart";
                        }
                        if let Some((k, why)) = DEPRECATED_SERVICE_KEYS.iter().find(|(k, _)| *k == key) {
                            found.deprecated.push(format!("{k}: {why}"));
                            return false;
                        }
                        if let Some((k, why)) = FORBIDDEN_SERVICE_KEYS.iter().find(|(k, _)| *k == key) {
                            found.forbidden.push(format!("{k}: {why}"));
                            return false;
                        }
                        !SILENT_SERVICE_KEYS.contains(&key)
                    });
                }
            }
        }
    }
}

fn is_extension(k: &Value) -> bool {
    k.as_str().is_some_and(|s| s.starts_with("x-"))
}

/// Substitutes variables in every string value (keys stay as written); `path` is the key
/// path so far, for the error.
fn interpolate(v: &mut Value, vars: &Variables, file: &str, path: &mut String) -> Result<(), StackError> {
    match v {
        Value::String(s) => {
            *s = substitute(s, vars).map_err(|e| StackError::Interpolate { file: file.to_string(), path: path.clone(), source: e })?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                interpolate(item, vars, file, path)?;
                path.truncate(len);
            }
        }
        Value::Mapping(m) => {
            for (k, item) in m.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&key_text(k));
                interpolate(item, vars, file, path)?;
                path.truncate(len);
            }
        }
        Value::Tagged(t) => interpolate(&mut t.value, vars, file, path)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".into(),
    }
}

/// Merges `over` into `base` as docker merges a later `-c` file into an earlier one: a
/// top-level network, volume, secret or config of the same name is replaced whole; services
/// merge key by key, where `ports` merge by published port, `volumes` by target, `secrets`
/// and `configs` by source, `environment`, `labels` and `sysctls` entry by entry, `command`
/// and `entrypoint` are replaced, and any other list is appended to. `path` is where `base`
/// sits (keys from the top).
fn merge(base: &mut Value, over: Value, path: &[String]) {
    let key = path.last().map(String::as_str).unwrap_or("");
    let top_section = path.len() == 2 && ["networks", "volumes", "secrets", "configs"].contains(&path[0].as_str());
    let in_service = path.len() >= 3 && path[0] == "services";
    match (base, over) {
        (b, o) if top_section => *b = o,
        (b, o) if in_service && ["environment", "labels", "sysctls"].contains(&key) => {
            let mut m = as_entries(b);
            for (k, v) in as_entries(&o) {
                m.insert(k, v);
            }
            *b = Value::Mapping(m);
        }
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                let mut sub = path.to_vec();
                sub.push(key_text(&k));
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v, &sub),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(items), Value::Sequence(o)) if in_service && !["command", "entrypoint"].contains(&key) => {
            let keyed = path.len() == 3 && ["ports", "volumes", "secrets", "configs"].contains(&key);
            for item in o {
                let slot = if keyed { items.iter_mut().find(|x| list_key(key, x) == list_key(key, &item)) } else { None };
                match slot {
                    Some(slot) => *slot = item,
                    None => items.push(item),
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The identity of an entry of a keyed service list (see [`merge`]).
fn list_key(list: &str, v: &Value) -> String {
    let field = match list {
        "ports" => "published",
        "volumes" => "target",
        _ => "source",
    };
    match v {
        Value::Mapping(m) => m.get(field).map(key_text).unwrap_or_default(),
        other => {
            let s = key_text(other);
            let parts: Vec<&str> = s.split(':').collect();
            match list {
                // `[ip:]published:target[/proto]`, or a bare target (published 0).
                "ports" if parts.len() >= 2 => parts[parts.len() - 2].to_string(),
                "ports" => "0".into(),
                // `source:target[:mode]`, or a bare target (an anonymous volume).
                "volumes" if parts.len() >= 2 => parts[1].to_string(),
                _ => s,
            }
        }
    }
}

/// `[K=V]` or `{K: V}` as a mapping.
fn as_entries(v: &Value) -> Mapping {
    match v {
        Value::Mapping(m) => m.clone(),
        Value::Sequence(items) => items
            .iter()
            .map(|i| {
                let t = key_text(i);
                match t.split_once('=') {
                    Some((k, v)) => (Value::String(k.to_string()), Value::String(v.to_string())),
                    None => (Value::String(t), Value::Null),
                }
            })
            .collect(),
        _ => Mapping::new(),
    }
}

/// `vars` with the `.env` file at `path` (text `text`) for names `vars` does not set (the
/// environment wins, compose's rule).
pub fn with_dotenv(mut vars: Variables, path: &str, text: &str) -> Result<Variables, StackError> {
    let none = |_: &str| None;
    for (k, v) in parse_env_file(path, text, &none)? {
        if let Some(v) = v {
            vars.0.entry(k).or_insert(v);
        }
    }
    Ok(vars)
}

/// The merged result as YAML (`stack config`).
pub fn to_yaml(file: &ComposeFile) -> String {
    // The typed file is plain data: serialising it cannot fail.
    serde_norway::to_string(file).unwrap_or_default()
}

/// A `.env` (or `env_file`) file: `KEY=VALUE` lines; blank lines and `#` comments skipped;
/// `KEY` alone takes the value from `lookup` (or stays unset). Quotes around a value are
/// kept (docker's env_file does not strip them).
pub fn parse_env_file(file: &str, text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<(String, Option<String>)>, StackError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (line.trim_end(), None),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(StackError::Syntax {
                file: file.to_string(),
                line: i + 1,
                column: 1,
                message: format!("variable {key:?} has white space or is empty: write KEY=VALUE"),
            });
        }
        let value = value.or_else(|| lookup(key));
        out.push((key.to_string(), value));
    }
    Ok(out)
}

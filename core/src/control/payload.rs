//! Secrets and configs: named data that tasks get as files (swarmkit's controlapi for both).
//!
//! The two kinds share every rule except their limits, where their files go and whether reads
//! show the data: create (name unique, data 1 byte up to the kind's limit), labels-only update,
//! remove (refused while a service's spec uses it), and resolving a service's references by
//! name to ids. Input: the committed store; output: actions, or a [`ControlError`] with nothing
//! proposed.

use super::{find_named, services, valid_name, ControlError, ControlError::*};
use crate::model::{Config, FileOwner, Kind, Meta, Object, Secret, SecretSpec, ServiceSpec};
use crate::store::{Action, Store};
use std::collections::{BTreeMap, BTreeSet};

/// A secret's data may be at most this big (swarm's limit: 500 KiB).
pub const MAX_SECRET_BYTES: usize = 500 * 1024;
/// A config's data may be at most this big (swarm's limit: 1000 KiB).
pub const MAX_CONFIG_BYTES: usize = 1000 * 1024;

/// Which of the two payload kinds a verb acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Secret,
    Config,
}

impl PayloadKind {
    pub fn kind(self) -> Kind {
        match self {
            PayloadKind::Secret => Kind::Secret,
            PayloadKind::Config => Kind::Config,
        }
    }

    /// How messages name the kind ("secret", "config").
    pub fn noun(self) -> &'static str {
        self.kind().as_str()
    }

    pub fn max_bytes(self) -> usize {
        match self {
            PayloadKind::Secret => MAX_SECRET_BYTES,
            PayloadKind::Config => MAX_CONFIG_BYTES,
        }
    }

    fn object(self, id: String, meta: Meta, spec: SecretSpec) -> Object {
        match self {
            PayloadKind::Secret => Object::Secret(Secret { id, meta, spec }),
            PayloadKind::Config => Object::Config(Config { id, meta, spec }),
        }
    }
}

/// The id, meta and spec of a secret or config; None for other objects.
pub fn payload_parts(o: &Object) -> Option<(&str, &Meta, &SecretSpec)> {
    match o {
        Object::Secret(s) => Some((&s.id, &s.meta, &s.spec)),
        Object::Config(c) => Some((&c.id, &c.meta, &c.spec)),
        _ => None,
    }
}

/// A secret or config by id, name, or unique id prefix (docker's "secret not found: NAME").
pub fn find_payload<'a>(store: &'a Store, kind: PayloadKind, key: &str) -> Result<&'a Object, ControlError> {
    find_named(store, kind.kind(), key, format!("{} not found: {key}", kind.noun()))
}

/// A secret by id, name, or unique id prefix.
pub fn find_secret<'a>(store: &'a Store, key: &str) -> Result<&'a Secret, ControlError> {
    match find_payload(store, PayloadKind::Secret, key)? {
        Object::Secret(s) => Ok(s),
        _ => unreachable!("a secret-kind key holds a secret"),
    }
}

/// A config by id, name, or unique id prefix.
pub fn find_config<'a>(store: &'a Store, key: &str) -> Result<&'a Config, ControlError> {
    match find_payload(store, PayloadKind::Config, key)? {
        Object::Config(c) => Ok(c),
        _ => unreachable!("a config-kind key holds a config"),
    }
}

/// The size rule of a secret's or config's data (clients check it before sending, so a big
/// file is refused with this message rather than by a transport limit).
pub fn check_payload_size(kind: PayloadKind, len: usize) -> Result<(), ControlError> {
    let noun = kind.noun();
    if len > kind.max_bytes() {
        return Err(InvalidArgument(format!(
            "{noun} data is {len} bytes: a {noun} may hold at most {} bytes ({} KiB)",
            kind.max_bytes(),
            kind.max_bytes() / 1024
        )));
    }
    Ok(())
}

/// `secret create` / `config create`: the new object with id `id`.
pub fn create_payload(store: &Store, kind: PayloadKind, spec: SecretSpec, id: String) -> Result<Vec<Action>, ControlError> {
    let noun = kind.noun();
    valid_name(&spec.annotations.name)?;
    if spec.data.is_empty() {
        return Err(InvalidArgument(format!("{noun} data is empty: give a file (or - for stdin) with the {noun}'s content")));
    }
    check_payload_size(kind, spec.data.len())?;
    if store.find_by_name(kind.kind(), &spec.annotations.name).is_some() {
        return Err(AlreadyExists(format!("{noun} {} already exists: pick another name or remove that one", spec.annotations.name)));
    }
    Ok(vec![Action::Create(kind.object(id, Meta::default(), spec))])
}

/// `secret update` / `config update` (the Engine API's; swarm allows labels only): the labels
/// become `labels`. `name`: the name the request carries (it may not change); `data`: the data
/// the request carried, if any (refused unless it is the data stored: the data never changes,
/// make a new one; `docker stack deploy` sends it unchanged on every redeploy).
pub fn update_payload(
    store: &Store,
    kind: PayloadKind,
    key: &str,
    name: &str,
    data: Option<&[u8]>,
    labels: BTreeMap<String, String>,
    expected_version: Option<u64>,
) -> Result<Vec<Action>, ControlError> {
    let noun = kind.noun();
    let (id, meta, spec) = payload_parts(find_payload(store, kind, key)?).expect("a payload kind holds payloads");
    if let Some(v) = expected_version.filter(|v| *v != meta.version) {
        return Err(ControlError::OutOfSequence(format!(
            "update out of sequence: {noun} {} is at version {}, not {v}; re-read it and retry",
            spec.annotations.name, meta.version
        )));
    }
    if data.is_some_and(|d| !same_bytes(d, &spec.data)) || name != spec.annotations.name {
        return Err(InvalidArgument(format!(
            "only updates to Labels are allowed: a {noun}'s name and data never change; create a new {noun} and point the service at it"
        )));
    }
    if labels == spec.annotations.labels {
        return Ok(vec![]);
    }
    let mut new = spec.clone();
    new.annotations.labels = labels;
    Ok(vec![Action::Update { object: kind.object(id.to_string(), meta.clone(), new), expected_version: meta.version }])
}

/// Equal byte strings, in time that depends on their length only (a client must not learn a
/// secret's bytes from how long a refusal takes; swarmkit compares in constant time too).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The names of the services whose spec uses the payload `id`, in name order.
fn users<'a>(store: &'a Store, kind: PayloadKind, id: &str) -> Vec<&'a str> {
    let mut names: Vec<&str> = services(store)
        .filter(|svc| {
            let c = &svc.spec.task.container;
            match kind {
                PayloadKind::Secret => c.secrets.iter().any(|r| r.secret_id == id),
                PayloadKind::Config => c.configs.iter().any(|r| r.config_id == id),
            }
        })
        .map(|svc| svc.spec.annotations.name.as_str())
        .collect();
    names.sort_unstable();
    names
}

/// `secret rm` / `config rm`: refused while a service's spec uses it (docker's message).
pub fn remove_payload(store: &Store, kind: PayloadKind, key: &str) -> Result<Vec<Action>, ControlError> {
    let (id, meta, spec) = payload_parts(find_payload(store, kind, key)?).expect("a payload kind holds payloads");
    let users = users(store, kind, id);
    if !users.is_empty() {
        return Err(InvalidArgument(format!(
            "{} '{}' is in use by the following service{}: {}",
            kind.noun(),
            spec.annotations.name,
            if users.len() == 1 { "" } else { "s" },
            users.join(", ")
        )));
    }
    Ok(vec![Action::Delete { kind: kind.kind(), id: id.to_string(), expected_version: Some(meta.version) }])
}

/// The file owner and mode a reference asks for: ids are numbers, the mode fits 0o777.
fn check_owner(what: &str, f: &FileOwner) -> Result<(), ControlError> {
    for (field, v) in [("uid", &f.uid), ("gid", &f.gid)] {
        if !v.is_empty() && !v.chars().all(|c| c.is_ascii_digit()) {
            return Err(InvalidArgument(format!("{what}: {field} {v:?} is not a number: give a numeric id, e.g. {field}=1000")));
        }
    }
    if let Some(m) = f.mode.filter(|m| *m > 0o777) {
        return Err(InvalidArgument(format!("{what}: mode {m:o} is not a file mode: give octal permission bits, e.g. mode=0440")));
    }
    Ok(())
}

/// One reference: the object by its id if that still exists, else by its name; the id and
/// name become the object's, an empty target the name.
fn resolve_one(store: &Store, kind: PayloadKind, id: &mut String, name: &mut String, target: &mut String) -> Result<(), ControlError> {
    let found = match store.get(kind.kind(), id) {
        Some(o) if !id.is_empty() => o,
        _ => find_payload(store, kind, name)?,
    };
    let (found_id, _, spec) = payload_parts(found).expect("a payload kind holds payloads");
    *id = found_id.to_string();
    *name = spec.annotations.name.clone();
    if target.is_empty() {
        *target = name.clone();
    }
    Ok(())
}

/// Resolves the spec's secret and config references to the objects in the store (by id if it
/// still exists, else by name), defaults each target to the name, and refuses unknown ones,
/// bad targets, owners or modes, and two files on one path.
pub(super) fn resolve_references(store: &Store, spec: &mut ServiceSpec) -> Result<(), ControlError> {
    let mut paths = BTreeSet::new();
    for r in &mut spec.task.container.secrets {
        resolve_one(store, PayloadKind::Secret, &mut r.secret_id, &mut r.secret_name, &mut r.target)?;
        if r.target.contains('/') || r.target == "." || r.target == ".." {
            return Err(InvalidArgument(format!("secret target {:?}: give a file name (it goes under /run/secrets)", r.target)));
        }
        check_owner(&format!("secret {}", r.secret_name), &r.file)?;
        if !paths.insert(format!("/run/secrets/{}", r.target)) {
            return Err(InvalidArgument(format!("duplicate secret target for {} not allowed: give each secret its own target", r.target)));
        }
    }
    for r in &mut spec.task.container.configs {
        resolve_one(store, PayloadKind::Config, &mut r.config_id, &mut r.config_name, &mut r.target)?;
        let path = r.path();
        if path.ends_with('/') || path.split('/').any(|p| p == "." || p == "..") {
            return Err(InvalidArgument(format!(
                "config target {:?}: give a file path in the container, e.g. /etc/app.conf (no '.' or '..' parts)",
                r.target
            )));
        }
        check_owner(&format!("config {}", r.config_name), &r.file)?;
        if !paths.insert(path.clone()) {
            return Err(InvalidArgument(format!("duplicate config target for {path} not allowed: give each config and secret its own path")));
        }
    }
    Ok(())
}

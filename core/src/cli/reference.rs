//! docker's `--secret` and `--config` values: `NAME`, or `source=NAME[,target=…][,uid=N]
//! [,gid=N][,mode=M]` (also `src`), and `--network NAME|name=NAME,alias=A`. Ids are resolved
//! later by the control API.

use crate::model::{ConfigReference, FileOwner, NetworkAttachmentConfig, SecretReference};

/// The fields of one value: (source, target, owner). `flag` names the flag in messages.
fn parse_fields(flag: &str, s: &str) -> Result<(String, String, FileOwner), String> {
    let (mut source, mut target, mut owner) = (String::new(), String::new(), FileOwner::default());
    if !s.contains('=') {
        source = s.to_string();
    } else {
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("source" | "src", v)) => source = v.to_string(),
                Some(("target", v)) => target = v.to_string(),
                Some(("uid", v)) => owner.uid = v.to_string(),
                Some(("gid", v)) => owner.gid = v.to_string(),
                Some(("mode", v)) => owner.mode = Some(parse_mode(v).ok_or_else(|| {
                    format!("invalid --{flag} mode {v:?}: give permission bits in octal with a leading 0, e.g. mode=0440")
                })?),
                _ => return Err(format!("invalid --{flag} field {field:?}: use source=NAME, target=…, uid=N, gid=N, mode=0440")),
            }
        }
    }
    if source.is_empty() {
        return Err(format!("invalid --{flag} {s:?}: name the {flag}, e.g. --{flag} NAME or --{flag} source=NAME,target=…"));
    }
    Ok((source, target, owner))
}

/// docker parses a mode with base prefixes: `0440` (or `0o440`) is octal, `0x…` hex, else
/// decimal.
fn parse_mode(v: &str) -> Option<u32> {
    if let Some(h) = v.strip_prefix("0x") {
        u32::from_str_radix(h, 16).ok()
    } else if let Some(o) = v.strip_prefix("0o").or_else(|| v.strip_prefix('0').filter(|o| !o.is_empty())) {
        u32::from_str_radix(o, 8).ok()
    } else {
        v.parse().ok()
    }
}

/// `--secret`: a target given as `/run/secrets/FILE` means FILE.
pub fn parse_secret(s: &str) -> Result<SecretReference, String> {
    let (secret_name, target, file) = parse_fields("secret", s)?;
    let target = target.strip_prefix("/run/secrets/").unwrap_or(&target).to_string();
    Ok(SecretReference { secret_id: String::new(), secret_name, target, file })
}

/// `--config`: the target is a path in the container (a bare name means `/NAME`).
pub fn parse_config(s: &str) -> Result<ConfigReference, String> {
    let (config_name, target, file) = parse_fields("config", s)?;
    Ok(ConfigReference { config_id: String::new(), config_name, target, file })
}

/// `--network`: `NAME`, or `name=NAME[,alias=A]…` (docker's long form; `driver-opt` is not
/// supported).
pub fn parse_network(s: &str) -> Result<NetworkAttachmentConfig, String> {
    let mut a = NetworkAttachmentConfig::default();
    if !s.contains('=') {
        a.target = s.to_string();
    } else {
        for field in s.split(',') {
            match field.split_once('=') {
                Some(("name", v)) => a.target = v.to_string(),
                Some(("alias", v)) => a.aliases.push(v.to_string()),
                _ => return Err(format!("invalid --network field {field:?}: use name=NETWORK and alias=NAME")),
            }
        }
    }
    if a.target.is_empty() {
        return Err(format!("invalid --network {s:?}: name the network, e.g. --network backend or --network name=backend,alias=db"));
    }
    Ok(a)
}

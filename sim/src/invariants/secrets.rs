//! Secret and config confinement: a node receives only the secrets and configs its unfinished
//! assigned tasks use
//! (swarm's promise: "secrets are only sent to nodes that run a task using them"; a finished
//! task stays in the set as history, but its secrets are released). Checked on every
//! assignment set an agent applies, against the tasks that came with it. Guards against a
//! dispatcher that sends the swarm's secrets to every node (the `secret-to-wrong-node` mutant)
//! or keeps sending a secret after the last task using it finished or left the node.
//!
//! And at rest ([`at_rest`], at the end of every run): no machine's disk holds a secret's
//! data in plaintext, as it is or base64-encoded as the store's JSON carries it (the raft log
//! and snapshots are encrypted with the node's data key: core/src/node/raft/encrypted_disk.rs).

use shoal_core::dispatcher::Dependencies;
use shoal_core::model::Task;
use std::collections::BTreeSet;

/// Err names the first secret or config in `deps` that no unfinished task in `tasks` uses.
pub fn confined(node: &str, tasks: &[Task], deps: &Dependencies) -> Result<(), String> {
    let unfinished = || tasks.iter().filter(|t| !t.is_terminal()).map(|t| &t.spec.container);
    let secrets: BTreeSet<&str> = unfinished().flat_map(|c| c.secrets.iter().map(|r| r.secret_id.as_str())).collect();
    let configs: BTreeSet<&str> = unfinished().flat_map(|c| c.configs.iter().map(|r| r.config_id.as_str())).collect();
    let stray = deps
        .secrets
        .iter()
        .find(|s| !secrets.contains(s.id.as_str()))
        .map(|s| ("secret", &s.spec.annotations.name, &s.id))
        .or_else(|| deps.configs.iter().find(|c| !configs.contains(c.id.as_str())).map(|c| ("config", &c.spec.annotations.name, &c.id)));
    match stray {
        None => Ok(()),
        Some((kind, name, id)) => Err(format!(
            "{kind} {name} ({id}) reached {node}, whose {} unfinished assigned task(s) do not use it",
            unfinished().count()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::model::{Annotations, Config, ConfigReference, Secret, SecretReference, SecretSpec};

    #[test]
    fn a_secret_no_assigned_task_uses_is_a_violation() {
        let secret = |id: &str| Secret { id: id.into(), spec: SecretSpec { annotations: Annotations { name: format!("n-{id}"), ..Default::default() }, data: b"x".to_vec() }, ..Default::default() };
        let mut t = Task::default();
        t.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into(), ..Default::default() }];
        let deps = |s: &[&str], c: &[&str]| Dependencies {
            secrets: s.iter().map(|id| secret(id)).collect(),
            configs: c.iter().map(|id| Config { id: id.to_string(), spec: secret(id).spec, ..Default::default() }).collect(),
        };
        assert_eq!(confined("w1", &[t.clone()], &deps(&["a"], &[])), Ok(()));
        let e = confined("w1", &[t.clone()], &deps(&["a", "b"], &[])).unwrap_err();
        assert!(e.contains("secret n-b (b) reached w1"), "{e}");
        assert!(confined("w1", &[], &deps(&["a"], &[])).is_err());
        let e = confined("w1", &[t.clone()], &deps(&["a"], &["c"])).unwrap_err();
        assert!(e.contains("config n-c (c) reached w1"), "{e}");
        t.spec.container.configs = vec![ConfigReference { config_id: "c".into(), config_name: "n-c".into(), ..Default::default() }];
        assert_eq!(confined("w1", &[t], &deps(&["a"], &["c"])), Ok(()));
        // A finished task is history: its secret is released.
        let mut done = Task::default();
        done.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into(), ..Default::default() }];
        done.status.state = shoal_core::model::TaskState::Failed;
        assert!(confined("w1", &[done], &deps(&["a"], &[])).is_err());
    }
}

/// Err names the file of `machine`'s disk that holds `data` (a secret's) in plaintext: as it
/// is, base64-encoded (the store's JSON), or that inside a base64-encoded text (a snapshot file
/// carries the store's JSON so). Data shorter than 6 bytes is not looked for (it could appear
/// in ciphertext by chance).
pub fn at_rest(machine: &str, disk: &crate::disk::SimDisk, name: &str, data: &[u8]) -> Result<(), String> {
    use base64::Engine;
    if data.len() < 6 {
        return Ok(());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let mut needles: Vec<Vec<u8>> = vec![data.to_vec(), encoded.clone().into_bytes()];
    needles.extend(inside_base64(data).into_iter().chain(inside_base64(encoded.as_bytes())).map(String::into_bytes));
    match needles.iter().find_map(|n| disk.holds(n)) {
        None => Ok(()),
        Some(file) => Err(format!("{machine}'s {file} holds the data of secret {name} in plaintext")),
    }
}

/// Autolock at rest: a manager that applied the swarm's latest autolock setting holds its data
/// key wrapped under the swarm's current unlock key exactly while autolock is on (`key`).
/// Plain under autolock, a stolen disk opens; wrapped under an older key, a rotation did not
/// retire it; still wrapped after autolock was turned off, a restart would lock a swarm that
/// is not locked.
pub fn data_key_at_rest(machine: &str, disk: &crate::disk::SimDisk, key: Option<&shoal_core::ca::unlock_key::UnlockKey>) -> Result<(), String> {
    use shoal_core::node::raft::{dek_is_wrapped, dek_unwraps_with, Disk};
    let Ok(Some(raw)) = disk.read(shoal_core::node::raft::DEK_FILE) else { return Ok(()) };
    match (key, dek_is_wrapped(&raw)) {
        (Some(_), false) => Err(format!("{machine}'s raft.dek holds its data key in plaintext while the swarm is autolocked")),
        (Some(k), true) if !dek_unwraps_with(&raw, k) => {
            Err(format!("{machine}'s raft.dek is wrapped under an older unlock key, not the swarm's current one (a rotation it applied did not re-wrap it)"))
        }
        (None, true) => Err(format!("{machine}'s raft.dek is still wrapped with an unlock key after autolock was turned off")),
        _ => Ok(()),
    }
}

/// What `s` looks like inside the base64 encoding of a longer text, for each of the three
/// places in a 3-byte group it may start at: the groups made of its bytes alone encode the
/// same whatever surrounds them.
fn inside_base64(s: &[u8]) -> Vec<String> {
    use base64::Engine;
    (0..3usize)
        .filter_map(|k| {
            let mut padded = vec![0u8; k];
            padded.extend_from_slice(s);
            let first = usize::from(k > 0);
            let whole = padded.len() / 3;
            (whole > first + 1).then(|| base64::engine::general_purpose::STANDARD.encode(&padded[first * 3..whole * 3]))
        })
        .collect()
}

#[cfg(test)]
mod at_rest_tests {
    use super::at_rest;
    use crate::disk::SimDisk;
    use shoal_core::node::raft::Disk;
    use std::sync::Arc;
    use std::time::Duration;

    /// A secret in a raft entry on a plain disk is found (as base64, the way the store's JSON
    /// carries it); through the encrypted disk every node uses, it is not.
    #[test]
    fn plaintext_is_found_and_ciphertext_is_not() {
        let entry = br#"{"spec":{"data":"aHVudGVyMi12ZXJ5LXNlY3JldA=="}}"#;
        let plain = SimDisk::new(1, Duration::ZERO, false);
        plain.append("raft.log", entry).unwrap();
        let e = at_rest("m1", &plain, "db-password", b"hunter2-very-secret").unwrap_err();
        assert!(e.contains("raft.log holds the data of secret db-password"), "{e}");
        // Inside a base64-encoded store (a snapshot file), at every offset.
        use base64::Engine;
        for pad in 0..3 {
            let doc = [&b"xyz"[..pad], &entry[..]].concat();
            let snap = SimDisk::new(1, Duration::ZERO, false);
            snap.append("snapshot", format!(r#"{{"data":"{}"}}"#, base64::engine::general_purpose::STANDARD.encode(&doc)).as_bytes()).unwrap();
            assert!(at_rest("m1", &snap, "db-password", b"hunter2-very-secret").is_err(), "offset {pad}");
        }
        let raw = Arc::new(SimDisk::new(1, Duration::ZERO, false));
        let encrypted = shoal_core::node::raft::encrypted(raw.clone(), [7; 32]).unwrap();
        encrypted.append("raft.log", entry).unwrap();
        at_rest("m1", &raw, "db-password", b"hunter2-very-secret").unwrap();
        // The data key: plain while autolock is off, wrapped once it is on.
        use super::data_key_at_rest;
        use shoal_core::ca::unlock_key::UnlockKey;
        let (k3, k4) = (UnlockKey::from_bytes([3; 32]), UnlockKey::from_bytes([4; 32]));
        data_key_at_rest("m1", &raw, None).unwrap();
        let e = data_key_at_rest("m1", &raw, Some(&k3)).unwrap_err();
        assert!(e.contains("holds its data key in plaintext while the swarm is autolocked"), "{e}");
        encrypted.set_unlock_key(Some(&k3), 5).unwrap();
        data_key_at_rest("m1", &raw, Some(&k3)).unwrap();
        assert!(data_key_at_rest("m1", &raw, Some(&k4)).unwrap_err().contains("wrapped under an older unlock key"));
        assert!(data_key_at_rest("m1", &raw, None).unwrap_err().contains("still wrapped"));
    }
}

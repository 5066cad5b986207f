//! `swarm init --force-new-cluster` on a manager's data directory (the daemon's part; the
//! rewrite itself is core/src/node/raft/seed.rs): refuses a worker's directory, keeps a copy
//! of `raft/`, rewrites it as a one-manager swarm, and says where the copy is. The daemon then
//! starts on it as after a restart.

use crate::daemon::Identity;
use std::path::Path;

/// `swarm init --force-new-cluster`: keeps a copy of the raft state (`raft.before-force-new-
/// cluster[-N]`), then rewrites it as a swarm whose only manager is this node, with every
/// object its state held (core/src/node/raft/seed.rs). The daemon then restarts on it.
pub fn run(dir: &Path, id: &Identity, given: Option<shoal_core::ca::unlock_key::UnlockKey>) -> Result<Option<shoal_core::ca::unlock_key::UnlockKey>, String> {
    if shoal_core::model::NodeRole::parse(&id.role) != Some(shoal_core::model::NodeRole::Manager) {
        return Err(format!(
            "{} is a worker's data directory (node {}): a worker holds no swarm state; run --force-new-cluster on a manager's",
            dir.display(),
            id.node_id
        ));
    }
    let raft = dir.join("raft");
    let backup = (0..100)
        .map(|n| dir.join(if n == 0 { "raft.before-force-new-cluster".to_string() } else { format!("raft.before-force-new-cluster-{n}") }))
        .find(|p| !p.exists())
        .ok_or_else(|| format!("{}: too many raft.before-force-new-cluster copies; remove old ones", dir.display()))?;
    std::fs::create_dir(&backup).map_err(|e| format!("cannot create {}: {e}", backup.display()))?;
    let entries = std::fs::read_dir(&raft).map_err(|e| format!("cannot read {}: {e}", raft.display()))?;
    for e in entries {
        let e = e.map_err(|e| format!("cannot read {}: {e}", raft.display()))?;
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), backup.join(e.file_name())).map_err(|err| format!("cannot copy {}: {err}", e.path().display()))?;
        }
    }
    // An autolocked manager's state opens only with the unlock key: the one given (a running
    // manager's, through the Engine API), else asked here; handed to the daemon so it starts
    // unlocked.
    let (disk, unlock) = match crate::disk::raft_disk(&raft, None) {
        Err(shoal_core::node::raft::OpenError::Locked) => {
            let key = match given {
                Some(k) => k,
                None => {
                    let text = crate::locked::read_key("This manager is locked (autolock). Enter unlock key: ")?;
                    shoal_core::ca::unlock_key::UnlockKey::parse(&text).map_err(|e| e.to_string())?
                }
            };
            (crate::disk::raft_disk(&raft, Some(&key)).map_err(|e| format!("--force-new-cluster: {e}"))?, Some(key))
        }
        other => (other.map_err(|e| format!("data directory: {e}"))?, None),
    };
    let index = shoal_core::node::raft::force_new_cluster(disk, id.raft_id, &id.advertise_addr)
        .map_err(|e| format!("--force-new-cluster: {e} (the raft state is unchanged in {})", backup.display()))?;
    println!(
        "Forced a new cluster from this node's state (raft index {index}): it is the only manager now. The raft state before is kept in {}. Add managers with `shoal swarm join-token manager`.",
        backup.display()
    );
    Ok(unlock)
}

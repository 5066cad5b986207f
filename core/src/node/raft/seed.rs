//! A node's disk as if it had just installed a snapshot: the store at its raft index, the
//! voters as the membership, an empty log purged up to that index and no vote. Started on it,
//! a node restores the store and elects a leader among the voters as after any restart.
//!
//! The simulator's twin (`shoal-sim run --from-snapshot`) seeds its managers this way, so a
//! simulated swarm starts with a live swarm's committed state byte for byte instead of
//! replaying how it got there. Writes only through [`Disk`], like the rest of the storage.

use super::{log_store, state_machine, Disk, LogId, NodeId};
use crate::store::Store;
use openraft::{BasicNode, CommittedLeaderId, Membership, SnapshotMeta, StoredMembership};
use std::collections::{BTreeMap, BTreeSet};
use std::io;

/// Writes `store` as the node's state at `store.last_index()` with `voters` (raft id →
/// address) as the membership. Refuses a disk that already holds a log, a vote or a snapshot
/// (seeding must never overwrite a node's own state) and an empty voter set.
pub fn seed_disk(disk: &dyn Disk, store: &Store, voters: &BTreeMap<NodeId, String>) -> io::Result<()> {
    if voters.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "seeding a node's disk needs at least one voter"));
    }
    for file in [log_store::LOG_FILE, log_store::VOTE_FILE, state_machine::SNAPSHOT_FILE] {
        if disk.read(file)?.is_some() {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("the disk already holds {file}: refusing to seed it")));
        }
    }
    // Term 0: no leader wrote it; the first election is at term 1, above it.
    let log_id = LogId::new(CommittedLeaderId::new(0, 0), store.last_index());
    let ids: BTreeSet<NodeId> = voters.keys().copied().collect();
    let nodes: BTreeMap<NodeId, BasicNode> = voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![ids], nodes));
    let meta = SnapshotMeta { last_log_id: Some(log_id), last_membership: membership, snapshot_id: format!("seed-{}", store.last_index()) };
    state_machine::write_snapshot(disk, meta, store.snapshot())?;
    log_store::write_purged(disk, log_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, Object};
    use crate::node::raft::{MemDisk, NoObserver, StateMachine};
    use std::sync::Arc;

    fn store() -> Store {
        let node = Node { id: "n1".into(), ..Default::default() };
        Store::from_objects(41, vec![Object::Node(node)]).unwrap()
    }

    /// A seeded disk opens as the store at its index with the voters as the membership, and
    /// a log whose last id is that index (so the first new entry is the next one).
    #[test]
    fn a_seeded_disk_opens_as_the_snapshot() {
        let disk = Arc::new(MemDisk::default());
        let voters = BTreeMap::from([(7, "10.0.0.1:4242".to_string()), (9, "10.0.0.2:4242".to_string())]);
        seed_disk(disk.as_ref(), &store(), &voters).unwrap();
        let sm = StateMachine::open(7, disk.clone(), Arc::new(NoObserver)).unwrap();
        let (index, hash) = sm.shared().applied();
        assert_eq!((index, hash), (41, store().state_hash()));
        let m = sm.shared().membership();
        assert_eq!(m.membership().voter_ids().collect::<Vec<_>>(), vec![7, 9]);
        let log = crate::node::raft::LogStore::open(disk).unwrap();
        assert_eq!(log.last_log_id().map(|l| l.index), Some(41));
    }

    /// Seeding never overwrites a node's own state, and needs a voter.
    #[test]
    fn seeding_refuses_a_used_disk_and_no_voters() {
        let disk = MemDisk::default();
        assert_eq!(seed_disk(&disk, &store(), &BTreeMap::new()).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        let voters = BTreeMap::from([(1, "a:1".to_string())]);
        seed_disk(&disk, &store(), &voters).unwrap();
        assert_eq!(seed_disk(&disk, &store(), &voters).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    }
}

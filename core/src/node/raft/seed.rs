//! A node's disk as if it had just installed a snapshot: a store at its raft index, the voters
//! as the membership, an empty log purged up to that index. Started on it, a node restores the
//! store and elects a leader among the voters as after any restart.
//!
//! Two users:
//! * the simulator's twin (`shoal-sim run --from-snapshot`) seeds its managers with a live
//!   swarm's snapshot ([`seed_disk`]), so a simulated swarm starts with that committed state
//!   byte for byte instead of replaying how it got there;
//! * `swarm init --force-new-cluster` ([`force_new_cluster`]) turns a manager of a swarm that
//!   lost its quorum for good into a one-manager swarm with the whole state it held.
//!
//! Writes only through [`Disk`], like the rest of the storage.

use super::{log_store, state_machine, Disk, LogId, LogStore, NodeId, NoObserver, StateMachine};
use crate::store::Store;
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership, SnapshotMeta, StoredMembership};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;

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
    write(disk, store, LogId::new(CommittedLeaderId::new(0, 0), store.last_index()), voters)
}

/// `swarm init --force-new-cluster`: the node's own state — its last snapshot and every entry
/// its log holds after it, committed or not (as etcd's and swarmkit's force-new-cluster keep
/// their whole log: an acknowledged write is on a majority, so the most advanced survivor has
/// it) — becomes a swarm whose only voter is `me` at `addr`. The vote file stays, so terms
/// only rise. Returns the raft index the swarm continues from. Refuses a disk that holds no
/// swarm (no snapshot and no log entry).
pub fn force_new_cluster(disk: Arc<dyn Disk>, me: NodeId, addr: &str) -> io::Result<u64> {
    let sm = StateMachine::open(me, disk.clone(), Arc::new(NoObserver))?;
    let log = LogStore::open(disk.clone())?;
    let (mut store, mut last) = sm.shared().with_store_and_applied(|s, applied| (s.clone(), applied));
    let entries = log.entries_after(last.map_or(0, |l| l.index));
    if last.is_none() && entries.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the data directory holds no swarm state (no raft snapshot, no log entry)"));
    }
    for e in &entries {
        if let EntryPayload::Normal(txn) = &e.payload {
            // A transaction the store refuses changes nothing, as when raft applies it.
            let _ = store.apply(e.log_id.index, txn);
        }
        last = Some(e.log_id);
    }
    let last = last.expect("a snapshot or an entry");
    write(disk.as_ref(), &store, last, &BTreeMap::from([(me, addr.to_string())]))?;
    Ok(last.index)
}

/// The `snapshot` file of `store` at `log_id` with `voters`, and a log purged up to it.
fn write(disk: &dyn Disk, store: &Store, log_id: LogId, voters: &BTreeMap<NodeId, String>) -> io::Result<()> {
    let ids: BTreeSet<NodeId> = voters.keys().copied().collect();
    let nodes: BTreeMap<NodeId, BasicNode> = voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![ids], nodes));
    let meta = SnapshotMeta { last_log_id: Some(log_id), last_membership: membership, snapshot_id: format!("seed-{}-{}", log_id.leader_id.term, log_id.index) };
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

    /// force-new-cluster keeps everything the node held — its snapshot and the entries after
    /// it, committed or not — and makes it the only voter; its vote stays.
    #[test]
    fn force_new_cluster_keeps_the_whole_state_with_one_voter() {
        use crate::store::{Action, Transaction};
        use openraft::{CommittedLeaderId, EntryPayload};
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::default());
        let voters = BTreeMap::from([(7, "a:1".to_string()), (9, "b:1".to_string()), (11, "c:1".to_string())]);
        seed_disk(disk.as_ref(), &store(), &voters).unwrap();
        let vote = serde_json::to_vec(&openraft::Vote::<NodeId>::new_committed(3, 7)).unwrap();
        disk.replace(log_store::VOTE_FILE, &super::super::seal(&vote)).unwrap();
        let n2 = Node { id: "n2".into(), ..Default::default() };
        let entries = vec![
            crate::node::raft::Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 7), 42),
                payload: EntryPayload::Normal(Transaction { timestamp_ms: 5, actions: vec![Action::Create(Object::Node(n2))] }),
            },
            crate::node::raft::Entry { log_id: LogId::new(CommittedLeaderId::new(3, 7), 43), payload: EntryPayload::Blank },
        ];
        log_store::append_entries(disk.as_ref(), &entries).unwrap();
        assert_eq!(force_new_cluster(disk.clone(), 9, "b:1").unwrap(), 43);
        let sm = StateMachine::open(9, disk.clone(), Arc::new(NoObserver)).unwrap();
        let m = sm.shared().membership();
        assert_eq!(m.membership().voter_ids().collect::<Vec<_>>(), vec![9]);
        assert!(sm.shared().get(crate::model::Kind::Node, "n2").is_some(), "the uncommitted entry's node is kept");
        let log = LogStore::open(disk.clone()).unwrap();
        assert_eq!(log.last_log_id(), Some(LogId::new(CommittedLeaderId::new(3, 7), 43)));
        assert!(disk.read(log_store::VOTE_FILE).unwrap().is_some(), "the vote stays");
        // A disk that never held a swarm is refused.
        let empty: Arc<dyn Disk> = Arc::new(MemDisk::default());
        assert_eq!(force_new_cluster(empty, 1, "x:1").unwrap_err().kind(), io::ErrorKind::NotFound);
    }
}

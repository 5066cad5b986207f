//! The store as openraft's state machine, with snapshots persisted through [`Disk`].
//!
//! Applied state is in memory and rebuilt on restart from the last snapshot plus the log
//! (openraft re-applies committed entries); only snapshots are written (file `snapshot`, JSON
//! of meta and store bytes behind a crc32, replaced atomically).

use super::{seal, unseal, ApplyResult, Disk, Entry, LogId, NodeId, SharedObserver, TypeConfig};
use crate::model::Kind;
use crate::model::Object;
use crate::store::{Event, Store};
use tokio::sync::broadcast;
use openraft::storage::RaftStateMachine;
use openraft::{
    BasicNode, EntryPayload, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::{self, Cursor};
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh3::xxh3_64;

pub(super) const SNAPSHOT_FILE: &str = "snapshot";

#[derive(Serialize, Deserialize, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    /// The store's snapshot, base64 in the file (as an array of numbers it took 3-4 times its
    /// size); files written before read back either way.
    #[serde(with = "crate::model::data_base64")]
    data: Vec<u8>,
}

#[derive(Default)]
struct SmInner {
    store: Store,
    last_applied: Option<LogId>,
    membership: StoredMembership<NodeId, BasicNode>,
    snapshot: Option<StoredSnapshot>,
    /// Raft members this node saw removed from the voters by an applied membership change,
    /// and not added back since (swarmkit's removed-member list: their votes are refused).
    /// Kept in memory: a restart or a snapshot install starts it empty again (then such a
    /// vote is handled as openraft handles any).
    removed_voters: std::collections::BTreeSet<NodeId>,
}

/// [`SmInner::removed_voters`] after a membership change from `before` to `after` voters.
fn track_removed(removed: &mut std::collections::BTreeSet<NodeId>, before: impl IntoIterator<Item = NodeId>, after: &std::collections::BTreeSet<NodeId>) {
    for gone in before.into_iter().filter(|v| !after.contains(v)) {
        removed.insert(gone);
    }
    removed.retain(|v| !after.contains(v));
}

#[cfg(test)]
#[test]
fn a_removed_voter_is_remembered_until_added_back() {
    let mut removed = std::collections::BTreeSet::new();
    let set = |v: &[NodeId]| v.iter().copied().collect::<std::collections::BTreeSet<_>>();
    // Joint configuration (the union) first: nobody removed yet.
    track_removed(&mut removed, [1, 2, 3], &set(&[1, 2, 3]));
    assert!(removed.is_empty());
    track_removed(&mut removed, [1, 2, 3], &set(&[1, 2]));
    assert_eq!(removed, set(&[3]));
    // Promoted again: its votes count again.
    track_removed(&mut removed, [1, 2], &set(&[1, 2, 3]));
    assert!(removed.is_empty());
}

/// How many committed changes a watcher may fall behind before it is told it lagged (and must
/// re-read the store).
pub const WATCH_CAPACITY: usize = 4096;

/// One committed change, as watchers (orchestrators, dispatcher) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    /// Raft index of the transaction that made the change.
    pub index: u64,
    pub event: Event,
}

/// Read access to a node's applied state, shared with the node shell and the simulator.
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<Mutex<SmInner>>,
    /// Events are shared, not copied into the ring: tokio's broadcast preallocates every slot,
    /// and an inline `Event` (two objects) would cost ~12 MB per node at this capacity.
    watch: broadcast::Sender<Arc<WatchEvent>>,
    /// The last applied index, for waiters that only need "something changed".
    applied_signal: Arc<crate::node::signal::Signal>,
}

impl Default for SharedState {
    fn default() -> Self {
        SharedState {
            inner: Arc::default(),
            watch: broadcast::channel(WATCH_CAPACITY).0,
            applied_signal: Arc::default(),
        }
    }
}

impl SharedState {
    /// (last applied index, state hash) read atomically.
    pub fn applied(&self) -> (u64, u64) {
        let i = self.inner.lock().unwrap();
        (i.last_applied.map(|l| l.index).unwrap_or(0), i.store.state_hash())
    }

    /// The store and the last applied log id, read together.
    pub fn with_store_and_applied<R>(&self, f: impl FnOnce(&Store, Option<LogId>) -> R) -> R {
        let i = self.inner.lock().unwrap();
        f(&i.store, i.last_applied)
    }

    pub fn get(&self, kind: Kind, id: &str) -> Option<Object> {
        self.inner.lock().unwrap().store.get(kind, id).cloned()
    }

    pub fn with_store<R>(&self, f: impl FnOnce(&Store) -> R) -> R {
        f(&self.inner.lock().unwrap().store)
    }

    pub fn membership(&self) -> StoredMembership<NodeId, BasicNode> {
        self.inner.lock().unwrap().membership.clone()
    }

    /// Whether raft member `id` was removed from the voters by a membership change this node
    /// applied, and not added back since.
    pub fn removed_voter(&self, id: NodeId) -> bool {
        self.inner.lock().unwrap().removed_voters.contains(&id)
    }

    /// Subscribes to committed changes from now on. The queue is bounded
    /// ([`WATCH_CAPACITY`]): a watcher that falls behind receives `Lagged` and must re-read
    /// the store instead of assuming it saw every change.
    pub fn watch(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.watch.subscribe()
    }

    /// Bumped whenever the applied index moves (entries or a snapshot).
    pub fn applied_signal(&self) -> Arc<crate::node::signal::Signal> {
        self.applied_signal.clone()
    }
}

pub struct StateMachine {
    node: NodeId,
    disk: Arc<dyn Disk>,
    shared: SharedState,
    observer: SharedObserver,
    /// The Cluster's unlock key as last handed to the disk (none: not yet since the start).
    unlock_key_seen: Option<String>,
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO { source: StorageIOError::read_snapshot(None, &e) }
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO { source: StorageIOError::write_snapshot(None, &e) }
}

/// Writes the `snapshot` file as if a snapshot `meta` of store bytes `data` was installed
/// ([`super::seed_disk`]).
pub(super) fn write_snapshot(disk: &dyn Disk, meta: SnapshotMeta<NodeId, BasicNode>, data: Vec<u8>) -> io::Result<()> {
    disk.replace(SNAPSHOT_FILE, &seal(&serde_json::to_vec(&StoredSnapshot { meta, data }).expect("snapshot serialises")))
}

impl StateMachine {
    /// Opens the state machine, restoring the last snapshot on `disk` if there is one.
    pub fn open(node: NodeId, disk: Arc<dyn Disk>, observer: SharedObserver) -> io::Result<StateMachine> {
        let shared = SharedState::default();
        if let Some(bytes) = disk.read(SNAPSHOT_FILE)? {
            let snap: StoredSnapshot = serde_json::from_slice(unseal("snapshot file", &bytes)?)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot file: {e}")))?;
            let store = Store::restore(&snap.data)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let mut i = shared.inner.lock().unwrap();
            i.store = store;
            i.last_applied = snap.meta.last_log_id;
            i.membership = snap.meta.last_membership.clone();
            i.snapshot = Some(snap);
        }
        let mut sm = StateMachine { node, disk, shared, observer, unlock_key_seen: None };
        // A snapshot installed just before a crash may hold a key change the data key does
        // not follow yet.
        let shared = sm.shared.clone();
        let i = shared.inner.lock().unwrap();
        sm.follow_unlock_key(&i.store);
        drop(i);
        Ok(sm)
    }

    pub fn shared(&self) -> SharedState {
        self.shared.clone()
    }

    /// Autolock: when the applied store's unlock key differs from the one last handed to the
    /// disk, the disk re-wraps its data key with it. A failure is retried at the next apply
    /// (the old wrapping still opens the files meanwhile).
    pub(crate) fn follow_unlock_key(&mut self, store: &Store) {
        let (key, index) = match store.get(crate::model::Kind::Cluster, crate::leader::CLUSTER_ID) {
            Some(crate::model::Object::Cluster(c)) => (c.unlock_key.as_str(), c.meta.version),
            _ => return,
        };
        if self.unlock_key_seen.as_deref() == Some(key) {
            return;
        }
        // Mutant: only the first key ever wraps the data key; rotations are ignored.
        if crate::mutant::active("autolock-stale-wrap") && self.unlock_key_seen.as_deref().is_some_and(|k| !k.is_empty()) && !key.is_empty() {
            return;
        }
        let parsed = match key {
            "" => None,
            k => match crate::ca::unlock_key::UnlockKey::parse(k) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!(target: "shoal::raft", node = self.node, "the swarm's unlock key is unusable ({e}): the data key stays as it is");
                    return;
                }
            },
        };
        match self.disk.set_unlock_key(parsed.as_ref(), index) {
            Ok(()) => self.unlock_key_seen = Some(key.to_string()),
            Err(e) => tracing::warn!(target: "shoal::raft", node = self.node, "cannot re-wrap the data key with the swarm's unlock key: {e}"),
        }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let snap = {
            let i = self.shared.inner.lock().unwrap();
            let last = i.last_applied;
            let id = match last {
                Some(l) => format!("{}-{}", l.leader_id.term, l.index),
                None => "0-0".to_string(),
            };
            StoredSnapshot {
                meta: SnapshotMeta { last_log_id: last, last_membership: i.membership.clone(), snapshot_id: id },
                data: i.store.snapshot(),
            }
        };
        let bytes = seal(&serde_json::to_vec(&snap).expect("snapshot serialises"));
        self.disk.replace(SNAPSHOT_FILE, &bytes).map_err(write_err)?;
        tracing::info!(target: "shoal::raft", node = self.node, index = snap.meta.last_log_id.map(|l| l.index).unwrap_or(0), "snapshot built");
        self.shared.inner.lock().unwrap().snapshot = Some(snap.clone());
        Ok(Snapshot { meta: snap.meta, snapshot: Box::new(Cursor::new(snap.data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>> {
        let i = self.shared.inner.lock().unwrap();
        Ok((i.last_applied, i.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        // A clone, so `self` stays free for follow_unlock_key below.
        let shared = self.shared.clone();
        let mut i = shared.inner.lock().unwrap();
        for entry in entries {
            let index = entry.log_id.index;
            debug_assert!(i.last_applied.is_none_or(|l| l.index < index), "entries apply in order, once");
            let entry_hash = xxh3_64(&postcard::to_allocvec(&entry).expect("entry serialises"));
            let mut result = ApplyResult { index, error: None };
            match &entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(txn) => match i.store.apply(index, txn) {
                    Ok(events) => {
                        self.observer.committed(self.node, index, &events, &i.store);
                        if self.shared.watch.receiver_count() > 0 {
                            for event in events {
                                // Err only means every watcher left meanwhile.
                                let _ = self.shared.watch.send(Arc::new(WatchEvent { index, event }));
                            }
                        }
                    }
                    Err(e) => result.error = Some(e.to_string()),
                },
                EntryPayload::Membership(m) => {
                    let before: Vec<NodeId> = i.membership.membership().voter_ids().collect();
                    track_removed(&mut i.removed_voters, before, &m.voter_ids().collect());
                    i.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                }
            }
            i.last_applied = Some(entry.log_id);
            self.observer.applied(self.node, index, entry.log_id.leader_id.term, entry_hash, i.store.state_hash());
            out.push(result);
        }
        self.follow_unlock_key(&i.store);
        drop(i);
        self.shared.applied_signal.bump();
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateMachine {
            node: self.node,
            disk: self.disk.clone(),
            shared: self.shared.clone(),
            observer: self.observer.clone(),
            unlock_key_seen: self.unlock_key_seen.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let store = Store::restore(&data).map_err(read_err)?;
        let snap = StoredSnapshot { meta: meta.clone(), data };
        let bytes = seal(&serde_json::to_vec(&snap).expect("snapshot serialises"));
        self.disk.replace(SNAPSHOT_FILE, &bytes).map_err(write_err)?;
        let shared = self.shared.clone();
        let mut i = shared.inner.lock().unwrap();
        i.store = store;
        i.last_applied = meta.last_log_id;
        i.membership = meta.last_membership.clone();
        i.snapshot = Some(snap);
        let (index, term) = meta.last_log_id.map(|l| (l.index, l.leader_id.term)).unwrap_or((0, 0));
        tracing::info!(target: "shoal::raft", node = self.node, index, "snapshot installed");
        self.observer.snapshot_installed(self.node, index, term, i.store.state_hash());
        self.follow_unlock_key(&i.store);
        drop(i);
        self.shared.applied_signal.bump();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let i = self.shared.inner.lock().unwrap();
        Ok(i.snapshot.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Annotations, Config, ConfigSpec, Meta};
    use crate::node::raft::{MemDisk, NoObserver};
    use crate::store::{Action, Transaction};
    use openraft::{CommittedLeaderId, LogId};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    fn create(index: u64, id: &str) -> Entry {
        let txn = Transaction {
            timestamp_ms: index,
            actions: vec![Action::Create(crate::model::Object::Config(Config {
                id: id.into(),
                meta: Meta::default(),
                spec: ConfigSpec { annotations: Annotations { name: id.into(), ..Default::default() }, data: vec![] },
            }))],
        };
        Entry { log_id: LogId::new(CommittedLeaderId::new(1, 1), index), payload: EntryPayload::Normal(txn) }
    }

    #[test]
    fn apply_publishes_watch_events_and_reports_rejections() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::default());
        let mut sm = StateMachine::open(1, disk, Arc::new(NoObserver)).unwrap();
        let mut rx = sm.shared().watch();
        let r = block_on(sm.apply(vec![create(1, "a"), create(2, "a")])).unwrap();
        assert_eq!(r[0], ApplyResult { index: 1, error: None });
        assert!(r[1].error.as_deref().unwrap().contains("already exists"), "{:?}", r[1]);
        let ev = rx.try_recv().unwrap();
        assert_eq!(ev.index, 1);
        assert!(matches!(ev.event, Event::Created(ref o) if o.id() == "a"));
        assert!(rx.try_recv().is_err(), "a rejected transaction publishes nothing");
        assert_eq!(sm.shared().applied().0, 2);
    }

    #[test]
    fn snapshot_survives_restart_and_installs_on_another_node() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::default());
        let mut sm = StateMachine::open(1, disk.clone(), Arc::new(NoObserver)).unwrap();
        block_on(sm.apply(vec![create(1, "a"), create(2, "b")])).unwrap();
        let snap = block_on(async { sm.get_snapshot_builder().await.build_snapshot().await }).unwrap();
        let hash = sm.shared().applied().1;
        // Restart: the state comes back from the snapshot file.
        let reopened = StateMachine::open(1, disk, Arc::new(NoObserver)).unwrap();
        assert_eq!(reopened.shared().applied(), (2, hash));
        // Another node installs it.
        let mut other = StateMachine::open(2, Arc::new(MemDisk::default()), Arc::new(NoObserver)).unwrap();
        block_on(other.install_snapshot(&snap.meta, snap.snapshot)).unwrap();
        assert_eq!(other.shared().applied(), (2, hash));
        assert!(other.shared().get(Kind::Config, "b").is_some());
    }

    /// The snapshot file holds the store base64-encoded; a file written when it was an array
    /// of numbers (3-4 times larger) still opens.
    #[test]
    fn snapshot_file_is_base64_and_old_files_still_open() {
        let disk: Arc<dyn Disk> = Arc::new(MemDisk::default());
        let mut sm = StateMachine::open(1, disk.clone(), Arc::new(NoObserver)).unwrap();
        block_on(sm.apply(vec![create(1, "a"), create(2, "b")])).unwrap();
        block_on(async { sm.get_snapshot_builder().await.build_snapshot().await }).unwrap();
        let hash = sm.shared().applied().1;
        let file = disk.read(SNAPSHOT_FILE).unwrap().unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(unseal("snapshot", &file).unwrap()).unwrap();
        let data = v["data"].as_str().expect("base64 text").to_string();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&data).unwrap();
        v["data"] = serde_json::json!(bytes);
        disk.replace(SNAPSHOT_FILE, &seal(&serde_json::to_vec(&v).unwrap())).unwrap();
        assert!(disk.read(SNAPSHOT_FILE).unwrap().unwrap().len() > 2 * file.len(), "the old form is much larger");
        assert_eq!(StateMachine::open(1, disk, Arc::new(NoObserver)).unwrap().shared().applied(), (2, hash));
    }
}

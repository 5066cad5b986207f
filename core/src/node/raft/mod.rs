//! openraft glue: the managers' replicated log and the store as its state machine.
//!
//! Owns: the type configuration ([`TypeConfig`]), the async runtime selection (madsim under
//! `cfg(madsim)`, tokio otherwise), log/vote/snapshot persistence through the [`Disk`] trait, and
//! the gRPC [`network`]. Inputs: entries to append and apply, RPCs from peers. Outputs: durable
//! log records, the applied [`Store`](crate::store::Store), [`Observer`] callbacks that the
//! simulator's invariant checkers consume.
//!
//! Invariants: an entry is acknowledged to openraft only after the disk synced it; apply is a
//! pure function of the entry; a corrupted log record is refused, never served.

mod disk;
mod encrypted_disk;
mod log_store;
pub mod network;
mod runtime;
mod seed;
mod state_machine;

pub use disk::{seal, unseal, CrashPoint, Disk, MemDisk};
pub use encrypted_disk::{dek_is_wrapped, dek_unwraps_with, encrypted, encrypted_unlocked, frame_spans, EncryptedDisk, OpenError, DEK_FILE};
pub use log_store::LogStore;
pub use runtime::Runtime;
pub use seed::{force_new_cluster, seed_disk};
pub use state_machine::{SharedState, StateMachine, WatchEvent, WATCH_CAPACITY};

use crate::store::Transaction;
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::Arc;

pub type NodeId = u64;

/// What applying one entry produced, returned to the proposer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult {
    pub index: u64,
    /// `None` when the transaction applied; the store's reason otherwise (nothing changed).
    pub error: Option<String>,
}

openraft::declare_raft_types!(
    /// Shoal's raft types: entries carry store transactions.
    pub TypeConfig:
        D = Transaction,
        R = ApplyResult,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        AsyncRuntime = Runtime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;

// `declare_raft_types!` names `Cursor` unqualified for its default snapshot type.
#[allow(dead_code)]
type SnapshotCursor = Cursor<Vec<u8>>;

/// Hooks through which a host watches a node's state machine. The simulator's checkers
/// implement it (state-machine safety, log matching); production passes [`NoObserver`].
pub trait Observer: Send + Sync + 'static {
    /// Entry `index` of `term` (digest `entry_hash`) applied; the store's hash is now `state_hash`.
    fn applied(&self, node: NodeId, index: u64, term: u64, entry_hash: u64, state_hash: u64);
    /// A snapshot up to `index` replaced the state; the store's hash is now `state_hash`.
    fn snapshot_installed(&self, node: NodeId, index: u64, term: u64, state_hash: u64);
    /// The node's raft role or term changed; `leader` is true when it leads `term`.
    fn role_changed(&self, _node: NodeId, _term: u64, _leader: bool) {}
    /// Entry `index` changed the store by `events`; `store` is the state right after. Called
    /// inside apply, so a checker sees every committed change exactly as it happened.
    fn committed(&self, _node: NodeId, _index: u64, _events: &[crate::store::Event], _store: &crate::store::Store) {}
}

pub struct NoObserver;

impl Observer for NoObserver {
    fn applied(&self, _: NodeId, _: u64, _: u64, _: u64, _: u64) {}
    fn snapshot_installed(&self, _: NodeId, _: u64, _: u64, _: u64) {}
}

pub type SharedObserver = Arc<dyn Observer>;

/// Entries per AppendEntries at most. An entry holds up to `MAX_TRANSACTION_BYTES` (1.5 MiB)
/// of changes, and openraft's default of 300 made a catching-up follower's message tens of
/// MiB. openraft 0.9 gives an AppendEntries one heartbeat interval (100 ms) to be sent,
/// decoded, written and answered, or it sends it again: a message must stay small for a
/// follower far behind to catch up at all (16 entries of a few hundred KiB each, as a batch of
/// tasks is, take a few ms on loopback; 16 of 1.5 MiB would need ~2 Gbit/s).
pub const MAX_PAYLOAD_ENTRIES: u64 = 16;
/// What a raft RPC may carry, and what every raft server accepts (tonic's default of 4 MiB
/// refused a follower's catch-up once a store held a few thousand tasks, and it retried the
/// same message for ever).
pub const RAFT_MESSAGE_BYTES_MAX: usize = 256 << 20;
/// A new manager is a learner until its log is within this many entries of the leader's; only
/// then does it become a voter (`Manager::learner_caught_up`). openraft's blocking
/// `add_learner` (5,000 entries) let a learner that had received nothing (a store of 60 big
/// entries) become a voter at once, and a one-manager swarm then waited for it for ever (a
/// joint configuration needs both).
pub const LEARNER_CAUGHT_UP_ENTRIES: u64 = 16;

/// The openraft configuration derived from the cluster's raft settings.
pub fn openraft_config(c: &crate::model::RaftConfig) -> Result<openraft::Config, openraft::ConfigError> {
    openraft::Config {
        cluster_name: "shoal".into(),
        heartbeat_interval: c.heartbeat_interval_ms,
        election_timeout_min: c.election_timeout_min_ms,
        election_timeout_max: c.election_timeout_max_ms,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(c.snapshot_interval),
        max_in_snapshot_log_to_keep: c.log_entries_for_slow_followers,
        // Purge as soon as a snapshot allows; `max_in_snapshot_log_to_keep` keeps the tail.
        purge_batch_size: 1,
        max_payload_entries: MAX_PAYLOAD_ENTRIES,
        ..Default::default()
    }
    .validate()
}

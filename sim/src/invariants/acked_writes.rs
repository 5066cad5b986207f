//! No acknowledged write lost: every write the cluster acknowledged to a client is present in
//! the state of every manager that applied past its index. The client oracle records acks;
//! the check runs whenever managers agree and at the end of a run. Guards against: acking
//! before a quorum persisted the entry, losing synced log entries on crash, snapshot gaps.

use shoal_core::model::Kind;
use shoal_core::store::Store;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct AckedWrites {
    /// config id → raft index it was committed at
    acked: BTreeMap<String, u64>,
    /// acks since the current `load writes` started
    since_load: u64,
    last_ack_secs: f64,
}

impl AckedWrites {
    pub fn ack(&mut self, id: String, index: u64, at_secs: f64) {
        self.acked.insert(id, index);
        self.since_load += 1;
        self.last_ack_secs = at_secs;
    }

    pub fn reset_load_counter(&mut self) {
        self.since_load = 0;
    }

    pub fn since_load(&self) -> u64 {
        self.since_load
    }

    pub fn total(&self) -> usize {
        self.acked.len()
    }

    pub fn last_ack_secs(&self) -> f64 {
        self.last_ack_secs
    }

    /// The first acknowledged write at or below `applied` that `store` lacks, if any.
    pub fn missing(&self, applied: u64, store: &Store) -> Option<String> {
        self.acked
            .iter()
            .filter(|(_, idx)| **idx <= applied)
            .find(|(id, _)| store.get(Kind::Config, id).is_none())
            .map(|(id, idx)| format!("acknowledged write {id} (index {idx}) is missing at applied index {applied}"))
    }
}

use crate::model::{Kind, Object};
use serde::{Deserialize, Serialize};

/// swarmkit's limit: a transaction carries at most this many changes; larger batches are split
/// by [`batches`] into several transactions.
pub const MAX_CHANGES_PER_TRANSACTION: usize = 200;
/// swarmkit's other limit: a transaction stops growing once its changes' encoding passes this
/// many bytes (each task carries its service's spec, so 200 of them can be large); a single
/// change above it still travels alone.
pub const MAX_TRANSACTION_BYTES: usize = 1536 * 1024;

/// One write to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    Create(Object),
    /// Replace an object; fails unless its stored `meta.version` equals `expected_version`.
    Update { object: Object, expected_version: u64 },
    /// Remove an object; with `expected_version`, only if it still has that version.
    Delete { kind: Kind, id: String, expected_version: Option<u64> },
}

impl Action {
    pub fn key(&self) -> (Kind, String) {
        match self {
            Action::Create(o) | Action::Update { object: o, .. } => (o.kind(), o.id().to_string()),
            Action::Delete { kind, id, .. } => (*kind, id.clone()),
        }
    }
}

/// A batch of actions applied all-or-nothing. `timestamp_ms` is chosen by the proposer (the
/// leader's clock at proposal time) and written into the raft entry, so apply never reads a
/// clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub timestamp_ms: u64,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StoreError {
    #[error("empty transaction: add at least one create, update or delete")]
    Empty,
    #[error("transaction has {0} changes; the limit is {max}: split it with store::batches", max = MAX_CHANGES_PER_TRANSACTION)]
    TooLarge(usize),
    #[error("invalid object in change {action}: {reason}")]
    Invalid { action: usize, reason: String },
    #[error("change {action} rejected: {reason}")]
    Rejected { action: usize, reason: String },
    #[error("snapshot is corrupt: {0}")]
    CorruptSnapshot(String),
}

impl Transaction {
    /// Checks what can be checked without the store's content.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.actions.is_empty() {
            return Err(StoreError::Empty);
        }
        if self.actions.len() > MAX_CHANGES_PER_TRANSACTION {
            return Err(StoreError::TooLarge(self.actions.len()));
        }
        for (i, a) in self.actions.iter().enumerate() {
            let (kind, id) = a.key();
            if id.is_empty() {
                return Err(StoreError::Invalid { action: i, reason: format!("{kind} has an empty id") });
            }
            if let Action::Create(o) | Action::Update { object: o, .. } = a {
                if o.kind().unique_names() && o.name().is_some_and(str::is_empty) {
                    return Err(StoreError::Invalid {
                        action: i,
                        reason: format!("{kind} {id} has an empty name: give it a name"),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Splits `actions` into transactions of at most [`MAX_CHANGES_PER_TRANSACTION`] changes and
/// about [`MAX_TRANSACTION_BYTES`] of encoding, as swarmkit's `store.Batch` does. Each
/// transaction is atomic on its own; the batch is not.
pub fn batches(timestamp_ms: u64, actions: Vec<Action>) -> Vec<Transaction> {
    let mut out = Vec::with_capacity(actions.len().div_ceil(MAX_CHANGES_PER_TRANSACTION));
    let mut chunk: Vec<Action> = Vec::new();
    let mut bytes = 0;
    for a in actions {
        let size = encoded_len(&a);
        if !chunk.is_empty() && (chunk.len() == MAX_CHANGES_PER_TRANSACTION || bytes + size > MAX_TRANSACTION_BYTES) {
            out.push(Transaction { timestamp_ms, actions: std::mem::take(&mut chunk) });
            bytes = 0;
        }
        bytes += size;
        chunk.push(a);
    }
    if !chunk.is_empty() {
        out.push(Transaction { timestamp_ms, actions: chunk });
    }
    debug_assert!(out.iter().all(|t| !t.actions.is_empty() && t.actions.len() <= MAX_CHANGES_PER_TRANSACTION));
    out
}

/// The length of `a`'s JSON (the raft log's encoding), counted without building it.
pub fn encoded_len(a: &impl Serialize) -> usize {
    /// Counts bytes and keeps none (serde_json has no size-only mode).
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Model objects always serialise (a map key that is not a string is the only failure).
    let _ = serde_json::to_writer(&mut c, a);
    c.0
}

//! The raft log, vote and purge point, persisted through [`Disk`].
//!
//! Layout: file `raft.log` is a sequence of framed records
//! `[len u32 LE][crc32 u32 LE][kind u8][payload]` (`len` counts kind + payload); kinds are
//! entries (JSON array), truncate-since (u64) and purged-up-to (JSON log id). Appends are
//! synced (by a group-commit flusher task) before openraft is told they are durable. A purge rewrites the file atomically with
//! only the kept entries. File `vote` holds the JSON vote, replaced atomically.
//!
//! On open, a damaged *last* record is a torn write that was never acknowledged and is dropped;
//! a damaged record followed by more data is corruption and opening fails: the node must refuse
//! to serve a log it cannot trust.

use super::{seal, unseal, CrashPoint, Disk, Entry, LogId, NodeId, TypeConfig};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader, StorageError, StorageIOError, Vote};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub(super) const LOG_FILE: &str = "raft.log";
pub(super) const VOTE_FILE: &str = "vote";
const KIND_ENTRIES: u8 = 1;
const KIND_TRUNCATE: u8 = 2;
const KIND_PURGED: u8 = 3;
/// A record larger than this is treated as corrupt (bounds what a bad length field can make
/// us allocate).
const MAX_RECORD_BYTES: usize = 256 << 20;

#[derive(Default)]
struct LogInner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<NodeId>>,
}

/// Log storage of one node. Cloning shares the same log (openraft's log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    disk: Arc<dyn Disk>,
    inner: Arc<Mutex<LogInner>>,
    /// Queue to the flusher task, started on the first append (it needs a runtime).
    flusher: Arc<Mutex<Option<mpsc::Sender<LogFlushed<TypeConfig>>>>>,
}

/// Appends waiting for their fsync; beyond this `append` waits (backpressure).
const FLUSH_QUEUE: usize = 1024;

/// Group commit: waits for appended records, syncs once for everything queued so far, then
/// acknowledges each append in order. Running it beside openraft's core loop (instead of
/// syncing inside `append`) keeps a slow disk from stalling heartbeats — a stalled core loop
/// let followers time out and depose a healthy leader under load.
async fn flush_loop(disk: Arc<dyn Disk>, mut rx: mpsc::Receiver<LogFlushed<TypeConfig>>) {
    while let Some(first) = rx.recv().await {
        let latency = disk.sync_latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        // Everything queued by now was written before this sync: one fsync covers it.
        let mut batch = vec![first];
        while let Ok(cb) = rx.try_recv() {
            batch.push(cb);
        }
        let res = disk.sync(LOG_FILE);
        for cb in batch {
            cb.log_io_completed(res.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string())));
        }
    }
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len() + 1);
    body.push(kind);
    body.extend_from_slice(payload);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn corrupt(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses the records of `raft.log`. Returns the records and whether a torn tail was dropped.
/// One record: its kind and payload.
type Record<'a> = (u8, &'a [u8]);

fn parse_records(bytes: &[u8]) -> io::Result<(Vec<Record<'_>>, bool)> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let torn_tail = |why: &str| -> io::Result<()> {
            // Only the last record may be damaged: it is a write that never completed its sync.
            tracing::debug!(target: "shoal::disk", offset = off, why, "dropping torn tail of raft.log");
            Ok(())
        };
        if rest.len() < 8 {
            torn_tail("short header")?;
            return Ok((out, true));
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        if len == 0 || len > MAX_RECORD_BYTES {
            if off + 8 + len.min(MAX_RECORD_BYTES) >= bytes.len() {
                torn_tail("bad length at tail")?;
                return Ok((out, true));
            }
            return Err(corrupt(format!("raft.log: record at byte {off} has invalid length {len}")));
        }
        if rest.len() < 8 + len {
            torn_tail("short body")?;
            return Ok((out, true));
        }
        let body = &rest[8..8 + len];
        if crc32fast::hash(body) != crc {
            if off + 8 + len == bytes.len() {
                torn_tail("checksum mismatch in last record")?;
                return Ok((out, true));
            }
            return Err(corrupt(format!(
                "raft.log: checksum mismatch in record at byte {off} (followed by more records): \
                 the log is corrupted; refusing to serve it"
            )));
        }
        out.push((body[0], &body[1..]));
        off += 8 + len;
    }
    Ok((out, false))
}

fn sto_err(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageError::IO { source: StorageIOError::write_logs(&e) }
}

/// Appends `entries` as one record, as an append does (tests that need a log on a disk).
#[cfg(test)]
pub(super) fn append_entries(disk: &dyn Disk, entries: &[Entry]) -> io::Result<()> {
    disk.append(LOG_FILE, &frame(KIND_ENTRIES, &serde_json::to_vec(entries).expect("entries serialise")))
}

/// Writes a log that holds no entries and is purged up to `id` ([`super::seed_disk`]).
pub(super) fn write_purged(disk: &dyn Disk, id: LogId) -> io::Result<()> {
    let inner = LogInner { last_purged: Some(id), ..Default::default() };
    disk.replace(LOG_FILE, &LogStore::encode_all(&inner))
}

impl LogStore {
    /// Opens (or creates) the log on `disk`, replaying its records.
    pub fn open(disk: Arc<dyn Disk>) -> io::Result<LogStore> {
        let mut inner = LogInner::default();
        if let Some(bytes) = disk.read(VOTE_FILE)? {
            let payload = unseal("vote file", &bytes)?;
            inner.vote = Some(serde_json::from_slice(payload).map_err(|e| corrupt(format!("vote file: {e}")))?);
        }
        let mut torn = false;
        if let Some(bytes) = disk.read(LOG_FILE)? {
            let (records, t) = parse_records(&bytes)?;
            torn = t;
            for (kind, payload) in records {
                match kind {
                    KIND_ENTRIES => {
                        let entries: Vec<Entry> = serde_json::from_slice(payload)
                            .map_err(|e| corrupt(format!("raft.log entries record: {e}")))?;
                        for e in entries {
                            inner.entries.insert(e.log_id.index, e);
                        }
                    }
                    KIND_TRUNCATE => {
                        let since = u64::from_le_bytes(
                            payload.try_into().map_err(|_| corrupt("raft.log truncate record".into()))?,
                        );
                        inner.entries.split_off(&since);
                    }
                    KIND_PURGED => {
                        let id: LogId = serde_json::from_slice(payload)
                            .map_err(|e| corrupt(format!("raft.log purge record: {e}")))?;
                        let after = id.index.checked_add(1).ok_or_else(|| corrupt(format!("raft.log purge record: index {} is past the last", id.index)))?;
                        inner.entries = inner.entries.split_off(&after);
                        inner.last_purged = Some(id);
                    }
                    k => return Err(corrupt(format!("raft.log: unknown record kind {k}"))),
                }
            }
            // The log must read back as openraft wrote it: entries at consecutive indexes,
            // each filed under its own index, all after the purge point.
            let mut expect = inner.last_purged.map(|p| p.index.saturating_add(1));
            for (index, e) in &inner.entries {
                if e.log_id.index != *index || expect.is_some_and(|x| *index != x) {
                    return Err(corrupt(format!("raft.log: entry {index} does not follow the entries before it: the log is corrupted; refusing to serve it")));
                }
                expect = index.checked_add(1);
            }
            if torn {
                // Rewrite without the torn tail so later appends follow a clean record.
                let clean = Self::encode_all(&inner);
                disk.replace(LOG_FILE, &clean)?;
            }
        }
        debug_assert!(!torn || disk.read(LOG_FILE)?.is_some());
        Ok(LogStore { disk, inner: Arc::new(Mutex::new(inner)), flusher: Arc::default() })
    }

    fn encode_all(inner: &LogInner) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(p) = &inner.last_purged {
            out.extend(frame(KIND_PURGED, &serde_json::to_vec(p).expect("log id serialises")));
        }
        if !inner.entries.is_empty() {
            let entries: Vec<&Entry> = inner.entries.values().collect();
            out.extend(frame(KIND_ENTRIES, &serde_json::to_vec(&entries).expect("entries serialise")));
        }
        out
    }

    async fn sync_log(&self) -> io::Result<()> {
        let latency = self.disk.sync_latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        self.disk.sync(LOG_FILE)
    }

    /// The entries held after `index`, in order ([`super::force_new_cluster`]).
    pub fn entries_after(&self, index: u64) -> Vec<Entry> {
        let Some(after) = index.checked_add(1) else { return Vec::new() };
        self.inner.lock().unwrap().entries.range(after..).map(|(_, e)| e.clone()).collect()
    }

    /// Last log id present (or purged), for checkers and tests.
    pub fn last_log_id(&self) -> Option<LogId> {
        let inner = self.inner.lock().unwrap();
        inner.entries.values().next_back().map(|e| e.log_id).or(inner.last_purged)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError<NodeId>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.inner.lock().unwrap();
        let last = inner.entries.values().next_back().map(|e| *e.get_log_id()).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let bytes = seal(&serde_json::to_vec(vote).expect("vote serialises"));
        // Sleep first: a crash during the (virtual) fsync leaves the old vote, and openraft
        // never learns the new one was saved.
        let latency = self.disk.sync_latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        // Mutant: a vote granted to a candidate (not yet committed by a leader) stays in
        // memory only, so a restarted node may vote again in the same term.
        if !crate::mutant::active("forget-vote") || vote.is_committed() {
            self.disk.replace(VOTE_FILE, &bytes).map_err(|e| StorageError::IO { source: StorageIOError::write_vote(&e) })?;
        }
        self.inner.lock().unwrap().vote = Some(*vote);
        self.disk.crash_point(CrashPoint::VoteSaved {
            term: vote.leader_id().term,
            voted_for: vote.leader_id().voted_for(),
        });
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.inner.lock().unwrap().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let bytes = frame(KIND_ENTRIES, &serde_json::to_vec(&entries).expect("entries serialise"));
        self.disk.append(LOG_FILE, &bytes).map_err(sto_err)?;
        {
            let mut inner = self.inner.lock().unwrap();
            for e in entries {
                debug_assert!(
                    inner.entries.keys().next_back().is_none_or(|last| *last + 1 == e.log_id.index),
                    "appends are contiguous"
                );
                inner.entries.insert(e.log_id.index, e);
            }
        }
        let tx = {
            let mut f = self.flusher.lock().unwrap();
            f.get_or_insert_with(|| {
                let (tx, rx) = mpsc::channel(FLUSH_QUEUE);
                tokio::spawn(flush_loop(self.disk.clone(), rx));
                tx
            })
            .clone()
        };
        // The flusher only stops with the node (a crash), when nothing waits for the callback.
        let _ = tx.send(callback).await;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        self.disk.append(LOG_FILE, &frame(KIND_TRUNCATE, &log_id.index.to_le_bytes())).map_err(sto_err)?;
        self.inner.lock().unwrap().entries.split_off(&log_id.index);
        self.sync_log().await.map_err(sto_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError<NodeId>> {
        let bytes = {
            let mut inner = self.inner.lock().unwrap();
            debug_assert!(inner.last_purged.is_none_or(|p| p.index <= log_id.index), "purge only moves forward");
            inner.entries = inner.entries.split_off(&(log_id.index + 1));
            inner.last_purged = Some(log_id);
            Self::encode_all(&inner)
        };
        self.disk.replace(LOG_FILE, &bytes).map_err(sto_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::raft::MemDisk;

    #[test]
    fn torn_tail_is_dropped_but_mid_file_corruption_is_refused() {
        let disk = Arc::new(MemDisk::default());
        let a = frame(KIND_TRUNCATE, &5u64.to_le_bytes());
        let b = frame(KIND_TRUNCATE, &6u64.to_le_bytes());
        // A torn last record: only part of it reached the disk.
        disk.append(LOG_FILE, &a).unwrap();
        disk.append(LOG_FILE, &b[..b.len() - 3]).unwrap();
        let bytes = disk.read(LOG_FILE).unwrap().unwrap();
        let (records, torn) = parse_records(&bytes).unwrap();
        assert_eq!(records.len(), 1);
        assert!(torn);
        LogStore::open(disk.clone()).expect("a torn tail is not an error");
        // A flipped bit in the first of two records is corruption.
        let mut bad = a.clone();
        bad[10] ^= 0x40;
        bad.extend_from_slice(&b);
        let err = parse_records(&bad).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        let disk2 = Arc::new(MemDisk::default());
        disk2.append(LOG_FILE, &bad).unwrap();
        assert!(LogStore::open(disk2).is_err(), "a node must refuse a corrupted log");
    }

    #[test]
    fn a_purge_record_at_the_last_index_is_refused_not_a_panic() {
        let disk = Arc::new(MemDisk::default());
        let id = LogId::new(openraft::CommittedLeaderId::new(1, 1), u64::MAX);
        disk.append(LOG_FILE, &frame(KIND_PURGED, &serde_json::to_vec(&id).unwrap())).unwrap();
        assert!(LogStore::open(disk).is_err());
    }

    /// Fuzzing the files on disk (issue 22, item 6).
    mod fuzz {
        use super::super::*;
        use crate::node::raft::MemDisk;
        use proptest::prelude::*;
        use proptest::sample::Index;

        /// Cases per property: 2,000 (SHOAL_FUZZ_CASES overrides; `scripts/fuzz-long`).
        fn cases() -> u32 {
            std::env::var("SHOAL_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
        }

        fn log_id() -> impl Strategy<Value = LogId> {
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(t, n, i)| LogId::new(openraft::CommittedLeaderId::new(t, n), i))
        }

        /// One record of a raft.log as a fuzzer makes it: well framed, with a payload that is
        /// valid JSON of the kind's type (any numbers), or any bytes under any kind.
        fn record() -> impl Strategy<Value = Vec<u8>> {
            let entries = proptest::collection::vec(log_id(), 0..4)
                .prop_map(|ids| ids.into_iter().map(|log_id| Entry { log_id, payload: openraft::EntryPayload::Blank }).collect::<Vec<_>>());
            prop_oneof![
                entries.prop_map(|e| frame(KIND_ENTRIES, &serde_json::to_vec(&e).unwrap())),
                any::<u64>().prop_map(|i| frame(KIND_TRUNCATE, &i.to_le_bytes())),
                log_id().prop_map(|id| frame(KIND_PURGED, &serde_json::to_vec(&id).unwrap())),
                (0u8..6, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, b)| frame(k, &b)),
            ]
        }

        /// A vote file: a sealed vote (any numbers), sealed bytes, or bytes.
        fn vote_file() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                (any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(t, n, c)| {
                    let mut v = Vote::new(t, n);
                    if c {
                        v.commit()
                    }
                    seal(&serde_json::to_vec(&v).unwrap())
                }),
                proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| seal(&b)),
                proptest::collection::vec(any::<u8>(), 0..40),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(cases()))]
            /// A raft.log and vote file as a disk may hold them after any damage or any hand:
            /// opening never panics (it opens or says what is wrong), and what opens answers.
            #[test]
            fn raft_files_on_disk_never_panic(
                records in proptest::collection::vec(record(), 0..6),
                cut in proptest::option::of(any::<Index>()),
                flip in proptest::option::of((any::<Index>(), 1u8..=255)),
                vote in proptest::option::of(vote_file()),
            ) {
                let mut log: Vec<u8> = records.concat();
                if let (Some((at, x)), false) = (flip, log.is_empty()) {
                    let i = at.index(log.len());
                    log[i] ^= x;
                }
                if let (Some(at), false) = (cut, log.is_empty()) {
                    log.truncate(at.index(log.len()));
                }
                let disk = Arc::new(MemDisk::default());
                disk.append(LOG_FILE, &log).unwrap();
                if let Some(v) = vote {
                    disk.replace(VOTE_FILE, &v).unwrap();
                }
                if let Ok(store) = LogStore::open(disk) {
                    let _ = store.entries_after(0);
                    let _ = store.last_log_id();
                }
            }
        }
    }
}

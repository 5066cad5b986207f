//! The simulated disk: per-node named files in memory that survive a crash of the node, minus
//! what was never synced.
//!
//! Faithful to a real disk in the ways raft cares about: `append` only buffers, `sync` takes
//! (virtual) time and then makes the buffer durable, and a crash drops the unsynced buffer —
//! or, with torn writes on, keeps a random prefix of it (a write the kernel flushed partly).
//! The `corrupt` fault flips a bit inside a durable `raft.log` frame that is not the last one
//! (media corruption, not a torn write): the node must then refuse to start on that log.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shoal_core::node::raft::{CrashPoint, Disk};
use std::collections::BTreeMap;
use std::io;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct SimFile {
    durable: Vec<u8>,
    unsynced: Vec<u8>,
}

pub struct SimDisk {
    files: Mutex<BTreeMap<String, SimFile>>,
    sync_latency: Duration,
    /// A slow-disk fault: syncs take this long instead, while it is set.
    slow_sync: Mutex<Option<Duration>>,
    torn_writes: bool,
    /// Decides torn-write prefixes; seeded from the run seed and node, so crashes replay.
    rng: Mutex<ChaCha8Rng>,
    /// Told (with this node's index) each time openraft was told a vote is durable (the
    /// `VoteSaved` crash point): the `crash-after-vote` injector listens here.
    vote_listener: Mutex<Option<(usize, tokio::sync::mpsc::Sender<usize>)>>,
    /// The checker told of every durable vote's term (raft member id), which then holds the
    /// node to it after restarts.
    term_checker: Mutex<Option<(std::sync::Arc<crate::invariants::Checkers>, u64)>>,
    /// The byte of `raft.log` the `corrupt` fault flipped a bit in, once it did.
    corrupted_at: Mutex<Option<usize>>,
}

impl SimDisk {
    pub fn new(seed: u64, sync_latency: Duration, torn_writes: bool) -> SimDisk {
        SimDisk {
            files: Mutex::default(),
            sync_latency,
            slow_sync: Mutex::new(None),
            torn_writes,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            vote_listener: Mutex::new(None),
            term_checker: Mutex::new(None),
            corrupted_at: Mutex::new(None),
        }
    }

    /// Reports the term of every vote made durable here to `checkers` as member `node`.
    pub fn report_terms_to(&self, checkers: std::sync::Arc<crate::invariants::Checkers>, node: u64) {
        *self.term_checker.lock().unwrap() = Some((checkers, node));
    }

    /// A slow-disk fault: every sync takes `latency` until `None`.
    pub fn set_slow(&self, latency: Option<Duration>) {
        *self.slow_sync.lock().unwrap() = latency;
    }

    /// Reports each durable vote of this disk (node `index`) on `tx`; None stops.
    pub fn listen_for_votes(&self, listener: Option<(usize, tokio::sync::mpsc::Sender<usize>)>) {
        *self.vote_listener.lock().unwrap() = listener;
    }

    /// The node crashed: unsynced bytes are lost (a torn prefix may survive). Returns how many
    /// bytes were lost, for the trace.
    pub fn crash(&self) -> usize {
        let mut files = self.files.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        let mut lost = 0;
        for f in files.values_mut() {
            let keep = if self.torn_writes && !f.unsynced.is_empty() { rng.gen_range(0..f.unsynced.len()) } else { 0 };
            f.durable.extend_from_slice(&f.unsynced[..keep]);
            lost += f.unsynced.len() - keep;
            f.unsynced.clear();
        }
        lost
    }

    /// The `corrupt` fault (call while the node is down): flips one bit in the body of a
    /// durable `raft.log` record chosen among all but the last. Returns the byte flipped, or
    /// None when the log holds fewer than two records (nothing mid-log to corrupt).
    pub fn corrupt_mid_log(&self) -> Option<usize> {
        let mut files = self.files.lock().unwrap();
        let f = files.get_mut("raft.log")?;
        // The node's disk is encrypted (core's EncryptedDisk): its records are frames here.
        let spans = shoal_core::node::raft::frame_spans(&f.durable);
        if spans.len() < 2 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap();
        let span = spans[rng.gen_range(0..spans.len() - 1)].clone();
        let at = rng.gen_range(span);
        f.durable[at] ^= 1 << rng.gen_range(0..8);
        *self.corrupted_at.lock().unwrap() = Some(at);
        Some(at)
    }

    /// The first file whose bytes (durable or not) contain `needle`.
    pub fn holds(&self, needle: &[u8]) -> Option<String> {
        let files = self.files.lock().unwrap();
        let has = |b: &[u8]| !needle.is_empty() && b.windows(needle.len()).any(|w| w == needle);
        files.iter().find(|(_, f)| has(&f.durable) || has(&f.unsynced)).map(|(name, _)| name.clone())
    }

    /// Where the `corrupt` fault flipped a bit, if it did (a wipe forgets it).
    pub fn corrupted_at(&self) -> Option<usize> {
        *self.corrupted_at.lock().unwrap()
    }

    /// `swarm leave`: the node's swarm state is deleted (call while the node is down).
    pub fn wipe(&self) {
        self.files.lock().unwrap().clear();
        *self.corrupted_at.lock().unwrap() = None;
    }
}

impl Disk for SimDisk {
    fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.files.lock().unwrap().get(file).map(|f| {
            let mut v = f.durable.clone();
            v.extend_from_slice(&f.unsynced);
            v
        }))
    }

    fn append(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().unwrap().entry(file.to_string()).or_default().unsynced.extend_from_slice(bytes);
        Ok(())
    }

    fn sync(&self, file: &str) -> io::Result<()> {
        if let Some(f) = self.files.lock().unwrap().get_mut(file) {
            let pending = std::mem::take(&mut f.unsynced);
            f.durable.extend_from_slice(&pending);
        }
        Ok(())
    }

    fn replace(&self, file: &str, bytes: &[u8]) -> io::Result<()> {
        self.files.lock().unwrap().insert(file.to_string(), SimFile { durable: bytes.to_vec(), unsynced: Vec::new() });
        Ok(())
    }

    fn sync_latency(&self) -> Duration {
        self.slow_sync.lock().unwrap().unwrap_or(self.sync_latency)
    }

    fn crash_point(&self, point: CrashPoint) {
        let CrashPoint::VoteSaved { term, voted_for } = point;
        if let Some((checkers, node)) = &*self.term_checker.lock().unwrap() {
            checkers.vote_saved(*node, term, voted_for);
        }
        if let Some((i, tx)) = &*self.vote_listener.lock().unwrap() {
            // A full queue drops the event: that vote is simply not a crash candidate.
            let _ = tx.try_send(*i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loses_unsynced_writes_only() {
        let d = SimDisk::new(1, Duration::from_millis(1), false);
        d.append("log", b"abc").unwrap();
        d.sync("log").unwrap();
        d.append("log", b"def").unwrap();
        assert_eq!(d.read("log").unwrap().unwrap(), b"abcdef");
        assert_eq!(d.crash(), 3);
        assert_eq!(d.read("log").unwrap().unwrap(), b"abc");
        d.replace("vote", b"v1").unwrap();
        d.crash();
        assert_eq!(d.read("vote").unwrap().unwrap(), b"v1", "replace is durable");
    }

    #[test]
    fn torn_write_keeps_a_strict_prefix() {
        let d = SimDisk::new(7, Duration::ZERO, true);
        d.append("log", b"0123456789").unwrap();
        d.crash();
        let left = d.read("log").unwrap().unwrap();
        assert!(left.len() < 10 && b"0123456789".starts_with(&left));
    }
}

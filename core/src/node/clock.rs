//! The shell's one clock read: [`wall_ms`], milliseconds since the Unix epoch, written into raft
//! entries by proposers and into status reports by agents (virtual under the simulator).
//!
//! Clocks of different machines disagree in real clusters (no NTP, a VM resumed, a leap). In
//! the simulator each node's clock may be skewed by a fixed offset and drift at a rate, both
//! set per run by the simulator ([`set_skews`], a fault: `[sim] clock_skew_ms` in a scenario);
//! outside it, and for nodes without a skew, this is the machine's clock. Components compare
//! times from different clocks (an agent's report with the leader's `now`), so a skew shifts
//! restart delays, update monitors and failure windows by up to the skew: what the explorer
//! checks is that nothing worse follows.

/// A node's clock error: `offset_ms` plus `drift_ppm` millionths of the time elapsed since
/// `since_ms` (the moment the skews were set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skew {
    pub offset_ms: i64,
    pub drift_ppm: i64,
}

#[cfg(madsim)]
thread_local! {
    /// Per simulated node (madsim's node id): its skew, and the true time it was set at. One
    /// simulation runs on one thread; each run sets its own (an empty list: no skew).
    static SKEWS: std::cell::RefCell<(u64, Vec<(madsim::task::NodeId, Skew)>)> = const { std::cell::RefCell::new((0, Vec::new())) };
}

#[cfg(madsim)]
thread_local! {
    /// Every simulated clock's distance from madsim's virtual epoch (a twin's swarm lived at
    /// another time than the simulator's), for the current run.
    static EPOCH_OFFSET_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

/// Moves every simulated clock of the current run by `offset_ms` (0: madsim's own time), before
/// any skew: a twin's clocks read the swarm's time.
#[cfg(madsim)]
pub fn set_epoch_offset_ms(offset_ms: i64) {
    EPOCH_OFFSET_MS.with(|o| o.set(offset_ms));
}

/// Sets the clock skew of simulated nodes for the current run (replacing any earlier run's).
#[cfg(madsim)]
pub fn set_skews(skews: Vec<(madsim::task::NodeId, Skew)>) {
    let now = true_ms();
    SKEWS.with(|s| *s.borrow_mut() = (now, skews));
}

fn true_ms() -> u64 {
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let ms = now.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    #[cfg(madsim)]
    let ms = (ms as i64).saturating_add(EPOCH_OFFSET_MS.with(|o| o.get())).max(0) as u64;
    ms
}

/// Milliseconds since the Unix epoch by this node's clock.
pub fn wall_ms() -> u64 {
    let now = true_ms();
    #[cfg(madsim)]
    {
        let node = madsim::plugin::node();
        let skewed = SKEWS.with(|s| {
            let s = s.borrow();
            s.1.iter().find(|(n, _)| *n == node).map(|(_, k)| skewed(now, s.0, *k))
        });
        if let Some(t) = skewed {
            return t;
        }
    }
    now
}

/// `now` as a clock with skew `k` set at `since_ms` reads it.
pub fn skewed(now: u64, since_ms: u64, k: Skew) -> u64 {
    let drift = (now.saturating_sub(since_ms) as i64).saturating_mul(k.drift_ppm) / 1_000_000;
    (now as i64).saturating_add(k.offset_ms).saturating_add(drift).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    // A skewed clock is off by its offset at once and drifts by its rate from then on.
    #[test]
    fn offset_then_drift() {
        let k = Skew { offset_ms: -1_500, drift_ppm: 100 };
        assert_eq!(skewed(10_000, 10_000, k), 8_500);
        // 1,000 s later: 100 ppm is 100 ms more.
        assert_eq!(skewed(1_010_000, 10_000, k), 1_010_000 - 1_500 + 100);
        assert_eq!(skewed(100, 100, Skew { offset_ms: -5_000, drift_ppm: 0 }), 0, "never before the epoch");
    }
}

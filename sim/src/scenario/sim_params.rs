//! The `[sim]` table: how the simulated world behaves (network latency, disks, clocks,
//! buggify, encryption at rest, an operator who unlocks locked managers), each with its
//! default and its bounds.

use super::raw::RawSim;

#[derive(Debug, Clone, PartialEq)]
pub struct SimParams {
    /// Network latency range; `None` = derived from the seed.
    pub latency_ms: Option<(u64, u64)>,
    pub disk_sync_ms: u64,
    pub torn_writes: bool,
    /// Each node's clock is off by up to this much (either way), and drifts up to ±100 ppm,
    /// as derived from the seed; 0 = every clock agrees.
    pub clock_skew_ms: u64,
    /// Buggify points in the shell fire (rarely, seeded): delayed status reports, dropped
    /// heartbeats.
    pub buggify: bool,
    /// Managers' raft files are encrypted at rest, as in production (`false`: only for
    /// `bench raft`'s comparison of the cost).
    pub encrypt_at_rest: bool,
    /// `operator_unlock_ms`: an operator unlocks every manager that has been locked this long
    /// (autolock, after a restart) with the unlock keys the swarm printed, newest first; none:
    /// only `swarm unlock` steps do.
    pub operator_unlock_ms: Option<u64>,
    /// Nodes hold certificates (sim/src/pki.rs): joins send a CSR, every call between
    /// machines is a handshake, nodes renew on promotion, demotion and root rotation (`swarm
    /// ca --rotate`), and the `certificates` checker runs.
    pub certificates: bool,
}

impl SimParams {
    /// The table as given (defaults for what it leaves out); Err is (key, what is wrong).
    pub(super) fn parse(raw: Option<&RawSim>) -> Result<SimParams, (&'static str, String)> {
        let default = SimParams {
            latency_ms: None,
            disk_sync_ms: 1,
            torn_writes: true,
            clock_skew_ms: 0,
            buggify: false,
            encrypt_at_rest: true,
            operator_unlock_ms: None,
            certificates: false,
        };
        let Some(s) = raw else { return Ok(default) };
        if let Some([lo, hi]) = s.latency_ms {
            if lo > hi || hi > 10_000 {
                return Err(("sim.latency_ms", format!("[{lo}, {hi}]: need low ≤ high ≤ 10000")));
            }
        }
        if s.clock_skew_ms.is_some_and(|ms| ms > 3_600_000) {
            return Err(("sim.clock_skew_ms", "at most 3600000 (an hour)".into()));
        }
        if s.operator_unlock_ms.is_some_and(|ms| !(100..=3_600_000).contains(&ms)) {
            return Err(("sim.operator_unlock_ms", "from 100 to 3600000 (an hour)".into()));
        }
        Ok(SimParams {
            latency_ms: s.latency_ms.map(|[a, b]| (a, b)),
            disk_sync_ms: s.disk_sync_ms.unwrap_or(default.disk_sync_ms),
            torn_writes: s.torn_writes.unwrap_or(default.torn_writes),
            clock_skew_ms: s.clock_skew_ms.unwrap_or(default.clock_skew_ms),
            buggify: s.buggify.unwrap_or(default.buggify),
            encrypt_at_rest: s.encrypt_at_rest.unwrap_or(default.encrypt_at_rest),
            operator_unlock_ms: s.operator_unlock_ms,
            certificates: s.certificates.unwrap_or(default.certificates),
        })
    }
}

//! What a run is asked for ([`RunOptions`]) and what it gives back ([`RunReport`]): verdict,
//! trace hash, figures, expectations met, violations, and the one command that replays it.

use super::RequestStats;
use crate::invariants::Violation;
use serde::Serialize;
use shoal_core::node::counters::Figures;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every trace line (for `--trace FILE` and determinism diffs).
    pub keep_trace: bool,
    /// Print trace lines to stderr as they happen.
    pub echo_trace: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub verdict: &'static str,
    pub trace_hash: String,
    pub virtual_secs: f64,
    pub wall_secs: f64,
    pub events: u64,
    /// Writes acknowledged to the load client over the whole run.
    pub writes_acked: usize,
    /// Requests through the routing mesh over the whole run (`load service`).
    pub requests: RequestStats,
    /// How fast names followed tasks (scenarios with networks; sim/src/names.rs).
    #[serde(skip)]
    pub names: crate::names::NameLatencies,
    /// name → virtual time (s) the expectation was met.
    pub expectations: BTreeMap<String, f64>,
    /// name → virtual time (s) from the step's start until it was met.
    pub expectation_waits: BTreeMap<String, f64>,
    /// What a `/metrics` scrape of the leader would show as the run ends: its raft, what it
    /// did as leader, and the store's figures (core/src/figures.rs). None if no manager ran.
    pub figures: Option<Figures>,
    pub violations: Vec<Violation>,
    #[serde(skip)]
    pub trace_lines: Vec<String>,
    /// The `load control` history in Shoal's history format (empty without that load).
    #[serde(skip)]
    pub history: String,
    #[serde(skip)]
    pub banner: String,
    /// The scenario file, for the reproduce command.
    #[serde(skip)]
    pub path: String,
    /// A twin's snapshot file, for the reproduce command.
    #[serde(skip)]
    pub from_snapshot: Option<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// The two failure lines: what broke, and the one command that replays it.
    pub fn failure_text(&self) -> Option<String> {
        let v = self.violations.first()?;
        Some(format!(
            "FAILED scenario={} seed={} at t={:.3}s: [{}] {}\nreproduce: scripts/sim run {}{} --seed {}",
            self.scenario,
            self.seed,
            v.at,
            v.checker,
            v.message,
            self.path,
            self.from_snapshot.as_ref().map(|f| format!(" --from-snapshot {f}")).unwrap_or_default(),
            self.seed
        ))
    }
}


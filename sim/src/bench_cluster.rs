//! `bench cluster`: one service of N replicas on a whole simulated cluster for M virtual
//! minutes: convergence, the virtual/wall speedup, peak RSS, determinism on request, and the
//! leader's figures at the end (core/src/figures.rs), as text or JSON.

use crate::bench::peak_rss_mib;
use crate::runner::{run, RunOptions};
use crate::scenario::Scenario;

/// A whole cluster for `minutes` of virtual time: `managers` + `workers` nodes, `tasks`
/// replicas of one service created at once; prints the virtual/wall speedup and peak RSS.
/// `twice`: run the seed again and say whether both runs gave the same trace hash.
pub fn cluster(managers: u32, workers: u32, tasks: u64, minutes: u64, seed: u64, json: bool, twice: bool) -> i32 {
    let text = format!(
        r#"
name = "bench-cluster"
[cluster]
managers = {managers}
workers = {workers}
[[step]]
do = "service create --name web --replicas {tasks} --constraint node.role==worker nginx:1.25"
[[step]]
expect = "service web running {tasks}"
within = "{}s"
name = "converged"
[[step]]
at = "{}s"
expect = "managers agree"
within = "60s"
"#,
        (minutes * 60).max(60),
        minutes * 60
    );
    let s = match Scenario::parse("<bench cluster>", &text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let r = run(&s, seed, &RunOptions::default());
    let speedup = r.virtual_secs / r.wall_secs;
    let converged = r.expectations.get("converged").copied();
    // The second run's hash, when asked; None = not checked.
    let again = twice.then(|| run(&s, seed, &RunOptions::default()).trace_hash);
    let deterministic = again.as_ref().map(|h| *h == r.trace_hash);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "cluster", "managers": managers, "workers": workers, "tasks": tasks, "seed": seed,
                "virtual_secs": r.virtual_secs, "wall_secs": r.wall_secs, "speedup": (speedup * 10.0).round() / 10.0,
                "converged_at_secs": converged, "peak_rss_mib": peak_rss_mib().round(), "verdict": r.verdict,
                "trace_hash": r.trace_hash, "deterministic": deterministic, "figures": r.figures,
            })
        );
    } else {
        println!(
            "bench cluster: managers={managers} workers={workers} tasks={tasks} virtual_s={:.0} wall_s={:.1} speedup={speedup:.1}x \
             converged_at={converged:?} peak_rss_mib={:.0} {} trace_hash={} deterministic={deterministic:?}",
            r.virtual_secs,
            r.wall_secs,
            peak_rss_mib(),
            r.verdict,
            r.trace_hash
        );
        if let Some(f) = &r.figures {
            println!(
                "figures (leader at the end): term={} log_index={} apply_lag={} leader_changes={} heartbeats_missed={} \
                 assignments={} mean_wait_ms={} pending={} tasks={:?}",
                f.raft.term,
                f.raft.last_log_index,
                f.raft.apply_lag,
                f.raft.leader_changes,
                f.leader.heartbeats_missed,
                f.leader.assignments,
                f.leader.assignment_wait_ms_sum.checked_div(f.leader.assignments).unwrap_or(0),
                f.store.pending,
                f.store.tasks
            );
        }
    }
    if let Some(f) = r.failure_text() {
        println!("{f}");
    }
    if deterministic == Some(false) {
        println!(
            "NOT deterministic: seed {seed} gave trace hashes {} and {}; reproduce: scripts/sim bench cluster --managers {managers} \
             --workers {workers} --tasks {tasks} --minutes {minutes} --seeds {seed}..{} --check-determinism",
            r.trace_hash,
            again.unwrap_or_default(),
            seed + 1
        );
    }
    i32::from(!r.passed() || deterministic == Some(false))
}

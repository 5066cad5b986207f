//! Benchmarks that print figures (never timed unit tests): raft commit throughput with the
//! virtual/wall ratio, and leader failover time over many seeds.

use crate::runner::{run, RunOptions};
use crate::scenario::Scenario;

/// 3 managers, a write every 10 ms, 60 virtual seconds (the spine issue's speed target). The
/// client writes to the leader and reads nothing back: this measures raft, not the proxy.
pub const RAFT_BENCH: &str = r#"
name = "bench-raft"
[cluster]
managers = 3
[[step]]
expect = "leader elected"
[[step]]
do = "load writes 100/s to leader no-reads"
[[step]]
at = "60s"
do = "load stop"
"#;

/// Crash the leader of a loaded 3-manager cluster; time until a newer leader commits.
pub const FAILOVER_BENCH: &str = r#"
name = "bench-failover"
[cluster]
managers = 3
[[step]]
do = "load writes 20/s"
[[step]]
at = "5s"
fault = "crash leader"
[[step]]
expect = "leader elected"
within = "30s"
name = "failover"
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn raft(seeds: std::ops::Range<u64>) -> i32 {
    let s = Scenario::parse("<bench raft>", RAFT_BENCH).expect("built-in scenario is valid");
    let mut failed = 0;
    println!("bench raft: 3 managers, 100 writes/s offered to the leader, 60 virtual s, per seed:");
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        failed += usize::from(!r.passed());
        println!(
            "seed={seed} commits={} virtual_s={:.1} wall_s={:.3} commits_per_virtual_s={:.1} commits_per_wall_s={:.0} virtual/wall={:.0}x {}",
            r.writes_acked,
            r.virtual_secs,
            r.wall_secs,
            r.writes_acked as f64 / r.virtual_secs,
            r.writes_acked as f64 / r.wall_secs,
            r.virtual_secs / r.wall_secs,
            r.verdict
        );
    }
    i32::from(failed > 0)
}

pub fn failover(seeds: std::ops::Range<u64>) -> i32 {
    let s = Scenario::parse("<bench failover>", FAILOVER_BENCH).expect("built-in scenario is valid");
    let mut times = Vec::new();
    let mut failed = Vec::new();
    let n = seeds.end - seeds.start;
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        match (r.passed(), r.expectation_waits.get("failover")) {
            (true, Some(t)) => times.push(*t),
            _ => failed.push(seed),
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "bench failover: {n} seeds, leader crash -> newer leader committed in its term (virtual s): \
         p50={:.3} p90={:.3} p99={:.3} max={:.3} failed_seeds={:?}",
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or(f64::NAN),
        failed
    );
    i32::from(!failed.is_empty())
}

//! `shoal-sim bench names`: how fast names follow tasks over overlay networks (issue 19's
//! targets: a new task answers by name within 2 s of RUNNING; a dead task leaves DNS and the
//! VIP within 2 s of the manager marking it failed), as p50/p99/max over many seeds.
//!
//! The run: 3 managers, 4 workers, one overlay network; `api` (3 replicas) called by `web`
//! (2 replicas) at 50 requests/s by name; `api` scaled to 6, then updated start-first; a
//! `flaky` service whose containers exit 1 after 3 s (restarted after 5 s, its tasks dying
//! and coming back all run long). Latencies come from each machine's tables as its agent
//! received them (sim/src/names.rs): "up" from a container running until every machine that
//! came to list it does; "down" from a container stopping until no machine lists it (0 when
//! its names left before it stopped).

use crate::runner::{run, RunOptions};
use crate::scenario::Scenario;

const SCENARIO: &str = r#"
name = "bench-names"
[cluster]
managers = 3
workers = 4

[images."flaky:1"]
behaviour = "exit"
code = 1
after = "3s"

[[step]]
do = "network create -d overlay appnet"
[[step]]
do = "service create --name api --replicas 3 --network appnet --update-order start-first api:1"
[[step]]
do = "service create --name web --replicas 2 --network appnet web:1"
[[step]]
do = "service create --name flaky --replicas 2 --network appnet --restart-delay 5s flaky:1"
[[step]]
expect = "service api running 3"
within = "30s"
[[step]]
after = "2s"
do = "load service api from web rate 50/s"
[[step]]
after = "2s"
do = "service scale api=6"
[[step]]
expect = "service api running 6"
within = "30s"
[[step]]
after = "2s"
do = "service update --image api:2 api"
[[step]]
expect = "service api update-state completed"
within = "120s"
[[step]]
after = "10s"
do = "load stop"
"#;

/// (n, p50, p99, max) in ms, 0 for an empty list.
fn percentiles(v: Vec<u64>) -> (usize, u64, u64, u64) {
    let mut sorted: Vec<f64> = v.into_iter().map(|x| x as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let at = |p: f64| if sorted.is_empty() { 0 } else { crate::bench::percentile(&sorted, p) as u64 };
    (sorted.len(), at(50.0), at(99.0), at(100.0))
}

pub fn names(seeds: std::ops::Range<u64>, json: bool) -> i32 {
    let s = Scenario::parse("<bench names>", SCENARIO).expect("built-in scenario is valid");
    let (mut up, mut down, mut failed_runs, mut requests_failed, mut wall) = (Vec::new(), Vec::new(), Vec::new(), 0u64, 0.0);
    let n = seeds.end.saturating_sub(seeds.start);
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        wall += r.wall_secs;
        if !r.passed() {
            failed_runs.push(seed);
            if !json {
                println!("{}", r.failure_text().unwrap_or_default());
            }
        }
        requests_failed += r.requests.run.failed;
        up.extend(r.names.up_ms);
        down.extend(r.names.down_ms);
    }
    let (up_n, up_p50, up_p99, up_max) = percentiles(up);
    let (down_n, down_p50, down_p99, down_max) = percentiles(down);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "names", "seeds": n,
                "up_ms": {"n": up_n, "p50": up_p50, "p99": up_p99, "max": up_max},
                "down_ms": {"n": down_n, "p50": down_p50, "p99": down_p99, "max": down_max},
                "requests_failed": requests_failed, "runs_failed": failed_runs, "wall_secs": wall,
            })
        );
    } else {
        println!(
            "bench names: {n} seeds; a task running -> every table lists it: n={up_n} p50={up_p50} ms p99={up_p99} ms max={up_max} ms (target p99 < 2000); \
             a task stopped -> no table lists it: n={down_n} p50={down_p50} ms p99={down_p99} ms max={down_max} ms (target p99 < 2000); \
             requests by name failed: {requests_failed}; runs failed: {failed_runs:?}; wall {wall:.1}s"
        );
    }
    i32::from(!failed_runs.is_empty() || up_p99 >= 2_000 || down_p99 >= 2_000)
}

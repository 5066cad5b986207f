//! `shoal-sim bench twin`: how long a twin of a large swarm takes to start, the issue's target
//! being a 1,000-node, 10,000-task snapshot started in ≤ 10 s wall. The swarm is built with the
//! core's own functions ([`crate::bench_plan::swarm`]: 3 managers, `--nodes` workers, one
//! service of `--tasks` replicas, settled), exported as `shoal snapshot` exports, loaded as a
//! twin, and run until every task's container runs (adopted at boot), a leader is elected and
//! the services are converged, then 30 s more (every agent's session moves to the new
//! leader) with the services still converged. Figures: wall time of each phase, peak memory. Build with
//! `SHOAL_SIM_PROFILE=release` for the figures that count.

use crate::scenario::{Scenario, SnapshotArg};
use crate::{run, RunOptions};

const SCENARIO: &str = r#"
name = "bench-twin"
[cluster]
managers = 1

[[step]]
expect = "service web running TASKS"
within = "1s"
name = "adopted"

[[step]]
expect = "leader elected"
within = "60s"
name = "elected"

[[step]]
expect = "services converged"
within = "60s"
name = "converged"

[[step]]
expect = "managers agree"
within = "60s"
name = "agree"

# Every agent's session moved to the new leader, and nothing moved.
[[step]]
after = "30s"
expect = "services converged"
within = "60s"
name = "steady"

[[step]]
expect = "managers agree"
within = "60s"
"#;

pub fn twin_bench(nodes: usize, tasks: u64, seed: u64, json: bool) -> i32 {
    // Wall-clock timing of the bench itself, outside any simulation.
    #[allow(clippy::disallowed_methods)]
    let t = std::time::Instant::now();
    let store = crate::bench_plan::swarm(3, nodes, tasks);
    let objects = store.all().cloned().collect();
    let bytes = shoal_core::plan::snapshot::export(store.last_index(), objects).expect("the bench's store exports");
    let build_s = t.elapsed().as_secs_f64();
    // Loaded as a file's bytes would be (restored, hashed, mapped to machines).
    #[allow(clippy::disallowed_methods)]
    let t = std::time::Instant::now();
    let loaded = shoal_core::store::Store::restore(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|s| crate::twin::Twin::from_store("bench-twin.snap", s).map_err(|e| e.to_string()))
        .and_then(|twin| {
            let text = SCENARIO.replace("TASKS", &tasks.to_string());
            Scenario::parse_with("bench-twin", &text, Some(SnapshotArg::Loaded(std::sync::Arc::new(twin)))).map_err(|e| e.to_string())
        });
    let scenario = match loaded {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench twin: {e}");
            return 2;
        }
    };
    let load_s = t.elapsed().as_secs_f64();
    let r = run(&scenario, seed, &RunOptions::default());
    let at = |name: &str| r.expectations.get(name).copied().unwrap_or(f64::NAN);
    let rss = crate::bench::peak_rss_mib();
    if json {
        println!(
            "{}",
            serde_json::json!({"bench": "twin", "nodes": nodes + 3, "tasks": tasks, "snapshot_bytes": bytes.len(),
                "load_s": load_s, "run_wall_s": r.wall_secs, "virtual_s": r.virtual_secs, "elected_at_s": at("elected"),
                "converged_at_s": at("converged"), "peak_rss_mib": rss, "passed": r.passed()})
        );
    } else {
        println!(
            "bench twin: nodes={} tasks={tasks} snapshot={:.1} MiB: loaded in {load_s:.2}s wall; started, adopted, elected (at {:.2}s virtual), \
             converged (at {:.2}s), agreed and steady 30 s later in {:.2}s wall ({:.1}s virtual); peak RSS {rss:.0} MiB; passed={} (building the swarm took {build_s:.1}s)",
            nodes + 3,
            bytes.len() as f64 / (1 << 20) as f64,
            at("elected"),
            at("converged"),
            r.wall_secs,
            r.virtual_secs,
            r.passed()
        );
    }
    if let Some(f) = r.failure_text() {
        eprintln!("{f}");
        return 1;
    }
    0
}

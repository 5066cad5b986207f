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

/// The `p`-th percentile (nearest rank) of `sorted`; NaN when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn raft(seeds: std::ops::Range<u64>) -> i32 {
    let s = Scenario::parse("<bench raft>", RAFT_BENCH).expect("built-in scenario is valid");
    // The same runs with the raft files in plaintext: what encryption at rest costs.
    let mut plain = s.clone();
    plain.sim.encrypt_at_rest = false;
    let mut failed = 0;
    // Wall seconds, encrypted then plaintext.
    let mut wall = [0.0f64; 2];
    println!("bench raft: 3 managers, 100 writes/s offered to the leader, 60 virtual s, per seed (encrypted at rest, then plaintext):");
    for seed in seeds {
        for (k, (what, s)) in [("encrypted", &s), ("plaintext", &plain)].into_iter().enumerate() {
            let r = run(s, seed, &RunOptions::default());
            failed += usize::from(!r.passed());
            wall[k] += r.wall_secs;
            println!(
                "seed={seed} disk={what} commits={} virtual_s={:.1} wall_s={:.3} commits_per_virtual_s={:.1} commits_per_wall_s={:.0} virtual/wall={:.0}x {}",
                r.writes_acked,
                r.virtual_secs,
                r.wall_secs,
                r.writes_acked as f64 / r.virtual_secs,
                r.writes_acked as f64 / r.wall_secs,
                r.virtual_secs / r.wall_secs,
                r.verdict
            );
        }
    }
    println!(
        "bench raft: wall time encrypted {:.3} s, plaintext {:.3} s: encryption at rest costs {:+.1}%",
        wall[0],
        wall[1],
        (wall[0] / wall[1] - 1.0) * 100.0
    );
    i32::from(failed > 0)
}

/// Runs `scenario` under every seed and prints percentiles of the named expectation's wait.
fn wait_percentiles(what: &str, scenario: &str, expectation: &str, seeds: std::ops::Range<u64>) -> i32 {
    let s = Scenario::parse(&format!("<bench {what}>"), scenario).expect("built-in scenario is valid");
    let mut times = Vec::new();
    let mut failed = Vec::new();
    let n = seeds.end - seeds.start;
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        match (r.passed(), r.expectation_waits.get(expectation)) {
            (true, Some(t)) => times.push(*t),
            _ => failed.push(seed),
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "bench {what}: {n} seeds (virtual s): p50={:.3} p90={:.3} p99={:.3} max={:.3} failed_seeds={:?}",
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or(f64::NAN),
        failed
    );
    i32::from(!failed.is_empty())
}

/// Leader crash → a newer leader committed in its term.
pub fn failover(seeds: std::ops::Range<u64>) -> i32 {
    wait_percentiles("failover", FAILOVER_BENCH, "failover", seeds)
}

/// `stack deploy` of scenarios/stacks/bench10.yml (10 services × 2) on 3 managers and 3
/// workers: virtual time from the deploy's first request to every service of the stack
/// running (the deploy's own requests included), and the wall time of all seeds.
pub fn stack(seeds: std::ops::Range<u64>) -> i32 {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/stacks/bench10.yml");
    let text = format!(
        "name = \"bench-stack\"\n[cluster]\nmanagers = 3\nworkers = 3\n\
         [[step]]\nexpect = \"leader elected\"\nwithin = \"10s\"\nname = \"ready\"\n\
         [[step]]\ndo = \"stack deploy -c {file} bench\"\n\
         [[step]]\nexpect = \"stack bench running\"\nwithin = \"60s\"\nname = \"converged\"\n"
    );
    let s = Scenario::parse("<bench stack>", &text).expect("built-in scenario is valid");
    let wall = std::time::Instant::now();
    let (mut times, mut failed) = (Vec::new(), Vec::new());
    for seed in seeds.clone() {
        let r = run(&s, seed, &RunOptions::default());
        match (r.passed(), r.expectations.get("ready"), r.expectations.get("converged")) {
            (true, Some(a), Some(b)) => times.push(b - a),
            _ => failed.push(seed),
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "bench stack: deploy of 10 services x 2 -> all running, {} seeds (virtual s): p50={:.3} p90={:.3} p99={:.3} max={:.3} failed_seeds={:?}; {:.2} s wall for all",
        seeds.end - seeds.start,
        percentile(&times, 50.0),
        percentile(&times, 90.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or(f64::NAN),
        failed,
        wall.elapsed().as_secs_f64()
    );
    i32::from(!failed.is_empty())
}

/// A worker running 2 of 6 tasks crashes at 20 s; time until 6 run again (virtual s).
pub const WORKER_CRASH_BENCH: &str = r#"
name = "bench-worker-crash"
[cluster]
managers = 3
workers = 3
[[step]]
do = "service create --name web --replicas 6 --constraint node.role==worker nginx:1.25"
[[step]]
expect = "service web running 6"
within = "20s"
[[step]]
at = "20s"
fault = "crash worker-2"
[[step]]
expect = "service web running 6"
within = "60s"
name = "replaced"
"#;

/// Heartbeat 5 s; a worker crash → its tasks running elsewhere.
pub fn worker_crash(seeds: std::ops::Range<u64>) -> i32 {
    wait_percentiles("worker-crash", WORKER_CRASH_BENCH, "replaced", seeds)
}

/// No faults but a slow, lossy network for `hours`: every node marked down is a false down.
pub fn false_downs(seeds: std::ops::Range<u64>, hours: u64) -> i32 {
    let text = format!(
        r#"
name = "bench-false-downs"
[cluster]
managers = 3
workers = 10
[sim]
latency_ms = [1, 200]
[[injector]]
kind = "packet-loss"
rate = 0.01
from = "10s"
until = "{}s"
[[step]]
at = "{}s"
expect = "managers agree"
within = "60s"
"#,
        hours * 3600,
        hours * 3600
    );
    let s = Scenario::parse("<bench false-downs>", &text).expect("built-in scenario is valid");
    let mut total = 0usize;
    let mut failed = Vec::new();
    for seed in seeds.clone() {
        let r = run(&s, seed, &RunOptions { keep_trace: true, echo_trace: false });
        let downs = r.trace_lines.iter().filter(|l| l.contains("missed its heartbeat deadline")).count();
        total += downs;
        if !r.passed() {
            failed.push(seed);
        }
        println!("seed={seed} virtual_s={:.0} wall_s={:.1} false_downs={downs} {}", r.virtual_secs, r.wall_secs, r.verdict);
    }
    let node_hours = (seeds.end - seeds.start) * hours * 13;
    println!(
        "bench false-downs: 13 nodes, latency 1-200 ms, 1% packet loss, {} virtual hour(s) x {} seeds: \
         false_downs={total} ({:.3} per node-hour) failed_seeds={failed:?}",
        hours,
        seeds.end - seeds.start,
        total as f64 / node_hours as f64
    );
    i32::from(!failed.is_empty())
}

/// The scheduler alone on a synthetic cluster: `nodes` nodes (zones a-c, racks r0-r9), `tasks`
/// identical pending tasks, one call of `schedule` timed on this thread.
pub fn scheduler(nodes: usize, tasks: usize, constraint: Option<&str>, pref: Option<&str>, json: bool) -> i32 {
    use rand::SeedableRng;
    use shoal_core::model::{Node, NodeDescription, NodeRole, NodeState, Resources, SchedulerStrategy, Task, TaskState};
    use shoal_core::scheduler::{schedule, ClusterView, Decision};
    let ns: Vec<Node> = (0..nodes)
        .map(|i| {
            let mut n = Node { id: format!("node{i:06}"), role: NodeRole::Worker, ..Default::default() };
            n.status.state = NodeState::Ready;
            n.spec.annotations.labels.insert("zone".into(), ["a", "b", "c"][i % 3].into());
            n.spec.annotations.labels.insert("rack".into(), format!("r{}", i % 10));
            n.description = Some(NodeDescription {
                hostname: n.id.clone(),
                resources: Resources { nano_cpus: 64_000_000_000, memory_bytes: 256 << 30, ..Default::default() },
                ..Default::default()
            });
            n
        })
        .collect();
    let ts: Vec<Task> = (0..tasks)
        .map(|i| {
            let mut t = Task { id: format!("task{i:07}"), service_id: "svc".into(), spec_version: 1, ..Default::default() };
            t.status.state = TaskState::Pending;
            t.desired_state = TaskState::Running;
            t.spec.resources.reservations = Some(Resources { nano_cpus: 10_000_000, memory_bytes: 16 << 20, ..Default::default() });
            t.spec.placement.constraints = constraint.map(|c| vec![c.to_string()]).unwrap_or_default();
            t.spec.placement.preferences = pref.map(|p| vec![p.to_string()]).unwrap_or_default();
            t
        })
        .collect();
    let services = std::collections::BTreeMap::new();
    // Wall-clock timing of a pure function, outside any simulation.
    #[allow(clippy::disallowed_methods)]
    let t0 = std::time::Instant::now();
    let mut view = ClusterView::build(&ns, std::iter::empty(), &services, 0);
    let build_s = t0.elapsed().as_secs_f64();
    let pending: Vec<&Task> = ts.iter().collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    #[allow(clippy::disallowed_methods)]
    let t1 = std::time::Instant::now();
    let d = schedule(&mut view, &pending, &services, SchedulerStrategy::Spread, &mut rng);
    let secs = t1.elapsed().as_secs_f64();
    let placed = d.iter().filter(|x| matches!(x, Decision::Assign { .. })).count();
    let per_sec = placed as f64 / secs;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "scheduler", "nodes": nodes, "tasks": tasks, "constraint": constraint, "placement_pref": pref,
                "placed": placed, "schedule_secs": secs, "view_build_secs": build_s, "placements_per_sec": per_sec.round(),
            })
        );
    } else {
        println!(
            "bench scheduler: nodes={nodes} tasks={tasks} constraint={constraint:?} placement_pref={pref:?} placed={placed} \
             schedule_s={secs:.3} view_build_s={build_s:.3} placements_per_sec={per_sec:.0}"
        );
    }
    i32::from(placed == 0 && tasks > 0)
}

/// Peak resident memory of this process (Linux VmHWM), MiB.
pub(crate) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A rolling update of `replicas` tasks, `parallelism` at a time, delay 0, monitor 5 s, of a
/// healthy image, on 3 managers + 10 workers: the virtual time from the update's start to
/// `completed`, per seed, against the issue's bound (replicas / parallelism) × (task start
/// time + monitor) + 10%, with the task start time measured as the service's first start.
pub fn update(replicas: u64, parallelism: u64, seeds: std::ops::Range<u64>, json: bool) -> i32 {
    let text = format!(
        r#"
name = "bench-update"
[cluster]
managers = 3
workers = 10
[[step]]
do = "service create --name web --replicas {replicas} --update-parallelism {parallelism} --update-monitor 5s web:v1"
[[step]]
expect = "service web running {replicas} image web:v1"
within = "120s"
name = "first start"
[[step]]
do = "service update --image web:v2 web"
[[step]]
expect = "service web update-state updating"
within = "5s"
name = "started"
[[step]]
expect = "service web update-state completed"
within = "1200s"
name = "completed"
[[step]]
expect = "service web running {replicas} image web:v2"
within = "1s"
"#
    );
    let s = Scenario::parse("<bench update>", &text).expect("built-in scenario is valid");
    let mut durations = Vec::new();
    let mut starts = Vec::new();
    let mut failed = Vec::new();
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        match (r.expectations.get("started"), r.expectations.get("completed"), r.expectation_waits.get("first start")) {
            (Some(a), Some(b), Some(start)) if r.passed() => {
                durations.push(b - a);
                starts.push(*start);
            }
            _ => failed.push(seed),
        }
    }
    durations.sort_by(f64::total_cmp);
    starts.sort_by(f64::total_cmp);
    let start_s = percentile(&starts, 50.0);
    let batches = replicas.div_ceil(parallelism.max(1)) as f64;
    let bound = batches * (start_s + 5.0) * 1.1;
    let p99 = percentile(&durations, 99.0);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "update", "replicas": replicas, "parallelism": parallelism,
                "p50_secs": percentile(&durations, 50.0), "p99_secs": p99, "task_start_secs": start_s,
                "bound_secs": bound, "within_bound": p99 <= bound, "failed_seeds": failed,
            })
        );
    } else {
        println!(
            "bench update: {replicas} replicas, parallelism {parallelism}, {} seeds: p50={:.2}s p99={p99:.2}s \
             (bound {bound:.1}s = {batches} batches x (task start {start_s:.2}s + monitor 5s) + 10%) failed_seeds={failed:?}",
            durations.len(),
            percentile(&durations, 50.0)
        );
    }
    i32::from(!failed.is_empty() || p99 > bound)
}

/// A start-first rolling update of 10 replicas published on port 8080 under 200 requests/s
/// through the routing-mesh model, on 3 managers + 5 workers, per seed: requests sent and
/// failed (by reason). With `crashes`, a random worker crashes 2 s into the update and comes
/// back 5 s later, and the update's failure action is continue (the failures the crash costs
/// are reported apart: the issue's target excludes them).
pub fn mesh(seeds: std::ops::Range<u64>, crashes: bool, json: bool) -> i32 {
    let crash = if crashes {
        r#"
[[step]]
after = "2s"
fault = "crash any-worker"
[[step]]
after = "5s"
fault = "restart last-crashed"
"#
    } else {
        ""
    };
    // A task killed with its machine counts as a failure of the update (as in swarm); with
    // the default action (pause) the update would stop there, so the crash run continues.
    let action = if crashes { "--update-failure-action continue" } else { "" };
    let text = format!(
        r#"
name = "bench-mesh"
[cluster]
managers = 3
workers = 5
[[step]]
do = "service create --name web --replicas 10 -p 8080:80 --update-order start-first --update-parallelism 2 {action} web:1"
[[step]]
expect = "service web running 10 image web:1"
within = "60s"
[[step]]
after = "3s"
do = "load service web port 8080 rate 200/s"
[[step]]
after = "2s"
do = "service update --image web:2 web"
{crash}
[[step]]
expect = "service web update-state completed"
within = "300s"
[[step]]
expect = "service web running 10 image web:2"
within = "60s"
[[step]]
after = "3s"
do = "load stop"
"#
    );
    let s = Scenario::parse("<bench mesh>", &text).expect("built-in scenario is valid");
    let (mut sent, mut failed, mut runs_failed) = (0u64, 0u64, Vec::new());
    let mut seeds_with_failures = Vec::new();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut wall = 0.0;
    let n = seeds.end.saturating_sub(seeds.start);
    for seed in seeds {
        let r = run(&s, seed, &RunOptions::default());
        wall += r.wall_secs;
        if !r.passed() {
            runs_failed.push(seed);
            if !json {
                println!("{}", r.failure_text().unwrap_or_default());
            }
        }
        sent += r.requests.run.sent;
        failed += r.requests.run.failed;
        if r.requests.run.failed > 0 {
            seeds_with_failures.push((seed, r.requests.run.failed));
        }
        for (k, v) in &r.requests.run.failed_by {
            *by.entry(k.clone()).or_default() += v;
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "mesh", "seeds": n, "worker_crashes": crashes, "requests_sent": sent,
                "requests_failed": failed, "failed_by": by, "seeds_with_failures": seeds_with_failures,
                "runs_failed": runs_failed, "wall_secs": wall,
            })
        );
    } else {
        println!(
            "bench mesh: start-first update of 10 replicas at 200 req/s, {n} seeds{}: {sent} requests, {failed} failed {by:?}; \
             seeds with failures {}: {seeds_with_failures:?}; runs failed: {runs_failed:?}; wall {wall:.1}s",
            if crashes { ", a worker crashed 2 s into each update" } else { "" },
            seeds_with_failures.len()
        );
    }
    // Without faults no request may fail; with crashes the figure is a report.
    i32::from(!runs_failed.is_empty() || (!crashes && failed > 0))
}

/// Automatic rollback latency: 10 replicas updated (parallelism 2, monitor 5 s, failure
/// ratio 0, failure action rollback) to an image that exits 1 a second after it starts. Per
/// seed, the virtual time from the first container of the bad image exiting (the failure that
/// crosses the ratio) to the service's `rollback_started`, against the target of one monitor
/// period.
pub fn rollback(seeds: std::ops::Range<u64>, json: bool) -> i32 {
    let text = r#"
name = "bench-rollback"
[cluster]
managers = 3
workers = 5
[images."web:bad"]
behaviour = "exit"
code = 1
after = "1s"
[[step]]
do = "service create --name web --replicas 10 --update-parallelism 2 --update-monitor 5s --update-failure-action rollback --update-max-failure-ratio 0 web:1"
[[step]]
expect = "service web running 10 image web:1"
within = "60s"
[[step]]
do = "service update --image web:bad web"
[[step]]
expect = "service web update-state rollback_started"
within = "60s"
name = "rollback started"
[[step]]
expect = "service web update-state rollback_completed"
within = "120s"
"#;
    let s = Scenario::parse("<bench rollback>", text).expect("built-in scenario is valid");
    let mut lat = Vec::new();
    let mut failed = Vec::new();
    for seed in seeds {
        let r = run(&s, seed, &RunOptions { keep_trace: true, echo_trace: false });
        let exit = r
            .trace_lines
            .iter()
            .find(|l| l.contains("-> Exited(1)"))
            .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok());
        match (exit, r.expectations.get("rollback started")) {
            (Some(e), Some(rb)) if r.passed() => lat.push(rb - e),
            _ => failed.push(seed),
        }
    }
    lat.sort_by(f64::total_cmp);
    let (p50, p99, max) = (percentile(&lat, 50.0), percentile(&lat, 99.0), lat.last().copied().unwrap_or(f64::NAN));
    let monitor = 5.0;
    if json {
        println!(
            "{}",
            serde_json::json!({"bench": "rollback", "seeds": lat.len(), "p50_secs": p50, "p99_secs": p99, "max_secs": max,
                "monitor_secs": monitor, "within_bound": max <= monitor, "failed_seeds": failed})
        );
    } else {
        println!(
            "bench rollback: first failure -> rollback_started over {} seeds: p50={p50:.3}s p99={p99:.3}s max={max:.3}s \
             (bound: one monitor period, {monitor}s) failed_seeds={failed:?}",
            lat.len()
        );
    }
    i32::from(!failed.is_empty() || max > monitor)
}

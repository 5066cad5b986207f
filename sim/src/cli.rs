use clap::{Parser, Subcommand};
use shoal_sim::scenario::Scenario;
use shoal_sim::{run, RunOptions, RunReport};
use std::ops::Range;
use crate::explore_cmd::{explore, parse_budget, parse_shard, shrink_to_file};

#[derive(Parser)]
#[command(name = "shoal-sim", about = "Shoal's deterministic simulator", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run scenario files under one seed or a range of seeds.
    Run {
        #[arg(required = true)]
        files: Vec<String>,
        /// One seed (default: the file's `seed`, else 1).
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Seeds A..B (B excluded) or A..=B.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
        /// Print one JSON object per run as the last line(s).
        #[arg(long)]
        json: bool,
        /// Write a picture of the run (a self-contained HTML timeline) to this file (single run only).
        #[arg(long)]
        report: Option<String>,
        /// Write the trace (one line per event) to this file (single run only).
        #[arg(long)]
        trace: Option<String>,
        /// Print trace lines to stderr as they happen.
        #[arg(long, short)]
        verbose: bool,
        /// Write the control-API history of `load control` to this file (single run only), in
        /// the format `check-history` reads.
        #[arg(long)]
        history: Option<String>,
        /// Start the swarm as a twin of this snapshot (`shoal snapshot -o FILE`): its nodes,
        /// services, tasks and networks instead of the file's [cluster] or `from_snapshot`.
        #[arg(long)]
        from_snapshot: Option<String>,
    },
    /// Plan a change against a swarm's snapshot (`shoal snapshot -o FILE`) instead of a live
    /// swarm: what `shoal COMMAND --dry-run` would print there, e.g.
    /// `plan --snapshot cluster.snap service scale web=10`.
    Plan {
        /// A file written by `shoal snapshot -o FILE`.
        #[arg(long)]
        snapshot: String,
        /// Print each plan as one JSON object.
        #[arg(long)]
        json: bool,
        /// The command, as `shoal` takes it (service create|update|scale|rm|rollback, node update).
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run random plans (cluster, workload, faults) derived from seeds, each with a safety
    /// phase (faults, every checker) and a liveness phase (heal, converge).
    Explore {
        /// Seeds A..B (B excluded) or A..=B.
        #[arg(long, value_parser = parse_seeds, conflicts_with = "seed")]
        seeds: Option<Range<u64>>,
        /// One seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Seeds run at once (one thread each).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
        jobs: u64,
        /// Stop starting seeds after this much wall time, e.g. 10m.
        #[arg(long, value_parser = parse_budget)]
        budget: Option<std::time::Duration>,
        /// Write the plan of --seed as a scenario file (replay it with `run FILE --seed N`).
        #[arg(long, requires = "seed")]
        write: Option<String>,
        /// Run every seed twice and require the same trace hash.
        #[arg(long)]
        check_determinism: bool,
        /// Only the seeds S of the range with S mod N = K (`--shard K/N`), so N machines share
        /// one range: `--shard 0/4` on the first, `--shard 3/4` on the last.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// One JSON object per seed.
        #[arg(long)]
        json: bool,
        /// Shrink each failing seed's plan and write it as explore-SEED.shrunk.toml here.
        #[arg(long)]
        shrink: bool,
        /// Where each failing seed's picture goes (explore-SEED.html: an HTML timeline of the run)
        #[arg(long, default_value = "target/sim/reports")]
        report_dir: String,
        /// Instead of faults: a random change planned with --dry-run, then made; the plan must
        /// hold (sim/src/what_if.rs).
        #[arg(long, conflicts_with = "from_snapshot")]
        what_if: bool,
        /// Against a twin of this snapshot (`shoal snapshot -o FILE`): faults and workload on
        /// its own nodes and services (sim/src/explore_twin.rs).
        #[arg(long)]
        from_snapshot: Option<String>,
    },
    /// Shrink a failing run into a smaller scenario that fails the same way: the explorer's
    /// plan of --seed, or FILE under --seed. Exit 0 shrunk, 1 nothing to shrink (the run
    /// passes), 2 bad input.
    Shrink {
        /// A scenario file (default: the explorer's plan of --seed).
        file: Option<String>,
        #[arg(long)]
        seed: u64,
        /// Where to write the result (default: explore-SEED.shrunk.toml, or FILE's name with
        /// .shrunk.toml).
        #[arg(long)]
        write: Option<String>,
        /// At most this many candidate runs.
        #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(1..=100_000))]
        max_runs: u64,
    },
    /// Check a concurrent history for linearizability: a Jepsen register log (read, write,
    /// cas) or EDN key-value lines (get, put, append). Exit 0 linearizable, 1 not (with a
    /// witness), 2 malformed (with its line).
    CheckHistory {
        file: String,
        /// The history's model (default: detected from the file).
        #[arg(long, value_parser = ["register", "kv", "objects"])]
        model: Option<String>,
    },
    /// Run a scenario twice in this process and compare trace hashes.
    CheckDeterminism {
        file: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Benchmarks: `raft` (commit throughput, virtual/wall ratio), `failover` (leader failover
    /// time over many seeds), `worker-crash` (time to replace a dead worker's tasks),
    /// `false-downs` (nodes wrongly marked down on a slow lossy network), `scheduler`
    /// (placements per second of the pure scheduler), `cluster` (speed and memory of a whole
    /// simulated cluster), `update` (duration of a rolling update against its bound), `mesh`
    /// (failed requests through the routing mesh during a start-first update), `names` (how
    /// fast names and VIPs follow tasks on overlay networks, p50/p99/max), `rollback`
    /// (time from a failure to the automatic rollback), `history` (linearizability checker
    /// speed: Porcupine's corpus and synthetic histories of --tasks operations, default 10,000),
    /// `stack` (a 10-service stack deploy to converged), `plan` (a what-if plan of a scale, a
    /// drain, a rolling update and a removal on --nodes nodes (default 1,000) and a service of
    /// --tasks replicas (default 1,000)), `twin` (a twin of a swarm of --nodes workers (default
    /// 1,000) and --tasks tasks (default 10,000) started, adopted, elected and converged).
    Bench {
        #[arg(value_parser = ["raft", "failover", "worker-crash", "false-downs", "scheduler", "cluster", "update", "mesh", "names", "rollback", "history", "stack", "plan", "twin"])]
        what: String,
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
        /// false-downs: virtual hours per seed.
        #[arg(long, default_value_t = 1)]
        hours: u64,
        /// scheduler: nodes in the synthetic cluster.
        #[arg(long, default_value_t = 5_000)]
        nodes: usize,
        /// scheduler: identical pending tasks to place.
        #[arg(long, default_value_t = 50_000)]
        tasks: usize,
        /// scheduler: a placement constraint on every task, e.g. node.labels.zone!=c
        #[arg(long)]
        constraint: Option<String>,
        /// scheduler: a placement preference, e.g. spread=node.labels.rack
        #[arg(long)]
        placement_pref: Option<String>,
        /// cluster: managers.
        #[arg(long, default_value_t = 3)]
        managers: u32,
        /// cluster: workers.
        #[arg(long, default_value_t = 1_000)]
        workers: u32,
        /// cluster: virtual minutes (default: --hours).
        #[arg(long)]
        minutes: Option<u64>,
        /// update: slots updated at once.
        #[arg(long, default_value_t = 10)]
        parallelism: u64,
        /// mesh: crash a random worker during each update.
        #[arg(long)]
        crashes: bool,
        /// Print one JSON line.
        #[arg(long)]
        json: bool,
        /// cluster: run the same seed twice and compare the trace hashes (exit 1 if they differ).
        #[arg(long)]
        check_determinism: bool,
    },
}

fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let bad = || format!("{s:?}: write seeds as A..B (B excluded) or A..=B, e.g. 1..101");
    if let Some((a, b)) = s.split_once("..=") {
        let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        return if a <= b { Ok(a..b + 1) } else { Err(bad()) };
    }
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a < b {
        Ok(a..b)
    } else {
        Err(bad())
    }
}

fn load(files: &[String], snapshot: Option<&str>) -> Result<Vec<Scenario>, i32> {
    let mut out = Vec::new();
    for f in files {
        let loaded = match snapshot {
            Some(s) => Scenario::load_with(f, Some(shoal_sim::scenario::SnapshotArg::File(s))),
            None => Scenario::load(f),
        };
        match loaded {
            Ok(s) => out.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(2);
            }
        }
    }
    Ok(out)
}

fn print_report(r: &RunReport, json: bool) {
    if let Some(f) = r.failure_text() {
        println!("{f}");
    } else if !json {
        let exp: Vec<String> = r.expectations.iter().map(|(k, v)| format!("{k}@{v:.3}s")).collect();
        println!(
            "PASSED scenario={} seed={} virtual={:.1}s wall={:.2}s events={} trace_hash={} {}",
            r.scenario, r.seed, r.virtual_secs, r.wall_secs, r.events, r.trace_hash, exp.join(" ")
        );
    }
}

pub fn main() -> i32 {
    // A panic inside a simulated run becomes that run's [panic] violation (runner::run): one
    // line on stderr says where, instead of a backtrace per panicking node task.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("panic at {at}: {}", msg.lines().next().unwrap_or_default());
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.cmd {
        Cmd::Run { files, seed, seeds, json, trace, verbose, history, from_snapshot, report } => {
            let scenarios = match load(&files, from_snapshot.as_deref()) {
                Ok(s) => s,
                Err(c) => return c,
            };
            // Without --seed/--seeds each file runs its own `seed` (a regression's), else 1.
            let given = seeds.or(seed.map(|s| s..s + 1));
            if (trace.is_some() || history.is_some() || report.is_some()) && (given.as_ref().is_some_and(|r| r.end - r.start > 1) || scenarios.len() > 1) {
                eprintln!("error: --trace, --history and --report write one run's: give one file and one --seed");
                return 2;
            }
            let mut failed = 0;
            let mut reports = Vec::new();
            for s in &scenarios {
                let own = s.seed.unwrap_or(1);
                for seed in given.clone().unwrap_or(own..own + 1) {
                    println!("{}", shoal_sim::runner::banner(s, seed));
                    let opts = RunOptions { keep_trace: trace.is_some() || report.is_some(), echo_trace: verbose };
                    let r = run(s, seed, &opts);
                    if let Some(path) = &report {
                        if let Err(e) = shoal_sim::report::write(path, &r, None) {
                            eprintln!("error: {e}");
                            return 2;
                        }
                        println!("report: {path}");
                    }
                    if let Some(path) = &trace {
                        if let Err(e) = std::fs::write(path, r.trace_lines.join("\n") + "\n") {
                            eprintln!("error: cannot write trace {path}: {e}");
                            return 2;
                        }
                    }
                    if let Some(path) = &history {
                        if r.history.is_empty() {
                            eprintln!("error: {} has no `load control` step: no control-API history to write", s.path);
                            return 2;
                        }
                        if let Err(e) = std::fs::write(path, &r.history) {
                            eprintln!("error: cannot write history {path}: {e}");
                            return 2;
                        }
                    }
                    print_report(&r, json);
                    failed += usize::from(!r.passed());
                    reports.push(r);
                }
            }
            if json {
                for r in &reports {
                    println!("{}", serde_json::to_string(r).expect("report serialises"));
                }
            }
            i32::from(failed > 0)
        }
        Cmd::Explore { seeds, seed, jobs, budget, write, check_determinism, shard, json, shrink, report_dir, what_if, from_snapshot } => {
            let mode = match (what_if, from_snapshot) {
                (true, _) => shoal_sim::explore::Mode::WhatIf,
                (false, Some(f)) => match shoal_sim::twin::Twin::load(&f) {
                    Ok(t) => shoal_sim::explore::Mode::Twin(std::sync::Arc::new(t)),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 2;
                    }
                },
                (false, None) => shoal_sim::explore::Mode::Faults,
            };
            explore(seeds, seed, jobs, budget, write, check_determinism, shard, json, shrink, mode, report_dir)
        }
        Cmd::Shrink { file, seed, write, max_runs } => {
            let (origin, text) = match &file {
                Some(f) => match std::fs::read_to_string(f) {
                    Ok(t) => (f.clone(), t),
                    Err(e) => {
                        eprintln!("error: cannot read {f}: {e}");
                        return 2;
                    }
                },
                None => (format!("the explorer's plan of seed {seed}"), shoal_sim::explore::plan(seed).text),
            };
            let out = write.unwrap_or_else(|| match &file {
                Some(f) => format!("{}.shrunk.toml", f.trim_end_matches(".toml")),
                None => format!("explore-{seed}.shrunk.toml"),
            });
            shrink_to_file(&origin, &text, seed, max_runs as usize, &out)
        }
        Cmd::Plan { snapshot, json, command } => plan_from_snapshot(&snapshot, json, &command),
        Cmd::CheckHistory { file, model } => {
            use shoal_sim::history::{check_file, parse::Format, Verdict};
            let format = model.map(|m| match m.as_str() {
                "kv" => Format::Kv,
                "objects" => Format::Objects,
                _ => Format::Register,
            });
            #[allow(clippy::disallowed_methods)]
            let started = std::time::Instant::now();
            match check_file(&file, format) {
                Err(e) => {
                    eprintln!("error: {e}");
                    2
                }
                Ok(r) => {
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    match r.verdict {
                        Verdict::Linearizable => {
                            println!("linearizable ({} operations, {ms:.1} ms)", r.operations);
                            0
                        }
                        Verdict::NotLinearizable(w) => {
                            println!("not linearizable ({} operations, {ms:.1} ms)\n{w}", r.operations);
                            1
                        }
                    }
                }
            }
        }
        Cmd::CheckDeterminism { file, seed } => {
            let scenarios = match load(&[file], None) {
                Ok(s) => s,
                Err(c) => return c,
            };
            let s = &scenarios[0];
            println!("{}", shoal_sim::runner::banner(s, seed));
            let opts = RunOptions { keep_trace: true, echo_trace: false };
            let a = run(s, seed, &opts);
            let b = run(s, seed, &opts);
            if a.trace_hash == b.trace_hash {
                println!("deterministic: scenario={} seed={} trace_hash={} events={}", s.name, seed, a.trace_hash, a.events);
                0
            } else {
                println!("NOT deterministic: scenario={} seed={} hashes {} vs {}", s.name, seed, a.trace_hash, b.trace_hash);
                let (la, lb) = (&a.trace_lines, &b.trace_lines);
                if let Some(i) = (0..la.len().max(lb.len())).find(|i| la.get(*i) != lb.get(*i)) {
                    println!("first difference at trace line {}:", i + 1);
                    println!("- {}", la.get(i).map(String::as_str).unwrap_or("<end of trace>"));
                    println!("+ {}", lb.get(i).map(String::as_str).unwrap_or("<end of trace>"));
                }
                println!("reproduce: scripts/sim check-determinism {} --seed {}", s.path, seed);
                1
            }
        }
        Cmd::Bench { what, seeds, hours, nodes, tasks, constraint, placement_pref, managers, workers, minutes, parallelism, crashes, json, check_determinism } => match what.as_str() {
            "mesh" => shoal_sim::bench::mesh(seeds.unwrap_or(1..201), crashes, json),
            "names" => shoal_sim::bench_names::names(seeds.unwrap_or(1..201), json),
            "rollback" => shoal_sim::bench::rollback(seeds.unwrap_or(1..51), json),
            "history" => shoal_sim::bench_history::history(if tasks == 50_000 { 10_000 } else { tasks }, json),
            "update" => shoal_sim::bench::update(
                if tasks == 50_000 { 100 } else { tasks as u64 },
                parallelism,
                seeds.unwrap_or(1..21),
                json,
            ),
            "cluster" => shoal_sim::bench_cluster::cluster(
                managers,
                workers,
                if tasks == 50_000 { 5_000 } else { tasks as u64 },
                minutes.unwrap_or(hours * 60),
                seeds.map(|s| s.start).unwrap_or(1),
                json,
                check_determinism,
            ),
            "raft" => shoal_sim::bench::raft(seeds.unwrap_or(1..4)),
            "worker-crash" => shoal_sim::bench::worker_crash(seeds.unwrap_or(1..201)),
            "stack" => shoal_sim::bench::stack(seeds.unwrap_or(1..101)),
            "false-downs" => shoal_sim::bench::false_downs(seeds.unwrap_or(1..4), hours),
            // plan: defaults 1,000 nodes and a 1,000-replica service (the target).
            // twin: defaults 1,000 workers and 10,000 tasks (the target).
            "twin" => shoal_sim::bench_twin::twin_bench(
                if nodes == 5_000 { 1_000 } else { nodes },
                if tasks == 50_000 { 10_000 } else { tasks as u64 },
                seeds.map_or(1, |s| s.start),
                json,
            ),
            "plan" => shoal_sim::bench_plan::plan_bench(
                if nodes == 5_000 { 1_000 } else { nodes },
                if tasks == 50_000 { 1_000 } else { tasks as u64 },
                json,
            ),
            "scheduler" => shoal_sim::bench::scheduler(nodes, tasks, constraint.as_deref(), placement_pref.as_deref(), json),
            _ => shoal_sim::bench::failover(seeds.unwrap_or(1..201)),
        },
    }
}

/// `shoal-sim plan --snapshot FILE COMMAND…`: the plans of COMMAND over the snapshot's store
/// (core/src/plan/offline.rs). Exit 0 with the plans, 1 if the command is refused, 2 on a
/// file that cannot be read.
fn plan_from_snapshot(path: &str, json: bool, command: &[String]) -> i32 {
    let store = match std::fs::read(path).map_err(|e| e.to_string()).and_then(|b| shoal_core::store::Store::restore(&b).map_err(|e| e.to_string())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {path} is not a snapshot `shoal snapshot -o` wrote: {e}");
            return 2;
        }
    };
    let plans = shoal_core::cli::parse_control(command).and_then(|cmd| shoal_core::plan::offline::plan_command(&store, &cmd, 1));
    match plans {
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
        Ok(plans) => {
            if !json {
                println!("(from {path}, raft index {})", store.last_index());
            }
            print!("{}", shoal_core::plan::render::many(&plans, json));
            0
        }
    }
}

use clap::{Parser, Subcommand};
use shoal_sim::scenario::Scenario;
use shoal_sim::{run, RunOptions, RunReport};
use std::ops::Range;

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
        /// One seed (default 1).
        #[arg(long, conflicts_with = "seeds")]
        seed: Option<u64>,
        /// Seeds A..B (B excluded) or A..=B.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
        /// Print one JSON object per run as the last line(s).
        #[arg(long)]
        json: bool,
        /// Write the trace (one line per event) to this file (single run only).
        #[arg(long)]
        trace: Option<String>,
        /// Print trace lines to stderr as they happen.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run a scenario twice in this process and compare trace hashes.
    CheckDeterminism {
        file: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Benchmarks: `raft` (commit throughput, virtual/wall ratio), `failover` (leader failover
    /// time over many seeds).
    Bench {
        #[arg(value_parser = ["raft", "failover"])]
        what: String,
        #[arg(long, value_parser = parse_seeds)]
        seeds: Option<Range<u64>>,
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

fn load(files: &[String]) -> Result<Vec<Scenario>, i32> {
    let mut out = Vec::new();
    for f in files {
        match Scenario::load(f) {
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
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.cmd {
        Cmd::Run { files, seed, seeds, json, trace, verbose } => {
            let scenarios = match load(&files) {
                Ok(s) => s,
                Err(c) => return c,
            };
            let seeds = seeds.unwrap_or_else(|| {
                let s = seed.unwrap_or(1);
                s..s + 1
            });
            if trace.is_some() && (seeds.end - seeds.start > 1 || scenarios.len() > 1) {
                eprintln!("error: --trace writes one run's trace: give one file and one --seed");
                return 2;
            }
            let mut failed = 0;
            let mut reports = Vec::new();
            for s in &scenarios {
                for seed in seeds.clone() {
                    println!("{}", shoal_sim::runner::banner(s, seed));
                    let opts = RunOptions { keep_trace: trace.is_some(), echo_trace: verbose };
                    let r = run(s, seed, &opts);
                    if let Some(path) = &trace {
                        if let Err(e) = std::fs::write(path, r.trace_lines.join("\n") + "\n") {
                            eprintln!("error: cannot write trace {path}: {e}");
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
        Cmd::CheckDeterminism { file, seed } => {
            let scenarios = match load(&[file]) {
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
        Cmd::Bench { what, seeds } => match what.as_str() {
            "raft" => shoal_sim::bench::raft(seeds.unwrap_or(1..4)),
            _ => shoal_sim::bench::failover(seeds.unwrap_or(1..201)),
        },
    }
}

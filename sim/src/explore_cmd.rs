//! `shoal-sim explore` and `shoal-sim shrink`: running random plans seed by seed (in
//! batches of --jobs threads), reporting each failure with its replay command and picture,
//! shrinking failures into scenario files. Their clap definitions stay in cli.rs.

use std::ops::Range;

/// `K/N` with K < N (a shard of a seed range).
pub(super) fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?}: give K/N with 0 <= K < N, e.g. --shard 0/4");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || k >= n {
        return Err(bad());
    }
    Ok((k, n))
}

pub(super) fn parse_budget(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 90s, 10m, 1h"))
}

/// Shrinks `text` (failing under `seed`) and writes the result to `out`; exit code as for
/// `shoal-sim shrink`. When the run does not fail, says so and writes nothing.
pub(super) fn shrink_to_file(origin: &str, text: &str, seed: u64, max_runs: usize, out: &str) -> i32 {
    use shoal_sim::shrink::{annotate, shrink, ShrinkError};
    println!("shrinking {origin} under seed {seed} (at most {max_runs} runs)");
    match shrink(origin, text, seed, max_runs, |m| println!("  {m}")) {
        Err(ShrinkError::Invalid(e)) => {
            eprintln!("error: {e}");
            2
        }
        Err(e @ ShrinkError::DoesNotFail { .. }) => {
            println!("cannot shrink: {e}");
            1
        }
        Ok(o) => {
            let body = annotate(&o, seed, origin, out);
            if let Err(e) = std::fs::write(out, &body) {
                eprintln!("error: cannot write {out}: {e}");
                return 2;
            }
            println!(
                "shrunk {origin}: {}; it still fails with {}\n{}\nwrote {out}: replay it with scripts/sim run {out} --seed {seed}",
                o.summary(),
                o.signature,
                o.report.failure_text().unwrap_or_default().lines().next().unwrap_or_default()
            );
            // The shrunk run's picture beside it, from a replay that keeps its trace.
            let picture = format!("{}.html", out.trim_end_matches(".toml"));
            match shoal_sim::scenario::Scenario::parse(out, &body) {
                Ok(s) => {
                    // On a fresh thread, as every simulation must start for the same run to replay.
                    let r = std::thread::spawn(move || shoal_sim::runner::run(&s, seed, &shoal_sim::runner::RunOptions { keep_trace: true, echo_trace: false }))
                        .join()
                        .expect("the replay panicked");
                    match shoal_sim::report::write(&picture, &r, None) {
                        Ok(()) => println!("picture: {picture}"),
                        Err(e) => eprintln!("error: {e}"),
                    }
                }
                Err(e) => eprintln!("error: the shrunk plan does not parse: {e}"),
            }
            0
        }
    }
}


#[allow(clippy::too_many_arguments)]
/// `shoal-sim explore`: seeds run on fresh threads (a simulation must start on a fresh
/// thread to be deterministic), `jobs` at a time, in seed order of output.
pub(super) fn explore(
    seeds: Option<Range<u64>>,
    seed: Option<u64>,
    jobs: u64,
    budget: Option<std::time::Duration>,
    write: Option<String>,
    check_determinism: bool,
    shard: Option<(u64, u64)>,
    json: bool,
    shrink: bool,
    mode: shoal_sim::explore::Mode,
    report_dir: String,
) -> i32 {
    use shoal_sim::explore::{explore_one, plan_of};
    let flag = mode.flag();
    let seeds = match (seeds, seed) {
        (Some(r), _) => r,
        (None, Some(s)) => s..s + 1,
        (None, None) => {
            eprintln!("error: give --seeds A..B or --seed N");
            return 2;
        }
    };
    if let Some(path) = write {
        let p = plan_of(seeds.start, &mode);
        return match std::fs::write(&path, &p.text) {
            Ok(()) => {
                println!("wrote the plan of seed {} to {path}: replay it with scripts/sim run {path} --seed {}", p.seed, p.seed);
                0
            }
            Err(e) => {
                eprintln!("error: cannot write {path}: {e}");
                2
            }
        };
    }
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let (mut passed, mut failed, mut skipped) = (0u64, Vec::new(), 0u64);
    let mine: Vec<u64> = seeds.filter(|s| shard.is_none_or(|(k, n)| s % n == k)).collect();
    let mut next = 0usize;
    while next < mine.len() {
        if budget.is_some_and(|b| started.elapsed() >= b) {
            skipped = (mine.len() - next) as u64;
            break;
        }
        let batch: Vec<u64> = mine[next..mine.len().min(next + jobs as usize)].to_vec();
        next += batch.len();
        let handles: Vec<_> = batch
            .iter()
            .map(|s| {
                let (s, mode) = (*s, mode.clone());
                std::thread::spawn(move || {
                    let first = explore_one(s, &mode);
                    // The replay runs on another fresh thread, as a reproduction would.
                    let again = check_determinism.then(|| std::thread::spawn(move || explore_one(s, &mode).1.trace_hash).join());
                    (first, again)
                })
            })
            .collect();
        for h in handles {
            let ((p, mut r), again) = h.join().expect("an explored seed panicked");
            if let Some(again) = again {
                let again = again.expect("the replay panicked");
                if again != r.trace_hash {
                    r.violations.push(shoal_sim::invariants::Violation {
                        at: r.virtual_secs,
                        checker: "determinism",
                        message: format!("the replay's trace hash is {again}, the first run's {}", r.trace_hash),
                    });
                    r.verdict = "fail";
                }
            }
            if json {
                println!("{}", serde_json::json!({"seed": p.seed, "plan": p.summary, "verdict": r.verdict, "trace_hash": r.trace_hash,
                    "virtual_secs": r.virtual_secs, "wall_secs": r.wall_secs, "violations": r.violations}));
            } else if let Some(v) = r.violations.first() {
                println!("{}", r.banner);
                println!("FAILED explore seed={} ({}) at t={:.3}s: [{}] {}", p.seed, p.summary, v.at, v.checker, v.message);
                println!("reproduce: scripts/sim explore{flag} --seed {} (save the plan: --seed {} --write plan.toml)", p.seed, p.seed);
                // The picture, from a replay that keeps its trace (the same run: keeping lines
                // changes nothing of it).
                let opts = shoal_sim::runner::RunOptions { keep_trace: true, echo_trace: false };
                // On a fresh thread, as every simulation must start for the same run to replay.
                let (seed, m) = (p.seed, mode.clone());
                let (_, replay) = std::thread::spawn(move || shoal_sim::explore::explore_one_with(seed, &m, &opts)).join().expect("the replay panicked");
                let path = format!("{report_dir}/explore-{}.html", p.seed);
                match std::fs::create_dir_all(&report_dir).map_err(|e| format!("cannot create {report_dir}: {e}")).and_then(|()| shoal_sim::report::write(&path, &replay, Some(&format!("scripts/sim explore{flag} --seed {}", p.seed)))) {
                    Ok(()) => println!("picture: {path}"),
                    Err(e) => eprintln!("error: {e}"),
                }
            } else {
                println!("PASSED explore seed={} {} virtual={:.1}s wall={:.2}s trace_hash={}", p.seed, p.summary, r.virtual_secs, r.wall_secs, r.trace_hash);
            }
            if r.passed() {
                passed += 1
            } else {
                failed.push(p.seed);
                if shrink {
                    // The shrink's own first run shows whether the failure reproduces.
                    let out = format!("explore-{}.shrunk.toml", p.seed);
                    if shrink_to_file(&format!("the explorer's plan of seed {}", p.seed), &p.text, p.seed, 400, &out) == 1 {
                        println!("the failure of seed {} did not reproduce: keeping the original plan", p.seed);
                        let _ = std::fs::write(format!("explore-{}.toml", p.seed), &p.text);
                    }
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ran = passed + failed.len() as u64;
    println!(
        "explore: {ran} seeds, {passed} passed, {} failed {failed:?}{} in {secs:.1}s ({:.0} seeds/hour)",
        failed.len(),
        if skipped > 0 { format!(", {skipped} not run (budget)") } else { String::new() },
        ran as f64 / secs.max(1e-9) * 3600.0
    );
    i32::from(!failed.is_empty())
}

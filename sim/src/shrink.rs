//! The shrinker (`shoal-sim shrink`): turns a failing run into the smallest scenario file that
//! still fails the same way under the same seed.
//!
//! Input: scenario text (an explorer plan or any hand-written file) and a seed under which it
//! fails. Output: scenario text with fewer steps, injectors, nodes and shorter fault windows,
//! and the run that shows it still fails. Every candidate is re-run deterministically, each on
//! a fresh thread (a simulation must start on one to be deterministic).
//!
//! "The same way" is the failure's [`Signature`]: the checker that fired first and, for an
//! expectation that was not met, the expectation's text. A candidate that fails differently
//! (a command refused because a step it needed is gone, another checker) is rejected.
//!
//! Why not proptest's shrinking: proptest shrinks the value trees of its own strategies, and
//! an explorer plan is a function of a seed through a ChaCha RNG, not a value tree; and a
//! hand-written scenario has no generator at all. Shrinking the scenario file itself (whole
//! TOML tables, then numbers inside them) works for both and keeps the result readable: what
//! is left is the user's own text, minus what did not matter.
//!
//! The search is delta debugging over the file's deletable tables (`[[step]]`,
//! `[[injector]]`, `[[cluster.node]]`, `[images.*]`): remove halves, then quarters, … then
//! single tables, keep any removal that still fails the same way, and repeat until nothing
//! more can go; then smaller clusters and shorter durations. Steps that heal (`fault =
//! "heal"`, `restart`) are never removed: a failure explained by a fault that never ends is
//! not the failure we had. `within` bounds are never shortened, for the same reason.
//! Bounded by `max_runs` candidate runs.

use crate::runner::{run, RunOptions, RunReport};
use crate::scenario::Scenario;

/// How a run failed, for deciding whether a candidate fails "the same way".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub checker: &'static str,
    /// For an unmet expectation: its text (`services converged`).
    pub detail: String,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "[{}]", self.checker)
        } else {
            write!(f, "[{}] `{}`", self.checker, self.detail)
        }
    }
}

/// The signature of a failed run; `None` when it passed.
pub fn signature(r: &RunReport) -> Option<Signature> {
    let v = r.violations.first()?;
    let detail = if v.checker == "expect" {
        // "<label>: `<predicate>` not met within …"
        v.message.split('`').nth(1).unwrap_or_default().to_string()
    } else {
        String::new()
    };
    Some(Signature { checker: v.checker, detail })
}

/// One top-level TOML table of the file, as lines of text.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    text: String,
    deletable: bool,
}

/// Splits scenario text at table headers; comments and blank lines before a header belong to
/// the block that header opens (so a deleted table takes its comment with it).
fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut pending = String::new();
    let mut cur: Option<String> = None;
    let mut preamble = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            if let Some(c) = cur.take() {
                out.push(Block { deletable: is_deletable(&c), text: c });
            } else {
                preamble.push_str(&std::mem::take(&mut pending));
            }
            cur = Some(std::mem::take(&mut pending) + line + "\n");
        } else if t.is_empty() || t.starts_with('#') {
            pending.push_str(line);
            pending.push('\n');
        } else {
            let target = cur.as_mut().unwrap_or(&mut preamble);
            target.push_str(&std::mem::take(&mut pending));
            target.push_str(line);
            target.push('\n');
        }
    }
    if let Some(c) = cur.take() {
        out.push(Block { deletable: is_deletable(&c), text: c + &pending });
    } else {
        preamble.push_str(&pending);
    }
    if !preamble.is_empty() {
        out.insert(0, Block { text: preamble, deletable: false });
    }
    out
}

fn header(block: &str) -> &str {
    block.lines().map(str::trim).find(|l| l.starts_with('[')).unwrap_or("")
}

fn is_deletable(block: &str) -> bool {
    let h = header(block);
    let heals = block.lines().any(|l| {
        let l = l.trim();
        l.starts_with("fault") && (l.contains("\"heal") || l.contains("\"restart"))
    });
    match h {
        "[[step]]" => !heals,
        "[[injector]]" | "[[cluster.node]]" => true,
        _ => h.starts_with("[images."),
    }
}

fn join(blocks: &[Block]) -> String {
    blocks.iter().map(|b| b.text.as_str()).collect()
}

/// Steps and injectors in scenario text (what "≤ 10 steps" counts).
pub fn count_steps(text: &str) -> (usize, usize) {
    let bs = blocks(text);
    let n = |h: &str| bs.iter().filter(|b| header(&b.text) == h).count();
    (n("[[step]]"), n("[[injector]]"))
}

#[derive(Debug)]
pub struct Outcome {
    /// The smallest failing text found (the original when nothing could go).
    pub text: String,
    pub signature: Signature,
    /// The run of `text`.
    pub report: RunReport,
    /// Candidate runs made (not counting the first run of the original).
    pub runs: usize,
    /// (steps, injectors) before and after.
    pub before: (usize, usize),
    pub after: (usize, usize),
}

#[derive(Debug, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Invalid(String),
    #[error("the scenario passes under seed {seed}: there is no failure to shrink (the plan is kept as it is)")]
    DoesNotFail { seed: u64 },
}

/// Runs `text` under `seed` on a fresh thread; `None` when it does not parse (a candidate
/// that broke a reference, e.g. a step naming a node that is gone).
fn try_run(name: &str, text: &str, seed: u64) -> Option<RunReport> {
    let s = Scenario::parse(name, text).ok()?;
    let r = std::thread::spawn(move || run(&s, seed, &RunOptions::default())).join();
    Some(r.expect("a simulated run panicked"))
}

/// Shrinks `text` (which names itself `path` in reports) while it keeps failing under `seed`
/// with the same signature; at most `max_runs` candidate runs. `progress` hears about each
/// accepted candidate.
pub fn shrink(
    path: &str,
    text: &str,
    seed: u64,
    max_runs: usize,
    mut progress: impl FnMut(&str),
) -> Result<Outcome, ShrinkError> {
    Scenario::parse(path, text).map_err(|e| ShrinkError::Invalid(e.to_string()))?;
    let first = try_run(path, text, seed).expect("parsed above");
    let Some(sig) = signature(&first) else {
        return Err(ShrinkError::DoesNotFail { seed });
    };
    let before = count_steps(text);
    let mut best = (text.to_string(), first);
    let mut runs = 0usize;
    let mut tried: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    // A candidate is kept when it parses and fails the same way.
    let attempt = |cand: &str, runs: &mut usize| -> Option<RunReport> {
        if *runs >= max_runs {
            return None;
        }
        *runs += 1;
        let r = try_run(path, cand, seed)?;
        (signature(&r).as_ref() == Some(&sig)).then_some(r)
    };

    loop {
        let size_before = best.0.len();
        // 1. Delta debugging over deletable tables: chunks of halving size.
        let mut bs = blocks(&best.0);
        let mut chunk = bs.iter().filter(|b| b.deletable).count().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            let mut removed_any = false;
            while i < bs.len() {
                // The next `chunk` deletable blocks from position i.
                let idx: Vec<usize> = (i..bs.len()).filter(|k| bs[*k].deletable).take(chunk).collect();
                if idx.is_empty() {
                    break;
                }
                let cand: Vec<Block> =
                    bs.iter().enumerate().filter(|(k, _)| !idx.contains(k)).map(|(_, b)| b.clone()).collect();
                match attempt(&join(&cand), &mut runs) {
                    Some(r) => {
                        bs = cand;
                        best = (join(&bs), r);
                        removed_any = true;
                        progress(&format!("removed {} table(s): {:?} steps/injectors left", idx.len(), count_steps(&best.0)));
                    }
                    None => i = idx.last().expect("non-empty") + 1,
                }
                if runs >= max_runs {
                    break;
                }
            }
            if runs >= max_runs || (chunk == 1 && !removed_any) {
                break;
            }
            if chunk > 1 {
                chunk = chunk.div_ceil(2);
            }
        }
        // 2. Numbers: smaller clusters, shorter fault windows and gaps. Candidates are made
        // anew from the best text after each success (older ones would undo it); a text
        // already tried is not run again.
        'numbers: loop {
            for cand in number_candidates(&best.0) {
                if runs >= max_runs {
                    break 'numbers;
                }
                if !tried.insert(cand.clone()) {
                    continue;
                }
                if let Some(r) = attempt(&cand, &mut runs) {
                    best = (cand, r);
                    progress(&format!("smaller numbers: {:?} steps/injectors left", count_steps(&best.0)));
                    continue 'numbers;
                }
            }
            break;
        }
        if runs >= max_runs || best.0.len() >= size_before {
            break;
        }
    }
    let after = count_steps(&best.0);
    Ok(Outcome { text: best.0, signature: sig, report: best.1, runs, before, after })
}

/// Texts with one number made smaller: `managers` (to 3, then 1), `workers` (to 0, half, one
/// less), and each fault/schedule duration (`after`, `at`, `every`, `down`, `duration`,
/// `until`, `from`) halved. Never `within`: a shorter bound would make a new failure.
fn number_candidates(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let with_line = |i: usize, new: String| -> String {
        let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        v[i] = new;
        v.join("\n") + "\n"
    };
    for (i, l) in lines.iter().enumerate() {
        let Some((k, v)) = l.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "managers" => {
                let n: u64 = v.parse().unwrap_or(0);
                for m in [3, 1] {
                    if m < n {
                        out.push(with_line(i, format!("managers = {m}")));
                    }
                }
            }
            "workers" => {
                let n: u64 = v.parse().unwrap_or(0);
                let mut c: Vec<u64> = vec![0, n / 2, n.saturating_sub(1)];
                c.dedup();
                for w in c.into_iter().filter(|w| *w < n) {
                    out.push(with_line(i, format!("workers = {w}")));
                }
            }
            "after" | "at" | "every" | "down" | "duration" | "until" | "from" => {
                let Some(d) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else { continue };
                let Ok(d) = humantime::parse_duration(d) else { continue };
                let ms = d.as_millis() as u64;
                if ms >= 200 {
                    out.push(with_line(i, format!("{k} = \"{}ms\"", ms / 2)));
                }
            }
            _ => {}
        }
    }
    out
}

impl Outcome {
    /// "12 steps and 2 injectors -> 3 and 0 in 41 runs".
    pub fn summary(&self) -> String {
        format!("{} steps and {} injectors -> {} and {} in {} runs", self.before.0, self.before.1, self.after.0, self.after.1, self.runs)
    }
}

/// The header written above a shrunk scenario.
pub fn annotate(o: &Outcome, seed: u64, origin: &str, path: &str) -> String {
    let v = o.report.violations.first();
    format!(
        "# Shrunk by `shoal-sim shrink` from {origin} (seed {seed}): {}.\n\
         # It fails with {}: {}\n\
         # Replay: scripts/sim run {path} --seed {seed}\n{}",
        o.summary(),
        o.signature,
        v.map(|v| v.message.replace('\n', " ")).unwrap_or_default(),
        with_seed(o.text.trim_start_matches(|c| c == '\n'), seed)
    )
}

/// The text with a top-level `seed = N` (after `name`), replacing one it had.
fn with_seed(text: &str, seed: u64) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_top = true;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            in_top = false;
        }
        if in_top && t.starts_with("seed") && t[4..].trim_start().starts_with('=') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if in_top && t.starts_with("name") && t[4..].trim_start().starts_with('=') {
            out.push_str(&format!("seed = {seed}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# top\nname = \"x\"\n\n[cluster]\nmanagers = 5\nworkers = 2\n\n# a step\n[[step]]\ndo = \"service create --name a app:1\"\n\n[[step]]\nat = \"10s\"\nfault = \"heal\"\n\n[[injector]]\nkind = \"crash\"\nevery = \"4s\"\nuntil = \"9s\"\n";

    // Splitting and joining loses nothing; heal steps and the cluster table stay.
    #[test]
    fn blocks_round_trip_and_know_what_may_go() {
        let bs = blocks(TEXT);
        assert_eq!(join(&bs), TEXT);
        let kinds: Vec<(&str, bool)> = bs.iter().map(|b| (header(&b.text), b.deletable)).collect();
        assert_eq!(
            kinds,
            vec![("", false), ("[cluster]", false), ("[[step]]", true), ("[[step]]", false), ("[[injector]]", true)]
        );
        assert!(bs[2].text.contains("# a step\n[[step]]") && !bs[1].text.contains("# a step"), "a comment goes with its table");
        assert_eq!(count_steps(TEXT), (2, 1));
    }

    #[test]
    fn the_seed_goes_after_the_name_once() {
        let t = with_seed("# c\nname = \"x\"\nseed = 3\n\n[cluster]\nseed = 1\n", 9);
        assert_eq!(t, "# c\nname = \"x\"\nseed = 9\n\n[cluster]\nseed = 1\n");
        assert_eq!(Scenario::parse("t", &with_seed(TEXT, 4)).unwrap().seed, Some(4));
    }

    #[test]
    fn numbers_get_smaller_but_within_never_does() {
        let c = number_candidates(TEXT);
        assert!(c.iter().any(|t| t.contains("managers = 3")));
        assert!(c.iter().any(|t| t.contains("workers = 0")));
        assert!(c.iter().any(|t| t.contains("at = \"5000ms\"")));
        assert!(c.iter().any(|t| t.contains("every = \"2000ms\"")));
        let w = number_candidates("[[step]]\nexpect = \"x\"\nwithin = \"10s\"\n");
        assert!(w.is_empty(), "{w:?}");
    }
}

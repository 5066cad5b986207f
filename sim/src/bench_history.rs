//! `shoal-sim bench history`: the linearizability checker's speed (sim/src/history/), on
//! Porcupine's corpus and on synthetic histories of one register, linearizable by
//! construction, and the same with one read corrupted.

/// A synthetic history of `ops` operations on one register by `clients` concurrent clients,
/// linearizable by construction: each operation takes effect at a point drawn inside its
/// [call, return] interval, applied in that order to a real register. With `corrupt`, one
/// read in the middle returns a value the register never held there.
fn synthetic_register(ops: usize, clients: u64, seed: u64, corrupt: bool) -> Vec<crate::history::Operation<crate::history::models::RegisterInput, crate::history::models::RegisterOutput>> {
    use crate::history::models::{RegisterInput as I, RegisterOutput as O};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Each client runs its operations back to back; times in microseconds.
    let mut next_free = vec![0u64; clients as usize];
    let mut planned = Vec::with_capacity(ops);
    for k in 0..ops {
        let c = k % clients as usize;
        let call = next_free[c] + rng.gen_range(0..50);
        let ret = call + rng.gen_range(1..200);
        let point = rng.gen_range(call..ret);
        next_free[c] = ret + 1;
        let input = match rng.gen_range(0..10) {
            0..=4 => I::Read,
            5..=7 => I::Write(rng.gen_range(0..5)),
            _ => I::Cas { from: rng.gen_range(0..5), to: rng.gen_range(0..5) },
        };
        planned.push((point, k, c as u64, input, call, ret));
    }
    let mut by_point: Vec<usize> = (0..ops).collect();
    by_point.sort_by_key(|i| (planned[*i].0, planned[*i].1));
    let mut state: Option<i64> = None;
    let mut outputs = vec![O::Ok; ops];
    for i in by_point {
        outputs[i] = match planned[i].3 {
            I::Read => O::Value(state),
            I::Write(v) => {
                state = Some(v);
                O::Ok
            }
            I::Cas { from, to } => {
                let hit = state == Some(from);
                if hit {
                    state = Some(to);
                }
                O::Cas(hit)
            }
        };
    }
    if corrupt {
        if let Some(i) = (ops / 2..ops).find(|i| matches!(planned[*i].3, I::Read)) {
            outputs[i] = O::Value(Some(99));
        }
    }
    planned
        .into_iter()
        .zip(outputs)
        .map(|((_, k, client, input, call, ret), out)| crate::history::Operation {
            client,
            input,
            output: Some(out),
            call,
            ret: Some(ret),
            line: k + 1,
        })
        .collect()
}

/// Linearizability checker speed: Porcupine's corpus (the committed copy), then synthetic
/// single-register histories of `ops` operations (no partitioning: the hardest case), valid
/// and with one stale read. Wall time, one run each.
pub fn history(ops: usize, json: bool) -> i32 {
    use crate::history::{check, check_file, models::Register, Verdict};
    #[allow(clippy::disallowed_methods)]
    let time = |f: &mut dyn FnMut() -> bool| {
        let t = std::time::Instant::now();
        let ok = f();
        (t.elapsed().as_secs_f64(), ok)
    };
    let dir = format!("{}/tests/data/porcupine", env!("CARGO_MANIFEST_DIR"));
    let expected = std::fs::read_to_string(format!("{dir}/EXPECTED.txt")).unwrap_or_default();
    let (mut corpus_secs, mut slowest, mut mismatches, mut files) = (0.0, (0.0, String::new()), 0, 0);
    for line in expected.lines() {
        let Some((file, want)) = line.split_once(' ') else { continue };
        let (secs, ok) = time(&mut || match check_file(&format!("{dir}/{file}"), None) {
            Ok(r) => matches!(r.verdict, Verdict::Linearizable) == (want.trim() == "linearizable"),
            Err(_) => false,
        });
        files += 1;
        corpus_secs += secs;
        mismatches += usize::from(!ok);
        if secs > slowest.0 {
            slowest = (secs, file.to_string());
        }
    }
    let mut rows = Vec::new();
    for clients in [5u64, 10] {
        for corrupt in [false, true] {
            let h = synthetic_register(ops, clients, 7 + clients, corrupt);
            let (secs, right) = time(&mut || matches!(check(&Register, &h), Verdict::Linearizable) != corrupt);
            rows.push((clients, corrupt, secs, right));
        }
    }
    let all_right = mismatches == 0 && rows.iter().all(|r| r.3);
    if json {
        let synthetic: Vec<_> = rows
            .iter()
            .map(|(c, bad, s, ok)| serde_json::json!({"clients": c, "stale_read": bad, "secs": s, "verdict_right": ok}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"bench": "history", "corpus_files": files, "corpus_secs": corpus_secs, "corpus_mismatches": mismatches,
                "slowest_file": slowest.1, "slowest_secs": slowest.0, "ops": ops, "synthetic": synthetic})
        );
    } else {
        println!(
            "bench history: Porcupine corpus {files} files in {corpus_secs:.3}s (slowest {} {:.3}s), {mismatches} verdicts differ",
            slowest.1, slowest.0
        );
        for (c, bad, s, ok) in &rows {
            println!(
                "  one register, {ops} operations, {c} clients{}: {s:.3}s{}",
                if *bad { ", one stale read" } else { "" },
                if *ok { "" } else { " WRONG VERDICT" }
            );
        }
    }
    i32::from(!all_right)
}

//! Every raft scenario under several seeds, plus determinism: the same seed twice in one
//! process gives the same trace hash, and different seeds give different hashes.
#![cfg(madsim)]

use shoal_sim::{run, RunOptions, Scenario};
use std::collections::BTreeSet;

const SEEDS: std::ops::Range<u64> = 1..6;

fn path(file: &str) -> String {
    format!("{}/raft/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn check(file: &str) {
    let s = Scenario::load(&path(file)).unwrap_or_else(|e| panic!("{e}"));
    let mut hashes = BTreeSet::new();
    let mut first = None;
    for seed in SEEDS {
        let r = run(&s, seed, &RunOptions::default());
        assert!(r.passed(), "{}\n{}", r.banner, r.failure_text().unwrap_or_default());
        hashes.insert(r.trace_hash.clone());
        first.get_or_insert(r);
    }
    assert_eq!(hashes.len(), SEEDS.count(), "different seeds must give different traces");
    let first = first.expect("at least one seed");
    let again = run(&s, first.seed, &RunOptions::default());
    assert_eq!(
        again.trace_hash, first.trace_hash,
        "not deterministic: reproduce with scripts/sim check-determinism {} --seed {}",
        s.path, first.seed
    );
}

const FILES: &[&str] = &[
    "leader-crash.toml",
    "minority-partition.toml",
    "majority-partition.toml",
    "all-managers-restart.toml",
    "promote-demote.toml",
    "slow-follower-snapshot.toml",
    "five-managers-lose-two.toml",
    "chaos.toml",
];

#[test]
fn every_scenario_file_has_a_test() {
    let mut on_disk: Vec<String> = std::fs::read_dir(format!("{}/raft", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add the new scenario to FILES and give it a #[test]");
}

#[test]
fn leader_crash() {
    check("leader-crash.toml");
}

#[test]
fn minority_partition() {
    check("minority-partition.toml");
}

#[test]
fn majority_partition() {
    check("majority-partition.toml");
}

#[test]
fn all_managers_restart() {
    check("all-managers-restart.toml");
}

#[test]
fn promote_demote() {
    check("promote-demote.toml");
}

#[test]
fn slow_follower_snapshot() {
    check("slow-follower-snapshot.toml");
}

#[test]
fn five_managers_lose_two() {
    check("five-managers-lose-two.toml");
}

#[test]
fn chaos() {
    check("chaos.toml");
}

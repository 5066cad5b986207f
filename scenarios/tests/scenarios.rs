//! Every scenario file under several seeds, plus determinism: the same seed twice in one
//! process gives the same trace hash, and different seeds give different hashes. One test per
//! file; a guard fails when a file has no test.
#![cfg(madsim)]

use shoal_sim::{run, RunOptions, Scenario};
use std::collections::BTreeSet;

const SEEDS: std::ops::Range<u64> = 1..6;

fn check(dir: &str, file: &str) {
    let path = format!("{}/{dir}/{file}", env!("CARGO_MANIFEST_DIR"));
    let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
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

fn files_on_disk(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    v.sort();
    v
}

/// One `#[test]` per scenario file of a directory, and the guard that lists them all.
macro_rules! scenario_tests {
    ($dir:literal, $($test:ident => $file:literal),+ $(,)?) => {
        #[test]
        fn every_scenario_file_has_a_test() {
            let mut listed: Vec<String> = vec![$($file.to_string()),+];
            listed.sort();
            assert_eq!(super::files_on_disk($dir), listed, "add the new scenario to scenario_tests! in tests/scenarios.rs");
        }
        $(
            #[test]
            fn $test() {
                super::check($dir, $file);
            }
        )+
    };
}

mod raft {
    scenario_tests!("raft",
        leader_crash => "leader-crash.toml",
        corrupt_log => "corrupt-log.toml",
        minority_partition => "minority-partition.toml",
        majority_partition => "majority-partition.toml",
        all_managers_restart => "all-managers-restart.toml",
        promote_demote => "promote-demote.toml",
        slow_follower_snapshot => "slow-follower-snapshot.toml",
        five_managers_lose_two => "five-managers-lose-two.toml",
        chaos => "chaos.toml",
        latency_and_slow_disk => "latency-and-slow-disk.toml",
        force_new_cluster => "force-new-cluster.toml",
        autolock => "autolock.toml",
        ca_rotation => "ca-rotation.toml",
        revocation => "revocation.toml",
        manager_unreachable => "manager-unreachable.toml",
        promote_unreachable => "promote-unreachable.toml",
    );
}

mod orchestration {
    scenario_tests!("orchestration",
        redis_drain => "redis-drain.toml",
        worker_crash => "worker-crash.toml",
        pinger_scale => "pinger-scale.toml",
        constraint_workers => "constraint-workers.toml",
        global_join => "global-join.toml",
        zones_spread => "zones-spread.toml",
        insufficient_memory => "insufficient-memory.toml",
        restart_on_failure => "restart-on-failure.toml",
        leader_crash_scheduling => "leader-crash-scheduling.toml",
        bad_input => "bad-input.toml",
        demote_quorum => "demote-quorum.toml",
        workers_churn => "workers-churn.toml",
        jobs => "jobs.toml",
        join_leave => "join-leave.toml",
        service_logs => "service-logs.toml",
        secrets => "secrets.toml",
        configs => "configs.toml",
        networks => "networks.toml",
        rebalance => "rebalance.toml",
        autoscale => "autoscale.toml",
    );
}

mod update {
    scenario_tests!("update",
        redis_rolling => "redis-rolling.toml",
        pinger_failure => "pinger-failure.toml",
        leader_crash_update => "leader-crash-update.toml",
        worker_crash_update => "worker-crash-update.toml",
        global_rolling => "global-rolling.toml",
        healthcheck => "healthcheck.toml",
        start_first_load => "start-first-load.toml",
        stop_first_load => "stop-first-load.toml",
        pinger_args => "pinger-args.toml",
        start_first_worker_crash => "start-first-worker-crash.toml",
    );
}

mod networks {
    scenario_tests!("networks",
        by_name_update => "by-name-update.toml",
    );
}

mod plans {
    scenario_tests!("plans",
        dry_run => "dry-run.toml",
        stack_dry_run => "stack-dry-run.toml",
    );
}

mod twin {
    scenario_tests!("twin",
        crash_and_drain => "crash-and-drain.toml",
        network => "network.toml",
    );
}

mod stacks {
    scenario_tests!("stacks",
        leader_crash => "leader-crash.toml",
        redeploy_under_load => "redeploy-under-load.toml",
        unplaceable => "unplaceable.toml",
    );
}

/// Regressions (scenarios/regressions/): shrunk failing runs, each with the `seed` it failed
/// under. Every file in the directory runs, no listing needed: each must pass its own seed
/// and two more. The mutation check (scripts/mutants) shows each still fails under the bug
/// it pins.
#[test]
fn every_regression_passes_its_seed() {
    let dir = "regressions";
    let files = files_on_disk(dir);
    assert!(!files.is_empty(), "scenarios/regressions/ holds no regression");
    for f in files {
        let path = format!("{}/{dir}/{f}", env!("CARGO_MANIFEST_DIR"));
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let seed = s.seed.unwrap_or_else(|| panic!("{path}: a regression needs the top-level `seed` it failed under"));
        for seed in [seed, 1, 2] {
            // A fresh thread per run: a simulation must start on one to be deterministic.
            let s2 = s.clone();
            let r = std::thread::spawn(move || run(&s2, seed, &RunOptions::default())).join().expect("run panicked");
            assert!(r.passed(), "{}\n{}", r.banner, r.failure_text().unwrap_or_default());
        }
    }
}

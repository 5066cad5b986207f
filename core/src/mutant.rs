//! Mutants: compile-time switches that each put one known bug class back into Shoal, so that
//! `scripts/mutants` can prove the fault explorer finds it (issue 5's mutation check).
//!
//! Every mutant is a cargo feature of shoal-core (`mutant-*`, forwarded by shoal-sim), off by
//! default; `scripts/check-boundary` refuses a manifest that enables one by default. A build
//! with a mutant says so in every run's banner ([`ACTIVE`]). The code paths read
//! [`active`] with a constant name, so a normal build compiles every mutant branch away.
//!
//! | name | bug class | where |
//! |---|---|---|
//! | `commit-without-quorum` | an append to an unreachable follower counts as replicated | `node/raft/network.rs` |
//! | `assign-to-down-node` | the scheduler's Ready filter accepts nodes that are down | `scheduler` |
//! | `forget-vote` | the raft vote is kept in memory only, never written to disk | `node/raft/log_store.rs` |
//! | `double-assign-slot` | a new leader runs its orchestrators before it caught up with the log (swarmkit#562's class: slots filled twice after a leader change) | `node/leader.rs` |
//! | `exceed-parallelism` | the update controller starts every dirty slot at once | `orchestrator/update.rs` |
//! | `rollback-wrong-spec` | a rollback keeps the task template it rolls back from | `control`, `orchestrator/update.rs` |
//! | `secret-to-wrong-node` | the dispatcher sends every secret of the swarm with every assignment set | `dispatcher` |
//! | `reuse-address` | the allocator forgets the addresses it gave earlier in the same pass (two tasks made together share one) | `allocator/network.rs` |
//! | `autoscale-flap` | the autoscaler scales in as soon as the CPU dips, ignoring its cooldown | `orchestrator/autoscale.rs` |
//! | `autolock-stale-wrap` | a manager wraps its data key with the first unlock key only: a rotation never re-wraps it, so the old key keeps opening it | `node/raft/state_machine.rs` |
//! | `stale-leader-read` | a linearizable read waits only for openraft's read index, which after a leader's restart in its own term is its snapshot's: the read misses writes it acknowledged before the crash | `node/mod.rs` |
//! | `raft-demotion-check` | raft refuses callers its store holds as workers: a follower behind a promotion refuses the promoted leader's entries for good | `node/mod.rs` |
//! | `rotation-skips-down-nodes` | a root rotation ends without waiting for nodes that are down: one that returns holds only the old root and the swarm can no longer verify it | `ca/rotation.rs` |

/// The mutants this build carries (at most one in practice).
pub const ACTIVE: &[&str] = &[
    #[cfg(feature = "mutant-commit-without-quorum")]
    "commit-without-quorum",
    #[cfg(feature = "mutant-assign-to-down-node")]
    "assign-to-down-node",
    #[cfg(feature = "mutant-forget-vote")]
    "forget-vote",
    #[cfg(feature = "mutant-double-assign-slot")]
    "double-assign-slot",
    #[cfg(feature = "mutant-exceed-parallelism")]
    "exceed-parallelism",
    #[cfg(feature = "mutant-rollback-wrong-spec")]
    "rollback-wrong-spec",
    #[cfg(feature = "mutant-secret-to-wrong-node")]
    "secret-to-wrong-node",
    #[cfg(feature = "mutant-reuse-address")]
    "reuse-address",
    #[cfg(feature = "mutant-autoscale-flap")]
    "autoscale-flap",
    #[cfg(feature = "mutant-autolock-stale-wrap")]
    "autolock-stale-wrap",
    #[cfg(feature = "mutant-stale-leader-read")]
    "stale-leader-read",
    #[cfg(feature = "mutant-raft-demotion-check")]
    "raft-demotion-check",
    #[cfg(feature = "mutant-rotation-skips-down-nodes")]
    "rotation-skips-down-nodes",
];

/// Every mutant's name, for scripts and for checking a name given on the command line.
pub const ALL: &[&str] = &[
    "commit-without-quorum",
    "assign-to-down-node",
    "forget-vote",
    "double-assign-slot",
    "exceed-parallelism",
    "rollback-wrong-spec",
    "secret-to-wrong-node",
    "reuse-address",
    "autoscale-flap",
    "autolock-stale-wrap",
    "stale-leader-read",
    "raft-demotion-check",
    "rotation-skips-down-nodes",
];

/// Whether the mutant `name` is compiled in. A `const fn` over a constant list: with no
/// mutant enabled every `if mutant::active(..)` branch is dead code the compiler removes.
pub const fn active(name: &str) -> bool {
    let mut i = 0;
    while i < ACTIVE.len() {
        if eq(ACTIVE[i].as_bytes(), name.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The spec a rollback restores: `previous`, or under `rollback-wrong-spec` the previous spec
/// with the task template of the spec rolled back from (`current`).
pub fn rollback_target(previous: crate::model::ServiceSpec, current: &crate::model::ServiceSpec) -> crate::model::ServiceSpec {
    if active("rollback-wrong-spec") {
        crate::model::ServiceSpec { task: current.task.clone(), ..previous }
    } else {
        previous
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_normal_build_carries_no_mutant_and_names_are_known() {
        // Unit tests run the normal build: a mutant here would mean one leaked into a default.
        assert!(super::ACTIVE.is_empty(), "mutants compiled into a normal build: {:?}", super::ACTIVE);
        for m in super::ALL {
            assert!(!super::active(m));
        }
    }
}

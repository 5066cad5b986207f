//! Orchestrators: keep each service's desired tasks true.
//!
//! Owns the tasks' *desired* state and their creation. Input: the services, nodes and tasks as
//! an [`Overlay`] pass sees them, and `now_ms`. Output: task creations and desired-state changes
//! written into the overlay (the leader proposes them in one batch).
//!
//! * [`replicated`]: slots 1..=replicas; scale up fills the lowest free slots, scale down
//!   removes non-running tasks first, then tasks on the nodes holding the most replicas.
//! * [`global`]: one task per eligible node (ready, not drained, constraints met); follows
//!   joins, drains and label changes.
//! * [`restart`]: the restart supervisor — condition none/on-failure/any, delay, max attempts
//!   within a window (swarm's defaults any, 5 s, unlimited). A replacement is created at once
//!   with desired state READY and raised to RUNNING when the delay has passed, so a leader
//!   change loses no timer (the delay is measured from the task's creation time in the store).
//! * [`job`]: replicated-job (total completions, max concurrent) and global-job (once per
//!   eligible node).
//! * [`reaper`]: task history retention (5 per slot by default) and removal of tasks whose
//!   service is gone.
//! * [`autoscale`]: the replicas of services with `--autoscale`, from their tasks' CPU (the
//!   leader keeps the samples in memory; the pass writes what it decided).
//! * [`rebalance`]: which services start moving tasks toward the scheduler's spread now
//!   (`service rebalance`, and `--rebalance auto` when nodes register); [`update`] moves them.
//! * The constraint enforcer is part of [`replicated`] and [`global`]: a running task whose
//!   node stopped matching its constraints is shut down and replaced.
//!
//! Work per pass is bounded: a pass adds or removes at most [`SLOTS_PER_PASS_MAX`] slots of one
//! service and the reaper deletes at most [`reaper::REAPED_PER_PASS_MAX`] tasks; the next pass
//! (the leader runs one after every pass that changed something) goes on from there.
//!
//! Invariants: at most one live task (desired ≤ RUNNING) per slot, per node for global
//! services (debug-asserted in tests); desired states only rise.

pub mod autoscale;
pub mod global;
pub mod job;
pub mod reaper;
pub mod rebalance;
pub mod replicated;
pub mod restart;
pub mod update;

use crate::model::{Node, NodeAvailability, NodeState, Service, Task, TaskState};

/// The most slots one pass adds to, or removes from, one service (Kubernetes' ReplicaSet
/// controller creates at most 500 pods per sync for the same reason). A pass's changes are
/// proposed under the lock every control write takes: before this bound, a service of a
/// million replicas made one pass of a million tasks, 5,000 raft transactions during which
/// no `service ls` or `service rm` could answer.
pub const SLOTS_PER_PASS_MAX: u64 = 500;
use crate::store::Overlay;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Makes object ids: 25 lower-case base-36 characters, like swarmkit's. Deterministic: the
/// leader seeds it with values that differ per pass (raft index and term), so ids are unique
/// in the cluster and the same run gives the same ids.
#[derive(Debug, Clone)]
pub struct IdGen {
    seed: u64,
    counter: u64,
}

impl IdGen {
    pub fn new(seed: u64) -> IdGen {
        IdGen { seed, counter: 0 }
    }

    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        let a = xxh3_64_with_seed(&self.counter.to_le_bytes(), self.seed);
        let b = xxh3_64_with_seed(&self.counter.to_le_bytes(), self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut n = ((a as u128) << 64) | b as u128;
        let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let mut s = String::with_capacity(25);
        for _ in 0..25 {
            s.push(digits[(n % 36) as usize] as char);
            n /= 36;
        }
        s
    }
}

/// A new task of `service` for `slot` (replicated) or `node_id` (global), desired RUNNING, or
/// READY when a restart delay applies.
pub fn new_task(service: &Service, slot: u64, node_id: &str, desired: TaskState, ids: &mut IdGen, now_ms: u64) -> Task {
    let mut t = Task {
        id: ids.next_id(),
        service_id: service.id.clone(),
        service_name: service.spec.annotations.name.clone(),
        slot,
        node_id: node_id.to_string(),
        spec: service.spec.task.clone(),
        spec_version: service.spec_version,
        desired_state: desired,
        ..Default::default()
    };
    t.status.state = TaskState::New;
    t.status.timestamp_ms = now_ms;
    t.status.message = "created".into();
    t
}

/// Whether task `t` of a slot (or of a global service's node), which needs a replacement
/// (`needs(t)`: it ended, its node was lost, …), gets one, given the slot's live tasks
/// `group` (`t` among them): only when no other task holds the slot — a start-first
/// replacement already runs next to a failing or lost old task — and, of several that need
/// one, only the newest. Otherwise `t` is shut down with no replacement: two replacements
/// would run two containers in one slot.
pub fn replaces_in_slot(group: &[&Task], t: &Task, needs: impl Fn(&Task) -> bool) -> bool {
    debug_assert!(needs(t) && group.iter().any(|o| o.id == t.id));
    if group.iter().any(|o| o.id != t.id && !needs(o)) {
        return false;
    }
    group
        .iter()
        .filter(|o| needs(o))
        .max_by_key(|o| (o.spec_version, o.meta.created_at_ms, o.id.as_str()))
        .is_some_and(|o| o.id == t.id)
}

/// A pass's nodes by id ([`crate::store::IdIndex`]).
pub type NodeIndex<'a> = crate::store::IdIndex<'a, &'a Node>;

/// The nodes of `o`, indexed for a pass's lookups.
pub fn node_index<'a>(o: &'a Overlay) -> NodeIndex<'a> {
    NodeIndex::new(o.nodes().into_iter().map(|n| (n.id.as_str(), n)))
}

/// Whether a node may keep running tasks (it may still refuse new ones: pause).
pub fn node_keeps_tasks(n: Option<&Node>) -> bool {
    n.is_some_and(|n| n.status.state != NodeState::Down && n.spec.availability != NodeAvailability::Drain)
}

/// A node that takes a new task of a global service or global job: ready, active (not paused
/// or drained) and matching the service's constraints.
pub fn takes_global_task(n: &Node, constraints: &[crate::constraint::Constraint]) -> bool {
    n.status.state == NodeState::Ready
        && n.spec.availability == NodeAvailability::Active
        && crate::constraint::all_match(constraints, n)
}

/// Raises a task's desired state (never lowers it) in the overlay.
pub fn set_desired(o: &mut Overlay, t: &Task, desired: TaskState) {
    if t.desired_state >= desired {
        return;
    }
    let mut t = t.clone();
    t.desired_state = desired;
    o.put(crate::model::Object::Task(t));
}

/// Services by id, as the pass sees them.
pub fn services_by_id<'a>(o: &'a Overlay) -> std::collections::BTreeMap<String, &'a Service> {
    o.services().into_iter().map(|s| (s.id.clone(), s)).collect()
}

#[cfg(test)]
mod tests;

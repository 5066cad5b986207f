//! The replicated orchestrator: `replicas` slots per service, each filled by one live task.
//!
//! A pass plans against the overlay without copying it (only tasks that change are cloned:
//! passes run after every commit, so copying every task made them the leader's main cost) and
//! then applies the plan.

use super::restart::{self, Verdict};
use super::update;
use super::{new_task, node_keeps_tasks, IdGen, NodeIndex, SLOTS_PER_PASS_MAX};
use crate::constraint::{self, Constraint};
use crate::model::{Node, Object, Service, ServiceMode, Task, TaskState, UpdateOrder};
use crate::store::Overlay;
use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};

/// A replacement waits at most this long for the task it replaces to stop (swarmkit's
/// "old task timeout"); a node that never reports the stop cannot block its slot for ever.
pub const OLD_TASK_TIMEOUT_MS: u64 = 60_000;

/// A planned change.
enum Change {
    /// Raise this task's desired state.
    Desired(String, TaskState),
    Create(Task),
    /// The service's update status (and spec, for a rollback) changed.
    Service(Service),
}

/// What one service's supervision reads.
struct Ctx<'a> {
    /// Every node by id, looked up once per pass: a pass asks for a task's node several times
    /// and the overlay answers each from two tables (a third of a what-if plan's time went
    /// into these lookups).
    nodes: &'a NodeIndex<'a>,
    s: &'a Service,
    constraints: Vec<Constraint>,
    now_ms: u64,
}

/// A slot's live tasks (one, or two while one replaces the other): inline, not a heap
/// allocation per slot per pass.
type SlotEntries<'a> = SmallVec<[Entry<'a>; 2]>;

/// What scale-down needs to know about a slot's live task (borrowed: one per live task per
/// pass).
struct Entry<'a> {
    running: bool,
    node_id: &'a str,
    /// An existing task's id, or the index of a task created in this pass in the plan.
    task: Result<&'a str, usize>,
}

/// One pass over every replicated service.
pub fn reconcile(o: &mut Overlay, now_ms: u64, ids: &mut IdGen) {
    let plan = {
        let o: &Overlay = o;
        let nodes = super::node_index(o);
        let mut by_service: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
        // Finished tasks, for the update controller's failure count.
        let mut ended: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
        // Slots whose replaced task still runs on a live node: their replacement waits.
        let mut stopping: BTreeSet<(&str, u64)> = BTreeSet::new();
        for t in o.tasks() {
            if t.is_terminal() {
                ended.entry(t.service_id.as_str()).or_default().push(t);
            }
            if t.is_live() {
                by_service.entry(t.service_id.as_str()).or_default().push(t);
            } else if t.status.state <= TaskState::Running && t.status.state >= TaskState::Assigned && node_keeps_running(&nodes, t) {
                stopping.insert((t.service_id.as_str(), t.slot));
            }
        }
        let mut plan = Vec::new();
        for s in o.services() {
            if matches!(s.spec.mode, ServiceMode::Replicated { .. }) {
                let live = by_service.remove(s.id.as_str()).unwrap_or_default();
                let ended = ended.remove(s.id.as_str()).unwrap_or_default();
                plan_service(&nodes, s, &live, &ended, &stopping, now_ms, ids, &mut plan);
            }
        }
        plan
    };
    for c in plan {
        match c {
            Change::Create(t) => o.put(Object::Task(t)),
            Change::Service(s) => o.put(Object::Service(s)),
            Change::Desired(id, d) => {
                if let Some(t) = o.task(&id).filter(|t| t.desired_state < d) {
                    let mut t = t.clone();
                    t.desired_state = d;
                    o.put(Object::Task(t));
                }
            }
        }
    }
}

/// Supervises the live tasks of one service (restarts, lost nodes, constraints, restart
/// delays, pending tasks of an older spec), then scales its slots to `replicas`.
/// The task's node is still up, so the task may still run there until its agent stops it.
fn node_keeps_running(nodes: &NodeIndex, t: &Task) -> bool {
    nodes.get(&t.node_id).is_some_and(|n| n.status.state != crate::model::NodeState::Down)
}

#[allow(clippy::too_many_arguments)]
fn plan_service<'a>(
    nodes: &'a NodeIndex<'a>,
    s: &'a Service,
    live: &[&'a Task],
    ended: &[&Task],
    stopping: &BTreeSet<(&str, u64)>,
    now_ms: u64,
    ids: &mut IdGen,
    plan: &mut Vec<Change>,
) {
    let ServiceMode::Replicated { replicas } = s.spec.mode else { return };
    let ctx = Ctx { nodes, s, constraints: Constraint::parse_all(&s.spec.task.placement.constraints).unwrap_or_default(), now_ms };
    let mut slots: BTreeMap<u64, SlotEntries> = BTreeMap::new();
    let mut kept: Vec<&Task> = Vec::with_capacity(live.len());
    // Each live task's node and whether it needs replacing, decided once.
    let checked: Vec<(Option<&Node>, bool)> = live.iter().map(|t| ctx.check(t)).collect();
    let mut by_slot: BTreeMap<u64, SmallVec<[(&Task, bool); 2]>> = BTreeMap::new();
    for (t, (_, needs)) in live.iter().zip(&checked) {
        by_slot.entry(t.slot).or_default().push((t, *needs));
    }
    for (t, (node, needs)) in live.iter().copied().zip(checked) {
        let holds_slot = || {
            let group = &by_slot[&t.slot];
            let tasks: Vec<&Task> = group.iter().map(|(x, _)| *x).collect();
            super::replaces_in_slot(&tasks, t, |x| group.iter().any(|(y, n)| y.id == x.id && *n))
        };
        if needs && !holds_slot() {
            // Another task holds the slot: this one ends without a replacement.
            plan.push(Change::Desired(t.id.clone(), TaskState::Shutdown));
            continue;
        }
        let old_running = stopping.contains(&(s.id.as_str(), t.slot));
        let e = supervise(&ctx, t, node, old_running, ids, plan);
        if e.task.as_ref().is_ok_and(|id| *id == t.id) {
            kept.push(t);
        }
        slots.entry(t.slot).or_default().push(e);
    }
    rolling_update(s, &kept, ended, now_ms, ids, &mut slots, plan);
    let have = slots.len() as u64;
    if have < replicas {
        let mut slot = 0;
        for _ in have..replicas.min(have + SLOTS_PER_PASS_MAX) {
            slot += 1;
            while slots.contains_key(&slot) {
                slot += 1;
            }
            let t = new_task(s, slot, "", TaskState::Running, ids, now_ms);
            slots.insert(slot, smallvec::smallvec![Entry { running: false, node_id: "", task: Err(plan.len()) }]);
            plan.push(Change::Create(t));
        }
    } else if have > replicas {
        scale_down(&slots, (have - replicas).min(SLOTS_PER_PASS_MAX) as usize, plan);
    }
}

impl<'a> Ctx<'a> {
    /// `t`'s node, and whether [`supervise`] would shut `t` down and replace it (it ended, it
    /// is an unplaced task of an older spec, its node was lost or drained or no longer
    /// matches): such a task does not hold its slot.
    fn check(&self, t: &Task) -> (Option<&'a Node>, bool) {
        let node = if t.node_id.is_empty() { None } else { self.nodes.get(&t.node_id) };
        if t.is_terminal() || (t.spec_version < self.s.spec_version && t.status.state <= TaskState::Pending) {
            return (node, true);
        }
        let needs = !t.node_id.is_empty() && (!node_keeps_tasks(node) || node.is_some_and(|n| !constraint::all_match(&self.constraints, n)));
        (node, needs)
    }
}

/// The restart supervisor and the node checks for one live task: plans its shutdown and
/// replacement when needed; returns the slot's live task afterwards.
/// `node` is `t`'s, as [`Ctx::check`] found it.
fn supervise<'a>(ctx: &Ctx, t: &'a Task, node: Option<&Node>, old_running: bool, ids: &mut IdGen, plan: &mut Vec<Change>) -> Entry<'a> {
    let (s, now_ms) = (ctx.s, ctx.now_ms);
    let kept = Entry { running: t.status.state == TaskState::Running, node_id: &t.node_id, task: Ok(&t.id) };
    // The replacement is created at once, desired READY, and raised to RUNNING once the delay
    // passed and the old task stopped (swarmkit's restart supervisor does the same), so a slot
    // never runs two containers — except when the old task's node is down (it cannot report
    // the stop; the machine is presumed dead) and then the replacement starts at once.
    let mut replace = |delay_ms: u64, wait_for_stop: bool, history: Vec<u64>, plan: &mut Vec<Change>| {
        plan.push(Change::Desired(t.id.clone(), TaskState::Shutdown));
        let desired = if delay_ms > 0 || wait_for_stop { TaskState::Ready } else { TaskState::Running };
        let mut r = new_task(s, t.slot, "", desired, ids, now_ms);
        r.start_after_ms = if delay_ms > 0 { now_ms + delay_ms } else { 0 };
        r.restart_history_ms = history;
        plan.push(Change::Create(r));
        Entry { running: false, node_id: "", task: Err(plan.len() - 1) }
    };
    if t.is_terminal() {
        return match restart::decide(t, now_ms) {
            Verdict::Keep => kept,
            Verdict::Restart { history_ms } => replace(s.spec.task.restart.delay_ms, false, history_ms, plan),
        };
    }
    if t.spec_version < s.spec_version && t.status.state <= TaskState::Pending {
        // Not placed yet: nothing runs, so it takes the new spec at once (running tasks wait
        // for the update controller). A pending task may be waiting for a spec that fits.
        return replace(0, false, t.restart_history_ms.clone(), plan);
    }
    if !t.node_id.is_empty() {
        let lost = !node_keeps_tasks(node);
        let unfit = node.is_some_and(|n| !constraint::all_match(&ctx.constraints, n));
        if lost || unfit {
            // The process did not fail: the machine went away, was drained, or stopped matching.
            // No restart delay; on a live node the old task must stop first.
            return replace(0, !lost, t.restart_history_ms.clone(), plan);
        }
    }
    if t.desired_state == TaskState::Ready
        && now_ms >= t.start_after_ms
        && (!old_running || now_ms >= t.meta.created_at_ms + OLD_TASK_TIMEOUT_MS)
    {
        plan.push(Change::Desired(t.id.clone(), TaskState::Running));
    }
    kept
}

/// Applies the update controller's step: old tasks shut down, slots given a task of the
/// current spec (stop-first: desired READY until the old one stopped, the rule replacements
/// follow anyway; start-first: desired RUNNING next to the old one), the service's status.
fn rolling_update<'a>(
    s: &Service,
    kept: &[&'a Task],
    ended: &[&Task],
    now_ms: u64,
    ids: &mut IdGen,
    slots: &mut BTreeMap<u64, SlotEntries<'a>>,
    plan: &mut Vec<Change>,
) {
    let step = update::plan(s, kept, ended, now_ms);
    for id in step.shutdown {
        plan.push(Change::Desired(id, TaskState::Shutdown));
    }
    for (old, order) in step.start {
        let Some(slot) = kept.iter().find(|t| t.id == old).map(|t| t.slot) else { continue };
        // The supervisor gave the slot a task of the current spec earlier in this pass (its
        // other task's node was lost): the controller did not see it, and a second one would
        // run two containers in the slot.
        if slots.get(&slot).is_some_and(|es| es.iter().any(|e| e.task.is_err())) {
            continue;
        }
        let desired = match order {
            UpdateOrder::StopFirst => {
                plan.push(Change::Desired(old, TaskState::Shutdown));
                TaskState::Ready
            }
            UpdateOrder::StartFirst => TaskState::Running,
        };
        let t = new_task(s, slot, "", desired, ids, now_ms);
        slots.entry(slot).or_default().push(Entry { running: false, node_id: "", task: Err(plan.len()) });
        plan.push(Change::Create(t));
    }
    if let Some(next) = update::service_after(s, step.status, step.rollback_to) {
        plan.push(Change::Service(next));
    }
}

/// Removes `n` slots: non-running ones first, then those on the nodes holding the most
/// replicas of the service, then the highest slot numbers.
fn scale_down(slots: &BTreeMap<u64, SlotEntries>, n: usize, plan: &mut Vec<Change>) {
    let mut per_node: BTreeMap<&str, u64> = BTreeMap::new();
    for e in slots.values().flatten().filter(|e| !e.node_id.is_empty()) {
        *per_node.entry(e.node_id).or_default() += 1;
    }
    let mut left: Vec<(u64, bool, &str)> = slots.iter().map(|(slot, es)| (*slot, es.iter().any(|e| e.running), es[0].node_id)).collect();
    for _ in 0..n {
        let Some(pos) = left
            .iter()
            .enumerate()
            .min_by_key(|(_, (slot, running, node))| {
                (*running, std::cmp::Reverse(per_node.get(node).copied().unwrap_or(0)), std::cmp::Reverse(*slot))
            })
            .map(|(i, _)| i)
        else {
            return;
        };
        let (slot, _, node) = left.remove(pos);
        if let Some(c) = per_node.get_mut(node) {
            *c = c.saturating_sub(1);
        }
        for e in &slots[&slot] {
            match &e.task {
                Ok(id) => plan.push(Change::Desired(id.to_string(), TaskState::Remove)),
                // Created in this pass: it is never created (the desired state stays below REMOVE
                // otherwise).
                Err(i) => {
                    if let Change::Create(t) = &mut plan[*i] {
                        t.desired_state = TaskState::Remove;
                    }
                }
            }
        }
    }
}

//! The rolling-update controller (swarmkit's updater) for replicated and global services (a
//! global service's slot is its node), as a pure
//! reconciler over what the store says: no state of its own, so an update that was running
//! when the leader died continues on the next leader from the same point.
//!
//! Input: a service, its live tasks the restart supervisor kept this pass, the failed tasks of
//! its current spec, `now`. Output: a [`Step`] — tasks to shut down, slots to give a task of the
//! current spec (stop-first: the old task stops first; start-first: the new task runs first),
//! and the service's new [`UpdateStatus`] (or a rollback).
//!
//! Rules, per pass:
//! * a *dirty* task runs an older spec; a *fresh* task was made from the current one;
//! * a slot is *busy* while its fresh task is not RUNNING, or has run for less than the update
//!   delay (swarmkit's worker sleeps `delay` after each slot); at most `parallelism` (0 = all)
//!   slots are busy, so new slots start only as busy ones free up;
//! * start-first: the old task stops once the fresh one runs — for a service publishing ports,
//!   once it has run [`START_FIRST_HANDOFF_MS`], so the routing mesh knows it first;
//! * a fresh task that FAILED or was REJECTED since the update started is a failure; when
//!   failures / slots updated > `max_failure_ratio`, the failure action runs: pause (status
//!   paused, with the task in the message), continue, or rollback (the previous spec comes back
//!   under the rollback config; a rollback is never rolled back);
//! * the update completes when no dirty task is left and every fresh task has run for the
//!   monitor period.
//!
//! Invariants: never more than `parallelism` busy slots; a paused update starts no slot.

use crate::model::{
    FailureAction, Service, ServiceSpec, Task, TaskState, UpdateConfig, UpdateOrder, UpdateState, UpdateStatus,
};
use std::collections::BTreeSet;

/// A slot: the slot number of a replicated task, or the node of a global one (slot 0).
pub type SlotKey<'a> = (u64, &'a str);

pub fn slot_key(t: &Task) -> SlotKey<'_> {
    (t.slot, if t.slot == 0 { t.node_id.as_str() } else { "" })
}

/// What the update controller wants done this pass.
#[derive(Debug, Default, PartialEq)]
pub struct Step {
    /// Dirty slots to update now: (old task id, order); the new task takes the old one's slot
    /// (or node).
    pub start: Vec<(String, UpdateOrder)>,
    /// Old tasks to shut down now (start-first: their replacement runs).
    pub shutdown: Vec<String>,
    /// The service's new status, if it changes.
    pub status: Option<UpdateStatus>,
    /// Roll back: the spec to restore (the service's previous spec).
    pub rollback_to: Option<ServiceSpec>,
}

fn in_rollback(s: &Service) -> bool {
    matches!(s.update_status.as_ref().map(|u| u.state), Some(UpdateState::RollbackStarted | UpdateState::RollbackPaused))
}

/// The config that drives the current update (the rollback config during a rollback).
pub fn config(s: &Service) -> UpdateConfig {
    let c = if in_rollback(s) { s.spec.rollback.clone() } else { s.spec.update.clone() };
    c.unwrap_or_default()
}

fn running_since(t: &Task) -> Option<u64> {
    (t.status.state == TaskState::Running).then_some(t.status.timestamp_ms)
}

/// Start-first hand-over for a service that publishes ports: the old task of a slot stops only
/// once its replacement has run this long, so every node's routing mesh has learnt the
/// replacement before the old task leaves it. The routing mesh's gossip converges within 2 s
/// (Docker waits as long between taking a task out of the mesh and stopping it); swarm stops
/// the old task as soon as the new one runs, and a node whose table had not learnt the new
/// task yet drops the requests it receives meanwhile (with a single replica, every one).
pub const START_FIRST_HANDOFF_MS: u64 = 2_000;

fn publishes(t: &Task) -> bool {
    t.ingress_ports().next().is_some()
}

/// The fresh task `f` runs, and has run long enough to take over from the old one.
fn handed_over(f: &Task, now_ms: u64) -> bool {
    running_since(f).is_some_and(|since| !publishes(f) || now_ms >= since + START_FIRST_HANDOFF_MS)
}

/// One pass of the update controller for a replicated service. `live` are the live tasks the
/// supervisor kept (tasks it replaced this pass are not in it); `failed` are terminal tasks.
pub fn plan(s: &Service, live: &[&Task], failed: &[&Task], now_ms: u64) -> Step {
    let mut step = Step::default();
    let cfg = config(s);
    let status = s.update_status.clone().unwrap_or_default();
    let rollback = in_rollback(s);
    // A rebalance's tasks are replaced as if they ran an older spec.
    let moving: BTreeSet<&str> = s.rebalancing.iter().map(String::as_str).collect();
    // What the status says is under way.
    let what = match (rollback, moving.is_empty()) {
        (true, _) => "rollback",
        (false, false) => "rebalance",
        (false, true) => "update",
    };
    let mut dirty: Vec<&Task> = live
        .iter()
        .copied()
        .filter(|t| (t.spec_version < s.spec_version || moving.contains(t.id.as_str())) && t.status.state > TaskState::Pending)
        .collect();
    // A slot holding two older tasks (an update that superseded a start-first update in
    // flight, or a rollback of one) keeps one, the running one (the newest first), and stops
    // the others now: the slot's capacity stays, and no slot runs three containers (found by
    // the explorer, seeds 1 and 25).
    let mut older: std::collections::BTreeMap<SlotKey, Vec<&Task>> = std::collections::BTreeMap::new();
    for t in &dirty {
        older.entry(slot_key(t)).or_default().push(t);
    }
    for ts in older.values_mut().filter(|ts| ts.len() > 1) {
        ts.sort_by_key(|t| {
            (t.status.state != TaskState::Running, std::cmp::Reverse((t.spec_version, t.meta.created_at_ms)), t.id.as_str())
        });
        for extra in &ts[1..] {
            step.shutdown.push(extra.id.clone());
        }
    }
    // Sets, not scans: a pass over a 1,000-slot update compared every dirty task with every
    // fresh one (most of a what-if plan's time).
    let shut: BTreeSet<&str> = step.shutdown.iter().map(String::as_str).collect();
    dirty.retain(|t| !shut.contains(t.id.as_str()));
    let fresh: Vec<&Task> = live.iter().copied().filter(|t| t.spec_version == s.spec_version && !moving.contains(t.id.as_str())).collect();
    let fresh_slots: BTreeSet<SlotKey> = fresh.iter().map(|t| slot_key(t)).collect();

    // Start-first: an old task whose slot has a RUNNING fresh task stops now (once the mesh
    // had time to learn the fresh one, for a published service).
    let handed: BTreeSet<SlotKey> = fresh.iter().filter(|f| handed_over(f, now_ms)).map(|f| slot_key(f)).collect();
    for t in &dirty {
        if handed.contains(&slot_key(t)) {
            step.shutdown.push(t.id.clone());
        }
    }
    let active = matches!(status.state, UpdateState::Updating | UpdateState::RollbackStarted);
    let paused = matches!(status.state, UpdateState::Paused | UpdateState::RollbackPaused);
    if dirty.is_empty() && !active {
        return step;
    }
    if paused {
        return step;
    }
    let started_at = if active { status.started_at_ms.unwrap_or(now_ms) } else { now_ms };
    if !active || status.started_at_ms.is_none() {
        // An update the control API asked for (or one found under way): it starts now.
        step.status = Some(UpdateStatus {
            state: if rollback { UpdateState::RollbackStarted } else { UpdateState::Updating },
            started_at_ms: Some(started_at),
            completed_at_ms: None,
            message: format!("{what} in progress"),
        });
    }

    // Failures of the current spec's tasks made since the update started. By when the task
    // was made (a manager's clock, as `started_at` is), not when its agent says it failed:
    // an agent whose clock is behind would date the failure before the update began, and the
    // update would go on past it (explorer seed 2436, clocks 6 s apart).
    let failures: Vec<&Task> = failed
        .iter()
        .copied()
        .filter(|t| t.spec_version == s.spec_version)
        .filter(|t| matches!(t.status.state, TaskState::Failed | TaskState::Rejected))
        .filter(|t| t.meta.created_at_ms >= started_at)
        .collect();
    // Slots the update reached: those with a fresh task, live or failed.
    let reached = fresh_slots.iter().copied().chain(failures.iter().map(|t| slot_key(t))).collect::<BTreeSet<_>>().len().max(1);
    if let Some(first) = failures.first() {
        if cfg.failure_action != FailureAction::Continue && failures.len() as f64 / reached as f64 > f64::from(cfg.max_failure_ratio) {
            let why = format!("due to failure or early termination of task {}", first.id);
            match (cfg.failure_action, rollback, &s.previous_spec) {
                (FailureAction::Rollback, false, Some(prev)) => {
                    step.rollback_to = Some(prev.clone());
                    step.status = Some(UpdateStatus {
                        state: UpdateState::RollbackStarted,
                        started_at_ms: Some(now_ms),
                        completed_at_ms: None,
                        message: format!("update rolled back {why}"),
                    });
                }
                _ => {
                    step.status = Some(UpdateStatus {
                        state: if rollback { UpdateState::RollbackPaused } else { UpdateState::Paused },
                        started_at_ms: Some(started_at),
                        completed_at_ms: None,
                        message: format!("{} paused {why}", if rollback { "rollback" } else { "update" }),
                    });
                }
            }
            step.start.clear();
            step.shutdown.clear();
            return step;
        }
    }

    // Busy slots: a fresh task not running yet, or running for less than the delay, or (start-
    // first) still next to the old task it replaces.
    let dirty_slots: BTreeSet<SlotKey> = dirty.iter().map(|d| slot_key(d)).collect();
    let busy = fresh
        .iter()
        .filter(|t| running_since(t).is_none_or(|since| now_ms < since + cfg.delay_ms) || dirty_slots.contains(&slot_key(t)))
        .map(|t| slot_key(t))
        .collect::<BTreeSet<SlotKey>>()
        .len();
    // Mutant: every dirty slot starts at once, whatever the parallelism.
    let room = if cfg.parallelism == 0 || crate::mutant::active("exceed-parallelism") {
        usize::MAX
    } else {
        (cfg.parallelism as usize).saturating_sub(busy)
    };
    let mut waiting: Vec<&&Task> = dirty.iter().filter(|t| !fresh_slots.contains(&slot_key(t))).collect();
    waiting.sort_by_key(|t| (slot_key(t), t.id.as_str()));
    debug_assert!(waiting.windows(2).all(|w| slot_key(w[0]) != slot_key(w[1])), "one older task per slot");
    for t in waiting.into_iter().take(room) {
        step.start.push((t.id.clone(), cfg.order));
    }

    // Done: nothing dirty, and every fresh task ran for the monitor period.
    let settled = fresh.iter().all(|t| running_since(t).is_some_and(|since| now_ms >= since + cfg.monitor_ms));
    if dirty.is_empty() && settled {
        step.status = Some(UpdateStatus {
            state: if rollback { UpdateState::RollbackCompleted } else { UpdateState::Completed },
            started_at_ms: Some(started_at),
            completed_at_ms: Some(now_ms),
            message: format!("{what} completed"),
        });
    }
    step
}

/// The service after a step: its new status, and for a rollback the previous spec back (the
/// spec rolled back from becomes the previous one). None when nothing changes.
pub fn service_after(s: &Service, status: Option<UpdateStatus>, rollback_to: Option<ServiceSpec>) -> Option<Service> {
    if status.is_none() && rollback_to.is_none() {
        return None;
    }
    let mut next = s.clone();
    if let Some(prev) = rollback_to {
        let prev = crate::mutant::rollback_target(prev, &s.spec);
        next.previous_spec = Some(std::mem::replace(&mut next.spec, prev));
        next.spec_version += 1;
        // A rollback replaces every task: what a rebalance was moving goes with them.
        next.rebalancing.clear();
    }
    if status.as_ref().is_some_and(|u| matches!(u.state, UpdateState::Completed | UpdateState::RollbackCompleted)) {
        next.rebalancing.clear();
    }
    next.update_status = status;
    Some(next)
}

/// When a pass may next have something to do for this service's update (a busy slot frees,
/// the monitor period ends); None when no update is under way.
pub fn next_deadline(s: &Service, live: &[&Task], now_ms: u64) -> Option<u64> {
    let state = s.update_status.as_ref().map(|u| u.state)?;
    if !matches!(state, UpdateState::Updating | UpdateState::RollbackStarted) {
        return None;
    }
    let cfg = config(s);
    live.iter()
        .filter(|t| t.spec_version == s.spec_version)
        .filter_map(|t| Some((running_since(t)?, publishes(t))))
        .flat_map(|(since, published)| {
            let handoff = if published { since + START_FIRST_HANDOFF_MS } else { 0 };
            [since + cfg.delay_ms, since + cfg.monitor_ms, handoff]
        })
        .filter(|at| *at > now_ms)
        .min()
}

/// The earliest [`next_deadline`] over every service under update (for the leader's timer).
pub fn next_update_deadline(store: &crate::store::Store, now_ms: u64) -> Option<u64> {
    let updating: Vec<&Service> = store
        .list_services()
        .filter(|s| matches!(s.update_status.as_ref().map(|u| u.state), Some(UpdateState::Updating | UpdateState::RollbackStarted)))
        .collect();
    if updating.is_empty() {
        return None;
    }
    let mut by_service: std::collections::BTreeMap<&str, Vec<&Task>> = std::collections::BTreeMap::new();
    for o in store.list(crate::model::Kind::Task) {
        if let crate::model::Object::Task(t) = o {
            if t.is_live() && updating.iter().any(|s| s.id == t.service_id) {
                by_service.entry(t.service_id.as_str()).or_default().push(t);
            }
        }
    }
    updating
        .iter()
        .filter_map(|s| next_deadline(s, by_service.get(s.id.as_str()).map(Vec::as_slice).unwrap_or(&[]), now_ms))
        .min()
}

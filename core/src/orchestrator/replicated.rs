//! The replicated orchestrator: `replicas` slots per service, each filled by one live task.

use super::restart::{self, Verdict};
use super::{new_task, node_keeps_tasks, set_desired, IdGen};
use crate::constraint::{self, Constraint};
use crate::model::{Object, Service, ServiceMode, Task, TaskState};
use crate::store::Overlay;
use std::collections::BTreeMap;

/// One pass over every replicated service.
pub fn reconcile(o: &mut Overlay, now_ms: u64, ids: &mut IdGen) {
    let services: Vec<Service> =
        o.services().into_iter().filter(|s| matches!(s.spec.mode, ServiceMode::Replicated { .. })).cloned().collect();
    let mut by_service: BTreeMap<String, Vec<Task>> = BTreeMap::new();
    for t in o.tasks() {
        if t.is_live() {
            by_service.entry(t.service_id.clone()).or_default().push(t.clone());
        }
    }
    for s in services {
        let live = by_service.remove(&s.id).unwrap_or_default();
        reconcile_service(o, &s, live, now_ms, ids);
    }
}

/// Supervises the live tasks of one service (restarts, lost nodes, constraints, restart
/// delays), then scales its slots to `replicas`.
pub fn reconcile_service(o: &mut Overlay, s: &Service, live: Vec<Task>, now_ms: u64, ids: &mut IdGen) {
    let ServiceMode::Replicated { replicas } = s.spec.mode else { return };
    let constraints = Constraint::parse_all(&s.spec.task.placement.constraints).unwrap_or_default();
    let mut slots: BTreeMap<u64, Vec<Task>> = BTreeMap::new();
    for t in live {
        let t = supervise(o, s, t, &constraints, now_ms, ids);
        if let Some(t) = t {
            slots.entry(t.slot).or_default().push(t);
        }
    }
    let have = slots.len() as u64;
    if have < replicas {
        let mut slot = 0;
        for _ in have..replicas {
            slot += 1;
            while slots.contains_key(&slot) {
                slot += 1;
            }
            let t = new_task(s, slot, "", TaskState::Running, ids, now_ms);
            slots.insert(slot, vec![t.clone()]);
            o.put(Object::Task(t));
        }
    } else if have > replicas {
        scale_down(o, &slots, (have - replicas) as usize);
    }
}

/// Applies the restart supervisor and the node checks to one live task; returns the slot's
/// live task afterwards (the task itself, its replacement, or None when neither is live).
fn supervise(o: &mut Overlay, s: &Service, t: Task, constraints: &[Constraint], now_ms: u64, ids: &mut IdGen) -> Option<Task> {
    if t.is_terminal() {
        return match restart::decide(&t, now_ms) {
            Verdict::Keep => Some(t),
            Verdict::Restart { history_ms } => {
                set_desired(o, &t, TaskState::Shutdown);
                let delayed = s.spec.task.restart.delay_ms > 0;
                let mut r = new_task(s, t.slot, "", if delayed { TaskState::Ready } else { TaskState::Running }, ids, now_ms);
                r.restart_history_ms = history_ms;
                o.put(Object::Task(r.clone()));
                Some(r)
            }
        };
    }
    if t.spec_version < s.spec_version && t.status.state <= TaskState::Pending {
        // Not placed yet: nothing runs, so it takes the new spec at once (running tasks wait
        // for the update controller). A pending task may be waiting for a spec that fits.
        set_desired(o, &t, TaskState::Shutdown);
        let mut r = new_task(s, t.slot, "", t.desired_state, ids, now_ms);
        r.restart_history_ms = t.restart_history_ms.clone();
        o.put(Object::Task(r.clone()));
        return Some(r);
    }
    if !t.node_id.is_empty() {
        let node = o.node(&t.node_id);
        let lost = !node_keeps_tasks(node);
        let unfit = node.is_some_and(|n| !constraint::all_match(constraints, n));
        if lost || unfit {
            // The process did not fail: the machine went away, was drained, or stopped matching.
            // The replacement starts without the restart delay.
            set_desired(o, &t, TaskState::Shutdown);
            let mut r = new_task(s, t.slot, "", TaskState::Running, ids, now_ms);
            r.restart_history_ms = t.restart_history_ms.clone();
            o.put(Object::Task(r.clone()));
            return Some(r);
        }
    }
    if t.desired_state == TaskState::Ready && now_ms >= t.meta.created_at_ms + t.spec.restart.delay_ms {
        set_desired(o, &t, TaskState::Running);
    }
    Some(t)
}

/// Removes `n` slots: non-running ones first, then those on the nodes holding the most
/// replicas of the service, then the highest slot numbers.
fn scale_down(o: &mut Overlay, slots: &BTreeMap<u64, Vec<Task>>, n: usize) {
    let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
    for ts in slots.values() {
        for t in ts {
            if !t.node_id.is_empty() {
                *per_node.entry(t.node_id.clone()).or_default() += 1;
            }
        }
    }
    let mut left: Vec<(u64, bool, String)> = slots
        .iter()
        .map(|(slot, ts)| {
            let running = ts.iter().any(|t| t.status.state == TaskState::Running);
            (*slot, running, ts[0].node_id.clone())
        })
        .collect();
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
        if let Some(c) = per_node.get_mut(&node) {
            *c = c.saturating_sub(1);
        }
        for t in &slots[&slot] {
            set_desired(o, t, TaskState::Remove);
        }
    }
}

//! The global orchestrator: one task per eligible node, rolled to a new spec by the update
//! controller (the node is the slot).

use super::restart::{self, Verdict};
use super::update;
use super::{new_task, set_desired, IdGen};
use crate::constraint::{self, Constraint};
use crate::model::{NodeAvailability, Object, Service, ServiceMode, Task, TaskState, UpdateOrder};
use crate::store::Overlay;
use std::collections::BTreeMap;

/// One pass over every global service.
pub fn reconcile(o: &mut Overlay, now_ms: u64, ids: &mut IdGen) {
    let services: Vec<Service> =
        o.services().into_iter().filter(|s| s.spec.mode == ServiceMode::Global).cloned().collect();
    if services.is_empty() {
        return;
    }
    let mut live: BTreeMap<(String, String), Vec<Task>> = BTreeMap::new();
    // Finished tasks per service (the update controller counts failures); (service, node) of
    // replaced tasks that may still run (a stop-first replacement waits for them).
    let mut ended: BTreeMap<String, Vec<Task>> = BTreeMap::new();
    let mut stopping: std::collections::BTreeSet<(String, String)> = Default::default();
    for t in o.tasks() {
        if t.is_live() {
            live.entry((t.service_id.clone(), t.node_id.clone())).or_default().push(t.clone());
        } else if t.status.state >= TaskState::Assigned
            && t.status.state <= TaskState::Running
            && o.node(&t.node_id).is_some_and(|n| n.status.state != crate::model::NodeState::Down)
        {
            stopping.insert((t.service_id.clone(), t.node_id.clone()));
        }
        if t.is_terminal() {
            ended.entry(t.service_id.clone()).or_default().push(t.clone());
        }
    }
    let nodes: Vec<crate::model::Node> = o.nodes().into_iter().cloned().collect();
    for s in &services {
        let constraints = Constraint::parse_all(&s.spec.task.placement.constraints).unwrap_or_default();
        // Live tasks left in place this pass: the rolling update looks at them afterwards.
        let mut kept: Vec<Task> = Vec::new();
        let mut restarted = std::collections::BTreeSet::new();
        for n in &nodes {
            let tasks = live.remove(&(s.id.clone(), n.id.clone())).unwrap_or_default();
            let fits = constraint::all_match(&constraints, n);
            let drained = n.spec.availability == NodeAvailability::Drain;
            if tasks.is_empty() {
                // Pause keeps tasks but takes no new ones; a down node gets its task when back.
                if super::takes_global_task(n, &constraints) {
                    o.put(Object::Task(new_task(s, 0, &n.id, TaskState::Running, ids, now_ms)));
                }
                continue;
            }
            let group: Vec<&Task> = tasks.iter().collect();
            let covered: Vec<bool> = tasks.iter().map(|t| t.is_terminal() && !super::replaces_in_slot(&group, t, Task::is_terminal)).collect();
            for (t, covered) in tasks.iter().zip(covered) {
                if drained || !fits || covered {
                    // Covered: another task holds the node's slot, so no replacement.
                    set_desired(o, t, TaskState::Shutdown);
                } else if t.is_terminal() {
                    if let Verdict::Restart { history_ms } = restart::decide(t, now_ms) {
                        set_desired(o, t, TaskState::Shutdown);
                        let delay = s.spec.task.restart.delay_ms;
                        let want = if delay > 0 { TaskState::Ready } else { TaskState::Running };
                        let mut r = new_task(s, 0, &n.id, want, ids, now_ms);
                        r.start_after_ms = if delay > 0 { now_ms + delay } else { 0 };
                        r.restart_history_ms = history_ms;
                        o.put(Object::Task(r));
                        restarted.insert(n.id.clone());
                    }
                } else {
                    // A replacement starts after its delay and once the task it replaces on
                    // this node stopped (or at the old-task timeout).
                    let old_running = stopping.contains(&(s.id.clone(), n.id.clone()))
                        && now_ms < t.meta.created_at_ms + super::replicated::OLD_TASK_TIMEOUT_MS;
                    if t.desired_state == TaskState::Ready && now_ms >= t.start_after_ms && !old_running {
                        set_desired(o, t, TaskState::Running);
                    }
                    kept.push(t.clone());
                }
            }
        }
        rolling_update(o, s, &kept, ended.get(&s.id).map(Vec::as_slice).unwrap_or(&[]), &restarted, now_ms, ids);
    }
    // Live tasks on nodes that left the cluster.
    for ((sid, _), tasks) in live {
        if services.iter().any(|s| s.id == sid) {
            for t in tasks {
                set_desired(o, &t, TaskState::Shutdown);
            }
        }
    }
}

/// The update controller's step for one global service: a task of the current spec for each
/// node it picks (stop-first: desired READY until the old one stopped; start-first: RUNNING
/// next to it), old tasks shut down, the service's status.
/// `restarted`: nodes that got a task of the current spec earlier in this pass (a restart the
/// controller did not see: a second one would run two containers on the node).
fn rolling_update(
    o: &mut Overlay,
    s: &Service,
    kept: &[Task],
    ended: &[Task],
    restarted: &std::collections::BTreeSet<String>,
    now_ms: u64,
    ids: &mut IdGen,
) {
    let kept_refs: Vec<&Task> = kept.iter().collect();
    let ended_refs: Vec<&Task> = ended.iter().collect();
    let step = update::plan(s, &kept_refs, &ended_refs, now_ms);
    for id in &step.shutdown {
        if let Some(t) = kept.iter().find(|t| t.id == *id) {
            set_desired(o, t, TaskState::Shutdown);
        }
    }
    for (old, order) in &step.start {
        let Some(t) = kept.iter().find(|t| t.id == *old) else { continue };
        if restarted.contains(&t.node_id) {
            continue;
        }
        let desired = match order {
            UpdateOrder::StopFirst => {
                set_desired(o, t, TaskState::Shutdown);
                TaskState::Ready
            }
            UpdateOrder::StartFirst => TaskState::Running,
        };
        o.put(Object::Task(new_task(s, 0, &t.node_id, desired, ids, now_ms)));
    }
    if let Some(next) = update::service_after(s, step.status, step.rollback_to) {
        o.put(Object::Service(next));
    }
}

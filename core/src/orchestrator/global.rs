//! The global orchestrator: one task per eligible node.

use super::restart::{self, Verdict};
use super::{new_task, set_desired, IdGen};
use crate::constraint::{self, Constraint};
use crate::model::{NodeAvailability, Object, Service, ServiceMode, Task, TaskState};
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
    for t in o.tasks() {
        if t.is_live() {
            live.entry((t.service_id.clone(), t.node_id.clone())).or_default().push(t.clone());
        }
    }
    let nodes: Vec<crate::model::Node> = o.nodes().into_iter().cloned().collect();
    for s in &services {
        let constraints = Constraint::parse_all(&s.spec.task.placement.constraints).unwrap_or_default();
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
            for t in tasks {
                if drained || !fits {
                    set_desired(o, &t, TaskState::Shutdown);
                } else if t.is_terminal() {
                    if let Verdict::Restart { history_ms } = restart::decide(&t, now_ms) {
                        set_desired(o, &t, TaskState::Shutdown);
                        let delay = s.spec.task.restart.delay_ms;
                        let want = if delay > 0 { TaskState::Ready } else { TaskState::Running };
                        let mut r = new_task(s, 0, &n.id, want, ids, now_ms);
                        r.start_after_ms = if delay > 0 { now_ms + delay } else { 0 };
                        r.restart_history_ms = history_ms;
                        o.put(Object::Task(r));
                    }
                } else if t.desired_state == TaskState::Ready && now_ms >= t.start_after_ms {
                    set_desired(o, &t, TaskState::Running);
                }
            }
        }
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

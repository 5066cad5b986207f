//! Job orchestrators: run tasks to completion instead of keeping them running.
//!
//! * replicated-job: `total_completions` successful tasks, at most `max_concurrent` at a time;
//!   slots 1..=total, a slot is done once a task in it completed with exit 0.
//! * global-job: one task per eligible node (ready, active, constraints met), once; a node that
//!   joins later gets its own.
//!
//! A job task that fails follows the restart supervisor (jobs default to on-failure); a task
//! that completed stays (desired RUNNING, observed COMPLETE) and counts as done.

use super::restart::{self, Verdict};
use super::{new_task, set_desired, IdGen};
use crate::constraint::Constraint;
use crate::model::{Object, Service, ServiceMode, Task, TaskState};
use crate::store::Overlay;
use std::collections::{BTreeMap, BTreeSet};

/// A task that finished successfully: its slot (or node) is done.
fn succeeded(t: &Task) -> bool {
    t.status.state == TaskState::Complete && t.status.exit_code.unwrap_or(0) == 0
}

/// One pass over every job service.
pub fn reconcile(o: &mut Overlay, now_ms: u64, ids: &mut IdGen) {
    let services: Vec<Service> = o
        .services()
        .into_iter()
        .filter(|s| matches!(s.spec.mode, ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob))
        .cloned()
        .collect();
    if services.is_empty() {
        return;
    }
    let mut by_service: BTreeMap<String, Vec<Task>> = BTreeMap::new();
    for t in o.tasks() {
        if services.iter().any(|s| s.id == t.service_id) {
            by_service.entry(t.service_id.clone()).or_default().push(t.clone());
        }
    }
    for s in &services {
        let tasks = by_service.remove(&s.id).unwrap_or_default();
        // Failed live tasks: the restart supervisor decides (in their slot, on their node).
        let mut restarted = 0u64;
        for t in tasks.iter().filter(|t| t.is_live() && t.is_terminal() && !succeeded(t)) {
            if let Verdict::Restart { history_ms } = restart::decide(t, now_ms) {
                restarted += 1;
                set_desired(o, t, TaskState::Shutdown);
                let node = if t.slot == 0 { t.node_id.as_str() } else { "" };
                let mut r = new_task(s, t.slot, node, TaskState::Running, ids, now_ms);
                r.restart_history_ms = history_ms;
                o.put(Object::Task(r));
            }
        }
        match s.spec.mode {
            ServiceMode::ReplicatedJob { max_concurrent, total_completions } => {
                let live: Vec<&Task> = tasks.iter().filter(|t| t.is_live()).collect();
                let taken: BTreeSet<u64> = live.iter().map(|t| t.slot).collect();
                let running = live.iter().filter(|t| !t.is_terminal()).count() as u64 + restarted;
                let mut budget = max_concurrent.saturating_sub(running).min(super::SLOTS_PER_PASS_MAX);
                for slot in 1..=total_completions {
                    if budget == 0 {
                        break;
                    }
                    if !taken.contains(&slot) {
                        o.put(Object::Task(new_task(s, slot, "", TaskState::Running, ids, now_ms)));
                        budget -= 1;
                    }
                }
            }
            ServiceMode::GlobalJob => {
                let constraints = Constraint::parse_all(&s.spec.task.placement.constraints).unwrap_or_default();
                let covered: BTreeSet<&str> =
                    tasks.iter().filter(|t| t.is_live()).map(|t| t.node_id.as_str()).collect();
                let eligible: Vec<String> = o
                    .nodes()
                    .into_iter()
                    .filter(|n| super::takes_global_task(n, &constraints))
                    .filter(|n| !covered.contains(n.id.as_str()))
                    .map(|n| n.id.clone())
                    .collect();
                for n in eligible {
                    o.put(Object::Task(new_task(s, 0, &n, TaskState::Running, ids, now_ms)));
                }
            }
            _ => {}
        }
    }
}

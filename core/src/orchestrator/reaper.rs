//! The task reaper: keeps `task_history_retention_limit` finished tasks per slot (per node for
//! global services) and deletes the tasks of removed services and scaled-away slots once they
//! stopped (or can no longer report: unassigned, or their node is down or gone).

use crate::model::{Kind, NodeState, Task, TaskState};
use crate::store::Overlay;
use std::collections::BTreeSet;

/// The most tasks one pass deletes or marks for removal (see [`super::SLOTS_PER_PASS_MAX`]):
/// `service rm` of a service with a hundred thousand tasks is then many short passes, and
/// control writes get their turn between them.
pub const REAPED_PER_PASS_MAX: usize = 5_000;

pub fn reap(o: &mut Overlay, retention: u32) {
    let mut delete = Vec::new();
    let mut orphan = Vec::new();
    {
        // Borrowed, not cloned: the history of every slot is read by every pass.
        let services: BTreeSet<&str> = o.services().into_iter().map(|s| s.id.as_str()).collect();
        // Every finished task by (service, slot, node), oldest first: one sorted list, not a
        // map of lists (allocated per slot on every pass).
        let mut history: Vec<((&str, u64, &str), &Task)> = Vec::new();
        // Not yet assigned (a global task names its node while still pending): no agent runs it.
        let stopped = |t: &Task| {
            t.is_terminal()
                || t.node_id.is_empty()
                || t.status.state < TaskState::Assigned
                || o.node(&t.node_id).is_none_or(|n| n.status.state == NodeState::Down)
        };
        for t in o.tasks() {
            if !services.contains(t.service_id.as_str()) {
                if stopped(t) {
                    delete.push(t.id.clone());
                } else if t.desired_state < TaskState::Remove && orphan.len() < REAPED_PER_PASS_MAX {
                    orphan.push(t.clone());
                }
                continue;
            }
            if t.desired_state == TaskState::Remove {
                if stopped(t) {
                    delete.push(t.id.clone());
                }
                continue;
            }
            if !t.is_live() {
                let node = if t.slot == 0 { t.node_id.as_str() } else { "" };
                history.push(((t.service_id.as_str(), t.slot, node), t));
            }
        }
        history.sort_unstable_by_key(|(k, t)| (*k, t.meta.created_at_ms, t.meta.version, t.id.as_str()));
        // Only the newest `retention` of each slot stay.
        for group in history.chunk_by(|a, b| a.0 == b.0) {
            let extra = group.len().saturating_sub(retention as usize);
            delete.extend(group[..extra].iter().map(|(_, t)| t.id.clone()));
        }
    }
    for t in orphan.into_iter().take(REAPED_PER_PASS_MAX) {
        super::set_desired(o, &t, TaskState::Remove);
    }
    for id in delete.into_iter().take(REAPED_PER_PASS_MAX) {
        o.delete(Kind::Task, &id);
    }
}

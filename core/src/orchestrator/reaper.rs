//! The task reaper: keeps `task_history_retention_limit` finished tasks per slot (per node for
//! global services) and deletes the tasks of removed services and scaled-away slots once they
//! stopped (or can no longer report: unassigned, or their node is down or gone).

use crate::model::{Kind, NodeState, Task, TaskState};
use crate::store::Overlay;
use std::collections::{BTreeMap, BTreeSet};

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
        let mut history: BTreeMap<(&str, u64, &str), Vec<&Task>> = BTreeMap::new();
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
                history.entry((t.service_id.as_str(), t.slot, node)).or_default().push(t);
            }
        }
        for mut ts in history.into_values() {
            if ts.len() <= retention as usize {
                continue;
            }
            // Oldest first; only the newest `retention` stay.
            ts.sort_by_key(|t| (t.meta.created_at_ms, t.meta.version, t.id.as_str()));
            let extra = ts.len() - retention as usize;
            delete.extend(ts.into_iter().take(extra).map(|t| t.id.clone()));
        }
    }
    for t in orphan.into_iter().take(REAPED_PER_PASS_MAX) {
        super::set_desired(o, &t, TaskState::Remove);
    }
    for id in delete.into_iter().take(REAPED_PER_PASS_MAX) {
        o.delete(Kind::Task, &id);
    }
}

//! [`ClusterView`]: nodes as columns with their task cards, services with replicas and
//! update progress, pending tasks with the scheduler's reason, and a strip of recent events.

use crate::engine_api::query::{mode_name, service_statuses, task_name};
use crate::engine_api::types::EventMessage;
use crate::model::{Kind, Node, NodeAvailability, NodeRole, NodeState, Object, Task, TaskState, UpdateState};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Task cards listed on node columns at most; more are counted in `cards_hidden`.
pub const CARDS_MAX: usize = 5_000;
/// Pending tasks listed at most; more are counted in `pending_total`.
pub const PENDING_MAX: usize = 200;
/// Events in the strip (the newest).
pub const EVENTS_SHOWN: usize = 30;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterView {
    /// The raft index of the store the view was built from (the page shows it, and a test
    /// can wait for a view at least as new as a write it made).
    pub index: u64,
    pub nodes: Vec<NodeView>,
    pub services: Vec<ServiceView>,
    /// Tasks waiting for a node, with the scheduler's reason, oldest first.
    pub pending: Vec<TaskCard>,
    pub pending_total: usize,
    /// Cards left off the node columns (more than [`CARDS_MAX`]).
    pub cards_hidden: usize,
    /// The newest events last.
    pub events: Vec<EventLine>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: String,
    pub hostname: String,
    pub role: NodeRole,
    pub state: NodeState,
    pub availability: NodeAvailability,
    /// The raft leader (its manager status says so).
    pub leader: bool,
    /// Managers only: "reachable" or "unreachable" (as `node ls` shows it).
    pub reachability: Option<String>,
    pub nano_cpus_total: i64,
    pub memory_bytes_total: i64,
    /// What the tasks placed here reserve.
    pub nano_cpus_used: i64,
    pub memory_bytes_used: i64,
    pub tasks: Vec<TaskCard>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCard {
    pub id: String,
    /// `service.slot` or `service.node`, as `service ps` names it.
    pub name: String,
    pub service: String,
    pub slot: u64,
    pub image: String,
    pub state: TaskState,
    pub desired: TaskState,
    /// The error if there is one (a pending task's: why no node fits), else the status message.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    pub id: String,
    pub name: String,
    pub mode: String,
    pub image: String,
    pub running: u64,
    pub desired: u64,
    /// None when no update ever ran.
    pub update_state: Option<UpdateState>,
    pub update_message: String,
    /// Live tasks of the current spec that run (an update's progress, out of `desired`).
    pub updated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Unix seconds.
    pub time: i64,
    pub kind: String,
    pub action: String,
    /// The object's name (its id when it has none).
    pub name: String,
}

impl EventLine {
    pub fn of(m: &EventMessage) -> EventLine {
        let name = m.actor.attributes.get("name").filter(|n| !n.is_empty()).unwrap_or(&m.actor.id).clone();
        EventLine { time: m.time, kind: m.kind.clone(), action: m.action.clone(), name }
    }
}

fn card(t: &Task) -> TaskCard {
    let message = if t.status.err.is_empty() { &t.status.message } else { &t.status.err };
    TaskCard {
        id: t.id.clone(),
        name: task_name(t),
        service: t.service_name.clone(),
        slot: t.slot,
        image: t.spec.container.image.clone(),
        state: t.status.state,
        desired: t.desired_state,
        message: message.clone(),
    }
}

/// On a node's column: placed and not stopped yet (a task being stopped shows until its
/// container is gone).
fn on_column(t: &Task) -> bool {
    !t.node_id.is_empty() && !t.is_terminal()
}

/// Waiting for a node.
fn waiting(t: &Task) -> bool {
    t.node_id.is_empty() && t.is_live() && t.status.state <= TaskState::Pending
}

/// The view of `store`, with the newest of `events` (oldest first) in its strip.
pub fn cluster_view(store: &Store, events: &[EventMessage]) -> ClusterView {
    let tasks: Vec<&Task> = store.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).collect();
    let mut columns: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
    let mut pending: Vec<&Task> = Vec::new();
    for t in &tasks {
        if on_column(t) {
            columns.entry(t.node_id.as_str()).or_default().push(t);
        } else if waiting(t) {
            pending.push(t);
        }
    }
    let mut nodes: Vec<&Node> = store.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect();
    // Managers first, then by hostname: the page's columns keep their places between pushes.
    nodes.sort_by(|a, b| (b.role, hostname(a), &a.id).cmp(&(a.role, hostname(b), &b.id)));
    let mut budget = CARDS_MAX;
    let mut hidden = 0;
    let nodes: Vec<NodeView> = nodes
        .into_iter()
        .map(|n| {
            let mut on = columns.remove(n.id.as_str()).unwrap_or_default();
            on.sort_by(|a, b| (&a.service_name, a.slot, &a.id).cmp(&(&b.service_name, b.slot, &b.id)));
            let (mut cpus, mut mem) = (0i64, 0i64);
            for r in on.iter().filter(|t| t.holds_resources()).filter_map(|t| t.spec.resources.reservations.as_ref()) {
                cpus = cpus.saturating_add(r.nano_cpus);
                mem = mem.saturating_add(r.memory_bytes);
            }
            let shown = on.len().min(budget);
            budget -= shown;
            hidden += on.len() - shown;
            let total = n.description.as_ref().map(|d| d.resources.clone()).unwrap_or_default();
            NodeView {
                id: n.id.clone(),
                hostname: hostname(n).to_string(),
                role: n.role,
                state: n.status.state,
                availability: n.spec.availability,
                leader: n.manager_status.as_ref().is_some_and(|m| m.leader),
                reachability: n.reachability().map(str::to_string),
                nano_cpus_total: total.nano_cpus,
                memory_bytes_total: total.memory_bytes,
                nano_cpus_used: cpus,
                memory_bytes_used: mem,
                tasks: on[..shown].iter().map(|t| card(t)).collect(),
            }
        })
        .collect();
    // Placed on a node the store no longer has (removed meanwhile): counted, not drawn.
    hidden += columns.values().map(Vec::len).sum::<usize>();
    pending.sort_by(|a, b| (a.meta.created_at_ms, &a.service_name, a.slot, &a.id).cmp(&(b.meta.created_at_ms, &b.service_name, b.slot, &b.id)));
    let statuses = service_statuses(store);
    let updated = crate::figures::updated_by_service(store);
    let mut services: Vec<ServiceView> = store
        .list_services()
        .map(|s| {
            let st = statuses.get(s.id.as_str()).cloned().unwrap_or_default();
            ServiceView {
                id: s.id.clone(),
                name: s.spec.annotations.name.clone(),
                mode: mode_name(&s.spec.mode).to_string(),
                image: s.spec.task.container.image.clone(),
                running: st.running_tasks,
                desired: st.desired_tasks,
                update_state: s.update_status.as_ref().map(|u| u.state),
                update_message: s.update_status.as_ref().map(|u| u.message.clone()).unwrap_or_default(),
                updated: updated.get(s.id.as_str()).copied().unwrap_or(0),
            }
        })
        .collect();
    services.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let pending_total = pending.len();
    ClusterView {
        index: store.last_index(),
        nodes,
        services,
        pending: pending.into_iter().take(PENDING_MAX).map(card).collect(),
        pending_total,
        cards_hidden: hidden,
        events: events[events.len().saturating_sub(EVENTS_SHOWN)..].iter().map(EventLine::of).collect(),
    }
}

fn hostname(n: &Node) -> &str {
    n.description.as_ref().map(|d| d.hostname.as_str()).filter(|h| !h.is_empty()).unwrap_or(&n.id)
}

#[cfg(test)]
mod tests;

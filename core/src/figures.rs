//! Figures worth graphing, read from one committed store: tasks by state, nodes by state,
//! tasks waiting for a node, and per service its replicas and an update's progress.
//!
//! One computation for every reader, so the same figure means the same thing wherever it is
//! shown: the daemon's `/metrics` (Prometheus), the simulator's `run --json` and `bench
//! cluster --json`, and the live page's update progress. Pure: the store in, plain values out,
//! in a fixed order (maps are `BTreeMap`, services sorted by name).

use crate::engine_api::query::service_statuses;
use crate::model::{Kind, NodeState, Object, TaskState, UpdateState};
use crate::store::Store;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StoreFigures {
    /// Tasks that are live or not yet past RUNNING, by observed state (lowercase names).
    pub tasks: BTreeMap<String, u64>,
    /// Nodes by state; every state is present, zero or not (a graph needs its series).
    pub nodes: BTreeMap<String, u64>,
    /// Live tasks that wait for a node (what the scheduler could not place yet).
    pub pending: u64,
    /// By service name.
    pub services: Vec<ServiceFigures>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceFigures {
    pub name: String,
    /// Tasks desired and running, as `service ls` counts them.
    pub desired: u64,
    pub running: u64,
    /// A rolling update or rollback is under way.
    pub updating: bool,
    /// Running tasks of the service's current spec (an update's progress, out of `desired`).
    pub updated: u64,
}

/// A state's name as the figures show it (`running`, `down`…).
pub fn state_name<T: std::fmt::Debug>(v: T) -> String {
    format!("{v:?}").to_lowercase()
}

/// Per service id: live, running tasks of the service's current spec.
pub fn updated_by_service(store: &Store) -> BTreeMap<&str, u64> {
    let versions: BTreeMap<&str, u64> = store.list_services().map(|s| (s.id.as_str(), s.spec_version)).collect();
    let mut updated: BTreeMap<&str, u64> = BTreeMap::new();
    for o in store.list(Kind::Task) {
        if let Object::Task(t) = o {
            if t.is_live() && t.status.state == TaskState::Running && versions.get(t.service_id.as_str()) == Some(&t.spec_version) {
                *updated.entry(t.service_id.as_str()).or_default() += 1;
            }
        }
    }
    updated
}

/// The figures of `store`.
pub fn of(store: &Store) -> StoreFigures {
    let mut f = StoreFigures::default();
    for o in store.list(Kind::Task) {
        if let Object::Task(t) = o {
            if t.is_live() || t.status.state <= TaskState::Running {
                *f.tasks.entry(state_name(t.status.state)).or_default() += 1;
            }
            if t.is_live() && t.node_id.is_empty() && t.status.state <= TaskState::Pending {
                f.pending += 1;
            }
        }
    }
    for st in [NodeState::Unknown, NodeState::Down, NodeState::Ready, NodeState::Disconnected] {
        f.nodes.insert(state_name(st), 0);
    }
    for o in store.list(Kind::Node) {
        if let Object::Node(n) = o {
            *f.nodes.entry(state_name(n.status.state)).or_default() += 1;
        }
    }
    let statuses = service_statuses(store);
    let updated = updated_by_service(store);
    f.services = store
        .list_services()
        .map(|svc| {
            let st = statuses.get(svc.id.as_str()).cloned().unwrap_or_default();
            ServiceFigures {
                name: svc.spec.annotations.name.clone(),
                desired: st.desired_tasks,
                running: st.running_tasks,
                updating: svc.update_status.as_ref().is_some_and(|u| matches!(u.state, UpdateState::Updating | UpdateState::RollbackStarted)),
                updated: updated.get(svc.id.as_str()).copied().unwrap_or(0),
            }
        })
        .collect();
    f.services.sort_by(|a, b| a.name.cmp(&b.name));
    f
}

#[cfg(test)]
mod tests;

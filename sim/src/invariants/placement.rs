//! Placement safety: every assignment the leader commits is one the filters allow *at that
//! moment* — the node exists, is READY and active (global tasks: not drained), the task's
//! constraints match it — and no node's reservations exceed its capacity or its replicas of a
//! service exceed `max_replicas`. Checked on each committed entry (once per index), against the
//! store as the entry left it.

use shoal_core::constraint::Constraint;
use shoal_core::model::{NodeAvailability, NodeState, Object, TaskState};
use shoal_core::store::{Event, Store};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct Placement {
    checked_up_to: u64,
}

impl Placement {
    pub fn committed(&mut self, index: u64, events: &[Event], store: &Store) -> Result<(), String> {
        if index <= self.checked_up_to {
            return Ok(());
        }
        self.checked_up_to = index;
        let mut touched = BTreeSet::new();
        for e in events {
            // An assignment is a task reaching ASSIGNED: by an update, or in the transaction
            // that created it (one leader pass may create, allocate and schedule a task).
            let b = match e {
                Event::Updated { old: Object::Task(a), new: Object::Task(b) }
                    if b.status.state == TaskState::Assigned && a.status.state < TaskState::Assigned => b,
                Event::Created(Object::Task(b)) if b.status.state == TaskState::Assigned => b,
                _ => continue,
            };
            touched.insert(b.node_id.clone());
            let Some(Object::Node(n)) = store.get(shoal_core::model::Kind::Node, &b.node_id) else {
                return Err(format!("task {} assigned to unknown node {}", b.id, b.node_id));
            };
            let host = n.description.as_ref().map(|d| d.hostname.as_str()).unwrap_or(&n.id);
            if n.status.state != NodeState::Ready {
                return Err(format!("task {} of {} assigned to node {host} whose status is {:?}", b.id, b.service_name, n.status.state));
            }
            if n.spec.availability != NodeAvailability::Active {
                return Err(format!("task {} of {} assigned to node {host} with availability {:?}", b.id, b.service_name, n.spec.availability));
            }
            let cs = Constraint::parse_all(&b.spec.placement.constraints).map_err(|e| format!("task {}: {e}", b.id))?;
            if let Some(c) = cs.iter().find(|c| !c.matches(n)) {
                return Err(format!("task {} of {} assigned to node {host}, which fails its constraint {c:?}", b.id, b.service_name));
            }
        }
        for node in touched {
            let Some(Object::Node(n)) = store.get(shoal_core::model::Kind::Node, &node) else { continue };
            let cap = n.description.as_ref().map(|d| d.resources.clone()).unwrap_or_default();
            let (mut cpu, mut mem) = (0i64, 0i64);
            let mut per_service: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
            for t in store.tasks_on_node(&node).filter(|t| t.holds_resources()) {
                if let Some(r) = &t.spec.resources.reservations {
                    cpu += r.nano_cpus;
                    mem += r.memory_bytes;
                }
                let e = per_service.entry(&t.service_name).or_default();
                e.0 += 1;
                e.1 = t.spec.placement.max_replicas;
            }
            if mem > cap.memory_bytes && mem > 0 {
                return Err(format!("node {node}: reserved memory {mem} exceeds its capacity {}", cap.memory_bytes));
            }
            if cpu > cap.nano_cpus && cpu > 0 {
                return Err(format!("node {node}: reserved CPU {cpu} exceeds its capacity {}", cap.nano_cpus));
            }
            if let Some((s, (n, max))) = per_service.iter().find(|(_, (n, max))| *max > 0 && n > max) {
                return Err(format!("node {node}: {n} tasks of {s} exceed max-replicas-per-node {max}"));
            }
        }
        Ok(())
    }
}

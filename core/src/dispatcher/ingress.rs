//! The routing mesh's table (pure): every published ingress port of the swarm and the running
//! tasks behind it, as each node's mesh proxy needs it.
//!
//! Swarm's nodes learn the ingress backends by gossip over the ingress overlay (networkdb);
//! Shoal's Docker runtime has no overlay, so the leader derives the table from the store and
//! every node long-polls it (`Dispatcher.Ingress`). The simulator does not use it: its mesh is
//! a model with gossip delays (sim/src/mesh.rs).
//!
//! Input: the store (services' allocated ports, tasks with the addresses their agents
//! reported, nodes' states). Output: an [`IngressTable`] and its version digest.
//!
//! Rules: a port is in the table while a service publishes it in ingress mode (with no
//! backend if no task of the service runs: the port stays bound, as swarm keeps a service's
//! published port while the service exists); a backend is a task desired and observed
//! RUNNING (so, with a healthcheck, healthy: the agent reports RUNNING after a probe passed)
//! on a node not down, with the address its agent reported for that port. A task being
//! stopped leaves the table when the orchestrator lowers its desired state, before its agent
//! stops it. Invariants: ports sorted by (port, protocol), backends by task id; the version is a
//! digest of the whole table (never 0).

use crate::model::{Kind, NodeState, Object, PublishMode, TaskState};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressTable {
    pub ports: Vec<IngressPort>,
}

/// One published port and where requests to it go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressPort {
    pub published_port: u32,
    /// "tcp" or "udp".
    pub protocol: String,
    pub service_id: String,
    pub service_name: String,
    pub backends: Vec<IngressBackend>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressBackend {
    pub task_id: String,
    /// `ip:port`, as the task's agent reported it.
    pub addr: String,
}

fn proto_of(p: &str) -> &str {
    if p.is_empty() {
        "tcp"
    } else {
        p
    }
}

impl IngressTable {
    /// The table the store describes.
    pub fn from_store(store: &Store) -> IngressTable {
        // (published port, protocol) → entry.
        let mut ports: BTreeMap<(u32, String), IngressPort> = BTreeMap::new();
        let mut by_service: BTreeMap<&str, Vec<(u32, String)>> = BTreeMap::new();
        for s in store.list_services() {
            for p in s.endpoint_ports.iter().filter(|p| p.publish_mode == PublishMode::Ingress && p.published_port != 0) {
                let key = (p.published_port, proto_of(&p.protocol).to_string());
                by_service.entry(s.id.as_str()).or_default().push(key.clone());
                ports.entry(key.clone()).or_insert_with(|| IngressPort {
                    published_port: key.0,
                    protocol: key.1.clone(),
                    service_id: s.id.clone(),
                    service_name: s.spec.annotations.name.clone(),
                    backends: Vec::new(),
                });
            }
        }
        for o in store.list(Kind::Task) {
            let Object::Task(t) = o else { continue };
            if t.desired_state != TaskState::Running || t.status.state != TaskState::Running || !by_service.contains_key(t.service_id.as_str()) {
                continue;
            }
            let node_up = matches!(store.get(Kind::Node, &t.node_id), Some(Object::Node(n)) if n.status.state != NodeState::Down);
            if !node_up {
                continue;
            }
            // The task's own ports (an update may have changed the target port since).
            for p in t.endpoint_ports.iter().filter(|p| p.publish_mode == PublishMode::Ingress && p.published_port != 0) {
                let proto = proto_of(&p.protocol);
                let Some(entry) = ports.get_mut(&(p.published_port, proto.to_string())) else { continue };
                if entry.service_id != t.service_id {
                    continue;
                }
                let bound = t.status.ingress.iter().find(|b| b.target_port == p.target_port && proto_of(&b.protocol) == proto);
                if let Some(b) = bound.filter(|b| !b.addr.is_empty()) {
                    entry.backends.push(IngressBackend { task_id: t.id.clone(), addr: b.addr.clone() });
                }
            }
        }
        // Tasks come in id order, so each port's backends are sorted already.
        IngressTable { ports: ports.into_values().collect() }
    }

    /// A digest of the table (never 0, the "nothing yet" version).
    pub fn version(&self) -> u64 {
        let bytes = serde_json::to_vec(self).expect("the table serialises");
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IngressBinding, Node, NodeStatus, PortConfig, Service, Task, TaskStatus};
    use crate::store::{Action, Transaction};

    fn port(published: u32, target: u32, mode: PublishMode) -> PortConfig {
        PortConfig { protocol: "tcp".into(), target_port: target, published_port: published, publish_mode: mode }
    }

    fn task(id: &str, service: &str, node: &str, state: TaskState, addr: &str) -> Task {
        let mut t = Task { id: id.into(), service_id: service.into(), node_id: node.into(), desired_state: TaskState::Running, ..Default::default() };
        t.endpoint_ports = vec![port(8080, 80, PublishMode::Ingress)];
        t.status = TaskStatus { state, ..Default::default() };
        if !addr.is_empty() {
            t.status.ingress = vec![IngressBinding { protocol: "tcp".into(), target_port: 80, addr: addr.into() }];
        }
        t
    }

    fn store(objects: Vec<Object>) -> Store {
        let mut s = Store::new();
        let actions = objects.into_iter().map(Action::Create).collect();
        s.apply(1, &Transaction { timestamp_ms: 0, actions }).unwrap();
        s
    }

    #[test]
    fn a_port_lists_the_running_tasks_of_its_service_on_nodes_not_down() {
        let mut web = Service { id: "s1".into(), ..Default::default() };
        web.spec.annotations.name = "web".into();
        web.endpoint_ports = vec![port(8080, 80, PublishMode::Ingress), port(9090, 90, PublishMode::Host)];
        let up = |id: &str| Object::Node(Node { id: id.into(), status: NodeStatus { state: NodeState::Ready, ..Default::default() }, ..Default::default() });
        let down = Object::Node(Node { id: "n3".into(), status: NodeStatus { state: NodeState::Down, ..Default::default() }, ..Default::default() });
        let mut stopping = task("t4", "s1", "n1", TaskState::Running, "10.0.0.1:30004");
        stopping.desired_state = TaskState::Shutdown;
        let s = store(vec![
            Object::Service(web),
            up("n1"),
            up("n2"),
            down,
            Object::Task(task("t1", "s1", "n1", TaskState::Running, "10.0.0.1:30001")),
            Object::Task(task("t2", "s1", "n2", TaskState::Running, "10.0.0.2:30002")),
            Object::Task(task("t3", "s1", "n3", TaskState::Running, "10.0.0.3:30003")),
            Object::Task(stopping),
            Object::Task(task("t5", "s1", "n2", TaskState::Starting, "")),
            Object::Task(task("t6", "s1", "n2", TaskState::Running, "")),
        ]);
        let table = IngressTable::from_store(&s);
        assert_eq!(table.ports.len(), 1, "host-mode ports are not the mesh's");
        let p = &table.ports[0];
        assert_eq!((p.published_port, p.protocol.as_str(), p.service_name.as_str()), (8080, "tcp", "web"));
        let backends: Vec<(&str, &str)> = p.backends.iter().map(|b| (b.task_id.as_str(), b.addr.as_str())).collect();
        assert_eq!(backends, vec![("t1", "10.0.0.1:30001"), ("t2", "10.0.0.2:30002")]);
        assert_ne!(table.version(), 0);
    }

    #[test]
    fn a_published_port_without_running_tasks_stays_in_the_table_and_the_version_follows_changes() {
        let mut web = Service { id: "s1".into(), ..Default::default() };
        web.spec.annotations.name = "web".into();
        web.endpoint_ports = vec![port(8080, 80, PublishMode::Ingress)];
        let empty = IngressTable::from_store(&store(vec![Object::Service(web.clone())]));
        assert_eq!(empty.ports.len(), 1);
        assert!(empty.ports[0].backends.is_empty());
        let node = Object::Node(Node { id: "n1".into(), ..Default::default() });
        let one = IngressTable::from_store(&store(vec![Object::Service(web), node, Object::Task(task("t1", "s1", "n1", TaskState::Running, "10.0.0.1:1"))]));
        assert_eq!(one.ports[0].backends.len(), 1);
        assert_ne!(empty.version(), one.version());
        assert_eq!(IngressTable::default().ports.len(), 0);
    }
}

//! A twin: a simulated swarm shaped like a live one, from the file `shoal snapshot -o` wrote
//! (`shoal-sim run SCENARIO --from-snapshot FILE`, or `from_snapshot = "FILE"` in a scenario).
//!
//! Owns the mapping from a snapshot's store to the machines the simulator builds: one machine
//! per node, named by its hostname, with the node's id, raft id, role, labels, resources and
//! platform; its managers start from the store itself (every manager's disk is seeded with the
//! snapshot at its raft index, [`shoal_core::node::raft::seed_disk`]), so services, tasks,
//! networks and placements are the swarm's byte for byte, not re-created. Nodes the swarm saw
//! down start powered off (a `restart NODE` step powers one on). Each machine's containers at
//! first boot are its tasks that ran in the swarm, so the agents adopt them instead of
//! reporting them lost.
//!
//! What the file does not hold is made up, and said so in the trace: the join tokens (the
//! simulator's own, from the seed), every machine's address, and the clocks, which start at
//! the snapshot's latest recorded time (core's clock epoch offset) so that the store's
//! deadlines (restart delays, update monitors, heartbeats) mean what they meant in the swarm.
//!
//! Invariant: the twin's store at start has the snapshot's shape hash
//! ([`shoal_core::plan::snapshot::shape_hash`]); the runner checks it.

use shoal_core::model::{Kind, NodeDescription, NodeRole, NodeState, Object, Task, TaskState};
use shoal_core::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A loaded snapshot and the machines it calls for.
#[derive(Debug)]
pub struct Twin {
    /// The file, as given (for the banner and the reproduce command).
    pub file: String,
    pub store: Arc<Store>,
    /// The snapshot's shape hash, which the twin's store must have at start.
    pub shape_hash: u64,
    /// When the swarm was last seen (ms since the epoch): the twin's clocks start there.
    pub taken_at_ms: u64,
    pub machines: Vec<TwinMachine>,
}

impl PartialEq for Twin {
    fn eq(&self, other: &Twin) -> bool {
        self.file == other.file && self.shape_hash == other.shape_hash && self.store.last_index() == other.store.last_index()
    }
}

/// One node of the snapshot as a simulated machine.
#[derive(Debug, Clone, PartialEq)]
pub struct TwinMachine {
    /// The name steps use: the node's hostname (made unique, see [`machine_names`]).
    pub name: String,
    pub node_id: String,
    pub raft_id: u64,
    pub manager: bool,
    /// The swarm saw it down: the machine starts powered off.
    pub down: bool,
    pub description: NodeDescription,
    pub labels: BTreeMap<String, String>,
}

/// Why a snapshot cannot become a twin.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    #[error("cannot read {file}: {source}")]
    Read { file: String, source: std::io::Error },
    #[error("{file} is not a snapshot `shoal snapshot -o` wrote: {source}")]
    NotASnapshot { file: String, source: shoal_core::store::StoreError },
    #[error("{file} holds no manager node: a twin needs the swarm's managers (take the snapshot with `shoal snapshot -o FILE` on a manager of a running swarm)")]
    NoManager { file: String },
}

impl Twin {
    pub fn load(file: &str) -> Result<Twin, TwinError> {
        let bytes = std::fs::read(file).map_err(|source| TwinError::Read { file: file.into(), source })?;
        let store = Store::restore(&bytes).map_err(|source| TwinError::NotASnapshot { file: file.into(), source })?;
        Twin::from_store(file, store)
    }

    pub fn from_store(file: &str, store: Store) -> Result<Twin, TwinError> {
        let machines = machines(&store);
        if !machines.iter().any(|m| m.manager) {
            return Err(TwinError::NoManager { file: file.into() });
        }
        Ok(Twin {
            file: file.into(),
            shape_hash: shoal_core::plan::snapshot::shape_hash(&store),
            taken_at_ms: shoal_core::plan::snapshot::latest_time_ms(&store),
            store: Arc::new(store),
            machines,
        })
    }

    /// The tasks whose containers run on `node_id` when its machine first boots: assigned
    /// there, still desired running, and started in the swarm.
    pub fn running_on(&self, node_id: &str) -> Vec<Task> {
        self.store
            .tasks_on_node(node_id)
            .filter(|t| t.is_live() && (TaskState::Starting..=TaskState::Running).contains(&t.status.state))
            .cloned()
            .collect()
    }

    /// Whether the swarm has overlay networks of its own (not only `ingress`): then the
    /// simulated agents poll the networks' table.
    pub fn uses_networks(&self) -> bool {
        self.store.list(Kind::Network).any(|o| matches!(o, Object::Network(n) if !n.spec.ingress))
    }

    /// What the banner says about the twin.
    pub fn summary(&self) -> String {
        let count = |k: Kind| self.store.list(k).count();
        format!(
            "twin of {}: raft index {}, {} nodes ({} managers, {} down), {} services, {} tasks, shape hash {:016x}; \
             made up: join tokens (from the seed), addresses; clocks start at the snapshot's latest time {} ms",
            self.file,
            self.store.last_index(),
            self.machines.len(),
            self.machines.iter().filter(|m| m.manager).count(),
            self.machines.iter().filter(|m| m.down).count(),
            count(Kind::Service),
            count(Kind::Task),
            self.shape_hash,
            self.taken_at_ms,
        )
    }
}

/// The machines, in the store's node order (by id): managers by their raft id, workers too
/// (a worker promoted in the twin keeps the id the swarm gave it).
fn machines(store: &Store) -> Vec<TwinMachine> {
    let nodes: Vec<&shoal_core::model::Node> = store.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect();
    let names = machine_names(&nodes);
    let mut used: BTreeSet<u64> = nodes.iter().map(|n| n.raft_id).filter(|r| *r != 0).collect();
    // A node without a raft id (none in a swarm Shoal made) gets one no node uses.
    let mut next_free = 1u64;
    nodes
        .iter()
        .zip(names)
        .map(|(n, name)| {
            let raft_id = if n.raft_id != 0 {
                n.raft_id
            } else {
                while used.contains(&next_free) {
                    next_free += 1;
                }
                used.insert(next_free);
                next_free
            };
            let description = n.description.clone().unwrap_or_else(|| NodeDescription { hostname: name.clone(), ..Default::default() });
            TwinMachine {
                name,
                node_id: n.id.clone(),
                raft_id,
                manager: n.role == NodeRole::Manager,
                down: n.status.state == NodeState::Down,
                description,
                labels: n.spec.annotations.labels.clone(),
            }
        })
        .collect()
}

/// Step-friendly names: the hostname; a second node of one hostname (a machine that left and
/// joined again is two nodes) or a hostname that is a selector word gets `-` and the start of
/// its id.
fn machine_names(nodes: &[&shoal_core::model::Node]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    nodes
        .iter()
        .map(|n| {
            let host = n.description.as_ref().map(|d| d.hostname.clone()).filter(|h| !h.trim().is_empty() && !h.contains(char::is_whitespace));
            let base = host.unwrap_or_else(|| n.id.chars().take(12).collect());
            let name = if seen.contains(&base) || crate::scenario::RESERVED.contains(&base.as_str()) {
                format!("{base}-{}", n.id.chars().take(6).collect::<String>())
            } else {
                base
            };
            seen.insert(name.clone());
            name
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::model::{Node, NodeStatus, Object};

    fn node(id: &str, host: &str, role: NodeRole, raft_id: u64, state: NodeState) -> Object {
        Object::Node(Node {
            id: id.into(),
            role,
            raft_id,
            description: Some(NodeDescription { hostname: host.into(), ..Default::default() }),
            status: NodeStatus { state, ..Default::default() },
            ..Default::default()
        })
    }

    /// Every node becomes a machine named by its hostname, twice-used hostnames and selector
    /// words made unique; raft ids kept, a missing one made unique; down nodes marked.
    #[test]
    fn machines_follow_the_snapshots_nodes() {
        let store = Store::from_objects(
            9,
            vec![
                node("a1", "m1", NodeRole::Manager, 5, NodeState::Ready),
                node("b2", "w1", NodeRole::Worker, 0, NodeState::Down),
                node("c3", "w1", NodeRole::Worker, 1, NodeState::Ready),
                node("d4", "leader", NodeRole::Worker, 2, NodeState::Ready),
            ],
        )
        .unwrap();
        let t = Twin::from_store("x.snap", store).unwrap();
        let got: Vec<(&str, u64, bool, bool)> = t.machines.iter().map(|m| (m.name.as_str(), m.raft_id, m.manager, m.down)).collect();
        assert_eq!(got, vec![("m1", 5, true, false), ("w1", 3, false, true), ("w1-c3", 1, false, false), ("leader-d4", 2, false, false)]);
    }

    /// A snapshot without a manager cannot start a swarm: said so, with what to do.
    #[test]
    fn a_snapshot_without_managers_is_refused() {
        let store = Store::from_objects(1, vec![node("a", "w", NodeRole::Worker, 1, NodeState::Ready)]).unwrap();
        let e = Twin::from_store("x.snap", store).unwrap_err();
        assert!(matches!(e, TwinError::NoManager { .. }), "{e}");
    }
}

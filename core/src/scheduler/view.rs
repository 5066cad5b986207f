use super::{Needs, FAILURE_WINDOW_MS};
use crate::model::{Node, Resources, Service, Task, TaskState};
use crate::store::IdIndex;
use std::collections::{BTreeMap, BTreeSet};

/// What the scheduler knows about one node: the node (borrowed from the pass: a view built
/// per pass cloned every node, most of a what-if plan's scheduling time) and what its tasks
/// use.
#[derive(Debug, Clone)]
pub struct NodeInfo<'a> {
    pub node: &'a Node,
    /// Sum of the reservations of the tasks that hold resources here.
    pub reserved: Resources,
    pub total_tasks: u64,
    /// service id → tasks of that service holding resources here.
    pub per_service: BTreeMap<String, u64>,
    /// service id → failures in the last [`FAILURE_WINDOW_MS`].
    pub failures: BTreeMap<String, u32>,
    pub host_ports: BTreeSet<u32>,
}

impl<'a> NodeInfo<'a> {
    pub fn new(node: &'a Node) -> NodeInfo<'a> {
        NodeInfo {
            node,
            reserved: Resources::default(),
            total_tasks: 0,
            per_service: BTreeMap::new(),
            failures: BTreeMap::new(),
            host_ports: BTreeSet::new(),
        }
    }

    pub fn capacity(&self) -> Resources {
        self.node.description.as_ref().map(|d| d.resources.clone()).unwrap_or_default()
    }

    pub fn service_count(&self, service_id: &str) -> u64 {
        self.per_service.get(service_id).copied().unwrap_or(0)
    }

    pub fn recent_failures(&self, service_id: &str) -> u32 {
        self.failures.get(service_id).copied().unwrap_or(0)
    }

    /// Reserved share of the node's scarcer resource, in thousandths (binpack's fullness).
    pub fn fullness_permille(&self) -> u64 {
        self.fullness_permille_after(0, 0)
    }

    pub fn fullness_permille_after(&self, nano_cpus: i64, memory_bytes: i64) -> u64 {
        let cap = self.capacity();
        let share = |used: i64, cap: i64| if cap > 0 { ((used.max(0) as u128 * 1000) / cap as u128) as u64 } else { 0 };
        share(self.reserved.nano_cpus + nano_cpus, cap.nano_cpus)
            .max(share(self.reserved.memory_bytes + memory_bytes, cap.memory_bytes))
    }

    /// Accounts a task that holds resources here.
    fn hold(&mut self, t: &Task, host_ports: impl Iterator<Item = u32>) {
        if let Some(r) = &t.spec.resources.reservations {
            self.reserved.nano_cpus += r.nano_cpus;
            self.reserved.memory_bytes += r.memory_bytes;
            for (k, v) in &r.generic {
                *self.reserved.generic.entry(k.clone()).or_default() += v;
            }
        }
        self.total_tasks += 1;
        match self.per_service.get_mut(&t.service_id) {
            Some(n) => *n += 1,
            None => {
                self.per_service.insert(t.service_id.clone(), 1);
            }
        }
        self.host_ports.extend(host_ports);
    }

    /// Accounts a task just placed here by the scheduler.
    pub(super) fn add(&mut self, t: &Task, needs: &Needs) {
        self.hold(t, needs.host_ports.iter().copied());
    }
}

/// The scheduler's picture of the cluster: every node with what its tasks use, in node id
/// order (the order ties are broken in).
#[derive(Debug, Clone, Default)]
pub struct ClusterView<'a> {
    pub nodes: Vec<NodeInfo<'a>>,
    index: IdIndex<'a, usize>,
}

impl<'a> ClusterView<'a> {
    /// Builds the view from nodes and every task; `now_ms` dates recent failures.
    pub fn build<'t>(
        nodes: impl IntoIterator<Item = &'a Node>,
        tasks: impl IntoIterator<Item = &'t Task>,
        services: &BTreeMap<String, &Service>,
        now_ms: u64,
    ) -> ClusterView<'a> {
        let mut nodes: Vec<NodeInfo> = nodes.into_iter().map(NodeInfo::new).collect();
        nodes.sort_by(|a, b| a.node.id.cmp(&b.node.id));
        let index = IdIndex::new(nodes.iter().enumerate().map(|(i, n)| (n.node.id.as_str(), i)));
        let mut view = ClusterView { nodes, index };
        for t in tasks {
            let Some(i) = view.index.get(&t.node_id) else { continue };
            if t.holds_resources() {
                let ports = super::host_ports(services.get(&t.service_id).copied());
                view.nodes[i].hold(t, ports.into_iter());
            } else if t.status.state == TaskState::Failed && t.status.timestamp_ms + FAILURE_WINDOW_MS >= now_ms {
                *view.nodes[i].failures.entry(t.service_id.clone()).or_default() += 1;
            }
        }
        view
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id)
    }
}

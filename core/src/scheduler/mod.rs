//! Scheduler: PENDING → ASSIGNED.
//!
//! Owns the choice of a node for every pending task. Input: the nodes, the tasks that hold
//! resources or recently failed (a [`ClusterView`]), the pending tasks, the services they
//! belong to, the strategy and a seeded RNG. Output: one [`Decision`] per pending task — a node,
//! or why none fits, in swarm's words (`no suitable node (2 nodes not available for new tasks;
//! 1 node has insufficient memory)`).
//!
//! Filters, in swarmkit's order: Ready (status READY and availability active), Resources (CPU,
//! memory and generic reservations against the node's capacity), Constraints, Platform,
//! HostPort (host-mode published ports), MaxReplicasPerNode. Identical tasks (same service and
//! spec version) are placed as one batch: the static filters run once per batch, and a heap
//! orders the remaining nodes by the strategy, so a placement costs O(log nodes).
//!
//! Strategies: spread (fewest tasks of this service, then fewest tasks overall; nodes with ≥5
//! failures of this service in the last 5 minutes last), binpack (fullest node that fits
//! first), random (seeded). Placement preferences (`spread=node.labels.zone`, nested) split the
//! nodes into a tree; each task goes down the branch holding the fewest tasks of its service.
//!
//! Invariants: a decision never puts a task on a node that fails a filter at that moment
//! (debug-asserted); the same inputs and RNG state give the same decisions.

pub mod rebalance;
mod view;

pub use view::{ClusterView, NodeInfo};

use crate::constraint::{self, Constraint, Key};
use crate::model::{NodeAvailability, NodeState, PublishMode, SchedulerStrategy, Service, Task};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A node with this many recent failures of a service is tried last for that service.
pub const MAX_RECENT_FAILURES: u32 = 5;
/// How far back a failure counts as recent.
pub const FAILURE_WINDOW_MS: u64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Assign { task_id: String, node_id: String },
    /// No node fits; `message` explains why (the task stays PENDING with it).
    NoNode { task_id: String, message: String },
}

/// Why a node was rejected for a task: one variant per filter (and per resource).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Reason {
    NotReady,
    Memory,
    Cpu,
    Generic(String),
    Constraints,
    Platform,
    HostPort,
    MaxReplicas,
}

impl Reason {
    fn explain(&self, n: usize) -> String {
        let nodes = if n == 1 { "1 node".to_string() } else { format!("{n} nodes") };
        let has = if n == 1 { "has" } else { "have" };
        match self {
            Reason::NotReady => format!("{nodes} not available for new tasks"),
            Reason::Memory => format!("{nodes} {has} insufficient memory"),
            Reason::Cpu => format!("{nodes} {has} insufficient CPU"),
            Reason::Generic(k) => format!("{nodes} {has} insufficient {k}"),
            Reason::Constraints => format!("scheduling constraints not satisfied on {nodes}"),
            Reason::Platform => format!("unsupported platform on {nodes}"),
            Reason::HostPort => format!("host-mode port already in use on {nodes}"),
            Reason::MaxReplicas => format!("max replicas per node limit exceeded on {nodes}"),
        }
    }
}

/// The message of a task no node fits, from how many nodes each filter rejected.
fn no_suitable_node(reasons: &BTreeMap<Reason, usize>) -> String {
    if reasons.is_empty() {
        return "no suitable node (no nodes in the cluster)".into();
    }
    let parts: Vec<String> = reasons.iter().map(|(r, n)| r.explain(*n)).collect();
    format!("no suitable node ({})", parts.join("; "))
}

/// The host-mode ports a service's tasks publish (each takes that port on its node).
fn host_ports(service: Option<&Service>) -> Vec<u32> {
    service
        .and_then(|s| s.spec.endpoint.as_ref())
        .map(|e| {
            e.ports
                .iter()
                .filter(|p| p.publish_mode == PublishMode::Host && p.published_port != 0)
                .map(|p| p.published_port)
                .collect()
        })
        .unwrap_or_default()
}

/// What a batch of identical tasks needs from a node.
struct Needs {
    service_id: String,
    nano_cpus: i64,
    memory_bytes: i64,
    generic: Vec<(String, i64)>,
    constraints: Vec<Constraint>,
    platforms: Vec<crate::model::Platform>,
    host_ports: Vec<u32>,
    max_replicas: u64,
    preferences: Vec<Key>,
}

impl Needs {
    fn of(task: &Task, service: Option<&Service>) -> Needs {
        let r = task.spec.resources.reservations.clone().unwrap_or_default();
        let host_ports = host_ports(service);
        let placement = &task.spec.placement;
        Needs {
            service_id: task.service_id.clone(),
            nano_cpus: r.nano_cpus,
            memory_bytes: r.memory_bytes,
            generic: r.generic.into_iter().filter(|(_, v)| *v > 0).collect(),
            // Specs are validated on the way in; a constraint that no longer parses matches no
            // node rather than every node.
            constraints: Constraint::parse_all(&placement.constraints).unwrap_or_else(|_| {
                vec![Constraint { key: Key::Id, equal: true, value: "\u{0}unparseable".into() }]
            }),
            platforms: placement.platforms.clone(),
            host_ports,
            max_replicas: placement.max_replicas,
            preferences: placement.preferences.iter().filter_map(|p| constraint::parse_preference(p).ok()).collect(),
        }
    }

    /// Filters that do not change while a batch is placed.
    fn static_reject(&self, n: &NodeInfo) -> Option<Reason> {
        // Mutant: a node that is down still passes the Ready filter.
        let ready = n.node.status.state == NodeState::Ready
            || (crate::mutant::active("assign-to-down-node") && n.node.status.state == NodeState::Down);
        if !ready || n.node.spec.availability != NodeAvailability::Active {
            return Some(Reason::NotReady);
        }
        if !constraint::all_match(&self.constraints, n.node) {
            return Some(Reason::Constraints);
        }
        if !self.platforms.is_empty() {
            let p = n.node.description.as_ref().map(|d| d.platform.clone()).unwrap_or_default();
            let ok = self.platforms.iter().any(|w| {
                (w.os.is_empty() || w.os.eq_ignore_ascii_case(&p.os))
                    && (w.architecture.is_empty() || w.architecture.eq_ignore_ascii_case(&p.architecture))
            });
            if !ok {
                return Some(Reason::Platform);
            }
        }
        None
    }

    /// Filters that placing tasks of the batch can change: resources, ports, replicas.
    fn dynamic_reject(&self, n: &NodeInfo) -> Option<Reason> {
        let cap = n.capacity();
        if self.memory_bytes > 0 && n.reserved.memory_bytes + self.memory_bytes > cap.memory_bytes {
            return Some(Reason::Memory);
        }
        if self.nano_cpus > 0 && n.reserved.nano_cpus + self.nano_cpus > cap.nano_cpus {
            return Some(Reason::Cpu);
        }
        for (k, v) in &self.generic {
            let used = n.reserved.generic.get(k).copied().unwrap_or(0);
            if used + v > cap.generic.get(k).copied().unwrap_or(0) {
                return Some(Reason::Generic(k.clone()));
            }
        }
        if self.host_ports.iter().any(|p| n.host_ports.contains(p)) {
            return Some(Reason::HostPort);
        }
        if self.max_replicas > 0 && n.service_count(&self.service_id) >= self.max_replicas {
            return Some(Reason::MaxReplicas);
        }
        None
    }
}

/// Heap key of a node for a strategy: the smallest key is tried first.
fn rank(strategy: SchedulerStrategy, service_id: &str, n: &NodeInfo, index: usize) -> (bool, u64, u64, usize) {
    let failing = n.recent_failures(service_id) >= MAX_RECENT_FAILURES;
    match strategy {
        SchedulerStrategy::Spread => (failing, n.service_count(service_id), n.total_tasks, index),
        // Fullest first: most reserved (in thousandths of capacity), then most tasks.
        SchedulerStrategy::Binpack => (failing, u64::MAX - n.fullness_permille(), u64::MAX - n.total_tasks, index),
        // Random draws among fitting nodes without a heap order (see `place_random`).
        SchedulerStrategy::Random => (failing, 0, 0, index),
    }
}

/// One branch of the placement-preference tree: the nodes under it and the tasks of the
/// service it holds.
struct Branch {
    service_tasks: u64,
    children: BTreeMap<String, Branch>,
    /// Leaf only: the nodes, ordered by the strategy.
    heap: BinaryHeap<Reverse<(bool, u64, u64, usize)>>,
    exhausted: bool,
}

impl Branch {
    fn new() -> Branch {
        Branch { service_tasks: 0, children: BTreeMap::new(), heap: BinaryHeap::new(), exhausted: false }
    }
}

/// Decides a node for each pending task. `pending` may hold tasks of many services; tasks of
/// one (service, spec version) are placed together. `view` is updated with every placement,
/// so a caller can schedule several rounds against it.
pub fn schedule(
    view: &mut ClusterView,
    pending: &[&Task],
    services: &BTreeMap<String, &Service>,
    strategy: SchedulerStrategy,
    rng: &mut ChaCha8Rng,
) -> Vec<Decision> {
    // Batches of identical tasks by service name, then in slot order: an order that task ids
    // (random) do not decide, so the same state places the same way whatever ids its tasks
    // got. A what-if plan (core/src/plan) relies on it: its tasks' ids are not the ones the
    // write will make, and the first batch placed shapes where the next ones go.
    let mut batches: BTreeMap<(&str, &str, u64), Vec<&Task>> = BTreeMap::new();
    for t in pending {
        batches.entry((t.service_name.as_str(), t.service_id.as_str(), t.spec_version)).or_default().push(t);
    }
    let mut out = Vec::with_capacity(pending.len());
    for (_, mut tasks) in batches {
        tasks.sort_by(|a, b| (a.slot, &a.id).cmp(&(b.slot, &b.id)));
        let needs = Needs::of(tasks[0], services.get(&tasks[0].service_id).copied());
        place_batch(view, &tasks, &needs, strategy, rng, &mut out);
    }
    out
}

fn place_batch(
    view: &mut ClusterView,
    tasks: &[&Task],
    needs: &Needs,
    strategy: SchedulerStrategy,
    rng: &mut ChaCha8Rng,
    out: &mut Vec<Decision>,
) {
    let mut reasons: BTreeMap<Reason, usize> = BTreeMap::new();
    let mut root = Branch::new();
    for (i, n) in view.nodes.iter().enumerate() {
        if let Some(r) = needs.static_reject(n) {
            *reasons.entry(r).or_default() += 1;
            continue;
        }
        let mut b = &mut root;
        for key in &needs.preferences {
            b = b.children.entry(constraint::preference_value(key, n.node)).or_insert_with(Branch::new);
        }
        b.heap.push(Reverse(rank(strategy, &needs.service_id, n, i)));
    }
    // Tasks of the service already in each branch.
    if !needs.preferences.is_empty() {
        for n in &view.nodes {
            let c = n.service_count(&needs.service_id);
            if c == 0 {
                continue;
            }
            let mut b = &mut root;
            for key in &needs.preferences {
                match b.children.get_mut(&constraint::preference_value(key, n.node)) {
                    Some(child) => {
                        child.service_tasks += c;
                        b = child;
                    }
                    None => break,
                }
            }
        }
    }
    for t in tasks {
        match pick(&mut root, view, needs, strategy, rng, &mut reasons) {
            Some(i) => {
                debug_assert!(needs.static_reject(&view.nodes[i]).is_none() && needs.dynamic_reject(&view.nodes[i]).is_none());
                view.nodes[i].add(t, needs);
                out.push(Decision::Assign { task_id: t.id.clone(), node_id: view.nodes[i].node.id.clone() });
            }
            None => out.push(Decision::NoNode { task_id: t.id.clone(), message: no_suitable_node(&reasons) }),
        }
    }
}

/// Walks down the tree through the branch with the fewest tasks of the service and takes the
/// best fitting node of the leaf; nodes that no longer fit leave the tree with their reason.
fn pick(
    b: &mut Branch,
    view: &ClusterView,
    needs: &Needs,
    strategy: SchedulerStrategy,
    rng: &mut ChaCha8Rng,
    reasons: &mut BTreeMap<Reason, usize>,
) -> Option<usize> {
    if b.exhausted {
        return None;
    }
    if b.children.is_empty() {
        let got = if strategy == SchedulerStrategy::Random {
            place_random(b, view, needs, rng, reasons)
        } else {
            place_ordered(b, view, needs, strategy, reasons)
        };
        match got {
            Some(_) => b.service_tasks += 1,
            None => b.exhausted = true,
        }
        return got;
    }
    loop {
        // The live child with the fewest tasks of the service (ties: label order).
        let name = b
            .children
            .iter()
            .filter(|(_, c)| !c.exhausted)
            .min_by_key(|(_, c)| c.service_tasks)
            .map(|(k, _)| k.clone());
        let Some(name) = name else {
            b.exhausted = true;
            return None;
        };
        let child = b.children.get_mut(&name).expect("child exists");
        if let Some(i) = pick(child, view, needs, strategy, rng, reasons) {
            b.service_tasks += 1;
            return Some(i);
        }
    }
}

fn place_ordered(
    b: &mut Branch,
    view: &ClusterView,
    needs: &Needs,
    strategy: SchedulerStrategy,
    reasons: &mut BTreeMap<Reason, usize>,
) -> Option<usize> {
    while let Some(Reverse(key)) = b.heap.pop() {
        let i = key.3;
        let n = &view.nodes[i];
        // Stale key: the node took tasks since it was pushed; re-rank it.
        let fresh = rank(strategy, &needs.service_id, n, i);
        if fresh != key {
            b.heap.push(Reverse(fresh));
            continue;
        }
        if let Some(r) = needs.dynamic_reject(n) {
            // Identical tasks only ever use more of the node: it stays unfit for the batch.
            *reasons.entry(r).or_default() += 1;
            continue;
        }
        // Back in with the rank it will have after this placement.
        let mut after = fresh;
        match strategy {
            SchedulerStrategy::Spread => {
                after.1 += 1;
                after.2 += 1;
            }
            _ => {
                after.2 = after.2.saturating_sub(1);
                after.1 = u64::MAX - n.fullness_permille_after(needs.nano_cpus, needs.memory_bytes);
            }
        }
        b.heap.push(Reverse(after));
        return Some(i);
    }
    None
}

fn place_random(
    b: &mut Branch,
    view: &ClusterView,
    needs: &Needs,
    rng: &mut ChaCha8Rng,
    reasons: &mut BTreeMap<Reason, usize>,
) -> Option<usize> {
    // Nodes with many recent failures only when no other fits.
    let mut nodes: Vec<(bool, usize)> = b.heap.iter().map(|Reverse(k)| (k.0, k.3)).collect();
    nodes.sort_unstable();
    while !nodes.is_empty() {
        let healthy = nodes.iter().take_while(|(f, _)| !*f).count();
        let span = if healthy > 0 { healthy } else { nodes.len() };
        let j = rng.gen_range(0..span);
        let i = nodes[j].1;
        if let Some(r) = needs.dynamic_reject(&view.nodes[i]) {
            *reasons.entry(r).or_default() += 1;
            nodes.remove(j);
            b.heap = nodes.iter().map(|(f, i)| Reverse((*f, 0, 0, *i))).collect();
            continue;
        }
        return Some(i);
    }
    None
}

#[cfg(test)]
mod tests;

/// Checks a task that already names its node (global services) against the filters on that
/// node alone, and accounts it when it fits.
pub fn check_node(view: &mut ClusterView, task: &Task, services: &BTreeMap<String, &Service>) -> Decision {
    let needs = Needs::of(task, services.get(&task.service_id).copied());
    let Some(i) = view.position(&task.node_id) else {
        return Decision::NoNode { task_id: task.id.clone(), message: format!("node {} is not in the cluster", task.node_id) };
    };
    let reason = needs.static_reject(&view.nodes[i]).or_else(|| needs.dynamic_reject(&view.nodes[i]));
    match reason {
        Some(r) => Decision::NoNode { task_id: task.id.clone(), message: no_suitable_node(&BTreeMap::from([(r, 1)])) },
        None => {
            view.nodes[i].add(task, &needs);
            Decision::Assign { task_id: task.id.clone(), node_id: task.node_id.clone() }
        }
    }
}

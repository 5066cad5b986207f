//! Rebalance (Shoal's; swarm never moves a running task: moby#24103, swarmkit#310): which
//! running tasks of a replicated service to move so that it approaches the spread the
//! scheduler would choose now, e.g. after a node joined or came back empty.
//!
//! Input: the nodes, every task, the service, `now`, the cluster's strategy. Output: the ids
//! of the tasks to move; the update controller replaces each like a task of an older spec
//! (the service's update parallelism, delay, order, monitor and failure action;
//! core/src/orchestrator/update.rs), and the scheduler places the replacements.
//!
//! How, one move at a time (at most [`MOVES_MAX`]): take the busiest node's task of the
//! highest slot, ask the scheduler itself where a replacement would go were that task gone
//! (every filter, placement preference and resource counts), and move it only if that node
//! then holds fewer of the service than the busiest one still does. The scheduler decides;
//! this only stops where moving would not improve the spread, so a balanced service moves
//! nothing and a rebalance never undoes the last one. The spread strategy only: binpack
//! packs on purpose and random has no spread to restore.
//!
//! Invariants: only running tasks of the service move, each at most once; the result is a
//! function of the store (a fixed RNG seed), so a plan shows exactly what a rebalance does.

use super::{schedule, ClusterView, Decision};
use crate::model::{Node, SchedulerStrategy, Service, ServiceMode, Task, TaskState, TaskStatus};
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet};

/// The most tasks one rebalance moves (each move costs a look at every task); a service
/// still uneven after that many moves is rebalanced again by the next request.
pub const MOVES_MAX: usize = 500;

/// The tasks of `svc` to move, in the order found.
pub fn moves(nodes: &[&Node], tasks: &[&Task], svc: &Service, services: &BTreeMap<String, &Service>, now_ms: u64, strategy: SchedulerStrategy) -> Vec<String> {
    if !matches!(svc.spec.mode, ServiceMode::Replicated { .. }) || strategy != SchedulerStrategy::Spread {
        return Vec::new();
    }
    let running: Vec<&Task> = tasks
        .iter()
        .copied()
        .filter(|t| t.service_id == svc.id && t.desired_state == TaskState::Running && t.status.state == TaskState::Running && !t.node_id.is_empty())
        .collect();
    // Per node: the service's tasks there that stay, and how many replacements it got.
    let mut on: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
    for t in &running {
        on.entry(t.node_id.as_str()).or_default().push(t);
    }
    let mut gained: BTreeMap<String, usize> = BTreeMap::new();
    let mut moved: BTreeSet<&str> = BTreeSet::new();
    let mut replacements: Vec<Task> = Vec::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x7265_6261_6c61_6e63);
    let count = |on: &BTreeMap<&str, Vec<&Task>>, gained: &BTreeMap<String, usize>, node: &str| {
        on.get(node).map_or(0, Vec::len) + gained.get(node).copied().unwrap_or(0)
    };
    while moved.len() < MOVES_MAX.min(running.len()) {
        // The busiest node (ties: the first by id) and its task of the highest slot.
        let Some((busiest, n)) = on.keys().map(|k| (*k, count(&on, &gained, k))).max_by_key(|(k, n)| (*n, std::cmp::Reverse(*k))) else { break };
        let Some(t) = on.get(busiest).and_then(|ts| ts.iter().copied().max_by_key(|t| (t.slot, t.id.as_str()))) else { break };
        // Where the scheduler would put it were it gone (and the moves so far made).
        let held: Vec<&Task> = tasks.iter().copied().filter(|x| x.id != t.id && !moved.contains(x.id.as_str())).chain(replacements.iter()).collect();
        let mut view = ClusterView::build(nodes.iter().copied(), held, services, now_ms);
        let fresh = Task { node_id: String::new(), status: TaskStatus { state: TaskState::Pending, ..Default::default() }, ..t.clone() };
        let to = match schedule(&mut view, &[&fresh], services, strategy, &mut rng).pop() {
            Some(Decision::Assign { node_id, .. }) => node_id,
            _ => break,
        };
        if count(&on, &gained, &to) + 1 >= n {
            break;
        }
        moved.insert(t.id.as_str());
        on.get_mut(busiest).expect("the busiest node has tasks").retain(|x| x.id != t.id);
        *gained.entry(to.clone()).or_default() += 1;
        replacements.push(Task { node_id: to, ..fresh });
    }
    running.iter().filter(|t| moved.contains(t.id.as_str())).map(|t| t.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NodeDescription, NodeStatus, NodeState, Resources};

    fn node(id: &str) -> Node {
        Node {
            id: id.into(),
            description: Some(NodeDescription { hostname: id.into(), resources: Resources { nano_cpus: 4_000_000_000, memory_bytes: 8 << 30, ..Default::default() }, ..Default::default() }),
            status: NodeStatus { state: NodeState::Ready, ..Default::default() },
            ..Default::default()
        }
    }

    fn task(slot: u64, node: &str) -> Task {
        Task {
            id: format!("t{slot}"),
            service_id: "s".into(),
            slot,
            node_id: node.into(),
            desired_state: TaskState::Running,
            status: TaskStatus { state: TaskState::Running, ..Default::default() },
            ..Default::default()
        }
    }

    fn service() -> Service {
        Service { id: "s".into(), spec: crate::model::ServiceSpec { mode: ServiceMode::Replicated { replicas: 6 }, ..Default::default() }, ..Default::default() }
    }

    fn moves_of(nodes: &[Node], tasks: &[Task], strategy: SchedulerStrategy) -> Vec<String> {
        let svc = service();
        let services = BTreeMap::from([("s".to_string(), &svc)]);
        moves(&nodes.iter().collect::<Vec<_>>(), &tasks.iter().collect::<Vec<_>>(), &svc, &services, 0, strategy)
    }

    /// A node back from the dead holds nothing: the two busiest nodes give it one task each,
    /// their highest slots, and the service ends 2/2/2.
    #[test]
    fn a_returned_node_gets_its_share() {
        let nodes = [node("a"), node("b"), node("c")];
        let tasks: Vec<Task> = (1..=6).map(|s| task(s, if s % 2 == 0 { "a" } else { "b" })).collect();
        assert_eq!(moves_of(&nodes, &tasks, SchedulerStrategy::Spread), vec!["t5", "t6"]);
    }

    /// A balanced service moves nothing (1 apart is as even as 7 tasks on 3 nodes get), nor
    /// does one under binpack, nor a lone task.
    #[test]
    fn balanced_binpacked_and_single_services_stay() {
        let nodes = [node("a"), node("b"), node("c")];
        let tasks: Vec<Task> = (1..=7).map(|s| task(s, ["a", "b", "c"][s as usize % 3])).collect();
        assert!(moves_of(&nodes, &tasks, SchedulerStrategy::Spread).is_empty());
        let piled: Vec<Task> = (1..=6).map(|s| task(s, "a")).collect();
        assert!(moves_of(&nodes, &piled, SchedulerStrategy::Binpack).is_empty());
        assert!(moves_of(&nodes, &piled[..1], SchedulerStrategy::Spread).is_empty());
    }

    /// Nodes the scheduler would not use (drained here) receive nothing: a service on the
    /// only two active nodes, 4 and 2, ends 3 and 3.
    #[test]
    fn only_where_the_scheduler_would_place() {
        let mut drained = node("c");
        drained.spec.availability = crate::model::NodeAvailability::Drain;
        let nodes = [node("a"), node("b"), drained];
        let tasks: Vec<Task> = (1..=6).map(|s| task(s, if s <= 4 { "a" } else { "b" })).collect();
        assert_eq!(moves_of(&nodes, &tasks, SchedulerStrategy::Spread), vec!["t4"]);
    }
}

use super::*;
use crate::model::{Node, NodeDescription, NodeRole, Resources, ResourceRequirements, Service, TaskState};
use rand::SeedableRng;

const GIB: i64 = 1 << 30;

fn node(id: &str, zone: &str, mem_gib: i64) -> Node {
    let mut n = Node { id: id.into(), role: NodeRole::Worker, ..Default::default() };
    n.status.state = NodeState::Ready;
    n.spec.annotations.labels.insert("zone".into(), zone.into());
    n.description = Some(NodeDescription {
        hostname: id.into(),
        resources: Resources { nano_cpus: 4_000_000_000, memory_bytes: mem_gib * GIB, ..Default::default() },
        ..Default::default()
    });
    n
}

fn task(id: &str, service: &str) -> Task {
    let mut t = Task { id: id.into(), service_id: service.into(), spec_version: 1, ..Default::default() };
    t.status.state = TaskState::Pending;
    t.desired_state = TaskState::Running;
    t
}

fn tasks(n: usize, service: &str) -> Vec<Task> {
    (0..n).map(|i| task(&format!("{service}-{i:03}"), service)).collect()
}

fn run(nodes: &[Node], existing: &[Task], pending: &[Task], strategy: SchedulerStrategy) -> Vec<Decision> {
    let services = BTreeMap::new();
    let mut view = ClusterView::build(nodes, existing, &services, 0);
    let p: Vec<&Task> = pending.iter().collect();
    schedule(&mut view, &p, &services, strategy, &mut ChaCha8Rng::seed_from_u64(7))
}

fn per_node(d: &[Decision]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for x in d {
        if let Decision::Assign { node_id, .. } = x {
            *m.entry(node_id.clone()).or_default() += 1;
        }
    }
    m
}

#[test]
fn spread_balances_the_service_then_total_tasks() {
    let nodes = [node("a", "x", 8), node("b", "x", 8), node("c", "x", 8)];
    // Node a already runs two tasks of another service: the first new task goes elsewhere.
    let mut other = tasks(2, "other");
    for t in &mut other {
        t.node_id = "a".into();
        t.status.state = TaskState::Running;
    }
    let d = run(&nodes, &other, &tasks(7, "web"), SchedulerStrategy::Spread);
    assert_eq!(per_node(&d), BTreeMap::from([("a".into(), 2), ("b".into(), 3), ("c".into(), 2)]));
    assert!(matches!(&d[0], Decision::Assign { node_id, .. } if node_id == "b"));
}

#[test]
fn explains_why_no_node_fits_in_swarms_words() {
    let mut down = node("a", "x", 8);
    down.status.state = NodeState::Down;
    let mut drained = node("b", "x", 8);
    drained.spec.availability = NodeAvailability::Drain;
    let small = node("c", "x", 1);
    let mut t = task("t1", "db");
    t.spec.resources = ResourceRequirements {
        reservations: Some(Resources { memory_bytes: 2 * GIB, ..Default::default() }),
        ..Default::default()
    };
    let d = run(&[down, drained, small], &[], &[t], SchedulerStrategy::Spread);
    assert_eq!(
        d,
        vec![Decision::NoNode {
            task_id: "t1".into(),
            message: "no suitable node (2 nodes not available for new tasks; 1 node has insufficient memory)".into()
        }]
    );
}

#[test]
fn reservations_never_exceed_capacity() {
    let nodes = [node("a", "x", 4), node("b", "x", 2)];
    let mut batch = tasks(4, "db");
    for t in &mut batch {
        t.spec.resources.reservations = Some(Resources { memory_bytes: 2 * GIB, ..Default::default() });
    }
    let d = run(&nodes, &[], &batch, SchedulerStrategy::Spread);
    assert_eq!(per_node(&d), BTreeMap::from([("a".into(), 2), ("b".into(), 1)]));
    assert!(matches!(&d[3], Decision::NoNode { message, .. } if message == "no suitable node (2 nodes have insufficient memory)"), "{d:?}");
}

#[test]
fn constraints_and_max_replicas_filter_nodes() {
    let nodes = [node("a", "east", 8), node("b", "west", 8), node("c", "east", 8)];
    let mut batch = tasks(5, "web");
    for t in &mut batch {
        t.spec.placement.constraints = vec!["node.labels.zone==east".into()];
        t.spec.placement.max_replicas = 2;
    }
    let d = run(&nodes, &[], &batch, SchedulerStrategy::Spread);
    assert_eq!(per_node(&d), BTreeMap::from([("a".into(), 2), ("c".into(), 2)]));
    assert_eq!(
        d[4],
        Decision::NoNode {
            task_id: "web-004".into(),
            message: "no suitable node (scheduling constraints not satisfied on 1 node; max replicas per node limit exceeded on 2 nodes)".into()
        }
    );
}

#[test]
fn placement_preference_spreads_over_zones_not_nodes() {
    // Zone a has one node, zone b three: 4 tasks go 2 + 2, as swarm's spread preference does.
    let nodes = [node("a1", "a", 8), node("b1", "b", 8), node("b2", "b", 8), node("b3", "b", 8)];
    let mut batch = tasks(4, "web");
    for t in &mut batch {
        t.spec.placement.preferences = vec!["spread=node.labels.zone".into()];
    }
    let d = run(&nodes, &[], &batch, SchedulerStrategy::Spread);
    let m = per_node(&d);
    assert_eq!(m.get("a1"), Some(&2), "{m:?}");
    assert_eq!(m.values().sum::<usize>(), 4);
}

#[test]
fn binpack_fills_the_fullest_node_first() {
    let nodes = [node("a", "x", 4), node("b", "x", 4)];
    let mut batch = tasks(3, "db");
    for t in &mut batch {
        t.spec.resources.reservations = Some(Resources { memory_bytes: 2 * GIB, ..Default::default() });
    }
    let d = run(&nodes, &[], &batch, SchedulerStrategy::Binpack);
    assert_eq!(per_node(&d), BTreeMap::from([("a".into(), 2), ("b".into(), 1)]));
    let order: Vec<&str> =
        d.iter().filter_map(|x| if let Decision::Assign { node_id, .. } = x { Some(node_id.as_str()) } else { None }).collect();
    assert_eq!(order, ["a", "a", "b"]);
}

#[test]
fn random_is_a_function_of_the_rng_and_respects_filters() {
    let nodes: Vec<Node> = (0..10).map(|i| node(&format!("n{i}"), "x", 8)).collect();
    let a = run(&nodes, &[], &tasks(20, "web"), SchedulerStrategy::Random);
    let b = run(&nodes, &[], &tasks(20, "web"), SchedulerStrategy::Random);
    assert_eq!(a, b);
    assert!(per_node(&a).len() > 3, "random should not pick one node: {:?}", per_node(&a));
}

#[test]
fn nodes_failing_the_service_go_last() {
    let nodes = [node("a", "x", 8), node("b", "x", 8)];
    let mut failed = tasks(5, "web");
    for t in &mut failed {
        t.node_id = "a".into();
        t.status.state = TaskState::Failed;
        t.desired_state = TaskState::Shutdown;
    }
    let d = run(&nodes, &failed, &tasks(2, "web"), SchedulerStrategy::Spread);
    let order: Vec<&str> =
        d.iter().filter_map(|x| if let Decision::Assign { node_id, .. } = x { Some(node_id.as_str()) } else { None }).collect();
    assert_eq!(order, ["b", "b"]);
    let _ = Service::default();
}

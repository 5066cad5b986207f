use super::*;
use crate::engine_api::types::EventActor;
use crate::model::{ManagerStatus, NodeDescription, Resources, Service, ServiceMode, UpdateStatus};

fn node(id: &str, host: &str, role: NodeRole, leader: bool) -> Object {
    let mut n = Node { id: id.into(), role, ..Default::default() };
    n.status.state = NodeState::Ready;
    n.description = Some(NodeDescription { hostname: host.into(), resources: Resources { nano_cpus: 4_000_000_000, memory_bytes: 8 << 30, ..Default::default() }, ..Default::default() });
    if role == NodeRole::Manager {
        n.manager_status = Some(ManagerStatus { raft_id: 1, addr: "a:1".into(), leader, ..Default::default() });
    }
    Object::Node(n)
}

fn service(id: &str, name: &str, replicas: u64, version: u64) -> Object {
    let mut s = Service { id: id.into(), spec_version: version, ..Default::default() };
    s.spec.annotations.name = name.into();
    s.spec.mode = ServiceMode::Replicated { replicas };
    s.spec.task.container.image = "app:2".into();
    Object::Service(s)
}

fn task(id: &str, svc: (&str, &str), slot: u64, node: &str, state: TaskState, version: u64) -> Task {
    let mut t = Task { id: id.into(), service_id: svc.0.into(), service_name: svc.1.into(), slot, node_id: node.into(), spec_version: version, ..Default::default() };
    t.spec.container.image = "app:1".into();
    t.desired_state = TaskState::Running;
    t.status.state = state;
    t
}

fn event(name: &str, action: &str) -> EventMessage {
    EventMessage {
        kind: "service".into(),
        action: action.into(),
        actor: EventActor { id: "x".into(), attributes: [("name".to_string(), name.to_string())].into() },
        time: 7,
        ..Default::default()
    }
}

fn store(objects: Vec<Object>) -> Store {
    Store::from_objects(42, objects).unwrap()
}

#[test]
fn nodes_are_columns_of_their_live_tasks_and_pending_tasks_carry_the_reason() {
    let web = ("s1", "web");
    let mut reserved = task("t1", web, 1, "n-w", TaskState::Running, 2);
    reserved.spec.resources.reservations = Some(Resources { nano_cpus: 500_000_000, memory_bytes: 1 << 20, ..Default::default() });
    let mut stopping = task("t2", web, 2, "n-w", TaskState::Running, 1);
    stopping.desired_state = TaskState::Shutdown;
    let gone = task("t3", web, 3, "n-w", TaskState::Shutdown, 1);
    let mut pending = task("t4", web, 3, "", TaskState::Pending, 2);
    pending.status.err = "no suitable node (1 node not available for new tasks)".into();
    let mut s = service("s1", "web", 3, 2);
    if let Object::Service(s) = &mut s {
        s.update_status = Some(UpdateStatus { state: UpdateState::Updating, message: "update in progress".into(), ..Default::default() });
    }
    let st = store(vec![
        node("n-w", "alpha", NodeRole::Worker, false),
        node("n-m2", "zulu", NodeRole::Manager, false),
        node("n-m1", "mike", NodeRole::Manager, true),
        s,
        Object::Task(reserved),
        Object::Task(stopping),
        Object::Task(gone),
        Object::Task(pending),
    ]);
    let v = cluster_view(&st, &[event("web", "create"), event("web", "update")]);
    assert_eq!(v.index, 42);
    let hosts: Vec<&str> = v.nodes.iter().map(|n| n.hostname.as_str()).collect();
    assert_eq!(hosts, ["mike", "zulu", "alpha"], "managers first, then by hostname");
    assert!(v.nodes[0].leader && !v.nodes[1].leader);
    assert_eq!(v.nodes[0].reachability.as_deref(), Some("reachable"));
    assert_eq!(v.nodes[2].reachability, None);
    let w = &v.nodes[2];
    let names: Vec<&str> = w.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["web.1", "web.2"], "a stopped task leaves its column; one being stopped stays");
    assert_eq!(w.tasks[1].desired, TaskState::Shutdown);
    assert_eq!((w.nano_cpus_used, w.memory_bytes_used), (500_000_000, 1 << 20), "only tasks that hold resources count");
    assert_eq!(w.nano_cpus_total, 4_000_000_000);
    assert_eq!(v.pending.len(), 1);
    assert_eq!(v.pending[0].message, "no suitable node (1 node not available for new tasks)");
    assert_eq!(v.pending_total, 1);
    let web = &v.services[0];
    assert_eq!((web.running, web.desired, web.updated), (1, 3, 1), "web.2, being stopped, counts as dockerd counts it: not running");
    assert_eq!(web.update_state, Some(UpdateState::Updating));
    assert_eq!(web.image, "app:2");
    assert_eq!(v.events.len(), 2);
    assert_eq!((v.events[1].name.as_str(), v.events[1].action.as_str()), ("web", "update"));
}

#[test]
fn the_view_is_bounded_whatever_the_store_holds() {
    let svc = ("s1", "huge");
    let mut objects = vec![node("n1", "one", NodeRole::Manager, true), node("n2", "two", NodeRole::Worker, false), service("s1", "huge", 1_000_000, 1)];
    for i in 0..(CARDS_MAX as u64 + 10) {
        objects.push(Object::Task(task(&format!("r{i:06}"), svc, i + 1, if i % 2 == 0 { "n1" } else { "n2" }, TaskState::Running, 1)));
    }
    // Placed on a node the store no longer has.
    objects.push(Object::Task(task("gone", svc, 999_999, "n-removed", TaskState::Running, 1)));
    for i in 0..(PENDING_MAX as u64 + 50) {
        objects.push(Object::Task(task(&format!("p{i:06}"), svc, 900_000 + i, "", TaskState::Pending, 1)));
    }
    let events: Vec<EventMessage> = (0..100).map(|i| event(&format!("e{i}"), "update")).collect();
    let v = cluster_view(&store(objects), &events);
    let shown: usize = v.nodes.iter().map(|n| n.tasks.len()).sum();
    assert_eq!(shown, CARDS_MAX);
    assert_eq!(v.cards_hidden, 11, "10 over the budget, 1 on a removed node");
    assert_eq!(v.pending.len(), PENDING_MAX);
    assert_eq!(v.pending_total, PENDING_MAX + 50);
    assert_eq!(v.events.len(), EVENTS_SHOWN);
    assert_eq!(v.events.last().unwrap().name, "e99", "the newest events are kept");
}

#[test]
fn one_store_gives_one_view_byte_for_byte() {
    let svc = ("s1", "web");
    let objects = || {
        let mut o = vec![node("n1", "one", NodeRole::Manager, true), node("n2", "two", NodeRole::Worker, false), service("s1", "web", 4, 1)];
        for i in 0..4u64 {
            o.push(Object::Task(task(&format!("t{i}"), svc, i + 1, if i % 2 == 0 { "n1" } else { "n2" }, TaskState::Running, 1)));
        }
        o
    };
    let a = serde_json::to_string(&cluster_view(&store(objects()), &[])).unwrap();
    let mut reversed = objects();
    reversed.reverse();
    let b = serde_json::to_string(&cluster_view(&store(reversed), &[])).unwrap();
    assert_eq!(a, b);
    assert!(a.contains(r#""state":"running""#) && a.contains(r#""role":"manager""#), "{a}");
}

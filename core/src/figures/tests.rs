use super::*;
use crate::model::{Node, Service, ServiceMode, Task, UpdateStatus};

fn service(id: &str, name: &str, replicas: u64, version: u64, updating: bool) -> Object {
    let mut s = Service { id: id.into(), spec_version: version, ..Default::default() };
    s.spec.annotations.name = name.into();
    s.spec.mode = ServiceMode::Replicated { replicas };
    if updating {
        s.update_status = Some(UpdateStatus { state: UpdateState::Updating, ..Default::default() });
    }
    Object::Service(s)
}

fn task(id: &str, svc: &str, slot: u64, node: &str, state: TaskState, version: u64) -> Object {
    let mut t = Task { id: id.into(), service_id: svc.into(), slot, node_id: node.into(), spec_version: version, ..Default::default() };
    t.desired_state = TaskState::Running;
    t.status.state = state;
    Object::Task(t)
}

fn node(id: &str, state: NodeState) -> Object {
    let mut n = Node { id: id.into(), ..Default::default() };
    n.status.state = state;
    Object::Node(n)
}

#[test]
fn figures_count_tasks_nodes_pending_and_an_updates_progress() {
    let mut dead = Task { id: "t9".into(), service_id: "s1".into(), slot: 9, ..Default::default() };
    dead.desired_state = TaskState::Shutdown;
    dead.status.state = TaskState::Shutdown;
    let st = Store::from_objects(
        7,
        vec![
            node("n1", NodeState::Ready),
            node("n2", NodeState::Down),
            // Listed before "api" on purpose: services come out by name.
            service("s1", "web", 3, 2, true),
            service("s2", "api", 1, 1, false),
            task("t1", "s1", 1, "n1", TaskState::Running, 2),
            task("t2", "s1", 2, "n1", TaskState::Running, 1),
            task("t3", "s1", 3, "", TaskState::Pending, 2),
            task("t4", "s2", 1, "n1", TaskState::Running, 1),
            Object::Task(dead),
        ],
    )
    .unwrap();
    let f = of(&st);
    assert_eq!(f.tasks, BTreeMap::from([("pending".to_string(), 1), ("running".to_string(), 3)]), "the shut-down task is not counted");
    assert_eq!((f.nodes["ready"], f.nodes["down"], f.nodes["unknown"], f.nodes["disconnected"]), (1, 1, 0, 0));
    assert_eq!(f.pending, 1);
    let names: Vec<&str> = f.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api", "web"]);
    let web = &f.services[1];
    assert_eq!((web.desired, web.running, web.updating, web.updated), (3, 2, true, 1), "one of two running tasks has the new spec");
    assert_eq!((f.services[0].updating, f.services[0].updated), (false, 1));
}

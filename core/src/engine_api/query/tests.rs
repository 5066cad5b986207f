use super::*;
use crate::model::{Annotations, NodeDescription, NodeRole, NodeStatus, ServiceSpec, TaskStatus};
use crate::store::{Action, Transaction};

fn apply(store: &mut Store, actions: Vec<Action>) {
    let i = store.last_index() + 1;
    store.apply(i, &Transaction { timestamp_ms: 1_000, actions }).unwrap();
}

fn service(id: &str, name: &str, mode: ServiceMode, labels: &[(&str, &str)]) -> Object {
    let mut spec = ServiceSpec {
        annotations: Annotations { name: name.into(), labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() },
        mode,
        ..Default::default()
    };
    spec.task.container.image = "img:1".into();
    Object::Service(Service { id: id.into(), spec, spec_version: 2, ..Default::default() })
}

/// A task of service `svc` (named `name`) in `slot` on `node`: (observed, desired) states.
fn task(id: &str, svc: &str, name: &str, slot: u64, node: &str, (state, desired): (TaskState, TaskState), spec_version: u64) -> Object {
    Object::Task(Task {
        id: id.into(),
        service_id: svc.into(),
        service_name: name.into(),
        slot,
        node_id: node.into(),
        desired_state: desired,
        status: TaskStatus { state, ..Default::default() },
        spec_version,
        ..Default::default()
    })
}

fn node(id: &str, host: &str, role: NodeRole, state: NodeState) -> Object {
    Object::Node(Node {
        id: id.into(),
        role,
        description: Some(NodeDescription { hostname: host.into(), ..Default::default() }),
        status: NodeStatus { state, addr: "10.0.0.1:4242".into(), ..Default::default() },
        ..Default::default()
    })
}

fn store() -> Store {
    let mut s = Store::new();
    apply(
        &mut s,
        vec![
            Action::Create(node("n1aaaa", "alpha", NodeRole::Manager, NodeState::Ready)),
            Action::Create(node("n2bbbb", "beta", NodeRole::Worker, NodeState::Ready)),
            Action::Create(node("n3cccc", "gamma", NodeRole::Worker, NodeState::Down)),
            Action::Create(service("s1web", "web", ServiceMode::Replicated { replicas: 3 }, &[("com.docker.stack.namespace", "app")])),
            Action::Create(service("s2db", "db", ServiceMode::Global, &[])),
            Action::Create(task("t1", "s1web", "web", 1, "n1aaaa", (TaskState::Running, TaskState::Running), 2)),
            Action::Create(task("t2", "s1web", "web", 2, "n2bbbb", (TaskState::Running, TaskState::Running), 1)),
            Action::Create(task("t3", "s1web", "web", 2, "n2bbbb", (TaskState::Shutdown, TaskState::Shutdown), 1)),
            Action::Create(task("t4", "s2db", "db", 0, "n2bbbb", (TaskState::Running, TaskState::Running), 2)),
            Action::Create(task("t5", "s2db", "db", 0, "n3cccc", (TaskState::Running, TaskState::Running), 2)),
        ],
    );
    s
}

fn f(json: &str) -> Filters {
    Filters::parse(Some(json)).unwrap()
}

fn ids<T>(v: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    v.iter().map(|x| id(x).to_string()).collect()
}

// `docker service ls` REPLICAS: running/desired; a global service wants one task per node
// that is up (moby daemon/cluster/services.go, ServiceStatus).
#[test]
fn service_status_counts_running_and_desired() {
    let s = store();
    let list = list_services(&s, &Filters::default(), true).unwrap();
    let by: BTreeMap<_, _> = list.iter().map(|x| (x.spec.name.as_str(), x.service_status.clone().unwrap())).collect();
    assert_eq!((by["web"].running_tasks, by["web"].desired_tasks), (2, 3));
    assert_eq!((by["db"].running_tasks, by["db"].desired_tasks), (2, 1), "the task on the down node is not desired");
    assert!(list_services(&s, &Filters::default(), false).unwrap().iter().all(|x| x.service_status.is_none()));
}

#[test]
fn service_filters() {
    let s = store();
    let names = |j: &str| ids(&list_services(&s, &f(j), false).unwrap(), |x| &x.spec.name);
    assert_eq!(names(r#"{"name":{"we":true}}"#), vec!["web"], "name matches by prefix");
    assert_eq!(names(r#"{"id":["s2"]}"#), vec!["db"]);
    assert_eq!(names(r#"{"mode":["global"]}"#), vec!["db"]);
    assert_eq!(names(r#"{"label":["com.docker.stack.namespace=app"]}"#), vec!["web"]);
    assert_eq!(names(r#"{"name":["web","db"]}"#).len(), 2, "values of one key are alternatives");
    assert!(matches!(list_services(&s, &f(r#"{"colour":["red"]}"#), false), Err(ApiError::BadRequest(m)) if m == "invalid filter 'colour'"));
}

// `docker service ps web` (service filter by name), `docker stack ps` (label filter on the
// service's labels), the CLI's progress (`_up-to-date`), `docker node ps` (node filter).
#[test]
fn task_filters() {
    let s = store();
    let tids = |j: &str| ids(&list_tasks(&s, &f(j)).unwrap(), |x| &x.id);
    assert_eq!(tids(r#"{"service":{"web":true}}"#), vec!["t1", "t2", "t3"]);
    assert_eq!(tids(r#"{"service":["s1"],"desired-state":["running"]}"#), vec!["t1", "t2"]);
    assert_eq!(tids(r#"{"service":["web"],"_up-to-date":["true"]}"#), vec!["t1"]);
    assert_eq!(tids(r#"{"label":{"com.docker.stack.namespace=app":true}}"#), vec!["t1", "t2", "t3"]);
    assert_eq!(tids(r#"{"node":["beta"]}"#), vec!["t2", "t3", "t4"]);
    assert_eq!(tids(r#"{"name":["web.2"]}"#), vec!["t2", "t3"]);
    assert!(matches!(list_tasks(&s, &f(r#"{"service":["nope"]}"#)), Err(ApiError::NotFound(m)) if m == "service nope not found"));
    assert!(matches!(list_tasks(&s, &f(r#"{"desired-state":["sleeping"]}"#)), Err(ApiError::BadRequest(_))));
}

#[test]
fn node_filters_and_lookups() {
    let s = store();
    let nids = |j: &str| ids(&list_nodes(&s, &f(j)).unwrap(), |x| &x.id);
    assert_eq!(nids(r#"{"role":["manager"]}"#), vec!["n1aaaa"]);
    assert_eq!(nids(r#"{"name":["gam"]}"#), vec!["n3cccc"]);
    assert_eq!(nids(r#"{"membership":["accepted"]}"#).len(), 3);
    assert_eq!(inspect_node(&s, "beta").unwrap().id, "n2bbbb");
    assert_eq!(inspect_node(&s, "n3").unwrap().status.state, "down");
    assert_eq!(inspect_node(&s, "n1aaaa").unwrap().status.addr, "10.0.0.1", "dockerd shows the IP only");
    assert!(matches!(inspect_node(&s, "nope"), Err(ApiError::NotFound(m)) if m == "node nope not found"));
    assert!(matches!(inspect_node(&s, "n"), Err(ApiError::BadRequest(_))), "an ambiguous prefix");
}

#[test]
fn lookups_by_id_name_and_prefix() {
    let s = store();
    assert_eq!(inspect_service(&s, "web").unwrap().id, "s1web");
    assert_eq!(inspect_service(&s, "s2").unwrap().spec.name, "db");
    assert!(matches!(inspect_service(&s, "nope"), Err(ApiError::NotFound(m)) if m == "service nope not found"));
    assert_eq!(inspect_task(&s, "t4").unwrap().status.state, "running");
    assert!(matches!(inspect_task(&s, "t"), Err(ApiError::BadRequest(_))));
    assert!(matches!(inspect_task(&s, "zz"), Err(ApiError::NotFound(_))));
}

#[test]
fn swarm_info_counts_nodes_and_managers() {
    let s = store();
    let i = swarm_info(&s, "n1aaaa", "10.0.0.1", true);
    assert_eq!((i.nodes, i.managers, i.local_node_state.as_str()), (3, 1, "active"));
    assert!(i.cluster.is_none(), "no cluster object in this store");
}

// The docker CLI's job progress reads `JobStatus.JobIteration` unchecked and counts the tasks
// whose `JobIteration` matches it (cli/command/service/progress).
#[test]
fn jobs_carry_their_iteration() {
    let mut s = store();
    let job = service("s3job", "job", ServiceMode::ReplicatedJob { max_concurrent: 1, total_completions: 2 }, &[]);
    apply(&mut s, vec![Action::Create(job), Action::Create(task("t6", "s3job", "job", 1, "n1aaaa", (TaskState::Complete, TaskState::Complete), 2))]);
    let svc = inspect_service(&s, "job").unwrap();
    assert_eq!(svc.job_status.unwrap().job_iteration.index, 2);
    assert_eq!(inspect_task(&s, "t6").unwrap().job_iteration.unwrap().index, 2);
    assert_eq!(inspect_task(&s, "t6").unwrap().slot, 0, "a job's slots count from 0, as swarmkit's");
    assert_eq!(inspect_task(&s, "t1").unwrap().slot, 1);
    assert!(inspect_service(&s, "web").unwrap().job_status.is_none(), "not a job");
    assert!(inspect_task(&s, "t1").unwrap().job_iteration.is_none());
}

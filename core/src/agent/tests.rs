use super::*;

fn task(id: &str, desired: TaskState, observed: TaskState) -> Task {
    let mut t = Task { id: id.into(), node_id: "w1".into(), desired_state: desired, ..Default::default() };
    t.status.state = observed;
    t
}

fn states(ups: &[StatusUpdate]) -> Vec<(String, TaskState)> {
    ups.iter().map(|u| (u.task_id.clone(), u.status.state)).collect()
}

#[test]
fn starts_once_then_reports_running_and_exit_codes() {
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Running, TaskState::Assigned);
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &[], 0);
    assert_eq!(c, vec![Command::Start(t.clone())]);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Starting)]);
    // The store has not caught up yet and no container is listed: no second start.
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &[Container::new("t1", ContainerState::Starting)], 1);
    assert!(c.is_empty() && u.is_empty(), "{c:?} {u:?}");
    let (_, u) = a.reconcile(std::slice::from_ref(&t), &[Container::new("t1", ContainerState::Running)], 2);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Running)]);
    let (_, u) = a.reconcile(&[t], &[Container::new("t1", ContainerState::Exited(3))], 3);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Failed)]);
    assert_eq!(u[0].status.err, "task: non-zero exit (3)");
    assert_eq!(u[0].status.exit_code, Some(3));
}

#[test]
fn after_a_restart_adopts_its_containers_and_removes_strangers() {
    let mut a = Agent::new("w1");
    let mine = task("t1", TaskState::Running, TaskState::Running);
    let gone = task("t2", TaskState::Running, TaskState::Running);
    let containers = [
        Container::new("t1", ContainerState::Running),
        Container::new("old", ContainerState::Running),
    ];
    let (c, u) = a.reconcile(&[mine.clone(), gone.clone()], &containers, 0);
    assert_eq!(c, vec![Command::Stop("old".into())], "no duplicate start of t1");
    assert_eq!(states(&u), vec![("t2".into(), TaskState::Failed)], "t2's container died with the machine");
    // Removed once it stopped, not while it still runs.
    let (c, _) = a.reconcile(&[mine.clone(), gone.clone()], &containers, 1);
    assert!(c.is_empty(), "one stop while it still runs: {c:?}");
    let stopped = [containers[0].clone(), Container::new("old", ContainerState::Exited(0))];
    let (c, _) = a.reconcile(&[mine, gone], &stopped, 2);
    assert_eq!(c, vec![Command::Remove("old".into())]);
}

#[test]
fn stops_tasks_whose_desired_state_moved_on() {
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Shutdown, TaskState::Running);
    let running = [Container::new("t1", ContainerState::Running)];
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &running, 0);
    assert_eq!(c, vec![Command::Stop("t1".into())]);
    // SHUTDOWN once the container stopped (swarmkit reports it after the controller's Shutdown
    // returned), and no second stop while it drains.
    assert!(u.is_empty(), "{u:?}");
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &running, 1);
    assert!(c.is_empty() && u.is_empty(), "{c:?} {u:?}");
    let (c, u) = a.reconcile(&[t], &[Container::new("t1", ContainerState::Exited(0))], 2);
    assert!(c.is_empty(), "{c:?}");
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Shutdown)]);
}

#[test]
fn a_failed_start_is_reported_rejected_with_the_error() {
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Running, TaskState::Assigned);
    a.reconcile(std::slice::from_ref(&t), &[], 0);
    a.start_failed("t1", "unable to pin image app:bad to digest".into());
    let (c, u) = a.reconcile(&[t], &[], 1);
    assert!(c.is_empty());
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Rejected)]);
    assert!(u[0].status.err.contains("unable to pin image"));
}

#[test]
fn an_unhealthy_container_is_stopped_and_reported_failed() {
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Running, TaskState::Running);
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &[Container::new("t1", ContainerState::Unhealthy)], 5);
    assert_eq!(c, vec![Command::Stop("t1".into())]);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Failed)]);
    assert_eq!(u[0].status.err, "dockerexec: unhealthy container");
}

#[test]
fn a_task_stopped_while_its_start_is_under_way_is_stopped_once_it_exists() {
    // The shell starts containers beside its loop; a start in flight is listed as Creating.
    // A stop issued then would find no container, and the start would run it anyway.
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Running, TaskState::Assigned);
    let (c, _) = a.reconcile(std::slice::from_ref(&t), &[], 0);
    assert_eq!(c, vec![Command::Start(t.clone())]);
    let creating = [Container::new("t1", ContainerState::Creating)];
    let shut = task("t1", TaskState::Shutdown, TaskState::Starting);
    let (c, u) = a.reconcile(std::slice::from_ref(&shut), &creating, 1);
    assert!(c.is_empty() && u.is_empty(), "no stop and no SHUTDOWN before the container exists: {c:?} {u:?}");
    let running = [Container::new("t1", ContainerState::Running)];
    let (c, u) = a.reconcile(std::slice::from_ref(&shut), &running, 2);
    assert_eq!(c, vec![Command::Stop("t1".into())]);
    assert!(u.is_empty(), "SHUTDOWN only once it stopped: {u:?}");
    // The same for a container no task owns any more.
    let (c, _) = a.reconcile(&[], &[Container::new("x", ContainerState::Creating)], 3);
    assert!(c.is_empty(), "{c:?}");
    let (c, _) = a.reconcile(&[], &[Container::new("x", ContainerState::Running)], 4);
    assert_eq!(c, vec![Command::Stop("x".into())]);
}

#[test]
fn running_is_reported_with_where_the_mesh_reaches_the_task() {
    let mut a = Agent::new("w1");
    let t = task("t1", TaskState::Running, TaskState::Starting);
    let mut c = Container::new("t1", ContainerState::Running);
    c.ingress = vec![crate::model::IngressBinding { protocol: "tcp".into(), target_port: 80, addr: "10.0.0.7:32768".into() }];
    let (_, u) = a.reconcile(std::slice::from_ref(&t), &[c.clone()], 1);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Running)]);
    assert_eq!(u[0].status.ingress, c.ingress);
    // Other states carry none.
    let (_, u) = a.reconcile(&[t], &[Container::new("t1", ContainerState::Exited(0))], 2);
    assert_eq!(states(&u), vec![("t1".into(), TaskState::Complete)]);
    assert!(u[0].status.ingress.is_empty());
}

#[test]
fn a_finished_task_keeps_its_container_until_the_task_is_deleted() {
    let mut a = Agent::new("w1");
    let mut t = task("t1", TaskState::Shutdown, TaskState::Failed);
    t.status.exit_code = Some(3);
    let exited = [Container::new("t1", ContainerState::Exited(3))];
    let (c, u) = a.reconcile(std::slice::from_ref(&t), &exited, 0);
    assert!(c.is_empty() && u.is_empty(), "history is left alone: {c:?} {u:?}");
    // The reaper deleted the task: it left the set, and its container goes.
    let (c, _) = a.reconcile(&[], &exited, 1);
    assert_eq!(c, vec![Command::Remove("t1".into())]);
}

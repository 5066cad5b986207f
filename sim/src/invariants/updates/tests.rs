use super::*;
use shoal_core::model::{Meta, UpdateConfig, UpdateStatus};
use shoal_core::store::{Action, Transaction};

fn svc(version: u64, image: &str, prev: Option<&str>, state: UpdateState, order: UpdateOrder) -> Service {
    let spec = |img: &str| {
        let mut s = ServiceSpec { mode: ServiceMode::Replicated { replicas: 3 }, ..Default::default() };
        s.annotations.name = "web".into();
        s.task.container.image = img.into();
        s.update = Some(UpdateConfig { parallelism: 1, order, ..Default::default() });
        s
    };
    Service {
        id: "s1".into(),
        meta: Meta::default(),
        spec: spec(image),
        previous_spec: prev.map(spec),
        spec_version: version,
        update_status: Some(UpdateStatus { state, started_at_ms: Some(0), ..Default::default() }),
        endpoint_ports: vec![],
        virtual_ips: vec![],
        rebalancing: vec![],
        autoscale_status: None,
    }
}

fn task(id: &str, slot: u64, version: u64, desired: TaskState, state: TaskState) -> Task {
    let mut t = Task { id: id.into(), service_id: "s1".into(), slot, node_id: "n1".into(), spec_version: version, desired_state: desired, ..Default::default() };
    t.status.state = state;
    t
}

fn store(objs: Vec<Object>) -> Store {
    let mut s = Store::default();
    let actions = objs.into_iter().map(Action::Create).collect();
    s.apply(1, &Transaction { actions, timestamp_ms: 0 }).unwrap();
    s
}

// Parallelism 1: two slots whose new task is not running yet, each replacing an old task
// that ran, is one too many.
#[test]
fn two_slots_in_flight_with_parallelism_one_is_caught() {
    let mut r = UpdateRules::default();
    let before = store(vec![Object::Service(svc(1, "a", None, UpdateState::Completed, UpdateOrder::StopFirst))]);
    r.check(&before, |_| (3, 0), |_| true, false).unwrap();
    let objs = vec![
        Object::Service(svc(2, "b", Some("a"), UpdateState::Updating, UpdateOrder::StopFirst)),
        Object::Task(task("o1", 1, 1, TaskState::Shutdown, TaskState::Shutdown)),
        Object::Task(task("n1", 1, 2, TaskState::Running, TaskState::Starting)),
        Object::Task(task("o2", 2, 1, TaskState::Running, TaskState::Running)),
        Object::Task(task("o3", 3, 1, TaskState::Running, TaskState::Running)),
    ];
    r.check(&store(objs.clone()), |_| (2, 0), |_| true, false).unwrap();
    let mut more = objs;
    more[3] = Object::Task(task("o2", 2, 1, TaskState::Shutdown, TaskState::Shutdown));
    more.push(Object::Task(task("n2", 2, 2, TaskState::Running, TaskState::Assigned)));
    let e = r.check(&store(more), |_| (1, 0), |_| true, false).unwrap_err();
    assert!(e.contains("2 slots updating at once"), "{e}");
}

/// A rebalance under parallelism 1 moving two slots at once is caught; one at a time, and
/// a moved task whose node left (the orchestrator's replacement), are not.
#[test]
fn a_rebalance_moving_two_slots_with_parallelism_one_is_caught() {
    let mut r = UpdateRules::default();
    let mut s = svc(1, "a", None, UpdateState::Updating, UpdateOrder::StopFirst);
    s.rebalancing = vec!["o1".into(), "o2".into()];
    let objs = vec![
        Object::Service(s),
        Object::Task(task("o1", 1, 1, TaskState::Shutdown, TaskState::Shutdown)),
        Object::Task(task("n1", 1, 1, TaskState::Running, TaskState::Starting)),
        Object::Task(task("o2", 2, 1, TaskState::Running, TaskState::Running)),
        Object::Task(task("o3", 3, 1, TaskState::Running, TaskState::Running)),
    ];
    r.check(&store(objs.clone()), |_| (2, 0), |_| true, false).unwrap();
    let mut more = objs;
    more[3] = Object::Task(task("o2", 2, 1, TaskState::Shutdown, TaskState::Shutdown));
    more.push(Object::Task(task("n2", 2, 1, TaskState::Running, TaskState::Assigned)));
    let e = r.check(&store(more.clone()), |_| (1, 0), |_| true, false).unwrap_err();
    assert!(e.contains("a rebalance moves 2 slots at once"), "{e}");
    // o2's node went down: its replacement is the orchestrator's.
    let mut lost = UpdateRules::default();
    let mut o2 = task("o2", 2, 1, TaskState::Shutdown, TaskState::Shutdown);
    o2.node_id = "n2".into();
    more[3] = Object::Task(o2);
    more.push(Object::Node(shoal_core::model::Node { id: "n2".into(), ..Default::default() }));
    lost.check(&store(more), |_| (1, 0), |_| true, true).unwrap();
}

// A slot whose running task failed and was replaced by the supervisor is no update slot,
// even when a task of a spec in between sat in it without ever running (its node had
// crashed): explorer seed 5701.
#[test]
fn a_task_that_never_ran_is_not_what_an_update_replaced() {
    let mut r = UpdateRules::default();
    let base = vec![Object::Service(svc(2, "b", Some("a"), UpdateState::Updating, UpdateOrder::StopFirst))];
    r.check(&store(base.clone()), |_| (1, 0), |_| true, true).unwrap();
    let mut objs = base;
    let mut failed = task("o1", 1, 0, TaskState::Shutdown, TaskState::Failed);
    failed.meta.created_at_ms = 1;
    let mut stuck = task("s1", 1, 1, TaskState::Shutdown, TaskState::Shutdown);
    (stuck.meta.created_at_ms, stuck.status.timestamp_ms) = (2, 9);
    let mut in_flight = task("u2", 2, 1, TaskState::Shutdown, TaskState::Shutdown);
    in_flight.status.timestamp_ms = 9;
    objs.extend([failed, stuck, in_flight].map(Object::Task));
    let mut n1 = task("n1", 1, 2, TaskState::Running, TaskState::Accepted);
    n1.meta.created_at_ms = 5;
    let mut n2 = task("n2", 2, 2, TaskState::Running, TaskState::Accepted);
    n2.meta.created_at_ms = 5;
    objs.extend([n1, n2].map(Object::Task));
    // Slot 2's old task ran (the update replaced it); slot 1's stuck task never did.
    let ran = |id: &str| id != "s1";
    r.check(&store(objs.clone()), |_| (0, 0), ran, true).unwrap();
    // Had it run, two slots would be updating at once.
    let e = r.check(&store(objs), |_| (0, 0), |_| true, true).unwrap_err();
    assert!(e.contains("2 slots updating at once"), "{e}");
}

// A slot whose old task was told to stop before the new one was made (and whose node never
// reported back) was refilled by a scale-up, not updated: explorer seed 1535.
#[test]
fn a_slot_already_stopping_is_not_what_an_update_replaced() {
    // Objects written at the given times (the store stamps meta with the transaction's).
    let at = |writes: Vec<(u64, Vec<Object>)>| {
        let mut s = Store::default();
        for (i, (ts, objs)) in writes.into_iter().enumerate() {
            s.apply(i as u64 + 1, &Transaction { actions: objs.into_iter().map(Action::Create).collect(), timestamp_ms: ts }).unwrap();
        }
        s
    };
    let service = || Object::Service(svc(2, "b", Some("a"), UpdateState::RollbackStarted, UpdateOrder::StopFirst));
    let old = |slot| Object::Task(task(&format!("o{slot}"), slot, 1, TaskState::Shutdown, TaskState::Running));
    let new = |slot| Object::Task(task(&format!("n{slot}"), slot, 2, TaskState::Running, TaskState::Assigned));
    let mut r = UpdateRules::default();
    r.check(&at(vec![(1, vec![service()])]), |_| (0, 0), |_| true, true).unwrap();
    // Slot 1's old task was told to stop at 3, slot 2's in the transaction of its update.
    let one_updated = at(vec![(1, vec![service()]), (3, vec![old(1)]), (5, vec![old(2), new(1), new(2)])]);
    r.check(&one_updated, |_| (0, 0), |_| true, true).unwrap();
    let both_updated = at(vec![(1, vec![service()]), (5, vec![old(1), old(2), new(1), new(2)])]);
    let e = r.check(&both_updated, |_| (0, 0), |_| true, true).unwrap_err();
    assert!(e.contains("2 slots updating at once"), "{e}");
}

// Start-first never runs fewer than the replicas while nothing failed.
#[test]
fn start_first_below_replicas_is_caught() {
    let mut r = UpdateRules::default();
    r.check(&store(vec![Object::Service(svc(1, "a", None, UpdateState::Completed, UpdateOrder::StartFirst))]), |_| (3, 0), |_| true, false)
        .unwrap();
    let upd = store(vec![Object::Service(svc(2, "b", Some("a"), UpdateState::Updating, UpdateOrder::StartFirst))]);
    r.check(&upd, |_| (3, 0), |_| true, false).unwrap();
    assert!(r.check(&upd, |_| (2, 0), |_| true, false).unwrap_err().contains("at least 3"));
    // With a fault in the run the capacity rule does not apply.
    assert!(r.check(&upd, |_| (2, 0), |_| true, true).is_ok());
}

// A node drained during a start-first update stops its task before the replacement
// starts (a drain is not the update's doing): capacity is not judged for that update any
// more, but still for the next one (explorer seed 97).
#[test]
fn a_drain_during_an_update_waives_its_capacity_rule() {
    use shoal_core::model::{Node, NodeSpec, NodeStatus};
    let node = |availability| {
        Object::Node(Node {
            id: "n1".into(),
            spec: NodeSpec { availability, ..Default::default() },
            status: NodeStatus { state: NodeState::Ready, ..Default::default() },
            ..Default::default()
        })
    };
    let mut r = UpdateRules::default();
    let before = |a| store(vec![node(a), Object::Service(svc(1, "a", None, UpdateState::Completed, UpdateOrder::StartFirst))]);
    r.check(&before(NodeAvailability::Active), |_| (3, 0), |_| true, false).unwrap();
    let upd = |a| store(vec![node(a), Object::Service(svc(2, "b", Some("a"), UpdateState::Updating, UpdateOrder::StartFirst))]);
    r.check(&upd(NodeAvailability::Active), |_| (3, 0), |_| true, false).unwrap();
    r.check(&upd(NodeAvailability::Drain), |_| (2, 0), |_| true, false).unwrap();
    r.check(&upd(NodeAvailability::Active), |_| (2, 0), |_| true, false).unwrap();
    // The next update is judged again.
    let next = store(vec![node(NodeAvailability::Active), Object::Service(svc(3, "c", Some("b"), UpdateState::Updating, UpdateOrder::StartFirst))]);
    r.check(&store(vec![node(NodeAvailability::Active), Object::Service(svc(2, "b", Some("a"), UpdateState::Completed, UpdateOrder::StartFirst))]), |_| (3, 0), |_| true, false).unwrap();
    r.check(&next, |_| (3, 0), |_| true, false).unwrap();
    assert!(r.check(&next, |_| (2, 0), |_| true, false).unwrap_err().contains("at least 3"));
}

// New slots of a scale during an update start at the image's pace: not the updater's
// capacity to keep (explorer seed 26).
#[test]
fn a_scale_during_an_update_waives_its_capacity_rule() {
    let mut r = UpdateRules::default();
    r.check(&store(vec![Object::Service(svc(1, "a", None, UpdateState::Completed, UpdateOrder::StartFirst))]), |_| (3, 0), |_| true, false)
        .unwrap();
    let mut upd = svc(2, "b", Some("a"), UpdateState::Updating, UpdateOrder::StartFirst);
    r.check(&store(vec![Object::Service(upd.clone())]), |_| (3, 0), |_| true, false).unwrap();
    upd.spec.mode = ServiceMode::Replicated { replicas: 6 };
    r.check(&store(vec![Object::Service(upd.clone())]), |_| (3, 0), |_| true, false).unwrap();
    r.check(&store(vec![Object::Service(upd)]), |_| (3, 0), |_| true, false).unwrap();
}

// A rollback must bring back exactly the previous spec.
#[test]
fn a_rollback_to_another_spec_is_caught() {
    let mut r = UpdateRules::default();
    r.check(&store(vec![Object::Service(svc(2, "b", Some("a"), UpdateState::Paused, UpdateOrder::StopFirst))]), |_| (3, 0), |_| true, true)
        .unwrap();
    let good = store(vec![Object::Service(svc(3, "a", Some("b"), UpdateState::RollbackStarted, UpdateOrder::StopFirst))]);
    assert!(UpdateRules { seen: r.seen.clone(), ..Default::default() }.check(&good, |_| (3, 0), |_| true, true).is_ok());
    let wrong = store(vec![Object::Service(svc(3, "c", Some("b"), UpdateState::RollbackStarted, UpdateOrder::StopFirst))]);
    assert!(r.check(&wrong, |_| (3, 0), |_| true, true).unwrap_err().contains("did not restore the previous spec"));
}

// A paused update that starts a slot is caught.
#[test]
fn a_paused_update_starting_a_slot_is_caught() {
    let mut r = UpdateRules::default();
    let base = vec![
        Object::Service(svc(2, "b", Some("a"), UpdateState::Paused, UpdateOrder::StopFirst)),
        Object::Task(task("n1", 1, 2, TaskState::Running, TaskState::Failed)),
        Object::Task(task("o2", 2, 1, TaskState::Running, TaskState::Running)),
    ];
    r.check(&store(base.clone()), |_| (2, 0), |_| true, true).unwrap();
    let mut more = base;
    more[2] = Object::Task(task("o2", 2, 1, TaskState::Shutdown, TaskState::Shutdown));
    more.push(Object::Task(task("n2", 2, 2, TaskState::Running, TaskState::Assigned)));
    assert!(r.check(&store(more), |_| (1, 0), |_| true, true).unwrap_err().contains("paused"));
}

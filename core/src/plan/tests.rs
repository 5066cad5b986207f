//! Plans checked against what then happens: the change committed and the leader's components
//! driven by leader::tests' `World`, whose agents are written apart from the plan's model
//! (they report in rounds after the passes settle, the plan's after every pass). Rule: a plan
//! says what the swarm then does when nothing fails (issue 24: "the plan equals what the
//! cluster then does … same placements, same batches").

use super::*;
use crate::control;
use crate::leader::tests::{svc, World};
use crate::model::{NodeAvailability, ServiceSpec, UpdateConfig};
use proptest::prelude::*;

fn converged(workers: usize, replicas: u64) -> World {
    let mut w = World::new(workers);
    w.create(svc("redis", replicas));
    w.run_all();
    w
}

fn plan_of(w: &World, change: Vec<Action>) -> Plan {
    let before = w.store.clone();
    let p = plan(&w.store, change, w.now_ms, 7).expect("plans");
    assert_eq!(w.store, before, "a plan never changes the store it plans over");
    p
}

/// Running tasks of `service` by hostname (the World's node ids are `id-<hostname>`).
fn placement(w: &World, service: &str) -> BTreeMap<String, u64> {
    w.running(service).into_iter().map(|(id, n)| (id.trim_start_matches("id-").to_string(), n as u64)).collect()
}

fn planned(p: &Plan, service: &str) -> BTreeMap<String, u64> {
    p.placement.iter().filter(|x| x.service == service).map(|x| (x.node.clone(), x.tasks)).collect()
}

/// Commits `change` and lets the World's agents run until the update is done.
fn apply(w: &mut World, change: Vec<Action>) {
    w.commit(change);
    for _ in 0..20 {
        w.run_all();
        w.now_ms += 60_000;
    }
}

fn image_update(w: &World, image: &str, config: UpdateConfig) -> Vec<Action> {
    let Some(Object::Service(s)) = w.store.find_by_name(Kind::Service, "redis") else { panic!("no service") };
    let mut spec: ServiceSpec = s.spec.clone();
    spec.task.container.image = image.into();
    spec.update = Some(config);
    control::update_service(&w.store, "redis", spec, None).unwrap()
}

#[test]
fn a_scale_up_plans_the_new_tasks_where_the_scheduler_then_puts_them() {
    let mut w = converged(3, 3);
    let change = control::scale_service(&w.store, "redis", 6).unwrap();
    let p = plan_of(&w, change.clone());
    assert!(p.complete && p.stopped.is_empty(), "{p:?}");
    assert_eq!(p.started.len(), 3);
    assert!(p.started.iter().all(|t| t.at_ms == 0 && t.image == "redis:3.0.6" && t.service == "redis"), "{:?}", p.started);
    assert_eq!(planned(&p, "redis").values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    apply(&mut w, change);
    assert_eq!(placement(&w, "redis"), planned(&p, "redis"));
}

#[test]
fn no_change_plans_nothing() {
    let w = converged(2, 4);
    let p = plan_of(&w, Vec::new());
    assert!(p.complete && p.started.is_empty() && p.stopped.is_empty() && p.pending.is_empty() && p.updates.is_empty(), "{p:?}");
    assert!(render::text(&p).contains("Nothing would change."), "{}", render::text(&p));
}

#[test]
fn a_rolling_update_plans_its_batches_on_the_update_clock() {
    let mut w = converged(3, 3);
    let config = UpdateConfig { parallelism: 1, delay_ms: 10_000, monitor_ms: 5_000, ..Default::default() };
    let change = image_update(&w, "redis:4", config);
    let p = plan_of(&w, change.clone());
    assert!(p.complete, "{p:?}");
    assert_eq!((p.stopped.len(), p.started.len()), (3, 3), "{p:?}");
    assert!(p.started.iter().all(|t| t.image == "redis:4") && p.stopped.iter().all(|t| t.image == "redis:3.0.6"));
    // One slot at a time, each after the previous one ran for the delay.
    let at: Vec<u64> = p.started.iter().map(|t| t.at_ms).collect();
    assert_eq!(at, vec![0, 10_000, 20_000], "{p:?}");
    assert_eq!(p.updates, vec![PlannedUpdate { service: "redis".into(), state: "completed".into(), message: p.updates[0].message.clone() }]);
    assert!(p.duration_ms >= 25_000, "the last slot's monitor period counts: {}", p.duration_ms);
    let text = render::text(&p);
    assert!(text.contains("10s") && text.contains("redis update would end completed"), "{text}");
    apply(&mut w, change);
    assert_eq!(placement(&w, "redis"), planned(&p, "redis"));
}

#[test]
fn a_drain_plans_moving_the_nodes_tasks_away() {
    let mut w = converged(3, 3);
    let drain = control::NodeUpdate { availability: Some(NodeAvailability::Drain), ..Default::default() };
    let change = control::update_node(&w.store, "worker-1", &drain).unwrap();
    let p = plan_of(&w, change.clone());
    assert_eq!(p.stopped.iter().map(|t| t.node.as_str()).collect::<Vec<_>>(), vec!["worker-1"], "{p:?}");
    assert_eq!(p.started.len(), 1);
    assert_ne!(p.started[0].node, "worker-1");
    assert!(!planned(&p, "redis").contains_key("worker-1"));
    apply(&mut w, change);
    assert_eq!(placement(&w, "redis"), planned(&p, "redis"));
}

#[test]
fn tasks_no_node_can_take_are_planned_pending_with_the_schedulers_reason() {
    let w = converged(2, 1);
    let mut spec = svc("cache", 2);
    spec.task.placement.constraints = vec!["node.labels.zone==nowhere".into()];
    let change = control::create_service(&w.store, spec, "svc-cache".into()).unwrap();
    let p = plan_of(&w, change);
    assert_eq!(p.pending.len(), 2, "{p:?}");
    assert!(p.pending.iter().all(|t| t.reason.starts_with("no suitable node")), "{:?}", p.pending);
    assert!(p.started.is_empty() && p.complete);
    assert!(render::text(&p).contains("PENDING"));
}

#[test]
fn a_plan_crosses_the_wire_unchanged() {
    let w = converged(3, 2);
    let p = plan_of(&w, control::scale_service(&w.store, "redis", 5).unwrap());
    assert!(!p.started.is_empty());
    let back = Plan::from(crate::proto::Plan::from(p.clone()));
    assert_eq!(back, p);
}

#[test]
fn a_removal_plans_every_task_stopping() {
    let w = converged(2, 3);
    let change = control::remove_service(&w.store, "redis").unwrap();
    let p = plan_of(&w, change);
    assert_eq!(p.stopped.len(), 3, "{p:?}");
    assert!(p.started.is_empty() && p.placement.is_empty() && p.complete);
}

#[derive(Debug, Clone)]
enum Change {
    Scale(u64),
    Drain(usize),
    Update { parallelism: u64, start_first: bool },
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0u64..12).prop_map(Change::Scale),
        (1usize..6).prop_map(Change::Drain),
        (0u64..4, any::<bool>()).prop_map(|(parallelism, start_first)| Change::Update { parallelism, start_first }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// For random clusters and changes, the plan's end placement is where the tasks then run,
    /// and the plan's stops and starts balance what it says runs at the end.
    #[test]
    fn the_plan_is_what_then_happens(workers in 1usize..6, replicas in 0u64..10, change in change_strategy()) {
        let mut w = converged(workers, replicas);
        let actions = match change {
            Change::Scale(n) => control::scale_service(&w.store, "redis", n).unwrap(),
            Change::Drain(k) => {
                let drain = control::NodeUpdate { availability: Some(NodeAvailability::Drain), ..Default::default() };
                control::update_node(&w.store, &format!("worker-{}", k.min(workers)), &drain).unwrap()
            }
            Change::Update { parallelism, start_first } => {
                let order = if start_first { crate::model::UpdateOrder::StartFirst } else { crate::model::UpdateOrder::StopFirst };
                image_update(&w, "redis:4", UpdateConfig { parallelism, order, ..Default::default() })
            }
        };
        let p = plan_of(&w, actions.clone());
        prop_assert!(p.complete, "{:?}", p);
        if p.started.is_empty() && p.stopped.is_empty() && p.placement.is_empty() {
            // Nothing planned (a scale to the current count): nothing happens.
            let before = placement(&w, "redis");
            apply(&mut w, actions);
            prop_assert_eq!(placement(&w, "redis"), before);
            return Ok(());
        }
        let before: u64 = placement(&w, "redis").values().sum();
        let after: u64 = planned(&p, "redis").values().sum();
        prop_assert_eq!(before + p.started.len() as u64 - p.stopped.len() as u64, after);
        apply(&mut w, actions);
        prop_assert_eq!(placement(&w, "redis"), planned(&p, "redis"));
    }
}

#[test]
fn a_plan_larger_than_a_transaction_applies_in_the_leaders_batches() {
    // 600 new tasks: more than one transaction (200 changes) and than one pass's slots (500).
    let w = converged(4, 1);
    let p = plan_of(&w, control::scale_service(&w.store, "redis", 601).unwrap());
    assert!(p.complete, "{p:?}");
    assert_eq!(p.started.len(), 600);
    assert_eq!(planned(&p, "redis").values().sum::<u64>(), 601);
}

#[test]
fn a_write_that_changes_nothing_lists_nothing_pending_before_it() {
    // A service whose tasks no node can take is pending before the plan; a no-op write (a
    // scale of another service to its count) must not list it.
    let mut w = converged(2, 2);
    let mut spec = svc("cache", 1);
    spec.task.placement.constraints = vec!["node.labels.zone==nowhere".into()];
    w.create(spec);
    w.run_all();
    let p = plan_of(&w, control::scale_service(&w.store, "redis", 2).unwrap());
    assert!(p.pending.is_empty() && p.started.is_empty() && p.placement.is_empty(), "{p:?}");
    assert!(render::text(&p).contains("Nothing would change."));
}

#[test]
fn writes_planned_together_follow_each_other() {
    // The second write is made against the state the first leaves (its expected version is
    // the first's): planned together they apply, write by write.
    let w = converged(3, 3);
    let first = control::scale_service(&w.store, "redis", 4).unwrap();
    let mut copy = w.store.clone();
    for txn in crate::store::batches(w.now_ms, first.clone()) {
        let i = copy.last_index() + 1;
        copy.apply(i, &txn).unwrap();
    }
    let second = control::scale_service(&copy, "redis", 6).unwrap();
    let p = plan_writes(w.store.clone(), vec![first, second], w.now_ms, 7).expect("plans");
    assert_eq!((p.started.len(), p.started_total), (3, 3), "{p:?}");
    assert_eq!(planned(&p, "redis").values().sum::<u64>(), 6);
}

#[test]
fn a_plans_tasks_never_take_the_ids_of_the_objects_its_write_creates() {
    let w = converged(2, 1);
    // The write's id comes from the seed the plan is given, as the manager makes it.
    let id = IdGen::new(7).next_id();
    let (p, end) = plan_to_end(w.store.clone(), vec![control::create_service(&w.store, svc("new", 3), id.clone()).unwrap()], w.now_ms, 7).unwrap();
    assert_eq!(p.started.len(), 3);
    assert!(end.get(Kind::Task, &id).is_none(), "a task took the service's id {id}");
}

#[test]
fn a_snapshot_keeps_the_swarm_and_drops_what_must_not_leave_the_managers() {
    let mut w = converged(3, 2);
    let a = control::create_payload(&w.store, control::PayloadKind::Secret, crate::model::SecretSpec { data: b"s3cr3t".to_vec(), annotations: crate::model::Annotations { name: "pw".into(), ..Default::default() } }, "sec1".into()).unwrap();
    w.commit(a);
    let objects: Vec<Object> = Kind::ALL.into_iter().flat_map(|k| w.store.list(k).cloned().collect::<Vec<_>>()).collect();
    let bytes = snapshot::export(w.store.last_index(), objects).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let key = control::cluster(&w.store).unwrap().root_ca.ca_key_pem.clone();
    assert!(!text.contains(&control::cluster(&w.store).unwrap().root_ca.join_token_worker), "a join token left");
    assert!(key.is_empty() || !text.contains(&key), "the CA key left");
    let back = Store::restore(&bytes).unwrap();
    assert_eq!(back.last_index(), w.store.last_index());
    assert!(matches!(back.get(Kind::Secret, "sec1"), Some(Object::Secret(s)) if s.spec.data.is_empty()));
    assert_eq!(back.list(Kind::Task).count(), w.store.list(Kind::Task).count());
    // The swarm and the file have one shape (a twin that holds its own CA checks it so);
    // a changed task does not.
    assert_eq!(snapshot::shape_hash(&w.store), snapshot::shape_hash(&back));
    assert_eq!(snapshot::shape_hash(&back), back.state_hash(), "the file holds nothing redaction removes");
    assert_ne!(snapshot::shape_hash(&w.store), w.store.state_hash(), "the swarm holds secrets and a CA the file has not");
    let latest = snapshot::latest_time_ms(&back);
    assert!(latest > 0 && back.list(Kind::Task).all(|o| matches!(o, Object::Task(t) if t.status.timestamp_ms <= latest)));
    // A plan from the snapshot is the plan from the swarm.
    let cmd = crate::cli::parse_control(["service", "scale", "redis=5", "--dry-run"]).unwrap();
    let from_file = offline::plan_command(&back, &cmd, 7).unwrap();
    assert_eq!(from_file.len(), 1);
    assert_eq!(planned(&from_file[0].1, "redis"), planned(&plan_of(&w, control::scale_service(&w.store, "redis", 5).unwrap()), "redis"));
    // service update reads the service first: answered from the file.
    let cmd = crate::cli::parse_control(["service", "update", "--image", "redis:4", "redis", "--dry-run"]).unwrap();
    let p = &offline::plan_command(&back, &cmd, 7).unwrap()[0].1;
    assert_eq!((p.stopped.len(), p.started.len()), (2, 2), "{p:?}");
}

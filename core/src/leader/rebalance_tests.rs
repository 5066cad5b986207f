//! Rebalance through the leader's passes: `service rebalance` and `--rebalance auto` move
//! only what spreads better, rolled out by the update controller (issue 24, item 3).

use super::tests::{reg, svc, World};
use super::PassInput;
use crate::control::{self, ControlError};
use crate::model::{Kind, NodeAvailability, Object, RebalanceMode, ServiceMode, UpdateState};
use std::collections::BTreeMap;

fn status(w: &World, name: &str) -> (Option<UpdateState>, String, usize) {
    match w.store.find_by_name(Kind::Service, name) {
        Some(Object::Service(s)) => {
            let u = s.update_status.as_ref();
            (u.map(|u| u.state), u.map(|u| u.message.clone()).unwrap_or_default(), s.rebalancing.len())
        }
        _ => panic!("no service {name}"),
    }
}

fn task_ids(w: &World) -> Vec<String> {
    w.tasks().into_iter().filter(|t| t.is_live()).map(|t| t.id).collect()
}

/// Swarm never moves a running task (a node made active again gets nothing); `service
/// rebalance` moves exactly the two the returned node should hold, and says when it is done.
#[test]
fn service_rebalance_moves_what_spreads_better_and_completes() {
    let mut w = World::new(3);
    w.create(svc("redis", 6));
    w.run_all();
    let node = |w: &World, host: &str| w.running("redis").get(&w.node_id(host)).copied().unwrap_or(0);
    let set = |w: &mut World, a| {
        let u = control::NodeUpdate { availability: Some(a), ..Default::default() };
        let actions = control::update_node(&w.store, "worker-1", &u).unwrap();
        w.commit(actions);
        w.run_all();
    };
    set(&mut w, NodeAvailability::Drain);
    set(&mut w, NodeAvailability::Active);
    assert_eq!(node(&w, "worker-1"), 0, "nothing moves by itself");
    let before = task_ids(&w);
    w.commit(control::rebalance_services(&w.store, &["redis".into()], false).unwrap());
    assert_eq!(status(&w, "redis").2, 2, "two tasks to move");
    for _ in 0..30 {
        w.run_all();
        w.now_ms += 1_000;
    }
    assert_eq!([node(&w, "worker-1"), node(&w, "worker-2"), node(&w, "worker-3")], [2, 2, 2]);
    let after = task_ids(&w);
    assert_eq!(after.iter().filter(|t| !before.contains(t)).count(), 2, "only the two moved tasks were replaced");
    assert_eq!(status(&w, "redis"), (Some(UpdateState::Completed), "rebalance completed".into(), 0));
    // Balanced now: another rebalance changes nothing.
    assert!(control::rebalance_services(&w.store, &["redis".into()], false).unwrap().is_empty());
}

/// With `--rebalance auto`, a node that comes back (registers again) gets its share without
/// anyone asking; a service without it stays put.
#[test]
fn auto_rebalance_follows_a_node_that_comes_back() {
    let mut w = World::new(3);
    let mut auto = svc("web", 6);
    auto.rebalance = RebalanceMode::Auto;
    w.create(auto);
    w.create(svc("api", 3));
    w.run_all();
    let dead = w.node_id("worker-2");
    w.pass(PassInput { expired: vec![dead.clone()], ..Default::default() });
    w.run_all();
    assert_eq!(w.running("web").get(&dead), None);
    w.pass(PassInput { registrations: vec![reg("worker-2", BTreeMap::new())], ..Default::default() });
    for _ in 0..30 {
        w.run_all();
        w.now_ms += 1_000;
    }
    assert_eq!(w.running("web").get(&dead), Some(&2), "{:?}", w.running("web"));
    assert_eq!(w.running("api").get(&dead), None, "api has no --rebalance auto");
    assert_eq!(status(&w, "web").0, Some(UpdateState::Completed));
}

/// What cannot be rebalanced is refused and says why; nothing named is refused too.
#[test]
fn a_rebalance_that_cannot_be_is_refused() {
    let mut w = World::new(2);
    let mut global = svc("agent", 0);
    global.mode = ServiceMode::Global;
    w.create(global);
    w.run_all();
    let e = control::rebalance_services(&w.store, &["agent".into()], false).unwrap_err();
    assert!(matches!(&e, ControlError::FailedPrecondition(m) if m.contains("not a replicated service")), "{e:?}");
    let e = control::rebalance_services(&w.store, &[], false).unwrap_err();
    assert!(matches!(&e, ControlError::InvalidArgument(m) if m.contains("--all")), "{e:?}");
    assert!(matches!(control::rebalance_services(&w.store, &["nosuch".into()], false), Err(ControlError::NotFound(_))));
    // --all skips what does not apply.
    assert!(control::rebalance_services(&w.store, &[], true).unwrap().is_empty());
}

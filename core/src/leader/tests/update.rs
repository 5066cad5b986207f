//! Rolling updates through the leader's passes: one slot at a time with its delay, a failing
//! update paused with the task in its message and rolled back, a global service node by node.

use super::*;

fn running_images(w: &World, service: &str) -> BTreeMap<u64, String> {
    w.tasks()
        .into_iter()
        .filter(|t| t.service_name == service && t.status.state == TaskState::Running && t.desired_state == TaskState::Running)
        .map(|t| (t.slot, t.spec.container.image.clone()))
        .collect()
}

fn update_state(w: &World, service: &str) -> Option<crate::model::UpdateState> {
    control::find_service(&w.store, service).unwrap().update_status.as_ref().map(|u| u.state)
}

#[test]
fn rolling_update_goes_one_slot_at_a_time_with_its_delay_and_completes() {
    use crate::model::{UpdateConfig, UpdateState};
    let mut w = World::new(3);
    let mut spec = svc("redis", 3);
    spec.update = Some(UpdateConfig { delay_ms: 10_000, monitor_ms: 5_000, ..Default::default() });
    w.create(spec.clone());
    w.run_all();
    spec.task.container.image = "redis:3.0.7".into();
    w.commit(control::update_service(&w.store, "redis", spec, None).unwrap());
    let mut started_new: BTreeMap<u64, u64> = BTreeMap::new();
    for _ in 0..60 {
        w.run_all();
        let images = running_images(&w, "redis");
        // Stop-first, parallelism 1: never fewer than replicas - 1 running.
        assert!(images.len() >= 2, "at {}: {images:?}", w.now_ms);
        for (slot, image) in &images {
            if image == "redis:3.0.7" {
                started_new.entry(*slot).or_insert(w.now_ms);
            }
        }
        w.now_ms += 1_000;
    }
    assert_eq!(running_images(&w, "redis").values().filter(|i| *i == "redis:3.0.7").count(), 3);
    let times: Vec<u64> = started_new.values().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(times.len(), 3, "{started_new:?}");
    assert!(times.windows(2).all(|p| p[1] - p[0] >= 10_000), "slots updated less than the delay apart: {times:?}");
    assert_eq!(update_state(&w, "redis"), Some(UpdateState::Completed));
    w.assert_one_live_task_per_slot();
}

#[test]
fn a_failing_update_pauses_with_the_task_in_the_message_and_rollback_restores_the_spec() {
    use crate::model::{FailureAction, UpdateConfig, UpdateState};
    let mut w = World::new(3);
    let mut spec = svc("pinger", 4);
    spec.update = Some(UpdateConfig { parallelism: 2, monitor_ms: 5_000, ..Default::default() });
    w.create(spec.clone());
    w.run_all();
    let good = spec.clone();
    spec.task.container.image = "pinger:bad".into();
    w.commit(control::update_service(&w.store, "pinger", spec.clone(), None).unwrap());
    w.settle();
    // The agents: tasks of the bad image fail instead of running.
    w.broken_image = Some("pinger:bad".into());
    for _ in 0..5 {
        w.run_all();
        w.now_ms += 1_000;
    }
    let s = control::find_service(&w.store, "pinger").unwrap();
    let st = s.update_status.clone().unwrap();
    assert_eq!(st.state, UpdateState::Paused, "{st:?}");
    assert!(st.message.starts_with("update paused due to failure or early termination of task "), "{}", st.message);
    // Paused: at most parallelism slots were touched; the others still run the good image.
    assert!(running_images(&w, "pinger").values().filter(|i| *i == "redis:3.0.6").count() >= 2, "{:?}", running_images(&w, "pinger"));

    // `service rollback` brings the previous spec back and rolls it out.
    w.commit(control::rollback_service(&w.store, "pinger").unwrap());
    for _ in 0..30 {
        w.run_all();
        w.now_ms += 1_000;
    }
    let s = control::find_service(&w.store, "pinger").unwrap();
    assert_eq!(s.spec.task, good.task);
    assert_eq!(s.update_status.as_ref().map(|u| u.state), Some(UpdateState::RollbackCompleted));
    assert_eq!(running_images(&w, "pinger").values().filter(|i| *i == "redis:3.0.6").count(), 4);

    // With --update-failure-action rollback, the controller rolls back by itself.
    spec.update = Some(UpdateConfig { parallelism: 1, failure_action: FailureAction::Rollback, ..Default::default() });
    w.commit(control::update_service(&w.store, "pinger", spec, None).unwrap());
    for _ in 0..30 {
        w.run_all();
        w.now_ms += 1_000;
    }
    let s = control::find_service(&w.store, "pinger").unwrap();
    let st = s.update_status.clone().unwrap();
    assert_eq!(st.state, UpdateState::RollbackCompleted, "{st:?}");
    assert_eq!(s.spec.task.container.image, "redis:3.0.6");
    assert_eq!(running_images(&w, "pinger").values().filter(|i| *i == "redis:3.0.6").count(), 4);
    // No rollback without a previous spec.
    let mut w2 = World::new(1);
    w2.create(svc("fresh", 1));
    assert!(control::rollback_service(&w2.store, "fresh").unwrap_err().to_string().contains("no previous spec"));
}

#[test]
fn a_global_service_rolls_node_by_node() {
    use crate::model::{UpdateConfig, UpdateState};
    let mut w = World::new(4);
    let mut spec = svc("agent", 1);
    spec.mode = ServiceMode::Global;
    spec.update = Some(UpdateConfig { delay_ms: 3_000, monitor_ms: 1_000, ..Default::default() });
    w.create(spec.clone());
    w.run_all();
    assert_eq!(w.running("agent").len(), 4);
    spec.task.container.image = "agent:2".into();
    w.commit(control::update_service(&w.store, "agent", spec, None).unwrap());
    let mut first_new: BTreeMap<String, u64> = BTreeMap::new();
    for _ in 0..30 {
        w.run_all();
        let running: Vec<Task> = w
            .tasks()
            .into_iter()
            .filter(|t| t.service_name == "agent" && t.status.state == TaskState::Running && t.desired_state == TaskState::Running)
            .collect();
        // Stop-first, parallelism 1: at least 3 of 4 nodes run the agent at any time.
        assert!(running.len() >= 3, "at {}: {}", w.now_ms, running.len());
        for t in running.iter().filter(|t| t.spec.container.image == "agent:2") {
            first_new.entry(t.node_id.clone()).or_insert(w.now_ms);
        }
        w.now_ms += 1_000;
    }
    let times: Vec<u64> = first_new.values().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(first_new.len(), 4, "{first_new:?}");
    assert!(times.windows(2).all(|p| p[1] - p[0] >= 3_000), "{times:?}");
    assert_eq!(update_state(&w, "agent"), Some(UpdateState::Completed));
    w.assert_one_live_task_per_slot();
}

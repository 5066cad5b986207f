//! The autoscaler through the leader's passes (issue 24, item 4): a load step scales a
//! service out, the end of the load scales it in after the cooldown, a short dip does not.
//! The load model: `load_m` thousandths of a CPU of demand shared by the running tasks, each
//! able to use one whole CPU at most (what the simulator's requests do).

use super::tests::{svc, World};
use super::PassInput;
use crate::control;
use crate::model::{Autoscale, Kind, Object, ServiceMode, TaskUsage};
use crate::orchestrator::autoscale::{Autoscaler, EVAL_PERIOD_MS};

fn replicas(w: &World) -> u64 {
    match w.store.find_by_name(Kind::Service, "web") {
        Some(Object::Service(s)) => match s.spec.mode {
            ServiceMode::Replicated { replicas } => replicas,
            _ => unreachable!(),
        },
        _ => panic!("no service web"),
    }
}

/// One evaluation period: agents report `load_m` spread over the running tasks, the
/// autoscaler decides, the pass writes it, agents start what was placed.
fn period(w: &mut World, a: &mut Autoscaler, load_m: u64) {
    let running: Vec<String> = w.running_tasks("web");
    let each = if running.is_empty() { 0 } else { (load_m / running.len() as u64).min(1_000) as u32 };
    a.handle_usage(w.now_ms, running.into_iter().map(|task_id| TaskUsage { task_id, cpu_millicores: each }).collect());
    let scales = a.poll_scale(&w.store, w.now_ms);
    w.pass(PassInput { scales, ..Default::default() });
    w.run_all();
    w.now_ms += EVAL_PERIOD_MS;
}

fn autoscaled(min: u64, max: u64, target: u32, cooldown_ms: u64, replicas: u64) -> crate::model::ServiceSpec {
    let mut s = svc("web", replicas);
    s.autoscale = Some(Autoscale { min_replicas: min, max_replicas: max, target_cpu_percent: target, cooldown_ms });
    s
}

/// Out under a load step (in steps: a task saturates at one CPU, so the first measure
/// underestimates), steady while the load holds, in to the minimum a cooldown after it ends.
#[test]
fn scales_out_under_load_and_in_after_the_cooldown() {
    let mut w = World::new(3);
    w.create(autoscaled(2, 10, 50, 60_000, 2));
    w.run_all();
    let mut a = Autoscaler::new(w.now_ms);
    let mut seen = vec![replicas(&w)];
    // 3 CPUs of demand at 50% per task: 6 tasks.
    for _ in 0..24 {
        period(&mut w, &mut a, 3_000);
        seen.push(replicas(&w));
    }
    assert_eq!(replicas(&w), 6, "{seen:?}");
    assert_eq!(seen.windows(2).filter(|p| p[0] != p[1]).count(), 2, "two steps out, then steady: {seen:?}");
    // The load ends: nothing for a cooldown, then the minimum.
    let mut low = Vec::new();
    for _ in 0..20 {
        period(&mut w, &mut a, 0);
        low.push(replicas(&w));
    }
    let first_in = low.iter().position(|r| *r == 2).expect("scaled in");
    assert!(low[..first_in].iter().all(|r| *r == 6), "{low:?}");
    assert!(first_in >= 60_000 / EVAL_PERIOD_MS as usize - 1, "not before the cooldown: {low:?}");
    match w.store.find_by_name(Kind::Service, "web") {
        Some(Object::Service(s)) => {
            let st = s.autoscale_status.as_ref().unwrap();
            assert_eq!((st.from_replicas, st.to_replicas, st.cpu_percent), (6, 2, Some(0)));
        }
        _ => unreachable!(),
    }
}

/// A dip shorter than the cooldown takes nothing away; a load within 10% of the target moves
/// nothing.
#[test]
fn a_short_dip_does_not_flap() {
    let mut w = World::new(3);
    w.create(autoscaled(1, 10, 50, 30_000, 4));
    w.run_all();
    let mut a = Autoscaler::new(w.now_ms);
    for _ in 0..10 {
        period(&mut w, &mut a, 2_100); // 52% per task: within the tolerance
    }
    assert_eq!(replicas(&w), 4);
    let mut seen = Vec::new();
    for load in [0, 0, 0, 2_000, 2_000, 0, 0, 0, 0, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000] {
        period(&mut w, &mut a, load);
        seen.push(replicas(&w));
    }
    assert!(seen.iter().all(|r| *r == 4), "{seen:?}");
}

/// Replicas outside the bounds (a `service scale` by hand) go to the nearest bound at once,
/// with no sample; a new leader (a fresh autoscaler) waits a whole cooldown of its own before
/// scaling in.
#[test]
fn bounds_hold_and_a_new_leader_waits_before_scaling_in() {
    let mut w = World::new(3);
    w.create(autoscaled(2, 5, 50, 30_000, 3));
    w.run_all();
    let a = control::scale_service(&w.store, "web", 9).unwrap();
    w.commit(a);
    let mut fresh = Autoscaler::new(w.now_ms);
    period(&mut w, &mut fresh, 0);
    assert_eq!(replicas(&w), 5, "clamped to max");
    let mut low = Vec::new();
    for _ in 0..12 {
        period(&mut w, &mut fresh, 0);
        low.push(replicas(&w));
    }
    assert!(low[..5].iter().all(|r| *r == 5), "the cooldown after the clamp: {low:?}");
    assert_eq!(replicas(&w), 2, "{low:?}");
    // Leadership moves: the load returns, and goes; the new leader waits its own cooldown.
    let mut next = Autoscaler::new(w.now_ms);
    for _ in 0..6 {
        period(&mut w, &mut next, 2_000);
    }
    assert_eq!(replicas(&w), 4);
    let mut next = Autoscaler::new(w.now_ms);
    let mut after = Vec::new();
    for _ in 0..8 {
        period(&mut w, &mut next, 0);
        after.push(replicas(&w));
    }
    assert!(after[..5].iter().all(|r| *r == 4), "{after:?}");
    assert_eq!(replicas(&w), 2, "{after:?}");
}

/// A node's report counts only for its own tasks: made-up load on another node's task is
/// dropped.
#[test]
fn a_node_reports_only_its_own_tasks() {
    let mut w = World::new(2);
    w.create(autoscaled(1, 4, 50, 60_000, 2));
    w.run_all();
    let tasks = w.tasks();
    let (t1, t2) = (&tasks[0], &tasks[1]);
    assert_ne!(t1.node_id, t2.node_id, "spread over both workers");
    let report = vec![
        TaskUsage { task_id: t1.id.clone(), cpu_millicores: 900 },
        TaskUsage { task_id: t2.id.clone(), cpu_millicores: 900 },
        TaskUsage { task_id: "no-such-task".into(), cpu_millicores: 900 },
    ];
    let kept = crate::orchestrator::autoscale::own_samples(&w.store, &t1.node_id, report);
    assert_eq!(kept, vec![TaskUsage { task_id: t1.id.clone(), cpu_millicores: 900 }]);
}

/// `--autoscale` on a global service, or with bounds above the swarm's replicas limit, is
/// refused with what to do.
#[test]
fn bad_bounds_are_refused() {
    let w = World::new(1);
    let mut g = autoscaled(1, 3, 50, 60_000, 1);
    g.mode = ServiceMode::Global;
    let e = control::create_service(&w.store, g, "x".into()).unwrap_err();
    assert!(e.to_string().contains("replicated services only"), "{e}");
    let big = autoscaled(1, 1 << 40, 50, 60_000, 1);
    let e = control::create_service(&w.store, big, "x".into()).unwrap_err();
    assert!(e.to_string().contains("allows at most"), "{e}");
}

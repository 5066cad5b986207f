//! The leader's components together, over a real store, with agents simulated by hand: each
//! `settle` runs passes until nothing changes, and `run_all` plays agents that start every
//! assigned task and stop every task whose desired state moved on.

use super::*;
use crate::control;
use crate::dispatcher::{Registration, StatusUpdate};
use crate::model::{
    NodeAvailability, NodeDescription, NodeRole, Resources, RestartCondition, ServiceMode, ServiceSpec, Task,
    TaskStatus,
};
use rand::SeedableRng;
use std::collections::BTreeMap;

mod update;

pub(crate) struct World {
    pub(crate) store: Store,
    pub(crate) now_ms: u64,
    ids: IdGen,
    rng: ChaCha8Rng,
    /// Tasks of this image fail instead of running (a broken release).
    broken_image: Option<String>,
}

impl World {
    pub(crate) fn new(workers: usize) -> World {
        let mut w = World { store: Store::new(), now_ms: 1_000, ids: IdGen::new(1), rng: ChaCha8Rng::seed_from_u64(1), broken_image: None };
        let regs = (1..=workers).map(|i| reg(&format!("worker-{i}"), BTreeMap::new())).collect();
        w.pass(PassInput { registrations: regs, ..Default::default() });
        w
    }

    pub(crate) fn commit(&mut self, actions: Vec<Action>) {
        for txn in crate::store::batches(self.now_ms, actions) {
            let i = self.store.last_index() + 1;
            self.store.apply(i, &txn).expect("pass applies");
        }
    }

    pub(crate) fn pass(&mut self, mut input: PassInput) -> usize {
        input.now_ms = self.now_ms;
        // Machines that register for the first time joined with the worker token just before.
        let token = match self.store.get(Kind::Cluster, CLUSTER_ID) {
            Some(Object::Cluster(c)) => c.root_ca.join_token_worker.clone(),
            _ => {
                let a = pass(&self.store, &PassInput::default(), &mut self.ids, &mut self.rng);
                self.commit(a);
                return self.pass(input);
            }
        };
        for r in &input.registrations {
            if self.store.get(Kind::Node, &r.node_id).is_none() {
                let (a, role) = control::join_node(&self.store, &token, r.node_id.clone(), r.raft_id, &r.addr).unwrap();
                assert_eq!(role, NodeRole::Worker);
                self.commit(a);
            }
        }
        let a = pass(&self.store, &input, &mut self.ids, &mut self.rng);
        let n = a.len();
        if n > 0 {
            self.commit(a);
        }
        n
    }

    /// The agent of `t`'s node reports it FAILED (exit 1); the passes then settle.
    fn fail(&mut self, t: &Task) {
        let up = StatusUpdate {
            node_id: t.node_id.clone(),
            task_id: t.id.clone(),
            status: TaskStatus { state: TaskState::Failed, exit_code: Some(1), timestamp_ms: self.now_ms, ..Default::default() },
        };
        self.pass(PassInput { status_updates: vec![up], ..Default::default() });
        self.settle();
    }

    /// Passes until quiet (bounded).
    pub(crate) fn settle(&mut self) {
        for _ in 0..20 {
            if self.pass(PassInput::default()) == 0 {
                return;
            }
        }
        panic!("leader passes do not converge");
    }

    pub(crate) fn tasks(&self) -> Vec<Task> {
        self.store.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t.clone()) } else { None }).collect()
    }

    /// Agents: every assigned task desired RUNNING runs; every task desired past RUNNING stops.
    pub(crate) fn run_all(&mut self) {
        for _ in 0..5 {
            self.settle();
            let ups: Vec<StatusUpdate> = self
                .tasks()
                .into_iter()
                .filter(|t| !t.node_id.is_empty() && t.status.state >= TaskState::Assigned && t.status.state <= TaskState::Running)
                // A down node's agent reports nothing.
                .filter(|t| !matches!(self.store.get(Kind::Node, &t.node_id), Some(Object::Node(n)) if n.status.state == crate::model::NodeState::Down))
                .filter_map(|t| {
                    let state = if t.desired_state == TaskState::Running {
                        TaskState::Running
                    } else if t.desired_state > TaskState::Running {
                        TaskState::Shutdown
                    } else {
                        return None;
                    };
                    let broken = self.broken_image.as_ref() == Some(&t.spec.container.image) && state == TaskState::Running;
                    let (state, err) = if broken { (TaskState::Failed, "task: non-zero exit (1)") } else { (state, "") };
                    (state > t.status.state).then(|| StatusUpdate {
                        node_id: t.node_id.clone(),
                        task_id: t.id.clone(),
                        status: TaskStatus { state, timestamp_ms: self.now_ms, err: err.into(), ..Default::default() },
                    })
                })
                .collect();
            if ups.is_empty() {
                return;
            }
            self.pass(PassInput { status_updates: ups, ..Default::default() });
        }
    }

    pub(crate) fn running(&self, service: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for t in self.tasks() {
            if t.service_name == service && t.status.state == TaskState::Running && t.desired_state == TaskState::Running {
                *m.entry(t.node_id.clone()).or_default() += 1;
            }
        }
        m
    }

    /// The ids of `service`'s running tasks.
    pub(crate) fn running_tasks(&self, service: &str) -> Vec<String> {
        let running = |t: &Task| t.service_name == service && t.status.state == TaskState::Running && t.desired_state == TaskState::Running;
        self.tasks().into_iter().filter(running).map(|t| t.id).collect()
    }

    pub(crate) fn node_id(&self, host: &str) -> String {
        control::find_node(&self.store, host).unwrap().id.clone()
    }

    pub(crate) fn create(&mut self, spec: ServiceSpec) {
        let id = format!("svc-{}", spec.annotations.name);
        let a = control::create_service(&self.store, spec, id).unwrap();
        self.commit(a);
    }

    fn assert_one_live_task_per_slot(&self) {
        let mut slots: BTreeMap<(String, u64, String), usize> = BTreeMap::new();
        for t in self.tasks().into_iter().filter(|t| t.is_live()) {
            let node = if t.slot == 0 { t.node_id.clone() } else { String::new() };
            *slots.entry((t.service_id.clone(), t.slot, node)).or_default() += 1;
        }
        assert!(slots.values().all(|n| *n == 1), "{slots:?}");
    }
}

pub(crate) fn reg(host: &str, labels: BTreeMap<String, String>) -> Registration {
    Registration {
        node_id: format!("id-{host}"),
        addr: format!("{host}:4242"),
        description: NodeDescription {
            hostname: host.into(),
            resources: Resources { nano_cpus: 4_000_000_000, memory_bytes: 8 << 30, ..Default::default() },
            ..Default::default()
        },
        labels,
        raft_id: host.bytes().map(u64::from).sum(),
    }
}

pub(crate) fn svc(name: &str, replicas: u64) -> ServiceSpec {
    let mut s = ServiceSpec::default();
    s.annotations.name = name.into();
    s.task.container.image = "redis:3.0.6".into();
    s.mode = ServiceMode::Replicated { replicas };
    s
}

#[test]
fn replicas_spread_and_follow_scale() {
    let mut w = World::new(3);
    w.create(svc("redis", 3));
    w.run_all();
    assert_eq!(w.running("redis").values().copied().collect::<Vec<_>>(), vec![1, 1, 1]);
    w.commit(control::scale_service(&w.store, "redis", 20).unwrap());
    w.run_all();
    assert_eq!(w.running("redis").values().sum::<usize>(), 20);
    assert!(w.running("redis").values().all(|n| (6..=7).contains(n)), "{:?}", w.running("redis"));
    w.commit(control::scale_service(&w.store, "redis", 2).unwrap());
    w.run_all();
    assert_eq!(w.running("redis").values().sum::<usize>(), 2);
    w.assert_one_live_task_per_slot();
    // Scaled-away tasks are gone once stopped; history stays within retention.
    assert!(w.tasks().iter().all(|t| t.desired_state != TaskState::Remove), "removed tasks reaped");
}

#[test]
fn drain_moves_tasks_and_active_does_not_rebalance() {
    let mut w = World::new(3);
    w.create(svc("redis", 3));
    w.run_all();
    let drain = control::NodeUpdate { availability: Some(NodeAvailability::Drain), ..Default::default() };
    w.commit(control::update_node(&w.store, "worker-1", &drain).unwrap());
    w.run_all();
    let r = w.running("redis");
    assert_eq!(r.get(&w.node_id("worker-1")), None, "{r:?}");
    assert_eq!(r.values().sum::<usize>(), 3);
    let active = control::NodeUpdate { availability: Some(NodeAvailability::Active), ..Default::default() };
    w.commit(control::update_node(&w.store, "worker-1", &active).unwrap());
    w.run_all();
    assert_eq!(w.running("redis").get(&w.node_id("worker-1")), None, "swarm does not rebalance by itself");
}

#[test]
fn a_down_node_loses_its_tasks_at_once_without_restart_delay() {
    let mut w = World::new(3);
    w.create(svc("redis", 3));
    w.run_all();
    let dead = w.node_id("worker-2");
    w.pass(PassInput { expired: vec![dead.clone()], ..Default::default() });
    w.run_all();
    let r = w.running("redis");
    assert_eq!(r.values().sum::<usize>(), 3, "{r:?}");
    assert!(!r.contains_key(&dead));
    w.assert_one_live_task_per_slot();
}

/// Two workers running one replica of `job`, restarted on failure by this policy.
fn restarting_job(max_attempts: u64, window_ms: u64, delay_ms: u64) -> World {
    let mut w = World::new(2);
    let mut s = svc("job", 1);
    s.task.restart.condition = RestartCondition::OnFailure;
    s.task.restart.max_attempts = max_attempts;
    s.task.restart.window_ms = window_ms;
    s.task.restart.delay_ms = delay_ms;
    w.create(s);
    w.run_all();
    w
}

#[test]
fn restart_policy_delay_and_max_attempts() {
    let mut w = restarting_job(2, 0, 5_000);
    for attempt in 0..3 {
        let t = w.tasks().into_iter().find(|t| t.is_live()).expect("a live task");
        assert_eq!(t.desired_state, TaskState::Running, "attempt {attempt}");
        w.fail(&t);
        let live: Vec<Task> = w.tasks().into_iter().filter(|t| t.is_live()).collect();
        assert_eq!(live.len(), 1);
        if attempt < 2 {
            assert_eq!(live[0].desired_state, TaskState::Ready, "restart waits for the delay");
            w.now_ms += 5_000;
            w.run_all();
        } else {
            assert_eq!(live[0].status.state, TaskState::Failed, "max attempts reached: the slot keeps its failed task");
        }
    }
}

#[test]
fn global_service_follows_joins_and_drains() {
    let mut w = World::new(2);
    let mut s = svc("agent", 0);
    s.mode = ServiceMode::Global;
    w.create(s);
    w.run_all();
    assert_eq!(w.running("agent").len(), 2);
    w.pass(PassInput { registrations: vec![reg("worker-3", BTreeMap::new())], ..Default::default() });
    w.run_all();
    assert_eq!(w.running("agent").len(), 3);
    let drain = control::NodeUpdate { availability: Some(NodeAvailability::Drain), ..Default::default() };
    w.commit(control::update_node(&w.store, "worker-1", &drain).unwrap());
    w.run_all();
    assert_eq!(w.running("agent").len(), 2);
    w.assert_one_live_task_per_slot();
}

#[test]
fn constraint_change_moves_tasks_and_unsatisfiable_tasks_explain() {
    let mut w = World::new(0);
    w.pass(PassInput {
        registrations: vec![
            reg("a", BTreeMap::from([("zone".into(), "east".into())])),
            reg("b", BTreeMap::from([("zone".into(), "west".into())])),
        ],
        ..Default::default()
    });
    w.create(svc("web", 2));
    w.run_all();
    assert_eq!(w.running("web").len(), 2);
    let mut spec = control::find_service(&w.store, "web").unwrap().spec.clone();
    spec.task.placement.constraints = vec!["node.labels.zone==east".into()];
    w.commit(control::update_service(&w.store, "web", spec.clone(), None).unwrap());
    w.run_all();
    assert_eq!(w.running("web"), BTreeMap::from([(w.node_id("a"), 2)]));
    spec.task.placement.constraints = vec!["node.labels.zone==north".into()];
    w.commit(control::update_service(&w.store, "web", spec, None).unwrap());
    w.run_all();
    let pending: Vec<Task> = w.tasks().into_iter().filter(|t| t.is_live() && t.status.state == TaskState::Pending).collect();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].status.err, "no suitable node (scheduling constraints not satisfied on 2 nodes)");
}

#[test]
fn removing_a_service_reaps_its_tasks_and_passes_go_quiet() {
    let mut w = World::new(2);
    w.create(svc("web", 4));
    w.run_all();
    w.commit(control::remove_service(&w.store, "web").unwrap());
    w.run_all();
    assert!(w.tasks().is_empty(), "{:?}", w.tasks());
    assert_eq!(w.pass(PassInput::default()), 0, "a converged store gives an idle pass");
}

#[test]
fn a_pending_task_takes_a_new_spec_at_once() {
    let mut w = World::new(1);
    let mut s = svc("db", 1);
    s.task.resources.reservations = Some(Resources { memory_bytes: 16 << 30, ..Default::default() });
    w.create(s.clone());
    w.run_all();
    assert!(w.running("db").is_empty());
    s.task.resources.reservations = Some(Resources { memory_bytes: 1 << 30, ..Default::default() });
    w.commit(control::update_service(&w.store, "db", s, None).unwrap());
    w.run_all();
    assert_eq!(w.running("db").values().sum::<usize>(), 1);
    w.assert_one_live_task_per_slot();
}

#[test]
fn node_roles_follow_the_raft_membership() {
    let mut w = World::new(2);
    let id1 = reg("worker-1", BTreeMap::new()).raft_id;
    let voters = std::collections::BTreeSet::from([id1]);
    w.pass(PassInput { voters: voters.clone(), leader_raft_id: id1, ..Default::default() });
    let n = control::find_node(&w.store, "worker-1").unwrap().clone();
    assert_eq!(n.role, crate::model::NodeRole::Manager);
    assert!(n.manager_status.as_ref().is_some_and(|m| m.leader && m.raft_id == id1));
    assert_eq!(control::find_node(&w.store, "worker-2").unwrap().role, NodeRole::Worker);
    assert_eq!(w.pass(PassInput { voters: voters.clone(), leader_raft_id: id1, ..Default::default() }), 0, "no rewrite when unchanged");
    // A second manager the leader's raft stops hearing from shows Unreachable, and Reachable
    // again once it answers; the leader itself never does.
    let id2 = reg("worker-2", BTreeMap::new()).raft_id;
    let two: std::collections::BTreeSet<u64> = [id1, id2].into();
    let lost = PassInput { voters: two.clone(), leader_raft_id: id1, unreachable: Some([id1, id2].into()), ..Default::default() };
    assert_eq!(w.pass(lost), 1, "only worker-2 changes");
    assert_eq!(control::find_node(&w.store, "worker-2").unwrap().manager_status_text(), "Unreachable");
    assert_eq!(control::find_node(&w.store, "worker-1").unwrap().manager_status_text(), "Leader");
    // Unknown (a new leader's first second): what the store says stays.
    assert_eq!(w.pass(PassInput { voters: two.clone(), leader_raft_id: id1, unreachable: None, ..Default::default() }), 0);
    assert_eq!(control::find_node(&w.store, "worker-2").unwrap().manager_status_text(), "Unreachable");
    w.pass(PassInput { voters: two, leader_raft_id: id1, unreachable: Some(Default::default()), ..Default::default() });
    assert_eq!(control::find_node(&w.store, "worker-2").unwrap().manager_status_text(), "Reachable");
}

#[test]
fn tasks_of_a_node_down_for_24_hours_become_orphaned_and_are_reaped() {
    let mut w = World::new(2);
    w.create(svc("web", 2));
    w.run_all();
    let dead = w.node_id("worker-1");
    w.pass(PassInput { expired: vec![dead.clone()], ..Default::default() });
    w.run_all();
    let on_dead = |w: &World| w.tasks().into_iter().filter(|t| t.node_id == dead).collect::<Vec<_>>();
    assert!(on_dead(&w).iter().all(|t| t.status.state == TaskState::Running), "not before 24 h");
    w.now_ms += crate::dispatcher::ORPHAN_AFTER_MS;
    w.run_all();
    assert!(on_dead(&w).iter().all(|t| t.status.state == TaskState::Orphaned), "{:?}", on_dead(&w));
    assert_eq!(w.running("web").values().sum::<usize>(), 2);
}

/// Agents that finish every running task with exit `code`.
fn finish_all(w: &mut World, code: i32) {
    let ups: Vec<StatusUpdate> = w
        .tasks()
        .into_iter()
        .filter(|t| t.status.state == TaskState::Running && t.desired_state == TaskState::Running)
        .map(|t| StatusUpdate {
            node_id: t.node_id.clone(),
            task_id: t.id.clone(),
            status: TaskStatus {
                state: if code == 0 { TaskState::Complete } else { TaskState::Failed },
                exit_code: Some(code),
                timestamp_ms: w.now_ms,
                ..Default::default()
            },
        })
        .collect();
    w.pass(PassInput { status_updates: ups, ..Default::default() });
}

#[test]
fn replicated_job_runs_total_completions_at_most_max_concurrent_at_a_time() {
    let mut w = World::new(3);
    let mut s = svc("migrate", 0);
    s.mode = ServiceMode::ReplicatedJob { max_concurrent: 2, total_completions: 5 };
    s.task.restart.condition = RestartCondition::OnFailure;
    s.task.restart.delay_ms = 0;
    w.create(s);
    let mut rounds = 0;
    loop {
        w.run_all();
        let running = w.running("migrate").values().sum::<usize>();
        let done = w.tasks().iter().filter(|t| t.status.state == TaskState::Complete).count();
        assert!(running <= 2, "max concurrent exceeded: {running}");
        if done == 5 {
            assert_eq!(running, 0);
            break;
        }
        // One failure on the first round: it is retried, not counted.
        finish_all(&mut w, if rounds == 0 { 1 } else { 0 });
        rounds += 1;
        assert!(rounds < 10, "job does not finish");
    }
    assert_eq!(w.tasks().iter().filter(|t| t.status.state == TaskState::Complete).count(), 5);
}

#[test]
fn global_job_runs_once_per_node_and_on_nodes_that_join() {
    let mut w = World::new(2);
    let mut s = svc("scan", 0);
    s.mode = ServiceMode::GlobalJob;
    s.task.restart.condition = RestartCondition::OnFailure;
    w.create(s);
    w.run_all();
    assert_eq!(w.running("scan").len(), 2);
    finish_all(&mut w, 0);
    w.run_all();
    assert!(w.running("scan").is_empty(), "completed tasks are not run again");
    w.pass(PassInput { registrations: vec![reg("worker-3", BTreeMap::new())], ..Default::default() });
    w.run_all();
    assert_eq!(w.running("scan").keys().cloned().collect::<Vec<_>>(), vec![w.node_id("worker-3")]);
}

/// (slot → image) of the tasks running and desired running.
/// The leader's shell skips passes without inputs until [`next_deadline_ms`]: a settled store
/// must give no actions at every moment before it, and the clock it names must be acted on
/// when it comes (a restart delay, then a restart window that lets a kept task run again).
#[test]
fn a_quiet_store_stays_quiet_until_its_next_deadline() {
    let mut w = restarting_job(1, 60_000, 5_000);
    assert_eq!(next_deadline_ms(&w.store, w.now_ms), None, "a running service has no clock");
    let fail = |w: &mut World| {
        let t = w.tasks().into_iter().find(|t| t.is_live() && t.status.state == TaskState::Running).expect("a running task");
        w.fail(&t);
    };
    let quiet_until = |w: &mut World, deadline: u64| {
        for at in [w.now_ms, w.now_ms + 1, (w.now_ms + deadline) / 2, deadline - 1] {
            let input = PassInput { now_ms: at, ..Default::default() };
            assert!(pass(&w.store, &input, &mut w.ids, &mut w.rng).is_empty(), "a pass at {at} acted before the deadline {deadline}");
        }
        w.now_ms = deadline;
        assert!(w.pass(PassInput::default()) > 0, "nothing happened at the deadline {deadline}");
    };
    // First failure: the replacement waits for its delay.
    fail(&mut w);
    let delay_end = next_deadline_ms(&w.store, w.now_ms).expect("the restart delay is a deadline");
    assert_eq!(delay_end, w.now_ms + 5_000);
    let idle = |now_ms| PassInput { now_ms, ..Default::default() };
    let quiet = Quiet::after_idle_pass(&w.store, &idle(w.now_ms), 60_000);
    let index = w.store.last_index();
    assert!(quiet.skips(&idle(delay_end - 1), index));
    assert!(!quiet.skips(&idle(delay_end), index), "the quiet ends at the deadline");
    assert!(!quiet.skips(&idle(w.now_ms), index + 1), "a new store ends it");
    assert!(!Quiet::after_idle_pass(&w.store, &idle(w.now_ms), 1_000).skips(&idle(w.now_ms + 1_000), index), "so does the safety net");
    let lost = PassInput { now_ms: w.now_ms + 1, unreachable: Some([2].into()), ..Default::default() };
    assert!(!quiet.skips(&lost, index), "a manager turning unreachable ends it");
    quiet_until(&mut w, delay_end);
    w.run_all();
    // Second failure inside the window: max attempts reached, the task is kept until the first
    // attempt leaves the window.
    fail(&mut w);
    assert!(w.tasks().iter().filter(|t| t.is_live()).all(|t| t.status.state == TaskState::Failed), "kept, not restarted");
    let window_end = next_deadline_ms(&w.store, w.now_ms).expect("the restart window is a deadline");
    assert!(window_end > w.now_ms && window_end <= w.now_ms + 60_000, "{window_end} vs now {}", w.now_ms);
    quiet_until(&mut w, window_end);
}

/// A pending task the scheduler cannot place is retried on every pass: no quiet then.
#[test]
fn a_pending_task_leaves_no_quiet() {
    let mut w = World::new(1);
    let mut s = svc("big", 1);
    s.task.resources.reservations = Some(Resources { nano_cpus: 1_000_000_000_000, ..Default::default() });
    w.create(s);
    w.settle();
    assert!(w.tasks().iter().any(|t| t.status.state == TaskState::Pending));
    assert!(has_pending_task(&w.store));
    let quiet = Quiet::after_idle_pass(&w.store, &PassInput { now_ms: w.now_ms, ..Default::default() }, 5_000);
    assert!(!quiet.skips(&PassInput { now_ms: w.now_ms + 1, ..Default::default() }, w.store.last_index()), "a pending task is retried");
    assert_eq!(next_deadline_ms(&w.store, w.now_ms), None, "no clock: the retries follow the loop's other wake-ups");
}

#[test]
fn a_huge_service_is_worked_through_in_bounded_passes_and_removed_the_same_way() {
    use crate::orchestrator::reaper::REAPED_PER_PASS_MAX;
    use crate::orchestrator::SLOTS_PER_PASS_MAX;
    let mut w = World::new(3);
    let n = 3 * SLOTS_PER_PASS_MAX + 7;
    w.create(svc("huge", n));
    let mut passes = 0;
    loop {
        let before = w.tasks().len() as u64;
        let changes = w.pass(PassInput::default());
        let created = w.tasks().len() as u64 - before;
        assert!(created <= SLOTS_PER_PASS_MAX, "one pass created {created} tasks");
        // Creations, then placements (at most SCHEDULED_PER_PASS_MAX writes).
        assert!(changes as u64 <= SLOTS_PER_PASS_MAX + super::SCHEDULED_PER_PASS_MAX as u64, "one pass made {changes} changes");
        passes += 1;
        if changes == 0 {
            break;
        }
        assert!(passes < 20, "passes do not converge");
    }
    assert_eq!(w.tasks().len() as u64, n);
    assert!(passes >= 4, "{n} tasks took {passes} passes: creation is not bounded");
    w.run_all();
    assert_eq!(w.running("huge").values().sum::<usize>() as u64, n);
    // Every task is assigned and running: removal takes several bounded passes.
    w.commit(control::remove_service(&w.store, "huge").unwrap());
    let changes = w.pass(PassInput::default());
    assert!(changes <= REAPED_PER_PASS_MAX, "one pass reaped {changes}");
    w.run_all();
    assert!(w.tasks().is_empty(), "{} tasks left", w.tasks().len());
}

#[test]
fn a_service_above_the_clusters_replica_limit_is_refused_until_the_limit_is_raised() {
    let mut w = World::new(1);
    let e = control::create_service(&w.store, svc("huge", 1_000_000), "svc-huge".into()).unwrap_err();
    assert!(e.to_string().contains("allows at most 100000 per service"), "{e}");
    let mut job = svc("batch", 1);
    job.mode = ServiceMode::ReplicatedJob { max_concurrent: 1, total_completions: 100_001 };
    assert!(control::create_service(&w.store, job, "svc-batch".into()).is_err());
    w.create(svc("web", 2_000));
    let up = |n| control::ClusterUpdate { max_service_replicas: Some(n), ..Default::default() };
    let e = control::update_cluster(&w.store, &up(1_000)).unwrap_err();
    assert!(e.to_string().contains("service web asks for more than 1000 replicas"), "{e}");
    assert!(control::update_cluster(&w.store, &up(0)).is_err());
    w.commit(control::update_cluster(&w.store, &up(1_000_000)).unwrap());
    assert!(control::create_service(&w.store, svc("huge", 1_000_000), "svc-huge".into()).is_ok());
    let e = control::scale_service(&w.store, "web", 1_000_001).unwrap_err();
    assert!(e.to_string().contains("allows at most 1000000"), "{e}");
    assert_eq!(control::update_cluster(&w.store, &up(1_000_000)).unwrap(), vec![], "no change, no write");
}

/// Autolock's rules in `swarm update` (swarm's): on sets the caller's fresh key, on again
/// keeps it, rotation needs it on and replaces it, off clears it.
#[test]
fn autolock_keeps_a_key_exactly_while_on() {
    use crate::ca::unlock_key::UnlockKey;
    let mut w = World::new(1);
    let key = |b| Some(UnlockKey::from_bytes([b; 32]));
    let cluster = |w: &World| control::cluster(&w.store).unwrap().clone();
    let rotate = control::ClusterUpdate { rotate_unlock_key: true, new_unlock_key: key(1), ..Default::default() };
    let e = control::update_cluster(&w.store, &rotate).unwrap_err();
    assert!(e.to_string().contains("cannot rotate because autolock is not turned on"), "{e}");
    let on = |b| control::ClusterUpdate { autolock: Some(true), new_unlock_key: key(b), ..Default::default() };
    assert!(control::update_cluster(&w.store, &control::ClusterUpdate { autolock: Some(true), ..Default::default() }).is_err(), "on needs a key");
    w.commit(control::update_cluster(&w.store, &on(1)).unwrap());
    let c = cluster(&w);
    assert!(c.spec.encryption.auto_lock_managers);
    assert_eq!(c.unlock_key.as_str(), key(1).unwrap().to_string());
    assert!(!format!("{c:?}").contains("SWMKEY"), "a Cluster's Debug shows the unlock key");
    assert!(serde_json::to_string(&c).unwrap().contains("SWMKEY-1-"), "the store keeps it");
    assert_eq!(control::update_cluster(&w.store, &on(2)).unwrap(), vec![], "on again keeps the key");
    w.commit(control::update_cluster(&w.store, &control::ClusterUpdate { rotate_unlock_key: true, new_unlock_key: key(3), ..Default::default() }).unwrap());
    assert_eq!(cluster(&w).unlock_key.as_str(), key(3).unwrap().to_string());
    w.commit(control::update_cluster(&w.store, &control::ClusterUpdate { autolock: Some(false), ..Default::default() }).unwrap());
    let c = cluster(&w);
    assert!(!c.spec.encryption.auto_lock_managers && c.unlock_key.is_empty());
}

//! Rolling-update rules, judged from the most advanced store and the machines' containers
//! every few hundred virtual milliseconds (docker docs, `service update --update-*`):
//!
//! * **parallelism**: at most `parallelism` slots are being updated at once (the widest the
//!   update's config had, if `--update-parallelism` changed mid-update) — a slot is being
//!   updated while the update controller replaced its task of an older spec and the new task
//!   does not run yet. Slots whose old task failed, or sat on a node that went down or was
//!   drained during the update, are the orchestrator's replacements, not the updater's; slots
//!   with another task of the new spec are restarts or re-placements (the old task is the
//!   slot's latest of an older spec whose container ran: after a rollback began, that is the
//!   task of the release rolled back); an old task that was not running when the new one was made was superseded,
//!   scaled away or placed again, not updated.
//! * **capacity**: without faults (no machine crashed, paused, cut off, no lossy network),
//!   while no node was drained, paused or lost and the service was not scaled during the
//!   update (a drain stops its tasks before their replacements start: swarm's drain is not a
//!   rolling update, explorer seed 97; new slots start at the image's pace, seed 26) and
//!   while no task failed (since the
//!   update began, or in the release a rollback rolls back from), a stop-first update never
//!   runs fewer than
//!   `replicas - parallelism` containers and a start-first one never fewer than `replicas`
//!   (checked only for updates that began with every replica running, not over an update in
//!   progress whose stops are already under way).
//!   A rebalance (the tasks a service's `rebalancing` names) moves at most `parallelism` slots
//!   at once the same way.
//! * **paused**: a paused update (or rollback) starts no new slot.
//! * **rollback**: a rollback (automatic or `service rollback`) restores exactly the previous
//!   spec (its replica count aside: a scale may land between two polls), and the spec rolled
//!   back from becomes the previous one.
//!
//! Stateful: it remembers what it saw of each service at the last poll.

use shoal_core::model::{Kind, NodeAvailability, NodeState, Object, Service, ServiceMode, ServiceSpec, Task, TaskState, UpdateOrder, UpdateState};
use shoal_core::orchestrator::update;
use shoal_core::store::Store;
use std::collections::{BTreeMap, BTreeSet};

type Slot = (u64, String);

#[derive(Debug, Clone)]
struct Seen {
    spec_version: u64,
    spec: ServiceSpec,
    previous: Option<ServiceSpec>,
    state: UpdateState,
    /// Containers running at the last poll.
    running: usize,
    /// For the update of this spec version: whether every replica ran when it began.
    full_at_start: Option<(u64, bool)>,
    /// For a pause of this spec version: the slots that had a task of it when it paused.
    paused_slots: Option<(u64, BTreeSet<Slot>)>,
    /// For the update (or rollback) of this spec version: the widest parallelism and the
    /// smallest capacity bound its config had (`--update-*` alone may change it mid-update;
    /// slots started under a wider one stay in flight). 0 = all at once.
    widest: Option<(u64, bool, u64)>,
    /// For the update (or rollback) of this spec version: it was stop-first at some poll (an
    /// `--update-order start-first` mid-update does not undo a stop already decided: explorer
    /// seed 707), so the stop-first bound applies.
    stop_first_seen: Option<(u64, bool)>,
    /// The spec version whose update (or rollback) saw a node leave (drained, paused, down)
    /// or the service scaled: its capacity is not judged.
    waived: Option<u64>,
}

#[derive(Default)]
pub struct UpdateRules {
    seen: BTreeMap<String, Seen>,
    /// Nodes seen not READY or not active at some poll (their tasks are replaced, not updated).
    nodes_lost: BTreeSet<String>,
    /// Nodes not READY or not active at the last poll.
    nodes_out: BTreeSet<String>,
    /// A node went out and came back between two polls ([`UpdateRules::note_nodes_out`]).
    left_between_polls: bool,
}

fn active(state: UpdateState) -> bool {
    matches!(state, UpdateState::Updating | UpdateState::RollbackStarted)
}

fn rolling_back(state: UpdateState) -> bool {
    matches!(state, UpdateState::RollbackStarted | UpdateState::RollbackPaused | UpdateState::RollbackCompleted)
}

fn slot(t: &Task) -> Slot {
    (t.slot, if t.slot == 0 { t.node_id.clone() } else { String::new() })
}

impl UpdateRules {
    /// Nodes some committed entry showed not READY or not active, polled or not: one down and
    /// back between two polls is lost all the same (its tasks were replaced, not updated).
    pub fn note_nodes_out(&mut self, ever_out: &BTreeSet<String>) {
        if ever_out.difference(&self.nodes_lost).next().is_some() {
            self.left_between_polls = true;
            self.nodes_lost.extend(ever_out.iter().cloned());
        }
    }

    /// One poll. `containers(service name)` counts the service's running and failed
    /// containers (ground truth: a container that failed may not be reported yet); `ran(task
    /// id)` says whether the task's container ever ran (ground truth too); `faulted` says
    /// whether any fault disturbed the run so far.
    pub fn check(
        &mut self,
        store: &Store,
        containers: impl Fn(&str) -> (usize, usize),
        ran: impl Fn(&str) -> bool,
        faulted: bool,
    ) -> Result<(), String> {
        let mut out = BTreeSet::new();
        for o in store.list(Kind::Node) {
            if let Object::Node(n) = o {
                if n.status.state != NodeState::Ready || n.spec.availability != NodeAvailability::Active {
                    out.insert(n.id.clone());
                }
            }
        }
        let node_left = out.difference(&self.nodes_out).next().is_some() || std::mem::take(&mut self.left_between_polls);
        self.nodes_lost.extend(out.iter().cloned());
        self.nodes_out = out;
        let mut tasks: BTreeMap<&str, Vec<&Task>> = BTreeMap::new();
        let wanted: BTreeSet<&str> = store
            .list_services()
            .filter(|s| s.update_status.as_ref().is_some_and(|u| u.state != UpdateState::Completed && u.state != UpdateState::RollbackCompleted))
            .map(|s| s.id.as_str())
            .collect();
        if !wanted.is_empty() {
            for o in store.list(Kind::Task) {
                if let Object::Task(t) = o {
                    if wanted.contains(t.service_id.as_str()) {
                        tasks.entry(t.service_id.as_str()).or_default().push(t);
                    }
                }
            }
        }
        let mut result = Ok(());
        let mut next = BTreeMap::new();
        for svc in store.list_services() {
            let name = svc.spec.annotations.name.as_str();
            let state = svc.update_status.as_ref().map(|u| u.state).unwrap_or_default();
            let (run, failed_now) = containers(name);
            let ts = tasks.get(svc.id.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let mut seen = self.seen.get(&svc.id).cloned();
            // A node that left, or a scale, during this spec's update waives its capacity rule
            // from then on: the drained node's tasks stop before their replacements start, and
            // new slots start at the image's pace (explorer seed 26: a scale to 6 in an update
            // to a slow-starting image), neither being the updater's doing.
            let scaled = seen.as_ref().is_some_and(|s| running_want(&s.spec) != running_want(&svc.spec));
            let left = match seen.as_ref().and_then(|s| s.waived) {
                Some(v) if v == svc.spec_version => Some(v),
                _ if (node_left || scaled) && active(state) => Some(svc.spec_version),
                _ => None,
            };
            if let Some(prev) = &seen {
                if result.is_ok() {
                    result = self.judge(svc, prev, ts, run, state, faulted || failed_now > 0 || left.is_some(), &ran);
                }
            }
            let prev_running = seen.as_ref().map(|s| s.running).unwrap_or(0);
            let full_at_start = match seen.as_ref().and_then(|s| s.full_at_start.clone()) {
                Some((v, full)) if v == svc.spec_version => Some((v, full)),
                _ if active(state) => {
                    let replicas = match svc.spec.mode {
                        ServiceMode::Replicated { replicas } => replicas as usize,
                        _ => usize::MAX,
                    };
                    // The poll before the update began saw every replica run, and no update
                    // in progress: one this update supersedes may have stops under way that
                    // no one can take back (explore --from-snapshot seed 265: a stop-first
                    // update of 5 at a time, then one of 2 before the first 5 had stopped;
                    // a published port's tasks take the mesh's drain to stop).
                    let began_now = seen.as_ref().is_some_and(|s| s.spec_version + 1 == svc.spec_version && !active(s.state));
                    Some((svc.spec_version, began_now && prev_running >= replicas))
                }
                _ => None,
            };
            let paused_slots = match seen.as_mut().and_then(|s| s.paused_slots.take()) {
                Some((v, slots)) if v == svc.spec_version && !active(state) => Some((v, slots)),
                _ if matches!(state, UpdateState::Paused | UpdateState::RollbackPaused) => {
                    Some((svc.spec_version, ts.iter().filter(|t| t.spec_version == svc.spec_version).map(|t| slot(t)).collect()))
                }
                _ => None,
            };
            let par = update::config(svc).parallelism;
            let widest = match seen.as_ref().and_then(|s| s.widest) {
                Some((v, rb, w)) if v == svc.spec_version && rb == rolling_back(state) => {
                    Some((v, rb, if w == 0 || par == 0 { 0 } else { w.max(par) }))
                }
                _ => Some((svc.spec_version, rolling_back(state), par)),
            };
            let stop_first_seen = match seen.as_ref().and_then(|s| s.stop_first_seen) {
                Some((v, rb)) if v == svc.spec_version && rb == rolling_back(state) => Some((v, rb)),
                _ if update::config(svc).order == UpdateOrder::StopFirst => Some((svc.spec_version, rolling_back(state))),
                _ => None,
            };
            next.insert(
                svc.id.clone(),
                Seen {
                    widest,
                    stop_first_seen,
                    spec_version: svc.spec_version,
                    spec: svc.spec.clone(),
                    previous: svc.previous_spec.clone(),
                    state,
                    running: run,
                    full_at_start,
                    paused_slots,
                    waived: left,
                },
            );
        }
        self.seen = next;
        result
    }

    /// `disturbed`: a fault happened in the run, a container of the service failed, or a node
    /// left during the update.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        svc: &Service,
        prev: &Seen,
        ts: &[&Task],
        run: usize,
        state: UpdateState,
        disturbed: bool,
        ran: &dyn Fn(&str) -> bool,
    ) -> Result<(), String> {
        let name = &svc.spec.annotations.name;
        // Rollback restores exactly the previous spec.
        if svc.spec_version == prev.spec_version + 1 && rolling_back(state) && !rolling_back(prev.state) {
            if prev.previous.as_ref().map(without_scale) != Some(without_scale(&svc.spec)) {
                let brief = |s: Option<&ServiceSpec>| s.map(|s| format!("{} {:?}", s.task.container.image, s.mode)).unwrap_or_else(|| "none".into());
                return Err(format!(
                    "service {name}: the rollback did not restore the previous spec (restored {}, previous was {}; spec v{} -> v{})",
                    brief(Some(&svc.spec)),
                    brief(prev.previous.as_ref()),
                    prev.spec_version,
                    svc.spec_version
                ));
            }
            // The release rolled back from: its task template (an `--update-*`-only change of
            // its config may land between two polls, next to the rollback).
            if svc.previous_spec.as_ref().map(|p| &p.task) != Some(&prev.spec.task) {
                return Err(format!("service {name}: after a rollback the previous spec is not the spec rolled back from"));
            }
        }
        // A paused update starts no new slot.
        if let Some((v, slots)) = &prev.paused_slots {
            if *v == svc.spec_version && matches!(state, UpdateState::Paused | UpdateState::RollbackPaused) {
                for t in ts.iter().filter(|t| t.spec_version == svc.spec_version && t.is_live()) {
                    if !slots.contains(&slot(t)) && self.updated_from(ts, t, svc.spec_version, ran).is_some() {
                        return Err(format!("service {name}: the update is paused, yet slot {} got task {} of the new spec", t.slot, t.id));
                    }
                }
            }
        }
        if !active(state) {
            return Ok(());
        }
        let mut cfg = update::config(svc);
        if prev.stop_first_seen == Some((svc.spec_version, rolling_back(state))) {
            cfg.order = UpdateOrder::StopFirst;
        }
        if let Some((v, rb, w)) = prev.widest {
            if v == svc.spec_version && rb == rolling_back(state) {
                cfg.parallelism = if w == 0 || cfg.parallelism == 0 { 0 } else { w.max(cfg.parallelism) };
            }
        }
        // Parallelism.
        if cfg.parallelism > 0 {
            let in_flight: BTreeSet<Slot> = ts
                .iter()
                .filter(|t| t.spec_version == svc.spec_version && t.is_live() && t.status.state < TaskState::Running)
                .filter(|t| self.updated_from(ts, t, svc.spec_version, ran).is_some())
                .map(|t| slot(t))
                .collect();
            if in_flight.len() > cfg.parallelism as usize {
                let list: Vec<String> = in_flight.iter().map(|(s, n)| if n.is_empty() { s.to_string() } else { n.clone() }).collect();
                let tasks: Vec<String> = ts
                    .iter()
                    .filter(|t| in_flight.contains(&slot(t)))
                    .map(|t| {
                        format!(
                            "{}/v{} {:?}->{:?} made {}ms, status {}ms",
                            t.slot, t.spec_version, t.status.state, t.desired_state, t.meta.created_at_ms, t.status.timestamp_ms
                        )
                    })
                    .collect();
                return Err(format!(
                    "service {name}: {} slots updating at once ({}), parallelism is {} (spec v{}, {:?}; tasks {})",
                    in_flight.len(),
                    list.join(","),
                    cfg.parallelism,
                    svc.spec_version,
                    state,
                    tasks.join(", ")
                ));
            }
            // A rebalance moves at most `parallelism` slots at once too: a slot is moving
            // while it holds a task the rebalance names and a replacement that does not run
            // yet, or (start-first) runs next to the named task still live. Not a slot whose
            // named task failed or sat on a node that left: that replacement is the
            // orchestrator's.
            if !svc.rebalancing.is_empty() {
                let moving: BTreeSet<&str> = svc.rebalancing.iter().map(String::as_str).collect();
                let named: BTreeMap<Slot, bool> = ts
                    .iter()
                    .filter(|t| moving.contains(t.id.as_str()))
                    .filter(|t| !matches!(t.status.state, TaskState::Failed | TaskState::Rejected | TaskState::Orphaned))
                    .filter(|t| !self.nodes_lost.contains(&t.node_id))
                    .map(|t| (slot(t), t.is_live()))
                    .collect();
                let in_flight: BTreeSet<Slot> = ts
                    .iter()
                    .filter(|t| !moving.contains(t.id.as_str()) && t.is_live())
                    .filter(|t| named.get(&slot(t)).is_some_and(|old_live| t.status.state < TaskState::Running || *old_live))
                    .map(|t| slot(t))
                    .collect();
                if in_flight.len() > cfg.parallelism as usize {
                    return Err(format!(
                        "service {name}: a rebalance moves {} slots at once ({:?}), parallelism is {}",
                        in_flight.len(),
                        in_flight.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
                        cfg.parallelism
                    ));
                }
            }
        }
        // Capacity, without faults and while the new spec has not failed.
        let ServiceMode::Replicated { replicas } = svc.spec.mode else { return Ok(()) };
        let began_full = prev.full_at_start.as_ref().is_some_and(|(v, full)| *v == svc.spec_version && *full);
        let started_at = svc.update_status.as_ref().and_then(|u| u.started_at_ms).unwrap_or(0);
        // A failure of a task made since the update began or of the new spec (by the managers'
        // clocks and versions, not the agents' report times: clocks may be skewed), or (a
        // rollback) of the release rolled back from.
        let new_failed = ts.iter().any(|t| {
            matches!(t.status.state, TaskState::Failed | TaskState::Rejected)
                && (t.meta.created_at_ms >= started_at
                    || t.spec_version == svc.spec_version
                    || (rolling_back(state) && t.spec_version + 1 == svc.spec_version))
        });
        if disturbed || !began_full || new_failed || replicas as usize != running_want(&prev.spec) {
            return Ok(());
        }
        let min = match cfg.order {
            UpdateOrder::StartFirst => replicas as usize,
            UpdateOrder::StopFirst => (replicas as usize).saturating_sub(cfg.parallelism as usize),
        };
        if cfg.parallelism == 0 && cfg.order == UpdateOrder::StopFirst {
            return Ok(());
        }
        if run < min {
            return Err(format!(
                "service {name}: {run} containers run during a {} update of {replicas} replicas with parallelism {} (at least {min})",
                if cfg.order == UpdateOrder::StartFirst { "start-first" } else { "stop-first" },
                cfg.parallelism
            ));
        }
        Ok(())
    }

    /// The task of an older spec the update controller replaced with `t` in its slot, if the
    /// slot was updated (not replaced after a failure or a lost node, not a restart).
    fn updated_from<'a>(&self, ts: &[&'a Task], t: &Task, version: u64, ran: &dyn Fn(&str) -> bool) -> Option<&'a Task> {
        let k = slot(t);
        let same_slot = || ts.iter().copied().filter(|o| slot(o) == k);
        // Another task of the new spec in the slot: `t` re-placed it (a restart, a lost node).
        if same_slot().any(|o| o.spec_version == version && o.id != t.id) {
            return None;
        }
        // The slot's latest task of an older spec whose container ran: the one the new task
        // took over from. One that never ran (its node was lost before it started) is not
        // what an update replaces (explorer seed 5701: a start-first task stuck on a crashed
        // worker, then the slot's running task failed and the supervisor replaced it).
        let last = same_slot()
            .filter(|o| o.spec_version < version && ran(&o.id))
            .max_by_key(|o| (o.spec_version, o.meta.created_at_ms, o.id.as_str()))?;
        // The updater replaces a task that ran (stop-first: it is SHUTDOWN by now); one that
        // never ran was superseded, scaled, or placed again, not updated.
        // It still ran when `t` was made (a scale-up into a slot whose old task stopped long
        // ago is no update).
        let ran_then = last.status.state == TaskState::Running
            || (last.status.state == TaskState::Shutdown && last.status.timestamp_ms >= t.meta.created_at_ms);
        // Scaled away (desired REMOVE): its slot came back by a scale-up, not by the updater.
        // Told to stop before `t` was made and not touched since (the updater stops a task in
        // the transaction that makes its replacement): `t` is a scale-up or a replacement into
        // a slot already stopping (explorer seed 1535: a rollback restored the replicas a
        // scale had removed, and the old task's node had crashed, so it still showed RUNNING).
        let stopping_before = last.desired_state >= TaskState::Shutdown && last.meta.updated_at_ms < t.meta.created_at_ms;
        let replaced = !ran_then
            || stopping_before
            || last.desired_state == TaskState::Remove
            || self.nodes_lost.contains(&last.node_id);
        (!replaced).then_some(last)
    }
}

/// A spec with its replica count left out: a `service scale` may land between two polls,
/// next to the rollback (scale is not an update; the rollback restores everything else).
fn without_scale(s: &ServiceSpec) -> ServiceSpec {
    let mut s = s.clone();
    if let ServiceMode::Replicated { replicas } = &mut s.mode {
        *replicas = 0;
    }
    s
}

/// Replicas a spec asks for (0 for other modes).
fn running_want(spec: &ServiceSpec) -> usize {
    match spec.mode {
        ServiceMode::Replicated { replicas } => replicas as usize,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
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
}

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
mod tests;

//! What-if plans (`--dry-run`): what a control write would do, computed without writing it.
//!
//! Input: the committed [`Store`], the write's store [`Action`]s (made by the same `control`
//! function that validates the real write, so a refused write is refused here too), `now_ms`
//! and a seed. The plan applies the actions to a copy of the store and runs the leader's pass
//! ([`crate::leader::pass`]) over the copy again and again, with a model of perfect agents
//! between passes: a task placed on a node runs at once, a task told to stop stops at once.
//! When a pass changes nothing, the plan's clock jumps to the next moment a pass reads
//! ([`crate::leader::next_deadline_ms`]: update delays and monitor periods, restart delays).
//! So the plan is the code that will do the work, under two assumptions it prints: nothing
//! fails, and a task starts the moment it is placed (a real start adds the image pull and the
//! container's start to each batch).
//!
//! Output: a [`Plan`]: the tasks that would stop and start, when (on the plan's clock, from
//! the moment of the request) and where; the tasks that would stay pending and why; where each
//! service the plan touches runs at the end; each touched service's update state at the end;
//! how long the change takes on the plan's clock.
//!
//! Invariants: the input store is never changed (the plan works on a copy); the work is
//! bounded by [`PASSES_MAX`] passes and [`HORIZON_MS`] of plan time, and a plan cut short by
//! either says so (`complete: false`); a write that changes nothing plans nothing. Jobs'
//! tasks never finish under the model (how long they run is not known before they run), so a
//! job's plan shows its first tasks starting.

pub mod render;
#[cfg(test)]
mod tests;
mod wire;

use crate::dispatcher::StatusUpdate;
use crate::leader::{self, PassInput};
use crate::model::{Kind, Object, Task, TaskState, TaskStatus};
use crate::orchestrator::IdGen;
use crate::store::{Action, Store, StoreError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The most leader passes one plan runs: a rolling update of 1,000 slots one at a time takes
/// about three passes per slot (stop, place, report running).
pub const PASSES_MAX: u32 = 20_000;
/// The most plan time a plan looks ahead (a day): an update with hour-long delays is planned
/// up to here and marked incomplete.
pub const HORIZON_MS: u64 = 24 * 3_600_000;
/// The most tasks one list of a plan names (the rest are counted in `omitted`): the plan of a
/// 100,000-replica change stays a readable, bounded reply.
pub const LISTED_MAX: usize = 10_000;

/// A task the plan starts, stops or leaves pending.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlannedTask {
    /// When, in ms after the request (the plan's clock).
    pub at_ms: u64,
    /// The task's name as docker shows it (`web.3`, or `agent.<node id>` for a global task).
    pub task: String,
    pub service: String,
    /// The node's hostname (its id when it has none); empty for a pending task.
    pub node: String,
    pub image: String,
    /// Pending tasks: the scheduler's reason.
    pub reason: String,
}

/// Where a service runs at the end of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Placement {
    pub service: String,
    pub node: String,
    /// Running tasks of the service on the node.
    pub tasks: u64,
}

/// A touched service's rolling-update state at the end of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedUpdate {
    pub service: String,
    /// `updating`, `paused`, `completed`, `rollback_started`, … as `service inspect` shows.
    pub state: String,
    pub message: String,
}

/// What a control write would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The raft index of the state the plan started from.
    pub from_index: u64,
    /// Tasks that would stop, in time order.
    pub stopped: Vec<PlannedTask>,
    /// Tasks that would start, in time order.
    pub started: Vec<PlannedTask>,
    /// Live tasks that would wait for a node at the end.
    pub pending: Vec<PlannedTask>,
    /// Where each service the plan touches runs at the end, by service then node.
    pub placement: Vec<Placement>,
    pub updates: Vec<PlannedUpdate>,
    /// When the last change happens on the plan's clock (ms after the request).
    pub duration_ms: u64,
    /// False when the plan stopped at [`PASSES_MAX`] or [`HORIZON_MS`] before the cluster
    /// would settle.
    pub complete: bool,
    /// Tasks left out of `stopped`, `started` and `pending` beyond [`LISTED_MAX`] each.
    pub omitted: u64,
    /// How many leader passes the plan ran.
    pub passes: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The write does not apply to the state it was made from (a bug, or the state moved).
    #[error("the change does not apply to the swarm's current state: {0}; retry")]
    Change(StoreError),
    /// A pass's own actions did not apply to the copy (a bug in a pass).
    #[error("the plan's pass {pass} produced actions that do not apply: {error}")]
    Pass { pass: u32, error: StoreError },
}

/// Plans `change` over `store` at `now_ms`; `seed` drives ids and random placement.
pub fn plan(store: &Store, change: Vec<Action>, now_ms: u64, seed: u64) -> Result<Plan, PlanError> {
    plan_to_end(store, change, now_ms, seed).map(|(p, _)| p)
}

/// [`plan`], and the store as the plan leaves it (a swarm settled under the model: what a
/// benchmark or a simulated twin can start from).
pub fn plan_to_end(store: &Store, change: Vec<Action>, now_ms: u64, seed: u64) -> Result<(Plan, Store), PlanError> {
    let mut s = store.clone();
    let mut index = s.last_index();
    let mut ids = IdGen::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed.rotate_left(17));
    let mut out = Outcome::default();
    for a in &change {
        if let (Kind::Service, id) = a.key() {
            out.touched.insert(id);
        }
    }
    if !change.is_empty() {
        out.record(&s, &change, 0);
        for txn in crate::store::batches(now_ms, change) {
            index += 1;
            s.apply(index, &txn).map_err(PlanError::Change)?;
        }
    }
    // In flight when the plan starts (placed but not yet running, told to stop but not yet
    // stopped): the model's agents finish them first, as real ones would.
    let all: BTreeSet<String> = s.list(Kind::Task).map(|o| o.id().to_string()).collect();
    let mut reports = perfect_agents(&s, &all, now_ms);
    let mut now = now_ms;
    let mut last_change_ms = now_ms;
    let mut complete = false;
    let mut passes = 0;
    while passes < PASSES_MAX {
        passes += 1;
        let input = PassInput { now_ms: now, status_updates: std::mem::take(&mut reports), ..Default::default() };
        let actions = leader::pass(&s, &input, &mut ids, &mut rng);
        if actions.is_empty() {
            match leader::next_deadline_ms(&s, now) {
                Some(t) if t <= now_ms.saturating_add(HORIZON_MS) => {
                    debug_assert!(t > now, "a deadline is in the future");
                    now = t;
                    continue;
                }
                Some(_) => break,
                None => {
                    complete = true;
                    break;
                }
            }
        }
        out.record(&s, &actions, now - now_ms);
        let touched: BTreeSet<String> = actions.iter().filter(|a| a.key().0 == Kind::Task).map(|a| a.key().1).collect();
        // In transactions as the leader proposes them (the store refuses larger ones).
        for txn in crate::store::batches(now, actions) {
            index += 1;
            s.apply(index, &txn).map_err(|error| PlanError::Pass { pass: passes, error })?;
        }
        reports = perfect_agents(&s, &touched, now);
        last_change_ms = now;
    }
    let p = out.finish(store, &s, last_change_ms - now_ms, complete, passes);
    Ok((p, s))
}

/// What perfect agents report about `ids`: a placed task that should run runs; a task told
/// to stop has stopped.
fn perfect_agents(s: &Store, ids: &BTreeSet<String>, now_ms: u64) -> Vec<StatusUpdate> {
    let mut v = Vec::new();
    for id in ids {
        let Some(Object::Task(t)) = s.get(Kind::Task, id) else { continue };
        if t.node_id.is_empty() || t.status.state < TaskState::Assigned || t.status.state >= TaskState::Running && t.is_live() {
            continue;
        }
        let state = if t.is_live() {
            TaskState::Running
        } else if t.status.state <= TaskState::Running {
            TaskState::Shutdown
        } else {
            continue;
        };
        let message = if state == TaskState::Running { "started" } else { "shutdown" };
        let status = TaskStatus { timestamp_ms: now_ms, state, message: message.into(), ..Default::default() };
        v.push(StatusUpdate { node_id: t.node_id.clone(), task_id: t.id.clone(), status });
    }
    v
}

/// The plan's record as passes go.
#[derive(Default)]
struct Outcome {
    stopped: Vec<PlannedTask>,
    started: Vec<PlannedTask>,
    /// Service ids the change or a pass touched.
    touched: BTreeSet<String>,
    omitted: u64,
}

impl Outcome {
    /// Notes what `actions` do to tasks of `before` (the store they apply to) at `at_ms`: a
    /// task placed on a node starts; a placed task no longer wanted stops.
    fn record(&mut self, before: &Store, actions: &[Action], at_ms: u64) {
        for a in actions {
            let (old, new) = match a {
                Action::Create(Object::Task(t)) => (None, Some(t)),
                Action::Update { object: Object::Task(t), .. } => (task(before, &t.id), Some(t)),
                Action::Delete { kind: Kind::Task, id, .. } => (task(before, id), None),
                _ => continue,
            };
            let placed = |t: Option<&Task>| t.is_some_and(|t| t.is_live() && t.status.state >= TaskState::Assigned && !t.node_id.is_empty());
            let running_before = old.is_some_and(|t| t.status.state >= TaskState::Assigned && t.status.state <= TaskState::Running && t.is_live());
            let stopping = new.is_none_or(|t| !t.is_live());
            if let Some(t) = new.filter(|t| placed(Some(t)) && !placed(old)) {
                self.touched.insert(t.service_id.clone());
                self.push(true, planned(before, t, at_ms));
            }
            if let (Some(t), true) = (old, running_before && stopping) {
                self.touched.insert(t.service_id.clone());
                self.push(false, planned(before, t, at_ms));
            }
        }
    }

    fn push(&mut self, start: bool, p: PlannedTask) {
        let list = if start { &mut self.started } else { &mut self.stopped };
        if list.len() < LISTED_MAX {
            list.push(p);
        } else {
            self.omitted += 1;
        }
    }

    fn finish(mut self, from: &Store, end: &Store, duration_ms: u64, complete: bool, passes: u32) -> Plan {
        let mut pending = Vec::new();
        let mut placement: BTreeMap<(String, String), u64> = BTreeMap::new();
        let live = || end.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).filter(|t| t.is_live());
        // A service with a task left pending is touched: first those, then where the touched
        // ones run (a pending task may come after its service's running ones in id order).
        for t in live() {
            if t.status.state == TaskState::Pending {
                self.touched.insert(t.service_id.clone());
                if pending.len() < LISTED_MAX {
                    let mut p = planned(end, t, duration_ms);
                    p.reason = if t.status.err.is_empty() { t.status.message.clone() } else { t.status.err.clone() };
                    pending.push(p);
                } else {
                    self.omitted += 1;
                }
            }
        }
        for t in live() {
            if t.status.state == TaskState::Running && self.touched.contains(&t.service_id) {
                *placement.entry((t.service_name.clone(), hostname(end, &t.node_id))).or_default() += 1;
            }
        }
        let mut updates = Vec::new();
        for id in &self.touched {
            let Some(Object::Service(svc)) = end.get(Kind::Service, id) else { continue };
            let Some(u) = &svc.update_status else { continue };
            // Only what the plan changed: an update that ended long ago is not news.
            let before = match from.get(Kind::Service, id) {
                Some(Object::Service(b)) => b.update_status.as_ref(),
                _ => None,
            };
            if before != Some(u) {
                let state = crate::cli::wire_name(&u.state);
                updates.push(PlannedUpdate { service: svc.spec.annotations.name.clone(), state, message: u.message.clone() });
            }
        }
        pending.sort();
        self.started.sort();
        self.stopped.sort();
        Plan {
            from_index: from.last_index(),
            stopped: self.stopped,
            started: self.started,
            pending,
            placement: placement.into_iter().map(|((service, node), tasks)| Placement { service, node, tasks }).collect(),
            updates,
            duration_ms,
            complete,
            omitted: self.omitted,
            passes,
        }
    }
}

fn task<'a>(s: &'a Store, id: &str) -> Option<&'a Task> {
    match s.get(Kind::Task, id) {
        Some(Object::Task(t)) => Some(t),
        _ => None,
    }
}

fn planned(s: &Store, t: &Task, at_ms: u64) -> PlannedTask {
    PlannedTask {
        at_ms,
        task: crate::engine_api::query::task_name(t),
        service: t.service_name.clone(),
        node: if t.node_id.is_empty() { String::new() } else { hostname(s, &t.node_id) },
        image: t.spec.container.image.clone(),
        reason: String::new(),
    }
}

/// A node's hostname, or its id when it has none (or is gone).
fn hostname(s: &Store, node_id: &str) -> String {
    match s.get(Kind::Node, node_id) {
        Some(Object::Node(n)) => n.description.as_ref().map(|d| d.hostname.clone()).filter(|h| !h.is_empty()).unwrap_or_else(|| node_id.to_string()),
        _ => node_id.to_string(),
    }
}

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
//! Invariants: the committed store is never changed (the plan works on a copy); the work is
//! bounded by [`PASSES_MAX`] passes, [`TASK_VISITS_MAX`] task visits and [`HORIZON_MS`] of
//! plan time, and a plan cut short says so (`complete: false`); a write that changes nothing
//! plans nothing (a task pending before is listed only if the write touches its service). Jobs'
//! tasks never finish under the model (how long they run is not known before they run), so a
//! job's plan shows its first tasks starting.

pub mod offline;
pub mod render;
pub mod snapshot;
#[cfg(test)]
mod tests;
mod wire;

use crate::dispatcher::StatusUpdate;
use crate::leader::{self, PassInput};
use crate::model::{Kind, Object, Task, TaskState, TaskStatus, UpdateStatus};
use crate::orchestrator::IdGen;
use crate::store::{Action, Store, StoreError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The most leader passes one plan runs: a rolling update of 1,000 slots one at a time takes
/// about three passes per slot (stop, place, report running).
pub const PASSES_MAX: u32 = 20_000;
/// The most task visits (passes × tasks) one plan makes: a pass visits every task, so on a
/// large swarm the pass budget shrinks (100,000 tasks: 200 passes), bounding a plan's time
/// whatever the swarm's size. At least [`PASSES_MIN`] passes run.
pub const TASK_VISITS_MAX: u64 = 20_000_000;
pub const PASSES_MIN: u32 = 30;
/// Salt of a plan's seed (see [`plan_to_end`]).
const PLAN_SEED_SALT: u64 = 0x706c_616e_0000_0001;
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
    /// The node's hostname (its id when it has none).
    pub node: String,
    pub node_id: String,
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
    /// False when the plan stopped at its budget (passes, task visits) or [`HORIZON_MS`]
    /// before the cluster would settle.
    pub complete: bool,
    /// Tasks left out of `stopped`, `started` and `pending` beyond [`LISTED_MAX`] each.
    pub omitted: u64,
    /// Tasks that would stop and start, listed or not.
    pub stopped_total: u64,
    pub started_total: u64,
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
    plan_writes(store.clone(), vec![change], now_ms, seed)
}

/// Plans several writes made one after the other (each write's actions made against the
/// state the writes before it leave), over `store`, which the plan consumes.
pub fn plan_writes(store: Store, writes: Vec<Vec<Action>>, now_ms: u64, seed: u64) -> Result<Plan, PlanError> {
    plan_to_end(store, writes, now_ms, seed).map(|(p, _)| p)
}

/// [`plan_writes`], and the store as the plan leaves it (a swarm settled under the model:
/// what a benchmark or a simulated twin can start from).
pub fn plan_to_end(store: Store, writes: Vec<Vec<Action>>, now_ms: u64, seed: u64) -> Result<(Plan, Store), PlanError> {
    let mut s = store;
    let from = Before::of(&s);
    let mut index = s.last_index();
    // Salted: the writes' own ids came from `seed` (a plan's task must not take the id of
    // the service it belongs to).
    let seed = seed ^ PLAN_SEED_SALT;
    let mut ids = IdGen::new(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed.rotate_left(17));
    let mut out = Outcome::default();
    // Each write in the transactions the leader would give it, so the versions a later write
    // expects are the ones the earlier writes leave.
    for change in writes {
        for a in &change {
            if let (Kind::Service, id) = a.key() {
                out.touched.insert(id);
            }
        }
        out.record(&s, &change, 0);
        for txn in crate::store::batches(now_ms, change) {
            index += 1;
            s.apply(index, &txn).map_err(PlanError::Change)?;
        }
    }
    // The work is bounded by tasks visited, not passes alone: a pass visits every task.
    let tasks = s.list(Kind::Task).count().max(1) as u64;
    let passes_max = PASSES_MAX.min((TASK_VISITS_MAX / tasks).max(PASSES_MIN as u64) as u32);
    // In flight when the plan starts (placed but not yet running, told to stop but not yet
    // stopped): the model's agents finish them first, as real ones would.
    let all: BTreeSet<String> = s.list(Kind::Task).map(|o| o.id().to_string()).collect();
    let mut reports = perfect_agents(&s, &all, now_ms);
    let mut now = now_ms;
    let mut last_change_ms = now_ms;
    let mut complete = false;
    let mut passes = 0;
    while passes < passes_max {
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
    let p = out.finish(&from, &s, last_change_ms - now_ms, complete, passes);
    Ok((p, s))
}

/// What the plan reports against: the state before the writes.
struct Before {
    index: u64,
    /// Each service's update status before (an update that ended long ago is not news).
    updates: BTreeMap<String, Option<UpdateStatus>>,
}

impl Before {
    fn of(s: &Store) -> Before {
        Before { index: s.last_index(), updates: s.list_services().map(|x| (x.id.clone(), x.update_status.clone())).collect() }
    }
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
    started_omitted: u64,
    stopped_omitted: u64,
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
        let (list, omitted) = if start { (&mut self.started, &mut self.started_omitted) } else { (&mut self.stopped, &mut self.stopped_omitted) };
        if list.len() < LISTED_MAX {
            list.push(p);
        } else {
            *omitted += 1;
            self.omitted += 1;
        }
    }

    fn finish(mut self, from: &Before, end: &Store, duration_ms: u64, complete: bool, passes: u32) -> Plan {
        let mut pending = Vec::new();
        let mut placement: BTreeMap<(String, String), u64> = BTreeMap::new();
        let live = || end.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).filter(|t| t.is_live());
        // What waits for a node, of the services the writes or the passes touched (a task
        // that was pending before and that nothing here touches is not news).
        for t in live() {
            if t.status.state == TaskState::Pending && self.touched.contains(&t.service_id) {
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
                *placement.entry((t.service_name.clone(), t.node_id.clone())).or_default() += 1;
            }
        }
        let mut updates = Vec::new();
        for id in &self.touched {
            let Some(Object::Service(svc)) = end.get(Kind::Service, id) else { continue };
            let Some(u) = &svc.update_status else { continue };
            // Only what the plan changed: an update that ended long ago is not news.
            if from.updates.get(id).and_then(Option::as_ref) != Some(u) {
                let state = crate::cli::wire_name(&u.state);
                updates.push(PlannedUpdate { service: svc.spec.annotations.name.clone(), state, message: u.message.clone() });
            }
        }
        pending.sort();
        self.started.sort();
        self.stopped.sort();
        Plan {
            from_index: from.index,
            stopped_total: self.stopped.len() as u64 + self.stopped_omitted,
            started_total: self.started.len() as u64 + self.started_omitted,
            stopped: self.stopped,
            started: self.started,
            pending,
            placement: placement
                .into_iter()
                .map(|((service, node_id), tasks)| Placement { service, node: hostname(end, &node_id), node_id, tasks })
                .collect(),
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

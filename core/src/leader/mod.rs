//! The leader's control loop, one pure pass at a time.
//!
//! Owns the order in which the leader's components see the store in one pass: dispatcher
//! inputs (registrations, status updates, expired heartbeats), then the orchestrators
//! (replicated, global, with the restart supervisor and constraint enforcer), the allocator,
//! the scheduler, the task reaper. Input: the committed [`Store`] and a [`PassInput`]. Output:
//! the store [`Action`]s of the pass — at most one per object, version-checked, so a pass that
//! raced with a control-API write fails as a whole and the next pass starts over from the
//! newer state.
//!
//! Invariants: a pass with no inputs over a converged store produces no actions (the loop is
//! idle when nothing happens); ids come from the [`IdGen`] seed the shell passes (raft index and
//! term), random choices from the RNG it passes.

use crate::dispatcher::{self, Registration, StatusUpdate};
use crate::model::{Cluster, ClusterSpec, Kind, Object, RootCa, SchedulerStrategy, TaskState};
use crate::orchestrator::{self, IdGen};
use crate::scheduler::{self, ClusterView, Decision};
use crate::store::{Action, Overlay, Store};
use rand_chacha::ChaCha8Rng;

/// The id of the one Cluster object (swarmkit names it "default" too).
pub const CLUSTER_ID: &str = "default";

#[derive(Debug, Default)]
pub struct PassInput {
    pub now_ms: u64,
    pub registrations: Vec<Registration>,
    pub status_updates: Vec<StatusUpdate>,
    /// Nodes whose heartbeat deadline passed.
    pub expired: Vec<String>,
    /// Raft voters and the leader's raft id (node roles follow them); empty = leave roles.
    pub voters: std::collections::BTreeSet<u64>,
    /// The voters the leader's raft cannot reach (their managers show `Unreachable`); None =
    /// leave each manager's reachability as the store has it.
    pub unreachable: Option<std::collections::BTreeSet<u64>>,
    pub leader_raft_id: u64,
    /// The root (join tokens) `swarm init` made, written with the Cluster object by the first
    /// leader; None = make one from the RNG.
    pub init_root_ca: Option<RootCa>,
    /// The settings `swarm init` gave, written with the Cluster object; None = defaults.
    pub init_spec: Option<ClusterSpec>,
    /// What the autoscaler decided since the last pass (services' new replicas).
    pub scales: Vec<orchestrator::autoscale::Scale>,
}

/// The cluster settings (defaults until the first leader wrote the Cluster object).
pub fn cluster_spec(store: &Store) -> ClusterSpec {
    match store.get(Kind::Cluster, CLUSTER_ID) {
        Some(Object::Cluster(c)) => c.spec.clone(),
        _ => ClusterSpec::default(),
    }
}

/// One pass of every leader component.
pub fn pass(store: &Store, input: &PassInput, ids: &mut IdGen, rng: &mut ChaCha8Rng) -> Vec<Action> {
    let mut o = Overlay::new(store);
    let now = input.now_ms;
    if store.get(Kind::Cluster, CLUSTER_ID).is_none() {
        let root_ca = input.init_root_ca.clone().unwrap_or_else(|| crate::ca::new_root(rng));
        let spec = input.init_spec.clone().unwrap_or_default();
        // Swarm makes the routing mesh's network at init, as every `docker network ls` shows.
        if store.find_by_name(Kind::Network, "ingress").is_none() {
            o.put(Object::Network(crate::control::ingress_network(ids.next_id(), &spec.network)));
        }
        o.put(Object::Cluster(Cluster { id: CLUSTER_ID.into(), root_ca, spec, ..Default::default() }));
    }
    let spec = cluster_spec(store);
    for r in &input.registrations {
        dispatcher::register(&mut o, r);
    }
    dispatcher::apply_status_updates(&mut o, &input.status_updates);
    for n in &input.expired {
        dispatcher::mark_down(&mut o, n, now);
    }
    dispatcher::orphan(&mut o, now);
    if !input.voters.is_empty() {
        dispatcher::sync_roles(&mut o, &input.voters, input.leader_raft_id, input.unreachable.as_ref());
    }
    // A root rotation ends once every node reports a certificate of the new root.
    crate::ca::rotation::finish(&mut o);
    orchestrator::autoscale::apply(&mut o, &input.scales);
    // A node joined or came back: services with `--rebalance auto` spread onto it.
    if !input.registrations.is_empty() {
        orchestrator::rebalance::auto(&mut o, now, spec.orchestration.scheduler_strategy);
    }
    orchestrator::replicated::reconcile(&mut o, now, ids);
    orchestrator::global::reconcile(&mut o, now, ids);
    orchestrator::job::reconcile(&mut o, now, ids);
    crate::allocator::allocate(&mut o);
    schedule(&mut o, now, spec.orchestration.scheduler_strategy, rng);
    orchestrator::reaper::reap(&mut o, spec.orchestration.task_history_retention_limit);
    o.into_actions()
}

/// What an idle pass leaves behind: the pass over the store at index `applied` proposed
/// nothing, so until `until_ms` a pass without new inputs (registrations, status reports,
/// expired heartbeats) over the same store would propose nothing either ([`next_deadline_ms`]
/// names every clock a pass reads), and the leader's shell skips it — unless a task is
/// `pending`, which every pass retries. Without this the shell woke for every node's heartbeat
/// deadline and ran a full pass each time: at 1,000 nodes, hundreds a second over every task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiet {
    applied: u64,
    pending: bool,
    until_ms: u64,
    /// The unreachable managers the idle pass saw: a change is an input.
    unreachable: Option<std::collections::BTreeSet<u64>>,
}

impl Quiet {
    /// After a pass with `input` over `store` proposed nothing; `max_ms` bounds the quiet (the
    /// shell's own safety net of a full pass every so often).
    pub fn after_idle_pass(store: &Store, input: &PassInput, max_ms: u64) -> Quiet {
        let now_ms = input.now_ms;
        let until_ms = next_deadline_ms(store, now_ms).unwrap_or(u64::MAX).min(now_ms + max_ms);
        Quiet { applied: store.last_index(), pending: has_pending_task(store), until_ms, unreachable: input.unreachable.clone() }
    }

    /// Whether a pass with `input` over the store at index `applied` may be skipped.
    pub fn skips(&self, input: &PassInput, applied: u64) -> bool {
        let no_inputs =
            input.registrations.is_empty() && input.status_updates.is_empty() && input.expired.is_empty() && input.scales.is_empty();
        no_inputs
            && !self.pending
            && input.now_ms < self.until_ms
            && applied == self.applied
            && input.unreachable == self.unreachable
    }

    /// When the quiet ends (the idle shell wakes then at the latest).
    pub fn until_ms(&self) -> u64 {
        self.until_ms
    }
}

/// Whether a live task waits for a node. The scheduler's answer for it may change with time
/// alone (a node's recent failures age out of its window), so the leader's shell does not skip
/// passes while one does.
pub fn has_pending_task(store: &Store) -> bool {
    store.list(Kind::Task).any(|o| matches!(o, Object::Task(t) if t.is_live() && t.status.state == TaskState::Pending))
}

/// The earliest time at which a pass without inputs over `store` may act although a pass at
/// `now_ms` did not (pending tasks aside, see [`has_pending_task`]): a replacement's restart
/// delay or the old task's timeout, a restart window that lets a kept task restart, a down
/// node's tasks becoming orphans, a rolling update's next step. None when only new inputs or
/// a new store can. The leader's shell skips passes until then while nothing else changes,
/// so this must name every clock a pass reads.
pub fn next_deadline_ms(store: &Store, now_ms: u64) -> Option<u64> {
    use crate::orchestrator::replicated::OLD_TASK_TIMEOUT_MS;
    let mut at: Option<u64> = None;
    // A deadline already passed was the pass at `now_ms`'s to act on.
    let mut soonest = |t: u64| {
        if t > now_ms {
            at = Some(at.map_or(t, |a| a.min(t)));
        }
    };
    for o in store.list(Kind::Task) {
        let Object::Task(t) = o else { continue };
        if t.desired_state == TaskState::Ready {
            soonest(if t.start_after_ms > now_ms { t.start_after_ms } else { t.meta.created_at_ms + OLD_TASK_TIMEOUT_MS });
        }
        if t.is_live() && t.is_terminal() {
            if let Some(r) = orchestrator::restart::revisit_at(t, now_ms) {
                soonest(r);
            }
        }
    }
    for o in store.list(Kind::Node) {
        if let Object::Node(n) = o {
            if n.status.state == crate::model::NodeState::Down {
                soonest(n.status.down_since_ms + dispatcher::ORPHAN_AFTER_MS);
            }
        }
    }
    if let Some(u) = orchestrator::update::next_update_deadline(store, now_ms) {
        soonest(u);
    }
    at
}

/// The most pending tasks one pass writes (placed, or given a new reason to wait): the
/// orchestrators' bound (see [`orchestrator::SLOTS_PER_PASS_MAX`]) for the scheduler, which
/// otherwise placed a hundred thousand tasks waiting for a label in one pass. The scheduler
/// still decides for every pending task, so none starves: what was not written is decided
/// again by the next pass.
pub const SCHEDULED_PER_PASS_MAX: usize = 2_000;

/// PENDING → ASSIGNED for the pending tasks the pass sees, at most [`SCHEDULED_PER_PASS_MAX`]
/// writes.
fn schedule(o: &mut Overlay, now_ms: u64, strategy: SchedulerStrategy, rng: &mut ChaCha8Rng) {
    let decisions = {
        let services = orchestrator::services_by_id(o);
        // A removed service's tasks wait for the reaper, not for a node (placing a hundred
        // thousand of them made every pass of a `service rm` slow). Borrowed, not cloned: a
        // backlog of pending tasks is read by every pass.
        let pending: Vec<&crate::model::Task> = o
            .tasks()
            .into_iter()
            .filter(|t| t.status.state == TaskState::Pending && t.is_live() && services.contains_key(&t.service_id))
            .collect();
        if pending.is_empty() {
            return;
        }
        let mut view = ClusterView::build(o.nodes(), o.tasks(), &services, now_ms);
        let (free, fixed): (Vec<&crate::model::Task>, Vec<&crate::model::Task>) =
            pending.into_iter().partition(|t| t.node_id.is_empty());
        // Tasks bound to a node (global services) first: they have nowhere else to go.
        let mut d: Vec<Decision> = fixed.into_iter().map(|t| scheduler::check_node(&mut view, t, &services)).collect();
        d.extend(scheduler::schedule(&mut view, &free, &services, strategy, rng));
        // Placements before new reasons to wait: under the bound, a backlog of unplaceable
        // tasks whose reason changed must not hold back tasks that have a node.
        d.sort_by_key(|d| matches!(d, Decision::NoNode { .. }));
        d
    };
    let mut written = 0;
    for d in decisions {
        if written == SCHEDULED_PER_PASS_MAX {
            break;
        }
        let (id, node, message) = match d {
            Decision::Assign { task_id, node_id } => (task_id, Some(node_id), "scheduler assigned task to node".to_string()),
            Decision::NoNode { task_id, message } => (task_id, None, message),
        };
        let Some(t) = o.task(&id) else { continue };
        let mut t = t.clone();
        match node {
            Some(n) => {
                t.node_id = n;
                t.status.state = TaskState::Assigned;
                t.status.timestamp_ms = now_ms;
                t.status.message = message;
                t.status.err.clear();
            }
            None if t.status.err != message => {
                // Swarm shows the reason in `service ps` ERROR column and keeps the task pending.
                t.status.err = message;
                t.status.timestamp_ms = now_ms;
            }
            None => continue,
        }
        written += 1;
        o.put(Object::Task(t));
    }
}

#[cfg(test)]
mod autoscale_tests;
#[cfg(test)]
mod rebalance_tests;
#[cfg(test)]
pub(crate) mod tests;

//! Dispatcher (pure part): worker sessions, heartbeats, node liveness, task status updates and
//! what each node is assigned.
//!
//! Owns: when each node must next be heard from ([`Heartbeats`]), and the rules that turn what
//! agents report into store changes. Input: registrations and heartbeats with `now_ms`, status
//! updates from agents. Output: the heartbeat period to announce (period ± 10% jitter from a
//! seeded RNG, so heartbeats do not align), the nodes whose deadline passed, and node/task
//! changes written into an [`Overlay`].
//!
//! Liveness: a node must heartbeat within its announced period + `heartbeat_grace_ms`; agents
//! retry a failed heartbeat every 250 ms, so the grace covers several lost messages. Swarm's
//! grace is 3 periods (15 s), which cannot meet Shoal's 12 s replacement target. After a leader
//! change every known node gets [`LEADER_CHANGE_GRACE_FACTOR`] periods, as swarmkit does,
//! because agents need time to find the new leader.
//!
//! Invariants: observed task states only rise (an older or equal state is ignored); a node can
//! only report tasks assigned to it; a node that is down is marked ready again by its next
//! heartbeat.

mod ingress;
mod networks;
pub use ingress::{IngressBackend, IngressPort, IngressTable};
pub use networks::{mac_for, DnsName, NetworkEndpoint, NetworkEntry, NetworkTable, ServiceVip};

use crate::model::{
    Config, DispatcherConfig, Kind, Node, NodeDescription, NodeRole, NodeState, Object, Secret, Task, TaskState, TaskStatus,
};
use crate::store::{Overlay, Store};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use xxhash_rust::xxh3::Xxh3;

/// After a leader change, nodes get this many heartbeat periods before they count as down.
pub const LEADER_CHANGE_GRACE_FACTOR: u64 = 3;
/// Status updates wait at most this long on the leader before one raft write carries them.
pub const STATUS_BATCH_MS: u64 = 100;
/// ... or until this many are waiting.
pub const STATUS_BATCH_MAX: usize = 10_000;

/// A node's report about one of its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub node_id: String,
    pub task_id: String,
    pub status: TaskStatus,
}

/// What a node says about itself when it registers (first heartbeat of a session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub node_id: String,
    pub addr: String,
    pub description: NodeDescription,
    /// Labels an operator gave at join time (the simulator's scenario labels).
    pub labels: BTreeMap<String, String>,
    /// The node's raft member id (0 = none).
    pub raft_id: u64,
}

/// Heartbeat deadlines of the nodes, kept by the leader only (lost on a leader change, which
/// is why a new leader grants a long grace).
#[derive(Debug)]
pub struct Heartbeats {
    config: DispatcherConfig,
    deadlines: BTreeMap<String, u64>,
    /// The same deadlines ordered by time: the leader asks for the earliest and the expired
    /// after every wake-up, and at thousands of nodes a scan each time was a hot spot.
    by_deadline: std::collections::BTreeSet<(u64, String)>,
    /// Nodes that heartbeated this leader at least once.
    seen: std::collections::BTreeSet<String>,
    rng: ChaCha8Rng,
}

impl Heartbeats {
    pub fn new(config: DispatcherConfig, rng: ChaCha8Rng) -> Heartbeats {
        Heartbeats { config, deadlines: BTreeMap::new(), by_deadline: Default::default(), seen: Default::default(), rng }
    }

    /// The swarm's settings changed (`swarm update --dispatcher-heartbeat`): periods handed
    /// out from now on follow them; deadlines already set stand.
    pub fn set_config(&mut self, config: DispatcherConfig) {
        self.config = config;
    }

    /// A new leader: every node not down gets a long grace from now.
    pub fn start_leading<'a>(&mut self, now_ms: u64, nodes: impl Iterator<Item = &'a Node>) {
        self.deadlines.clear();
        self.by_deadline.clear();
        let grace = self.config.heartbeat_period_ms * LEADER_CHANGE_GRACE_FACTOR;
        for n in nodes.filter(|n| n.status.state != NodeState::Down) {
            self.set_deadline(&n.id, now_ms + grace);
        }
    }

    /// Records a heartbeat; returns the period (ms) the node must heartbeat within: the
    /// configured period ± 10%, except the first time a node heartbeats this leader, when it is
    /// anywhere in [period/10, period]. Nodes that joined together, or that all came over from
    /// the last leader at once, would otherwise heartbeat in step for many periods, and the
    /// bursts delayed heartbeats past their deadline.
    pub fn heartbeat(&mut self, node_id: &str, now_ms: u64) -> u64 {
        let p = self.config.heartbeat_period_ms;
        let jitter = p / 10;
        let period = if !self.seen.contains(node_id) && jitter > 0 {
            self.seen.insert(node_id.to_string());
            self.rng.gen_range(jitter..=p)
        } else if jitter > 0 {
            self.rng.gen_range(p - jitter..=p + jitter)
        } else {
            p
        };
        self.set_deadline(node_id, now_ms + period + self.config.heartbeat_grace_ms);
        period
    }

    /// Every deadline moves `by_ms` later: this leader did not run for that long, so nobody
    /// could heartbeat it (see `node::leader::LeaderInbox::note_running`).
    pub fn postpone(&mut self, by_ms: u64) {
        let moved: Vec<(String, u64)> = self.deadlines.iter().map(|(n, d)| (n.clone(), d.saturating_add(by_ms))).collect();
        for (n, d) in moved {
            self.set_deadline(&n, d);
        }
    }

    /// Nodes whose deadline passed (they are forgotten until they heartbeat again).
    pub fn expired(&mut self, now_ms: u64) -> Vec<String> {
        let mut gone = Vec::new();
        while let Some((d, _)) = self.by_deadline.first() {
            if *d > now_ms {
                break;
            }
            let (_, n) = self.by_deadline.pop_first().expect("the first entry exists");
            self.deadlines.remove(&n);
            gone.push(n);
        }
        // In node order, as callers saw them before the index.
        gone.sort();
        gone
    }

    /// The earliest deadline, for the leader's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    fn set_deadline(&mut self, node_id: &str, at_ms: u64) {
        if let Some(old) = self.deadlines.insert(node_id.to_string(), at_ms) {
            self.by_deadline.remove(&(old, node_id.to_string()));
        }
        self.by_deadline.insert((at_ms, node_id.to_string()));
        debug_assert_eq!(self.deadlines.len(), self.by_deadline.len());
    }
}

/// Creates the node on its first registration, or marks it ready again with what it reports.
pub fn register(o: &mut Overlay, r: &Registration) {
    // Only nodes that joined (with a token) register; a removed node's late registration is
    // dropped (its next heartbeat is refused and the agent leaves).
    let Some(cur) = o.node(&r.node_id) else { return };
    let mut n = cur.clone();
    if n.description.is_none() {
        // Labels given at join time (the simulator's scenario labels); later registrations
        // keep what operators changed since.
        n.spec.annotations.labels.extend(r.labels.clone());
    }
    n.description = Some(r.description.clone());
    n.raft_id = r.raft_id;
    n.status.state = NodeState::Ready;
    n.status.message = String::new();
    n.status.down_since_ms = 0;
    n.status.addr = r.addr.clone();
    if n != *cur {
        o.put(Object::Node(n));
    }
}

/// Makes every node's role follow the raft membership (`voters`, and the current `leader`):
/// promotion and demotion are membership changes; the store then says what they did. Managers
/// in `unreachable` (the leader's raft cannot reach them) are marked so; with None each keeps
/// what the store says.
pub fn sync_roles(o: &mut Overlay, voters: &BTreeSet<u64>, leader: u64, unreachable: Option<&BTreeSet<u64>>) {
    let changed: Vec<Node> = o
        .nodes()
        .into_iter()
        .filter(|n| n.raft_id != 0)
        .filter_map(|n| {
            let manager = voters.contains(&n.raft_id);
            let status = manager.then(|| crate::model::ManagerStatus {
                raft_id: n.raft_id,
                addr: n.status.addr.clone(),
                leader: n.raft_id == leader,
                unreachable: n.raft_id != leader
                    && match unreachable {
                        Some(set) => set.contains(&n.raft_id),
                        None => n.manager_status.as_ref().is_some_and(|m| m.unreachable),
                    },
            });
            let role = if manager { NodeRole::Manager } else { NodeRole::Worker };
            (n.role != role || n.manager_status != status).then(|| {
                let mut n = n.clone();
                n.role = role;
                n.spec.desired_role = role;
                n.manager_status = status;
                n
            })
        })
        .collect();
    for n in changed {
        o.put(Object::Node(n));
    }
}

/// A node down this long has its unfinished tasks marked ORPHANED (swarmkit's 24 h).
pub const ORPHAN_AFTER_MS: u64 = 24 * 3600 * 1000;

/// Marks a node down (its heartbeat deadline passed) at `now_ms`.
pub fn mark_down(o: &mut Overlay, node_id: &str, now_ms: u64) {
    if let Some(n) = o.node(node_id) {
        if n.status.state != NodeState::Down {
            let mut n = n.clone();
            n.status.state = NodeState::Down;
            n.status.message = "heartbeat failure".into();
            n.status.down_since_ms = now_ms;
            o.put(Object::Node(n));
        }
    }
}

/// Tasks of nodes down for [`ORPHAN_AFTER_MS`] that never reported an end become ORPHANED
/// (terminal: the reaper can then forget them).
pub fn orphan(o: &mut Overlay, now_ms: u64) {
    let gone: std::collections::BTreeSet<String> = o
        .nodes()
        .into_iter()
        .filter(|n| n.status.state == NodeState::Down && n.status.down_since_ms + ORPHAN_AFTER_MS <= now_ms)
        .map(|n| n.id.clone())
        .collect();
    if gone.is_empty() {
        return;
    }
    let tasks: Vec<Task> = o
        .tasks()
        .into_iter()
        .filter(|t| t.status.state <= TaskState::Running && gone.contains(&t.node_id))
        .cloned()
        .collect();
    for mut t in tasks {
        t.status.state = TaskState::Orphaned;
        t.status.timestamp_ms = now_ms;
        t.status.message = "task belongs to a node that has been down for 24 hours".into();
        o.put(Object::Task(t));
    }
}

/// Applies agents' reports: a report raises the task's observed state (never lowers it), and
/// only the node the task is assigned to may report it.
pub fn apply_status_updates(o: &mut Overlay, updates: &[StatusUpdate]) {
    for u in updates {
        let Some(t) = o.task(&u.task_id) else { continue };
        if t.node_id != u.node_id || u.status.state <= t.status.state {
            continue;
        }
        let mut t = t.clone();
        // A container id, once reported, stays through the task's later states.
        let known_id = std::mem::take(&mut t.status.container_id);
        t.status = u.status.clone();
        if t.status.container_id.is_empty() {
            t.status.container_id = known_id;
        }
        o.put(Object::Task(t));
    }
}

/// The tasks a node must know about: every task assigned to it (ASSIGNED or later), its
/// finished history included, until the reaper deletes the task. As in swarmkit, a task leaves
/// a node's set only when it is deleted, and that is when the agent removes its container: the
/// containers of the task history (5 per slot by default) stay on the node, stopped, for
/// `service logs` and `docker ps -a`.
pub fn assigned_tasks(store: &Store, node_id: &str) -> Vec<Task> {
    store.tasks_on_node(node_id).filter(|t| t.status.state >= TaskState::Assigned).cloned().collect()
}

/// What a node's tasks need besides their images (swarmkit's agent "dependencies"): the
/// secrets and configs of the node's assignment set, each list in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dependencies {
    pub secrets: Vec<Secret>,
    pub configs: Vec<Config>,
}

impl Dependencies {
    /// The secret with id `id`, if the node holds it.
    pub fn secret(&self, id: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.id == id)
    }

    /// The config with id `id`, if the node holds it.
    pub fn config(&self, id: &str) -> Option<&Config> {
        self.configs.iter().find(|c| c.id == id)
    }

    /// Only what `task` uses; Err names the first secret or config the node lacks (the task
    /// is then rejected, as swarm's agent rejects a task whose dependency did not come).
    pub fn of_task(&self, task: &Task) -> Result<Dependencies, String> {
        let c = &task.spec.container;
        let secrets = c
            .secrets
            .iter()
            .map(|r| self.secret(&r.secret_id).cloned().ok_or_else(|| format!("secret {} ({}) not found on this node", r.secret_name, r.secret_id)))
            .collect::<Result<_, _>>()?;
        let configs = c
            .configs
            .iter()
            .map(|r| self.config(&r.config_id).cloned().ok_or_else(|| format!("config {} ({}) not found on this node", r.config_name, r.config_id)))
            .collect::<Result<_, _>>()?;
        Ok(Dependencies { secrets, configs })
    }
}

/// The secrets and configs an assignment set's unfinished tasks use: all a node ever receives
/// of the swarm's secrets and configs (swarmkit sends a node only those its tasks reference,
/// and releases them when the task finishes). A reference to one that is gone is skipped;
/// the agent then rejects that task.
pub fn assigned_dependencies(store: &Store, tasks: &[Task]) -> Dependencies {
    if crate::mutant::active("secret-to-wrong-node") {
        let secrets = store.list(Kind::Secret).filter_map(|o| if let Object::Secret(s) = o { Some(s.clone()) } else { None }).collect();
        return Dependencies { secrets, configs: vec![] };
    }
    let live = || tasks.iter().filter(|t| !t.is_terminal()).map(|t| &t.spec.container);
    let secret_ids: BTreeSet<&str> = live().flat_map(|c| c.secrets.iter().map(|r| r.secret_id.as_str())).collect();
    let config_ids: BTreeSet<&str> = live().flat_map(|c| c.configs.iter().map(|r| r.config_id.as_str())).collect();
    Dependencies {
        secrets: secret_ids
            .into_iter()
            .filter_map(|id| match store.get(Kind::Secret, id) {
                Some(Object::Secret(s)) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        configs: config_ids
            .into_iter()
            .filter_map(|id| match store.get(Kind::Config, id) {
                Some(Object::Config(c)) => Some(c.clone()),
                _ => None,
            })
            .collect(),
    }
}

/// A digest of an assignment set: agents long-poll until it changes.
pub fn assignments_version(tasks: &[Task]) -> u64 {
    let mut h = Xxh3::new();
    for t in tasks {
        h.update(t.id.as_bytes());
        h.update(&t.meta.version.to_le_bytes());
    }
    h.digest().max(1)
}

/// What an agent holds of its assignments: task id → task version (what the dispatcher last
/// sent it, by the set's version).
pub type SentSet = BTreeMap<String, u64>;

/// The ids and versions of an assignment set.
pub fn sent_set(tasks: &[Task]) -> SentSet {
    tasks.iter().map(|t| (t.id.clone(), t.meta.version)).collect()
}

/// An incremental assignment message: the tasks that are new or changed since `sent`, and the
/// ids no longer assigned (swarmkit's INCREMENTAL assignments after one COMPLETE set).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AssignmentDelta {
    pub updated: Vec<Task>,
    pub removed: Vec<String>,
}

pub fn assignment_delta(sent: &SentSet, current: &[Task]) -> AssignmentDelta {
    let updated: Vec<Task> = current.iter().filter(|t| sent.get(&t.id) != Some(&t.meta.version)).cloned().collect();
    let now: std::collections::BTreeSet<&str> = current.iter().map(|t| t.id.as_str()).collect();
    let removed = sent.keys().filter(|id| !now.contains(id.as_str())).cloned().collect();
    AssignmentDelta { updated, removed }
}

/// The agent's side: applies a delta to the set it holds (kept in task id order, as the
/// dispatcher sends full sets), so `assignments_version` of the result can be checked against
/// the version the dispatcher announced.
pub fn apply_delta(held: &mut Vec<Task>, delta: AssignmentDelta) {
    let mut by_id: BTreeMap<String, Task> = std::mem::take(held).into_iter().map(|t| (t.id.clone(), t)).collect();
    for id in &delta.removed {
        by_id.remove(id);
    }
    for t in delta.updated {
        by_id.insert(t.id.clone(), t);
    }
    *held = by_id.into_values().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn finished_tasks_stay_assigned_but_their_secrets_are_released() {
        use crate::model::{SecretReference, SecretSpec};
        use crate::store::{Action, Transaction};
        let uses = |id: &str, state: TaskState, secret: &str| {
            let mut t = Task { id: id.into(), node_id: "n1".into(), desired_state: TaskState::Running, ..Default::default() };
            t.status.state = state;
            t.spec.container.secrets = vec![SecretReference { secret_id: secret.into(), secret_name: secret.into(), target: secret.into(), ..Default::default() }];
            Object::Task(t)
        };
        let secret = |id: &str| {
            let mut s = Secret { id: id.into(), spec: SecretSpec { data: b"x".to_vec(), ..Default::default() }, ..Default::default() };
            s.spec.annotations.name = id.into();
            Object::Secret(s)
        };
        let mut store = Store::new();
        let objects = vec![
            secret("s-live"),
            secret("s-done"),
            uses("t-pending", TaskState::Pending, "s-live"),
            uses("t-running", TaskState::Running, "s-live"),
            uses("t-failed", TaskState::Failed, "s-done"),
        ];
        store.apply(1, &Transaction { timestamp_ms: 0, actions: objects.into_iter().map(Action::Create).collect() }).unwrap();
        let tasks = assigned_tasks(&store, "n1");
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t-failed", "t-running"], "not yet assigned: not sent; finished: kept as history");
        let secrets: Vec<String> = assigned_dependencies(&store, &tasks).secrets.into_iter().map(|s| s.id).collect();
        assert_eq!(secrets, ["s-live"]);
    }

    #[test]
    fn deltas_rebuild_the_full_set_and_its_version() {
        let task = |id: &str, v: u64| {
            let mut t = Task { id: id.into(), ..Default::default() };
            t.meta.version = v;
            t
        };
        let before = vec![task("a", 1), task("b", 1), task("c", 1)];
        let after = vec![task("a", 1), task("c", 2), task("d", 1)];
        let d = assignment_delta(&sent_set(&before), &after);
        assert_eq!(d.updated.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["c", "d"]);
        assert_eq!(d.removed, ["b"]);
        let mut held = before.clone();
        apply_delta(&mut held, d);
        assert_eq!(held, after);
        assert_eq!(assignments_version(&held), assignments_version(&after));
        assert_eq!(assignment_delta(&sent_set(&after), &after), AssignmentDelta::default());
    }

    #[test]
    fn a_silent_node_expires_after_period_plus_grace_and_a_new_leader_grants_more() {
        let cfg = DispatcherConfig { heartbeat_period_ms: 5_000, heartbeat_grace_ms: 2_000 };
        let mut hb = Heartbeats::new(cfg, ChaCha8Rng::seed_from_u64(1));
        let first = hb.heartbeat("w1", 0);
        assert!((500..=5_000).contains(&first), "{first}");
        let p = hb.heartbeat("w1", 0);
        assert!((4_500..=5_500).contains(&p), "{p}");
        assert!(hb.expired(p + 1_999).is_empty());
        assert_eq!(hb.expired(p + 2_000), vec!["w1".to_string()]);
        assert!(hb.expired(100_000).is_empty(), "reported once");
        let n = Node { id: "w1".into(), status: crate::model::NodeStatus { state: NodeState::Ready, ..Default::default() }, ..Default::default() };
        hb.start_leading(10_000, [&n].into_iter());
        assert!(hb.expired(24_999).is_empty());
        assert_eq!(hb.expired(25_000), vec!["w1".to_string()]);
        // A leader that did not run for 20 s moves every deadline by as much.
        hb.heartbeat("w1", 30_000);
        let d = hb.next_deadline().unwrap();
        hb.postpone(20_000);
        assert_eq!(hb.next_deadline(), Some(d + 20_000));
        assert!(hb.expired(d + 19_999).is_empty());
        assert_eq!(hb.expired(d + 20_000), vec!["w1".to_string()]);
    }

    // `swarm update --dispatcher-heartbeat 2s`: the next periods handed out are 2 s ± 10%.
    #[test]
    fn a_new_heartbeat_period_applies_from_the_next_heartbeat() {
        let mut hb = Heartbeats::new(DispatcherConfig { heartbeat_period_ms: 5_000, heartbeat_grace_ms: 2_000 }, ChaCha8Rng::seed_from_u64(2));
        hb.heartbeat("w1", 0);
        hb.set_config(DispatcherConfig { heartbeat_period_ms: 2_000, heartbeat_grace_ms: 2_000 });
        for t in 1..20 {
            let p = hb.heartbeat("w1", t * 2_000);
            assert!((1_800..=2_200).contains(&p), "{p}");
        }
    }

    proptest::proptest! {
        /// The deadline index answers as a scan of every node's deadline would.
        #[test]
        fn the_deadline_index_agrees_with_a_scan(ops in proptest::collection::vec((0u8..3, 0u64..8, 0u64..30_000), 1..200)) {
            let cfg = DispatcherConfig { heartbeat_period_ms: 5_000, heartbeat_grace_ms: 2_000 };
            let mut hb = Heartbeats::new(cfg, ChaCha8Rng::seed_from_u64(7));
            let mut now = 0u64;
            for (op, node, dt) in ops {
                now += dt;
                let node = format!("w{node}");
                if op == 0 {
                    let model: Vec<String> = hb.deadlines.iter().filter(|(_, d)| **d <= now).map(|(n, _)| n.clone()).collect();
                    proptest::prop_assert_eq!(hb.expired(now), model);
                } else {
                    hb.heartbeat(&node, now);
                }
                proptest::prop_assert_eq!(hb.next_deadline(), hb.deadlines.values().min().copied());
                proptest::prop_assert_eq!(hb.deadlines.len(), hb.by_deadline.len());
            }
        }
    }

    #[test]
    fn status_only_rises_and_only_from_the_assigned_node() {
        let mut store = Store::new();
        let mut t = Task { id: "t1".into(), node_id: "w1".into(), ..Default::default() };
        t.status.state = TaskState::Running;
        t.status.container_id = "c0ffee".into();
        store
            .apply(1, &crate::store::Transaction { timestamp_ms: 0, actions: vec![crate::store::Action::Create(Object::Task(t))] })
            .unwrap();
        let mut o = Overlay::new(&store);
        let up = |node: &str, state| StatusUpdate {
            node_id: node.into(),
            task_id: "t1".into(),
            status: TaskStatus { state, ..Default::default() },
        };
        apply_status_updates(&mut o, &[up("w1", TaskState::Starting), up("w2", TaskState::Failed)]);
        assert!(o.is_empty(), "older state and foreign node both ignored");
        apply_status_updates(&mut o, &[up("w1", TaskState::Failed)]);
        assert_eq!(o.task("t1").unwrap().status.state, TaskState::Failed);
        assert_eq!(o.task("t1").unwrap().status.container_id, "c0ffee", "the container id reported with RUNNING stays");
    }
}

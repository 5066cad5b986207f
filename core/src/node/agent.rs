//! The agent (shell): runs on every node, managers included. Heartbeats the leader's
//! dispatcher, long-polls its assignments, reconciles them with the [`Executor`] through the
//! pure [`crate::agent::Agent`], and reports task status.
//!
//! Inputs: assignments (full sets with a version), executor state and change signals, the
//! heartbeat period the dispatcher announces. Outputs: executor calls, heartbeats carrying
//! status updates. A failed heartbeat is retried after [`RETRY`] against the next manager, so
//! a lost message or a dead manager costs well under the dispatcher's grace. A new session
//! (another leader) re-sends every report the store has not caught up with.

use crate::agent::{Agent, Command, Container, ContainerState};
use crate::dispatcher::{apply_delta, assignments_version, AssignmentDelta, Dependencies, NetworkTable, StatusUpdate};
use crate::model::{NodeDescription, NodeRole, Task};
use crate::node::dispatcher::to_proto;
use crate::node::leader::wall_ms;
use crate::node::mesh::{IngressSink, NetworkSink};
use crate::proto::{AssignmentsRequest, HeartbeatRequest, IngressRequest};
pub use super::executor::Executor;
pub use super::join::{add_self_as_manager, join, Joined, JOIN_DEADLINE, SELF_JOIN_DEADLINE};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod session;
use session::{lost_backoff, node_hash, poll_leader, Leader, Polled, LOST_LEADER_SPREAD_MS};

/// Pause before retrying a failed dispatcher call.
pub const RETRY: Duration = Duration::from_millis(250);
/// Deadline of a heartbeat call.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
/// Status updates per heartbeat at most (the rest go with the next one, sent at once).
const MAX_UPDATES_PER_HEARTBEAT: usize = 1_000;
/// Containers an agent creates and starts at once.
const MAX_CONCURRENT_STARTS: usize = 8;

/// How long a heartbeat waits for the executor's CPU measure.
const USAGE_TIMEOUT: Duration = Duration::from_secs(1);


#[derive(Clone)]
pub struct AgentConfig {
    pub node_id: String,
    /// This node's address (a manager's agent talks to its own manager first).
    pub addr: String,
    pub manager: bool,
    pub description: NodeDescription,
    pub labels: BTreeMap<String, String>,
    /// Managers to try, in order, until one names the leader.
    pub managers: Vec<String>,
    /// This node's raft member id (0 = none).
    pub raft_id: u64,
    /// Told the managers list each time a leader's heartbeat answer changes it, so the
    /// runtime can keep it for a restart (the production daemon writes it into node.json:
    /// after the manager a worker joined through is gone, a restarted worker must still find
    /// one). None in the simulator, whose restarts know every manager.
    pub managers_seen: Option<Arc<tokio::sync::watch::Sender<Vec<String>>>>,
    /// Told the role the swarm wants this node to have, from every heartbeat answer (`node
    /// promote|demote`): the production daemon renews its certificate when it differs from
    /// the one it holds (so does the simulator's certificate model). None where nothing
    /// renews.
    pub desired_role: Option<Arc<tokio::sync::watch::Sender<NodeRole>>>,
    /// The certificates this node holds (reported in its description) and what heartbeat
    /// answers say it must hold instead (a root rotation): the production daemon renews, and
    /// so does the simulator's certificate model. None where nodes hold no certificates.
    pub tls: Option<AgentTls>,
    /// Handed every new routing-mesh table (the production runtime's mesh proxy). None in
    /// the simulator, whose mesh is a model.
    pub ingress: Option<Arc<dyn IngressSink>>,
    /// Handed this node's part of the overlay networks' table each time it changes (the
    /// production runtime's data path). None in the simulator.
    pub networks: Option<Arc<dyn NetworkSink>>,
}

/// The agent's side of the node's certificates (see [`AgentConfig::tls`]).
#[derive(Clone)]
pub struct AgentTls {
    pub held: tokio::sync::watch::Receiver<crate::model::TlsInfo>,
    pub wanted: Arc<tokio::sync::watch::Sender<Option<crate::model::TlsInfo>>>,
}

/// The tasks whose start is under way (queued for a permit or running) and, once it ended,
/// its result, shared by the agent loop and the start tasks beside it. One lock holds both so
/// the loop never sees a start neither under way nor ended (it would report the task's
/// container gone).
type InFlight = Arc<Mutex<BTreeMap<String, Option<Result<(), String>>>>>;

/// The executor's containers, with every start still under way listed as
/// [`ContainerState::Creating`] whatever the engine shows of it so far: there is nothing the
/// agent may stop yet, and without it the agent would see the task's container gone. Starts
/// that ended are forgotten here, their failures told to `agent`, before listing, so a start
/// that ends in between is in the list.
async fn list_with_starts(exec: &dyn Executor, in_flight: &InFlight, agent: &mut Agent) -> Vec<Container> {
    let pending: Vec<String> = {
        let mut f = in_flight.lock().unwrap();
        let ended: Vec<(String, Result<(), String>)> = f.iter().filter_map(|(k, r)| Some((k.clone(), r.clone()?))).collect();
        for (id, r) in ended {
            f.remove(&id);
            if let Err(e) = r {
                agent.start_failed(&id, e);
            }
        }
        f.keys().cloned().collect()
    };
    let mut containers = exec.list().await;
    if !pending.is_empty() {
        containers.retain(|c| !pending.contains(&c.task_id));
        containers.extend(pending.into_iter().map(|task_id| Container::new(task_id, ContainerState::Creating)));
        containers.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    }
    containers
}

/// Why the agent loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentExit {
    /// The swarm no longer knows this node (`node rm`): its containers are removed and the
    /// machine must join again (as a new node) to take part.
    Removed,
}

/// The agent loop; returns only when the node was removed from the swarm (a crash ends it
/// otherwise).
pub async fn run_agent(cfg: AgentConfig, exec: Arc<dyn Executor>) -> AgentExit {
    let first = if cfg.manager { cfg.addr.clone() } else { cfg.managers.first().cloned().unwrap_or_default() };
    let leader = Arc::new(Mutex::new(Leader::new(first, cfg.managers.clone())));
    let assigned: Arc<Assigned> = Arc::default();
    let poller = tokio::spawn(poll_assignments(cfg.node_id.clone(), leader.clone(), assigned.clone(), exec.clone()));
    let mut table_pollers = Vec::new();
    if let Some(sink) = cfg.ingress.clone() {
        table_pollers.push(tokio::spawn(poll_table(cfg.node_id.clone(), leader.clone(), TableKind::Ingress, move |t| sink.set(t))));
    }
    // The node's part of the networks table as last polled (None: this world polls none).
    let networks: Option<Arc<NetworksSeen>> = cfg.networks.clone().map(|sink| {
        let seen = Arc::new(NetworksSeen::default());
        let s = seen.clone();
        let set = move |t: NetworkTable| {
            // The world's data path first: a start waiting for the table finds it programmed.
            sink.set(t.clone());
            *s.table.lock().unwrap() = Some(t);
            s.signal.bump();
        };
        table_pollers.push(tokio::spawn(poll_table(cfg.node_id.clone(), leader.clone(), TableKind::Networks, set)));
        seen
    });
    let mut agent = Agent::new(&cfg.node_id);
    let describe = |tls: Option<&AgentTls>| {
        let mut d = cfg.description.clone();
        if let Some(t) = tls {
            d.tls_info = t.held.borrow().clone();
        }
        serde_json::to_vec(&d).expect("description serialises")
    };
    let mut tls = cfg.tls.clone();
    if let Some(t) = tls.as_mut() {
        t.held.mark_unchanged();
    }
    let mut description = describe(tls.as_ref());
    let mut outbox: Vec<StatusUpdate> = Vec::new();
    let mut next_heartbeat = tokio::time::Instant::now();
    // The leader autoscales some service: measure the tasks' CPU (its heartbeat answers say).
    let mut usage_wanted = false;
    // Buggify: reports held back until then.
    let mut reports_held_until: Option<tokio::time::Instant> = None;
    // The dispatcher session (one per leadership) the reports went to; 0 before the first answer.
    let mut session = 0u64;
    // Starts run beside the loop, at most this many at once; each leaves its result in
    // `in_flight` and wakes the loop through `start_ended`.
    let start_gate = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_STARTS));
    let in_flight: InFlight = Arc::default();
    let start_ended = Arc::new(crate::node::signal::Signal::new());
    let lost = leader.lock().unwrap().lost.clone();
    let hash = node_hash(&cfg.node_id);
    let lost_delay = Duration::from_millis(hash % LOST_LEADER_SPREAD_MS);
    // Heartbeats in a row that found no leader.
    let mut lost_tries = 0u32;
    // Kept across passes: a bump while another wake-up won the select is seen on the next.
    let mut lost_seen = lost.version();
    loop {
        // Reconcile once per wake-up. Starts and stops run beside the loop, so it never waits
        // for the engine: a start is several engine round trips (find, image, create, start)
        // and a stop may take its grace period, and a loop that waited for 50 starts missed
        // its own heartbeat deadline (the node went down in the middle of its deploy). A start
        // that failed is reported REJECTED by the next reconcile.
        let ended_seen = start_ended.version();
        let assigned_seen = assigned.signal.version();
        let tasks = assigned.tasks.lock().unwrap().clone();
        let synced = assigned.synced.load(std::sync::atomic::Ordering::SeqCst);
        if synced {
            let containers = list_with_starts(exec.as_ref(), &in_flight, &mut agent).await;
            let (cmds, ups) = agent.reconcile(&tasks, &containers, wall_ms());
            outbox.extend(ups);
            for c in cmds {
                match c {
                    Command::Start(t) => {
                        in_flight.lock().unwrap().insert(t.id.clone(), None);
                        let (exec, gate, ended, in_flight) = (exec.clone(), start_gate.clone(), start_ended.clone(), in_flight.clone());
                        let deps = assigned.deps.lock().unwrap().of_task(&t);
                        let networks = networks.clone();
                        tokio::spawn(async move {
                            wait_listed(networks, &t).await;
                            let r = match (deps, gate.acquire_owned().await) {
                                (Err(e), _) => Err(e),
                                (Ok(deps), Ok(_permit)) => exec.start(&t, &deps).await,
                                (_, Err(_)) => Err("the agent stopped".to_string()),
                            };
                            in_flight.lock().unwrap().insert(t.id.clone(), Some(r));
                            ended.bump();
                        });
                    }
                    // A stop may take seconds (the mesh drain, the stop grace period); the
                    // loop hears the container exit through `changed()`.
                    // A running task on an overlay network is drained first: it left every name
                    // and VIP with the store change that stops it, and every node's table
                    // must have that change before it stops answering.
                    Command::Stop(id) => {
                        let exec = exec.clone();
                        let on_networks = tasks.iter().any(|t| t.id == id && !t.networks.is_empty());
                        let running = containers_running(&containers, &id);
                        tokio::spawn(async move {
                            if on_networks && running {
                                tokio::time::sleep(Duration::from_millis(NETWORK_DRAIN_MS)).await;
                            }
                            exec.stop(&id).await
                        });
                    }
                    Command::Remove(id) => exec.remove(&id).await,
                }
            }
        }
        let now = tokio::time::Instant::now();
        // Buggify (simulator only): an agent slow to report holds its reports back for a
        // second; a heartbeat may be lost on the way (the agent notices when the call times
        // out, and tries again then, as after any lost call).
        if !outbox.is_empty() && reports_held_until.is_none() && super::buggify::fire(0.05) {
            reports_held_until = Some(now + Duration::from_secs(1));
        }
        let holding = reports_held_until.is_some_and(|u| now < u);
        if !holding {
            reports_held_until = None;
        }
        let due = now >= next_heartbeat;
        let send_reports = !outbox.is_empty() && !holding;
        if due && !send_reports && super::buggify::fire(0.02) {
            next_heartbeat = now + HEARTBEAT_TIMEOUT;
        } else if send_reports || due {
            let (addr, client) = {
                let mut l = leader.lock().unwrap();
                let addr = l.addr.clone();
                let client = l.client(&addr);
                (addr, client)
            };
            let take = if holding { 0 } else { outbox.len().min(MAX_UPDATES_PER_HEARTBEAT) };
            // The tasks' CPU goes with the periodic heartbeats (one measure per period), never
            // holding one up: a slow engine's stats are skipped this time.
            let mut usage = if due && usage_wanted {
                tokio::time::timeout(USAGE_TIMEOUT, exec.usage()).await.unwrap_or_default()
            } else {
                Vec::new()
            };
            usage.truncate(crate::orchestrator::autoscale::SAMPLES_PER_REPORT_MAX);
            let req = HeartbeatRequest {
                node_id: cfg.node_id.clone(),
                description: description.clone(),
                addr: cfg.addr.clone(),
                labels: cfg.labels.clone().into_iter().collect(),
                updates: outbox[..take].iter().map(to_proto).collect(),
                raft_id: cfg.raft_id,
                usage: usage.into_iter().map(crate::proto::TaskUsage::from).collect(),
            };
            let r = match client {
                Some(mut c) => match tokio::time::timeout(HEARTBEAT_TIMEOUT, c.heartbeat(req)).await {
                    Ok(Ok(r)) => Some(r),
                    Ok(Err(s)) if s.code() == tonic::Code::NotFound => {
                        tracing::info!(target: "shoal", node = %cfg.node_id, "removed from the swarm: {}", s.message());
                        poller.abort();
                        for p in &table_pollers {
                            p.abort();
                        }
                        // Let the starts under way finish first, or they would leave
                        // containers behind.
                        let _all = start_gate.acquire_many(MAX_CONCURRENT_STARTS as u32).await;
                        for c in exec.list().await {
                            exec.stop(&c.task_id).await;
                            exec.remove(&c.task_id).await;
                        }
                        return AgentExit::Removed;
                    }
                    Ok(Err(s)) => {
                        tracing::debug!(target: "shoal", "heartbeat to {addr} failed: {:?} {}", s.code(), s.message());
                        None
                    }
                    Err(_) => None,
                },
                None => None,
            };
            match r.map(|r| r.into_inner()) {
                Some(resp) if resp.redirect => {
                    let mut l = leader.lock().unwrap();
                    if !resp.managers.is_empty() {
                        l.managers = resp.managers.clone();
                    }
                    // A manager that knows no leader (an election under way) is a failure:
                    // back off; one that names the leader is progress.
                    lost_tries = if resp.leader_addr.is_empty() { lost_tries.saturating_add(1) } else { 0 };
                    l.switch(Some(resp.leader_addr));
                    next_heartbeat = now + lost_backoff(lost_tries, hash);
                }
                Some(resp) => {
                    lost_tries = 0;
                    outbox.drain(..take);
                    usage_wanted = resp.usage_wanted;
                    if let (Some(tx), Some(role)) = (&cfg.desired_role, NodeRole::parse(&resp.desired_role)) {
                        tx.send_if_modified(|r| std::mem::replace(r, role) != role);
                    }
                    if let Some(t) = &tls {
                        let wanted = resp.tls_wanted.map(|w| crate::model::TlsInfo {
                            trust_root: w.trust_root,
                            issuer: crate::model::IssuerInfo { subject: w.issuer_subject, public_key: w.issuer_public_key },
                        });
                        t.wanted.send_if_modified(|cur| std::mem::replace(cur, wanted.clone()) != wanted);
                    }
                    if !resp.managers.is_empty() {
                        if let Some(seen) = &cfg.managers_seen {
                            seen.send_if_modified(|m| {
                                let changed = *m != resp.managers;
                                if changed {
                                    m.clone_from(&resp.managers);
                                }
                                changed
                            });
                        }
                        leader.lock().unwrap().managers = resp.managers;
                    }
                    // Another leader's dispatcher: it may have lost reports the old one queued,
                    // so the next reconcile (at once) reports again what the store has not
                    // caught up with. Only here: a timeout that leads back to the same leader
                    // keeps the session (re-reporting on every switch fed a storm of
                    // duplicates). The reconcile is the loop's own, so the commands it makes
                    // run (a reconcile here whose commands were dropped marked new tasks as
                    // started without starting them).
                    let new_session = resp.session != session;
                    if new_session {
                        session = resp.session;
                        agent = agent.new_session();
                    }
                    // Heartbeat a little before the announced period ends.
                    next_heartbeat = now + Duration::from_millis(resp.period_ms.saturating_sub(resp.period_ms / 10).max(100));
                    if (!outbox.is_empty() && !holding) || (new_session && synced) {
                        continue;
                    }
                }
                None => {
                    leader.lock().unwrap().switch(None);
                    lost_tries = lost_tries.saturating_add(1);
                    next_heartbeat = now + lost_backoff(lost_tries, hash);
                }
            }
        }
        tokio::select! {
            biased;
            _ = assigned.signal.changed(assigned_seen) => {}
            _ = exec.changed() => {}
            _ = start_ended.changed(ended_seen) => {}
            v = lost.changed(lost_seen) => {
                lost_seen = v;
                // Already backing off from a lost leader: the heartbeat loop knows.
                if lost_tries == 0 {
                    next_heartbeat = next_heartbeat.min(tokio::time::Instant::now() + lost_delay);
                }
            }
            r = held_changed(tls.as_mut()) => match r {
                // A renewed certificate is reported at once (a root rotation waits for
                // every node's report).
                Ok(()) => {
                    if let Some(t) = tls.as_mut() {
                        t.held.mark_unchanged();
                        description = describe(Some(&*t));
                    }
                    leader.lock().unwrap().redial();
                    next_heartbeat = tokio::time::Instant::now();
                }
                // The renewal loop is gone: nothing more to report.
                Err(_) => tls = None,
            },
            _ = tokio::time::sleep_until(reports_held_until.map_or(next_heartbeat, |u| u.min(next_heartbeat))) => {}
        }
    }
}

/// Resolves when the node's certificates changed (never without them).
async fn held_changed(tls: Option<&mut AgentTls>) -> Result<(), tokio::sync::watch::error::RecvError> {
    match tls {
        Some(t) => t.held.changed().await,
        None => std::future::pending().await,
    }
}

/// The latest assignment set, handed from the poller to the agent loop.
#[derive(Default)]
struct Assigned {
    tasks: Mutex<Vec<Task>>,
    /// The secrets and configs that came with the set.
    deps: Mutex<Dependencies>,
    signal: crate::node::signal::Signal,
    /// A dispatcher answered with this node's assignments at least once. Until then the
    /// agent must not act on containers: after a restart, the empty set it starts with would
    /// make it stop every container it should adopt.
    synced: std::sync::atomic::AtomicBool,
}

impl Assigned {
    /// A new assignment set and the secrets and configs sent with it, told to the executor;
    /// wakes the agent loop.
    fn set(&self, tasks: Vec<Task>, resp: &crate::proto::AssignmentsResponse, exec: &dyn Executor) {
        fn list<T: serde::de::DeserializeOwned>(what: &str, json: &[u8]) -> Vec<T> {
            if json.is_empty() {
                return Vec::new();
            }
            serde_json::from_slice(json).unwrap_or_else(|e| {
                tracing::warn!(target: "shoal", "assigned {what} are not valid JSON: {e}");
                Vec::new()
            })
        }
        let deps = Dependencies { secrets: list("secrets", &resp.secrets), configs: list("configs", &resp.configs) };
        exec.assignments(&tasks, &deps);
        *self.deps.lock().unwrap() = deps;
        *self.tasks.lock().unwrap() = tasks;
        self.synced.store(true, std::sync::atomic::Ordering::SeqCst);
        self.signal.bump();
    }
}

/// Deadline of one long-poll call: the dispatcher answers within its poll period.
const POLL_CALL_TIMEOUT: Duration = Duration::from_secs(crate::node::dispatcher::ASSIGNMENTS_POLL.as_secs() + 5);

/// Long-polls the assignments of `node_id` from the current leader, restarting on a switch.
async fn poll_assignments(node_id: String, leader: Arc<Mutex<Leader>>, assigned: Arc<Assigned>, exec: Arc<dyn Executor>) {
    let mut known = 0u64;
    let mut failing = false;
    loop {
        let req = AssignmentsRequest { node_id: node_id.clone(), known_version: known };
        let r = match poll_leader(&leader, |c| async move {
            let mut c = c?;
            tokio::time::timeout(POLL_CALL_TIMEOUT, c.assignments(req)).await.ok()?.ok().map(|r| r.into_inner())
        })
        .await
        {
            Polled::Answer(r) => {
                failing = false;
                Some(r)
            }
            Polled::Failed => {
                // Once per run of failures: a leader that answers heartbeats but fails this
                // call must not draw a heartbeat every RETRY.
                if !std::mem::replace(&mut failing, true) {
                    leader.lock().unwrap().lost.bump();
                }
                None
            }
            Polled::Switched => {
                failing = false;
                continue;
            }
        };
        match r {
            Some(resp) if resp.redirect => {
                leader.lock().unwrap().switch(Some(resp.leader_addr));
                tokio::time::sleep(RETRY).await;
            }
            Some(resp) => {
                if resp.version == known {
                    assigned.synced.store(true, std::sync::atomic::Ordering::SeqCst);
                } else {
                    match serde_json::from_slice::<Vec<Task>>(&resp.tasks) {
                        Ok(tasks) if resp.incremental => {
                            let mut held = assigned.tasks.lock().unwrap().clone();
                            apply_delta(&mut held, AssignmentDelta { updated: tasks, removed: resp.removed.clone() });
                            if assignments_version(&held) == resp.version {
                                known = resp.version;
                                assigned.set(held, &resp, exec.as_ref());
                            } else {
                                // Out of step with the dispatcher: ask for the full set.
                                tracing::debug!(target: "shoal", node = %node_id, "assignment delta does not add up: asking for the full set");
                                known = 0;
                            }
                        }
                        Ok(tasks) => {
                            known = resp.version;
                            assigned.set(tasks, &resp, exec.as_ref());
                        }
                        Err(e) => {
                            tracing::warn!(target: "shoal", "assignments are not valid JSON: {e}");
                            tokio::time::sleep(RETRY).await;
                        }
                    }
                }
            }
            None => tokio::time::sleep(RETRY).await,
        }
    }
}

/// How long an agent drains a running task on an overlay network before it stops it (swarm's
/// agent waits its gossip converge delay, 2 s, for the same reason; the leader's table reaches
/// nodes in well under 1 s).
pub const NETWORK_DRAIN_MS: u64 = 1_000;

/// How long a task on an overlay network waits, before its container starts, for its node's
/// table to list it (the table and the assignment come by separate long polls): without it the
/// node would not carry the task's traffic nor answer its names yet. After this, it starts
/// anyway.
pub const NETWORK_READY_WAIT_MS: u64 = 2_000;

/// The node's part of the networks table as the agent last polled it.
#[derive(Default)]
struct NetworksSeen {
    table: Mutex<Option<NetworkTable>>,
    /// Bumped with every new table.
    signal: crate::node::signal::Signal,
}

/// Waits (at most [`NETWORK_READY_WAIT_MS`]) until the node's networks table lists `task` on
/// its networks; at once for a task on none, or in a world that polls no table.
async fn wait_listed(networks: Option<Arc<NetworksSeen>>, task: &Task) {
    let Some(n) = networks.filter(|_| !task.networks.is_empty()) else { return };
    let listed = async {
        loop {
            let seen = n.signal.version();
            if n.table.lock().unwrap().as_ref().is_some_and(|t| t.lists(task)) {
                return;
            }
            n.signal.changed(seen).await;
        }
    };
    // Out of time: start it anyway.
    let _ = tokio::time::timeout(Duration::from_millis(NETWORK_READY_WAIT_MS), listed).await;
}

fn containers_running(containers: &[Container], task_id: &str) -> bool {
    containers.iter().any(|c| c.task_id == task_id && c.state == ContainerState::Running)
}

/// The tables the leader derives from the store and every node long-polls.
#[derive(Clone, Copy)]
enum TableKind {
    /// The routing mesh's (dispatcher::IngressTable).
    Ingress,
    /// This node's part of the overlay networks' (dispatcher::NetworkTable).
    Networks,
}

/// Long-polls a table from the current leader and hands every new one to `sink` (the Docker
/// runtime's mesh proxy, or its data path).
async fn poll_table<T: serde::de::DeserializeOwned>(node_id: String, leader: Arc<Mutex<Leader>>, kind: TableKind, sink: impl Fn(T)) {
    let mut known = 0u64;
    loop {
        let req = IngressRequest { node_id: node_id.clone(), known_version: known };
        let r = poll_leader(&leader, |c| async move {
            let mut c = c?;
            let call = async {
                match kind {
                    TableKind::Ingress => c.ingress(req).await,
                    TableKind::Networks => c.networks(req).await,
                }
            };
            tokio::time::timeout(POLL_CALL_TIMEOUT, call).await.ok()?.ok().map(|r| r.into_inner())
        })
        .await;
        match r {
            Polled::Answer(resp) if resp.redirect => {
                leader.lock().unwrap().switch(Some(resp.leader_addr));
                tokio::time::sleep(RETRY).await;
            }
            Polled::Answer(resp) if resp.version == known => {}
            Polled::Answer(resp) => match serde_json::from_slice::<T>(&resp.table) {
                Ok(table) => {
                    known = resp.version;
                    sink(table);
                }
                Err(e) => {
                    tracing::warn!(target: "shoal", "a table from the leader is not valid JSON: {e}");
                    tokio::time::sleep(RETRY).await;
                }
            },
            Polled::Failed => tokio::time::sleep(RETRY).await,
            Polled::Switched => {}
        }
    }
}

//! The `Dispatcher` gRPC service (shell): heartbeats with registration and status updates,
//! and the assignments long-poll. Served by every manager; only the leader answers, others
//! redirect the agent to it.
//!
//! Assignments: the first answer to an agent is its full task set; later ones carry only the
//! tasks new or changed and the ids removed since the set the agent says it holds (by version),
//! which the leader remembers per node (forgotten when it stops leading: a new leader starts
//! with full sets).
//!
//! A registration or status update is queued in the leader's inbox and written by the next
//! leader pass (status updates in batches of ≤ 100 ms or ≤ 10,000 items). Assignments are the
//! node's full task set with a version digest; the call waits (bounded) until the set differs
//! from the version the agent has, woken by a per-node signal bumped for every committed
//! change to one of the node's tasks.

use super::leader::wall_ms;
use super::Manager;
use crate::dispatcher::{
    assigned_dependencies, assigned_tasks, assignment_delta, assignments_version, sent_set, Registration, StatusUpdate, STATUS_BATCH_MAX,
};
use crate::model::{IngressBinding, Kind, NodeDescription, NodeState, Object, TaskState, TaskStatus};
use crate::proto::dispatcher_server;
use crate::proto::{
    AssignmentsRequest, AssignmentsResponse, HeartbeatRequest, HeartbeatResponse, IngressRequest, IngressResponse, TaskStatusUpdate,
};
use crate::store::Event;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

/// An assignments (or ingress) call returns after this long even without a change (the agent
/// calls again).
pub const ASSIGNMENTS_POLL: Duration = Duration::from_secs(20);

pub struct DispatcherService {
    pub node: Arc<Manager>,
}

pub fn state_name(s: TaskState) -> String {
    serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

pub fn parse_state(s: &str) -> Option<TaskState> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

pub fn to_proto(u: &StatusUpdate) -> TaskStatusUpdate {
    TaskStatusUpdate {
        task_id: u.task_id.clone(),
        state: state_name(u.status.state),
        message: u.status.message.clone(),
        err: u.status.err.clone(),
        has_exit_code: u.status.exit_code.is_some(),
        exit_code: u.status.exit_code.unwrap_or(0),
        timestamp_ms: u.status.timestamp_ms,
        ingress: u.status.ingress.iter().map(|b| crate::proto::IngressBinding { protocol: b.protocol.clone(), target_port: b.target_port, addr: b.addr.clone() }).collect(),
        container_id: u.status.container_id.clone(),
    }
}

impl Manager {
    /// Where an agent (or a node renewing its certificate) should go instead of this manager,
    /// if it does not lead.
    pub(super) fn redirect(&self) -> Option<String> {
        if self.is_leader() {
            return None;
        }
        Some(self.leader_addr(None).unwrap_or_default())
    }

    /// Per-node change signals: one task follows the committed changes and bumps the signal of
    /// every node whose task set changed.
    pub(super) async fn follow_assignments(self: Arc<Self>) {
        let mut rx = self.state.watch();
        loop {
            match rx.recv().await {
                Ok(w) => {
                    let mut nodes: Vec<&str> = Vec::with_capacity(2);
                    if matches!(
                        &w.event,
                        Event::Created(Object::Task(_) | Object::Service(_) | Object::Node(_))
                            | Event::Deleted(Object::Task(_) | Object::Service(_) | Object::Node(_))
                            | Event::Updated { new: Object::Task(_) | Object::Service(_) | Object::Node(_), .. }
                    ) {
                        self.ingress_signal.bump();
                    }
                    match &w.event {
                        Event::Created(Object::Task(t)) | Event::Deleted(Object::Task(t)) => nodes.push(&t.node_id),
                        Event::Updated { old: Object::Task(a), new: Object::Task(b) } => {
                            nodes.push(&a.node_id);
                            nodes.push(&b.node_id);
                        }
                        _ => {}
                    }
                    let signals = self.assignment_signals.lock().unwrap();
                    for n in nodes.into_iter().filter(|n| !n.is_empty()) {
                        if let Some(sig) = signals.get(n) {
                            sig.bump();
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    self.ingress_signal.bump();
                    for sig in self.assignment_signals.lock().unwrap().values() {
                        sig.bump();
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// The routing-mesh table of the applied store, computed once per applied index.
    fn ingress_table(&self) -> (Arc<crate::dispatcher::IngressTable>, u64) {
        self.cached_table(&self.ingress_cache, crate::dispatcher::IngressTable::from_store, |t| t.version())
    }

    /// The overlay networks' table of the applied store, computed once per applied index.
    fn network_table(&self) -> Arc<crate::dispatcher::NetworkTable> {
        self.cached_table(&self.network_cache, crate::dispatcher::NetworkTable::from_store, |_| 0).0
    }

    /// A table derived from the store, with its version, made again only when the applied
    /// index moved.
    #[allow(clippy::type_complexity)]
    fn cached_table<T>(
        &self,
        cache: &std::sync::Mutex<Option<(u64, Arc<T>, u64)>>,
        make: impl FnOnce(&crate::store::Store) -> T,
        version: impl FnOnce(&T) -> u64,
    ) -> (Arc<T>, u64) {
        let mut cache = cache.lock().unwrap();
        self.state.with_store(|s| {
            let index = s.last_index();
            match &*cache {
                Some((i, table, version)) if *i == index => (table.clone(), *version),
                _ => {
                    let table = Arc::new(make(s));
                    let version = version(&table);
                    *cache = Some((index, table.clone(), version));
                    (table, version)
                }
            }
        })
    }

    /// The dispatcher's long-poll (assignments, the mesh table): `look(expired)` answers when
    /// what the agent holds is out of date or the poll period ran out, else None and the call
    /// waits for `signal`; a manager that stops leading answers `redirect(leader)`.
    async fn long_poll<R>(&self, signal: &super::signal::Signal, mut look: impl FnMut(bool) -> Option<R>, redirect: impl FnOnce(String) -> R) -> R {
        let deadline = tokio::time::Instant::now() + ASSIGNMENTS_POLL;
        loop {
            if let Some(leader) = self.redirect() {
                return redirect(leader);
            }
            let seen = signal.version();
            if let Some(r) = look(tokio::time::Instant::now() >= deadline) {
                return r;
            }
            tokio::select! {
                biased;
                _ = signal.changed(seen) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    fn managers_addrs(&self) -> Vec<String> {
        let m = self.state.membership();
        m.membership().nodes().map(|(_, n)| n.addr.clone()).collect()
    }
}

/// Refuses a call that speaks for another node than the one the caller's certificate names:
/// without it, any worker could fetch another node's assignments (and so its secrets) or
/// report its tasks. Calls without a certificate identity (the simulator has no TLS) pass.
fn check_caller<T>(request: &Request<T>, node_id: &str) -> Result<(), Status> {
    match request.extensions().get::<super::certificates::CallerNode>() {
        Some(caller) if caller.0 != node_id => Err(Status::permission_denied(format!(
            "this certificate is node {}'s: it cannot speak for node {node_id}",
            caller.0
        ))),
        _ => Ok(()),
    }
}

/// What a node that reports `held` must hold instead ([`crate::ca::rotation::instead`]).
fn tls_wanted_by(m: &Manager, held: &crate::model::TlsInfo) -> Option<crate::proto::TlsWanted> {
    if held.is_empty() {
        return None;
    }
    let wanted = m.state.with_store(|s| crate::control::cluster(s).ok().and_then(|c| crate::ca::rotation::instead(&c.root_ca, held)))?;
    Some(crate::proto::TlsWanted {
        trust_root: wanted.trust_root,
        issuer_subject: wanted.issuer.subject,
        issuer_public_key: wanted.issuer.public_key,
    })
}

#[tonic::async_trait]
impl dispatcher_server::Dispatcher for DispatcherService {
    async fn heartbeat(&self, request: Request<HeartbeatRequest>) -> Result<Response<HeartbeatResponse>, Status> {
        check_caller(&request, &request.get_ref().node_id)?;
        let req = request.into_inner();
        let m = &self.node;
        let managers = m.managers_addrs();
        if let Some(leader) = m.redirect() {
            return Ok(Response::new(HeartbeatResponse { leader_addr: leader, redirect: true, managers, ..Default::default() }));
        }
        if req.node_id.is_empty() {
            return Err(Status::invalid_argument("heartbeat without a node id"));
        }
        let now = wall_ms();
        let mut updates = Vec::with_capacity(req.updates.len());
        for u in &req.updates {
            let state = parse_state(&u.state)
                .ok_or_else(|| Status::invalid_argument(format!("unknown task state {:?}", u.state)))?;
            updates.push(StatusUpdate {
                node_id: req.node_id.clone(),
                task_id: u.task_id.clone(),
                status: TaskStatus {
                    timestamp_ms: u.timestamp_ms,
                    state,
                    message: u.message.clone(),
                    err: u.err.clone(),
                    exit_code: u.has_exit_code.then_some(u.exit_code),
                    ingress: u
                        .ingress
                        .iter()
                        .map(|b| IngressBinding { protocol: b.protocol.clone(), target_port: b.target_port, addr: b.addr.clone() })
                        .collect(),
                    container_id: u.container_id.clone(),
                },
            });
        }
        // Register only when the store does not already say what the node says.
        let mut tls_wanted = None;
        let registration = if req.description.is_empty() {
            None
        } else {
            let description: NodeDescription = serde_json::from_slice(&req.description)
                .map_err(|e| Status::invalid_argument(format!("node description is not valid JSON: {e}")))?;
            tls_wanted = tls_wanted_by(m, &description.tls_info);
            let current = m.state.get(Kind::Node, &req.node_id);
            let fresh = matches!(&current, Some(Object::Node(n))
                if n.status.state == NodeState::Ready && n.status.addr == req.addr && n.raft_id == req.raft_id
                    && n.description.as_ref() == Some(&description));
            (!fresh).then(|| Registration {
                node_id: req.node_id.clone(),
                addr: req.addr.clone(),
                description,
                labels: req.labels.clone().into_iter().collect(),
                raft_id: req.raft_id,
            })
        };
        let (period_ms, session, wake, desired_role) = {
            let mut inbox = m.inbox.lock().unwrap();
            let inbox = &mut *inbox;
            // A heartbeat handled first after a stall must not have its fresh deadline moved
            // by that stall: the older deadlines move now, before this one is set.
            super::leader::log_stall(&m.name, inbox.note_running(now));
            let Some(hb) = inbox.heartbeats.as_mut().map(|(_, hb)| hb) else {
                return Err(Status::unavailable("the leader is starting its dispatcher; retry"));
            };
            // The dispatcher runs only once this leader applied everything committed before,
            // so a node missing here was removed (or never joined).
            let Some(Object::Node(node)) = m.state.get(Kind::Node, &req.node_id) else {
                return Err(Status::not_found(format!(
                    "node {} is not a member of this swarm (removed, or never joined): join again with a token",
                    req.node_id
                )));
            };
            let period = hb.heartbeat(&req.node_id, now);
            // Wake the leader loop only when its sleep must change: a batch starts (it then
            // sleeps until the batch is due), a batch is full, or a node registers. Waking it
            // for every update ran a full, useless pass per heartbeat.
            let starts_batch = inbox.first_update_ms.is_none() && !updates.is_empty();
            if !inbox.push_updates(now, updates) {
                return Err(Status::resource_exhausted("dispatcher status queue is full; retry"));
            }
            let wake = starts_batch || registration.is_some() || inbox.updates.len() >= STATUS_BATCH_MAX;
            if let Some(r) = registration {
                inbox.registrations.insert(r.node_id.clone(), r);
            }
            (period, inbox.session, wake, node.spec.desired_role.as_str().to_string())
        };
        if wake {
            m.wake.notify_one();
        }
        if !req.usage.is_empty() {
            let reported = req.usage.into_iter().map(crate::model::TaskUsage::from);
            let usage = m.state.with_store(|s| crate::orchestrator::autoscale::own_samples(s, &req.node_id, reported));
            m.autoscaler.lock().unwrap().handle_usage(now, usage);
        }
        let usage_wanted = m.autoscaler.lock().unwrap().wants_usage();
        Ok(Response::new(HeartbeatResponse {
            period_ms,
            leader_addr: String::new(),
            redirect: false,
            managers,
            session,
            desired_role,
            usage_wanted,
            tls_wanted,
        }))
    }

    async fn assignments(&self, request: Request<AssignmentsRequest>) -> Result<Response<AssignmentsResponse>, Status> {
        check_caller(&request, &request.get_ref().node_id)?;
        let req = request.into_inner();
        let m = &self.node;
        let signal = m.assignment_signals.lock().unwrap().entry(req.node_id.clone()).or_default().clone();
        let look = |expired: bool| {
            let (tasks, secrets, configs) = m.state.with_store(|s| {
                let tasks = assigned_tasks(s, &req.node_id);
                let deps = assigned_dependencies(s, &tasks);
                let secrets = serde_json::to_vec(&deps.secrets).expect("secrets serialise");
                let configs = serde_json::to_vec(&deps.configs).expect("configs serialise");
                (tasks, secrets, configs)
            });
            let version = assignments_version(&tasks);
            if version == req.known_version && !expired {
                return None;
            }
            // The changes only, when this leader knows what the agent holds; else the full set.
            let mut sent = m.sent_assignments.lock().unwrap();
            let delta = match sent.get(&req.node_id) {
                Some((v, set)) if *v == req.known_version && *v != 0 => Some(assignment_delta(set, &tasks)),
                _ => None,
            };
            sent.insert(req.node_id.clone(), (version, sent_set(&tasks)));
            Some(match delta {
                Some(d) => AssignmentsResponse {
                    version,
                    tasks: serde_json::to_vec(&d.updated).expect("tasks serialise"),
                    incremental: true,
                    removed: d.removed,
                    secrets,
                    configs,
                    ..Default::default()
                },
                None => AssignmentsResponse {
                    version,
                    tasks: serde_json::to_vec(&tasks).expect("tasks serialise"),
                    secrets,
                    configs,
                    ..Default::default()
                },
            })
        };
        let redirect = |leader| {
            m.sent_assignments.lock().unwrap().clear();
            AssignmentsResponse { leader_addr: leader, redirect: true, ..Default::default() }
        };
        Ok(Response::new(m.long_poll(&signal, look, redirect).await))
    }

    async fn ingress(&self, request: Request<IngressRequest>) -> Result<Response<IngressResponse>, Status> {
        check_caller(&request, &request.get_ref().node_id)?;
        let req = request.into_inner();
        let m = &self.node;
        let look = |expired: bool| {
            let (table, version) = m.ingress_table();
            (version != req.known_version || expired)
                .then(|| IngressResponse { version, table: serde_json::to_vec(&*table).expect("the table serialises"), ..Default::default() })
        };
        let redirect = |leader| IngressResponse { leader_addr: leader, redirect: true, ..Default::default() };
        Ok(Response::new(m.long_poll(&m.ingress_signal, look, redirect).await))
    }

    async fn networks(&self, request: Request<IngressRequest>) -> Result<Response<IngressResponse>, Status> {
        check_caller(&request, &request.get_ref().node_id)?;
        let req = request.into_inner();
        let m = &self.node;
        // The signal that wakes mesh polls follows every task, service and node change, which
        // is what this table is made of too.
        let look = |expired: bool| {
            // Cost: each waiting poll filters the whole table on every change; an index
            // by node is the next step when thousands of nodes hold overlays.
            let mine = m.network_table().for_node(&req.node_id);
            let version = mine.version();
            (version != req.known_version || expired)
                .then(|| IngressResponse { version, table: serde_json::to_vec(&mine).expect("the table serialises"), ..Default::default() })
        };
        let redirect = |leader| IngressResponse { leader_addr: leader, redirect: true, ..Default::default() };
        Ok(Response::new(m.long_poll(&m.ingress_signal, look, redirect).await))
    }
}

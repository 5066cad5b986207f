//! The async shell of a node: owns the openraft `Raft`, serves gRPC, forwards writes.
//!
//! Every node runs a [`Manager`]; on a worker it stays dormant (no membership, so it never
//! campaigns) until a promotion adds it as a voter — promotion is then only a membership
//! change. Inputs: gRPC calls (raft messages from peers, proposals and membership changes from
//! clients or other managers). Outputs: raft RPCs, applied state ([`SharedState`]), trace
//! events (target `shoal`).
//!
//! Invariants: writes reach only the leader (a follower forwards, at most [`MAX_HOPS`] times —
//! seed 000: "un secundario solo hará de proxy"); reads are linearizable (leader check through
//! a quorum round) unless asked otherwise; every outgoing call has a deadline.

pub mod agent;
pub mod buggify;
pub mod ca;
pub mod certificates;
pub mod clock;
pub mod control;
pub mod counters;
pub mod dispatcher;
mod executor;
mod join;
pub mod leader;
pub mod local;
pub mod logs;
mod membership;
pub mod mesh;
pub mod raft;
mod service;
pub mod signal;

pub use service::ManagerService;

use crate::model::{Kind, Object, RaftConfig};
use crate::proto::manager_client::ManagerClient;
use crate::proto::{MembershipRequest, ProposeRequest, ReadRequest};
use crate::node::raft::network::{channel, NetworkFactory, RaftService};
use crate::node::raft::{
    openraft_config, ApplyResult, Disk, LogStore, NodeId, Raft, SharedObserver, SharedState, StateMachine,
};
use crate::store::Transaction;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The largest control reply a client takes (gRPC's default is 4 MiB, which `service ps` of a
/// service with a few thousand tasks passed; replies are bounded by the store's size, itself
/// bounded by the cluster's replicas limit).
pub const CONTROL_REPLY_BYTES_MAX: usize = 256 << 20;
/// A request is forwarded to the leader at most this many times (a follower forwards once; a
/// stale leader hint may need one more hop).
pub const MAX_HOPS: u32 = 2;
/// Deadline of a proposal, a membership change or a forwarded call. A leader cut off from its
/// quorum never commits; the caller learns "outcome unknown" instead of waiting forever.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: NodeId,
    pub name: String,
    /// "ip:port" this node listens on and peers dial.
    pub addr: String,
    pub raft: RaftConfig,
    /// Initial voters; only the bootstrapping node (swarm's `init`) sets it, and it is used only
    /// on an empty disk.
    pub bootstrap: Option<BTreeMap<NodeId, String>>,
    /// The root and join tokens `swarm init` made (held by the initial managers; the first
    /// leader writes them into the Cluster object). None: the first leader makes them.
    pub root_ca: Option<crate::model::RootCa>,
    /// The settings `swarm init` gave (the first leader writes them into the Cluster object);
    /// None: swarm's defaults.
    pub init_spec: Option<crate::model::ClusterSpec>,
    /// Signs joining nodes' certificates when this node leads (production); None: joins
    /// that send a CSR are refused (the simulator sends none).
    pub cert_signer: Option<Arc<dyn ca::CertSigner>>,
}

/// Whether raft's timers run on a machine: on voters the machine allows to take part, and on a
/// leader always. A leader that removed itself (`node demote` of the leader) steps down on a
/// tick once the membership without it is applied; without ticks it stayed leader forever,
/// its followers never elected another, and a membership change sent to it tripped openraft's
/// assertion that only a leader appends one (found by the simulator: demote the leader, then
/// another manager).
fn raft_ticks(state: openraft::ServerState, voter: bool, allowed: bool) -> bool {
    state == openraft::ServerState::Leader || (voter && allowed)
}

/// Whose certificate a service needs ([`Manager::serve_secure`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A manager's: raft, forwarding between managers, the control API.
    Manager,
    /// Any node's of this swarm: the dispatcher (agents).
    Node,
    /// No certificate: joining.
    Anyone,
    /// This node's own certificate (the CLI on its machine): the `Local` service.
    Itself,
}

/// Decides from a request's peer certificate whether it may call a service (the production
/// runtime reads the certificate's OU; the simulator's certificate model, where a scenario
/// turns it on, looks up what the calling machine holds).
pub trait Authorizer: Send + Sync + 'static {
    fn authorize(&self, req: &tonic::Request<()>, service: &'static str, need: Caller) -> Result<(), tonic::Status>;
    /// The node id the request's verified certificate names, if any.
    fn caller_node(&self, _req: &tonic::Request<()>) -> Option<String> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("disk: {0}")]
    Disk(#[from] std::io::Error),
    #[error("raft configuration: {0}")]
    Config(#[from] openraft::ConfigError),
    #[error("raft: {0}")]
    Fatal(String),
}

/// Why a request did not complete. `Unavailable` and `Timeout` leave the outcome unknown to
/// the caller (the write may still commit); `Rejected` means applied as a no-op.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("no leader reachable: {0}; retry later")]
    Unavailable(String),
    #[error("request timed out after {0:?}; its outcome is unknown")]
    Timeout(Duration),
    #[error("{0}")]
    Invalid(String),
}

impl From<RequestError> for tonic::Status {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Unavailable(m) => tonic::Status::unavailable(m),
            RequestError::Timeout(_) => tonic::Status::deadline_exceeded(e.to_string()),
            RequestError::Invalid(m) => tonic::Status::invalid_argument(m),
        }
    }
}

impl From<tonic::Status> for RequestError {
    fn from(s: tonic::Status) -> Self {
        match s.code() {
            tonic::Code::InvalidArgument => RequestError::Invalid(s.message().to_string()),
            tonic::Code::DeadlineExceeded => RequestError::Timeout(REQUEST_TIMEOUT),
            _ => RequestError::Unavailable(format!("{}: {}", s.code(), s.message())),
        }
    }
}

pub struct Manager {
    pub id: NodeId,
    pub name: String,
    pub addr: String,
    pub raft: Raft,
    pub state: SharedState,
    observer: SharedObserver,
    /// The dispatcher's hand-over to the leader loop.
    pub(crate) inbox: std::sync::Mutex<leader::LeaderInbox>,
    /// The autoscaler's samples and history while this manager leads (its own lock: the
    /// dispatcher feeds it, the leader's pass polls it over the store; never taken with
    /// `inbox`).
    pub(crate) autoscaler: std::sync::Mutex<crate::orchestrator::autoscale::Autoscaler>,
    /// Wakes the leader loop (new registrations or status updates).
    pub(crate) wake: tokio::sync::Notify,
    /// Serialises control-API writes on the leader.
    control_lock: tokio::sync::Mutex<()>,
    /// One what-if plan at a time (node/control.rs): a plan is bounded CPU work on the thread
    /// that serves it.
    plan_lock: tokio::sync::Mutex<()>,
    /// node id → signal bumped when that node's task set changed (assignment long-polls).
    assignment_signals: std::sync::Mutex<BTreeMap<String, Arc<signal::Signal>>>,
    /// Bumped on every committed change to a task, service or node (routing-mesh long-polls).
    ingress_signal: signal::Signal,
    /// The routing-mesh table last computed, with the applied index it was computed at and its
    /// version (every node's poll shares one computation per change).
    ingress_cache: std::sync::Mutex<Option<(u64, Arc<crate::dispatcher::IngressTable>, u64)>>,
    /// The overlay networks' table of the applied store, by applied index.
    network_cache: std::sync::Mutex<Option<(u64, Arc<crate::dispatcher::NetworkTable>, u64)>>,
    /// Bumped by `watch_role` on every role or term change (the leader loop waits on it).
    role_signal: signal::Signal,
    /// Whether this machine may run raft's timers at all: false once its certificate is a
    /// worker's (a demoted manager that never heard of its removal would otherwise campaign
    /// forever, refused by every manager).
    raft_allowed: std::sync::atomic::AtomicBool,
    /// When each peer last answered a raft RPC.
    health: crate::node::raft::network::PeerHealth,
    /// (term, this node's last log index at its first linearizable read of that term): the
    /// least every read of the term waits to have applied ([`Manager::linearizable_barrier`]).
    read_floor: std::sync::Mutex<(u64, u64)>,
    /// Channels to other managers for forwarding, kept open (dialling per request costs a
    /// connection setup each time).
    peers: std::sync::Mutex<BTreeMap<String, ManagerClient<tonic::transport::Channel>>>,
    init_root_ca: Option<crate::model::RootCa>,
    init_spec: Option<crate::model::ClusterSpec>,
    /// node id → (version, task versions) of the assignment set last sent to its agent.
    sent_assignments: std::sync::Mutex<BTreeMap<String, (u64, crate::dispatcher::SentSet)>>,
    /// Joins waiting for the next group commit (node/ca.rs).
    joins: std::sync::Mutex<ca::JoinQueue>,
    cert_signer: Option<Arc<dyn ca::CertSigner>>,
    /// This machine's container output, for `TaskLogs` (set once its executor exists).
    log_source: std::sync::Mutex<Option<Arc<dyn logs::LogSource>>>,
    /// What this process saw as leader, for `/metrics`.
    pub counters: counters::Counters,
    /// Where `swarm leave` is handed to the runtime ([`Manager::on_leave`]).
    leave_requests: std::sync::Mutex<Option<tokio::sync::mpsc::Sender<local::LeaveReply>>>,
}

impl Manager {
    /// Opens the node's storage on `disk`, starts raft, and bootstraps the cluster if asked and
    /// the disk is empty. Does not serve gRPC: call [`Manager::serve`].
    pub async fn start(cfg: NodeConfig, disk: Arc<dyn Disk>, observer: SharedObserver) -> Result<Arc<Manager>, NodeError> {
        let config = Arc::new(openraft_config(&cfg.raft)?);
        let log = LogStore::open(disk.clone())?;
        let sm = StateMachine::open(cfg.id, disk, observer.clone())?;
        let state = sm.shared();
        let health: crate::node::raft::network::PeerHealth = Default::default();
        let raft = Raft::new(cfg.id, config, NetworkFactory { self_id: cfg.id, health: health.clone() }, log, sm)
            .await
            .map_err(|e| NodeError::Fatal(e.to_string()))?;
        if let Some(voters) = &cfg.bootstrap {
            let initialized = raft.is_initialized().await.map_err(|e| NodeError::Fatal(e.to_string()))?;
            if !initialized {
                let members: BTreeMap<NodeId, BasicNode> =
                    voters.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
                raft.initialize(members).await.map_err(|e| NodeError::Fatal(e.to_string()))?;
                tracing::info!(target: "shoal", node = %cfg.name, voters = voters.len(), "cluster bootstrapped");
            }
        }
        let node = Arc::new(Manager {
            id: cfg.id,
            name: cfg.name,
            addr: cfg.addr,
            raft,
            state,
            observer,
            inbox: Default::default(),
            autoscaler: Default::default(),
            wake: tokio::sync::Notify::new(),
            control_lock: tokio::sync::Mutex::new(()),
            plan_lock: tokio::sync::Mutex::new(()),
            assignment_signals: Default::default(),
            ingress_signal: signal::Signal::new(),
            ingress_cache: Default::default(),
            network_cache: Default::default(),
            role_signal: signal::Signal::new(),
            raft_allowed: std::sync::atomic::AtomicBool::new(true),
            health,
            read_floor: Default::default(),
            peers: Default::default(),
            init_root_ca: cfg.root_ca,
            init_spec: cfg.init_spec,
            sent_assignments: Default::default(),
            joins: Default::default(),
            cert_signer: cfg.cert_signer,
            log_source: Default::default(),
            counters: Default::default(),
            leave_requests: Default::default(),
        });
        tokio::spawn(node.clone().watch_role());
        tokio::spawn(node.clone().run_leader());
        tokio::spawn(node.clone().watch_stalls());
        tokio::spawn(node.clone().follow_assignments());
        Ok(node)
    }

    /// Serves the raft and manager gRPC services on this node's address until the task is
    /// dropped (a crash in the simulator) or the server fails.
    pub async fn serve(self: Arc<Self>) -> Result<(), tonic::transport::Error> {
        let addr: SocketAddr = self.addr.parse().expect("node address is ip:port");
        self.serve_on(addr).await
    }

    /// [`Manager::serve`] on another address than the one peers dial (`--listen-addr`
    /// 0.0.0.0:4242 behind `--advertise-addr` 10.0.0.5:4242).
    pub async fn serve_on(self: Arc<Self>, addr: SocketAddr) -> Result<(), tonic::transport::Error> {
        tonic::transport::Server::builder()
            .add_service(
                crate::proto::raft_server::RaftServer::new(RaftService { raft: self.raft.clone(), id: self.id, state: self.state.clone() })
                    .max_decoding_message_size(raft::RAFT_MESSAGE_BYTES_MAX),
            )
            .add_service(crate::proto::manager_server::ManagerServer::new(ManagerService { node: self.clone() }))
            .add_service(crate::proto::dispatcher_server::DispatcherServer::new(dispatcher::DispatcherService { node: self.clone() }))
            .add_service(crate::proto::control_server::ControlServer::new(control::ControlService { node: self.clone() }))
            .add_service(crate::proto::node_ca_server::NodeCaServer::new(ca::NodeCaService { node: self.clone() }))
            .add_service(crate::proto::logs_server::LogsServer::new(logs::LogsService { node: self.clone() }))
            .add_service(crate::proto::local_server::LocalServer::new(local::LocalService { node: self.clone() }))
            .serve(addr)
            .await
    }

    /// [`Manager::serve_on`] with mutual TLS (production): `server` carries the TLS config
    /// (client certificates optional, so machines without one can join), and every service
    /// asks `auth` whether the caller's certificate may call it: raft, manager and control
    /// need a manager's, the dispatcher any node's (and then serves only the node it names),
    /// `NodeCa` (joining) none, logs a manager's, `Local` (leave) this node's own. The
    /// simulator serves through here too when its scenario models certificates (madsim's
    /// server ignores TLS; its `auth` plays the handshake).
    pub async fn serve_secure(
        self: Arc<Self>,
        addr: SocketAddr,
        mut server: tonic::transport::Server,
        auth: Arc<dyn Authorizer>,
    ) -> Result<(), tonic::transport::Error> {
        use crate::proto::{control_server::ControlServer, dispatcher_server::DispatcherServer};
        use crate::proto::{local_server::LocalServer, logs_server::LogsServer, manager_server::ManagerServer, node_ca_server::NodeCaServer, raft_server::RaftServer};
        use crate::proto::certificates_server::CertificatesServer;
        // After the certificate, the store: a removed node's or a demoted manager's certificate
        // is still valid, but opens nothing, or no manager service (control/revocation.rs).
        // Raft is the exception to the demotion check: a follower whose store is behind sees a
        // just-promoted leader as the worker it was and would refuse the very entries that
        // tell it otherwise (the simulator's certificate model found a follower cut off for
        // good this way). A demoted manager leaves raft's membership before its role changes;
        // the raft service then refuses its votes (RaftService::vote, removed voters), and
        // openraft refuses its appends (a removed member never wins a newer term).
        let revoked = |node: &Arc<Manager>, auth: &Arc<dyn Authorizer>, req: &tonic::Request<()>, demotion: bool| -> Result<(), tonic::Status> {
            let Some(id) = auth.caller_node(req) else { return Ok(()) };
            node.state.with_store(|s| crate::control::revocation::check(s, &id, demotion)).map_err(|e| match e {
                crate::control::revocation::Revoked::Removed(_) => tonic::Status::not_found(e.to_string()),
                crate::control::revocation::Revoked::Demoted(_) => tonic::Status::permission_denied(e.to_string()),
            })
        };
        // `demotion`: whether the store's demotion check applies (every manager service but raft).
        let guard = |service: &'static str, need: Caller, demotion: bool| {
            let (auth, node) = (auth.clone(), self.clone());
            move |req: tonic::Request<()>| {
                auth.authorize(&req, service, need)?;
                if need != Caller::Anyone {
                    revoked(&node, &auth, &req, demotion)?;
                }
                Ok(req)
            }
        };
        let raft_guard = guard("raft", Caller::Manager, crate::mutant::active("raft-demotion-check"));
        // Renewal answers the node the caller's certificate names, and the dispatcher serves
        // only that node (swarmkit takes the node id from the certificate): the id is handed
        // to the service.
        let node_guard = |service: &'static str| {
            let (auth, node) = (auth.clone(), self.clone());
            move |mut req: tonic::Request<()>| {
                auth.authorize(&req, service, Caller::Node)?;
                revoked(&node, &auth, &req, false)?;
                let id = auth.caller_node(&req).ok_or_else(|| tonic::Status::unauthenticated(format!("the {service} service needs this swarm's certificate")))?;
                req.extensions_mut().insert(certificates::CallerNode(id));
                Ok(req)
            }
        };
        let raft_service = RaftService { raft: self.raft.clone(), id: self.id, state: self.state.clone() };
        // tonic's generated server takes an interceptor only around the whole service (which
        // then has no size limit to set); madsim's generated one takes it directly.
        #[cfg(not(madsim))]
        let raft_server = tonic::service::interceptor::InterceptedService::new(
            RaftServer::new(raft_service).max_decoding_message_size(raft::RAFT_MESSAGE_BYTES_MAX),
            raft_guard,
        );
        #[cfg(madsim)]
        let raft_server = RaftServer::with_interceptor(raft_service, raft_guard).max_decoding_message_size(raft::RAFT_MESSAGE_BYTES_MAX);
        server
            .add_service(raft_server)
            .add_service(ManagerServer::with_interceptor(ManagerService { node: self.clone() }, guard("manager", Caller::Manager, true)))
            .add_service(DispatcherServer::with_interceptor(dispatcher::DispatcherService { node: self.clone() }, node_guard("dispatcher")))
            .add_service(ControlServer::with_interceptor(control::ControlService { node: self.clone() }, guard("control", Caller::Manager, true)))
            .add_service(NodeCaServer::with_interceptor(ca::NodeCaService { node: self.clone() }, guard("node CA", Caller::Anyone, false)))
            .add_service(LogsServer::with_interceptor(logs::LogsService { node: self.clone() }, guard("logs", Caller::Manager, true)))
            .add_service(LocalServer::with_interceptor(local::LocalService { node: self.clone() }, guard("local", Caller::Itself, false)))
            .add_service(CertificatesServer::with_interceptor(certificates::CertificatesService { node: self.clone() }, node_guard("certificates")))
            .serve(addr)
            .await
    }

    /// Traces every change of role or term: the election-safety checker reads these.
    async fn watch_role(self: Arc<Self>) {
        let mut rx = self.raft.metrics();
        let mut last = None;
        let mut ticking = None;
        loop {
            let (state, term, leader, voter) = {
                let m = rx.borrow();
                (m.state, m.current_term, m.current_leader, self.is_voter(&m))
            };
            let tick = raft_ticks(state, voter, self.raft_allowed.load(std::sync::atomic::Ordering::SeqCst));
            if ticking != Some(tick) {
                // Raft's timers (elections, leader heartbeats) run only on voters: a worker's
                // raft idles until a promotion makes it one (300 idle workers ticking every
                // 100 ms cost more than the rest of a quiet simulated cluster).
                self.raft.runtime_config().tick(tick);
                ticking = Some(tick);
            }
            if last != Some((state, term, leader)) {
                if last.is_some_and(|(_, _, was)| was != leader) {
                    self.counters.leader_changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                tracing::info!(target: "shoal", node = %self.name, term, leader = ?leader, "role {:?}", state);
                self.observer.role_changed(self.id, term, state == openraft::ServerState::Leader);
                last = Some((state, term, leader));
                self.role_signal.bump();
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn leader_addr(&self, hint: Option<BasicNode>) -> Option<String> {
        hint.map(|n| n.addr).or_else(|| {
            let m = self.raft.metrics().borrow().clone();
            let leader = m.current_leader?;
            m.membership_config.membership().get_node(&leader).map(|n| n.addr.clone())
        })
    }

    /// The channel to manager `addr`, dialled once and kept.
    /// Allows or stops raft's timers on this machine whatever its raft membership says: the
    /// production daemon stops them while its certificate is a worker's (no manager would
    /// answer its votes) and allows them once it holds a manager's again.
    pub fn allow_raft(&self, allowed: bool) {
        self.raft_allowed.store(allowed, std::sync::atomic::Ordering::SeqCst);
        let (state, voter) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            (m.state, self.is_voter(&m))
        };
        self.raft.runtime_config().tick(raft_ticks(state, voter, allowed));
    }

    /// This machine is a voter in the membership `m` shows.
    fn is_voter(&self, m: &openraft::RaftMetrics<NodeId, openraft::BasicNode>) -> bool {
        m.membership_config.membership().voter_ids().any(|v| v == self.id)
    }

    /// Drops the cached channels to other managers (they carry the certificate this machine
    /// dialled with; after a renewal new dials use the new one).
    pub fn forget_peers(&self) {
        self.peers.lock().unwrap().clear();
    }

    fn peer(&self, addr: &str) -> Result<ManagerClient<tonic::transport::Channel>, RequestError> {
        let mut peers = self.peers.lock().unwrap();
        if let Some(c) = peers.get(addr) {
            return Ok(c.clone());
        }
        let c = ManagerClient::new(channel(addr).map_err(|e| RequestError::Unavailable(e.to_string()))?);
        peers.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Where a request this node cannot serve goes: the leader (openraft's hint, else the
    /// metrics), unless it already travelled [`MAX_HOPS`] times or no other leader is known.
    fn forward_target(&self, hint: Option<BasicNode>, hops: u32) -> Result<String, RequestError> {
        if hops >= MAX_HOPS {
            return Err(RequestError::Unavailable("too many forwarding hops".into()));
        }
        match self.leader_addr(hint) {
            Some(a) if a != self.addr => Ok(a),
            _ => Err(RequestError::Unavailable(format!("{} knows no leader", self.name))),
        }
    }

    /// Runs a call forwarded to `addr` under the request deadline. A channel that failed is
    /// forgotten so the next request dials anew.
    async fn forwarded<T>(
        &self,
        addr: &str,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, RequestError> {
        let r = match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
            Err(_) => Err(RequestError::Timeout(REQUEST_TIMEOUT)),
            Ok(Err(status)) => Err(status.into()),
            Ok(Ok(resp)) => return Ok(resp.into_inner()),
        };
        self.peers.lock().unwrap().remove(addr);
        r
    }

    /// Proposes a transaction; returns the raft index and the store's verdict.
    pub async fn propose(&self, txn: Transaction, hops: u32) -> Result<ApplyResult, RequestError> {
        txn.validate().map_err(|e| RequestError::Invalid(e.to_string()))?;
        let leader = match tokio::time::timeout(REQUEST_TIMEOUT, self.raft.client_write(txn.clone())).await {
            Err(_) => return Err(RequestError::Timeout(REQUEST_TIMEOUT)),
            Ok(Ok(resp)) => return Ok(resp.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                self.forward_target(f.leader_node, hops)?
            }
            Ok(Err(e)) => return Err(RequestError::Unavailable(e.to_string())),
        };
        let mut c = self.peer(&leader)?;
        let req = ProposeRequest { transaction: serde_json::to_vec(&txn).expect("txn serialises"), hops: hops + 1 };
        let resp = self.forwarded(&leader, c.propose(req)).await?;
        Ok(ApplyResult { index: resp.index, error: (!resp.error.is_empty()).then_some(resp.error) })
    }

    /// Confirms leadership with a quorum round and waits until this node applied everything
    /// committed before (openraft's `ensure_linearizable`, but waiting on the deterministic
    /// applied [`signal::Signal`] instead of openraft's metrics watch: see signal.rs).
    ///
    /// The wait also covers this leader's log as its first read of the term began, not only
    /// openraft's read index: a leader that restarts keeps its term (its vote was committed)
    /// and appends no new blank entry, while its state machine restarts from the last
    /// snapshot; openraft's read index was then that of the snapshot and the term's first
    /// entry, and a read after the restart returned a value a removal acknowledged before the
    /// crash had deleted (explorer seed 58). Every write this process acknowledged in the term
    /// is either in that log or committed since (openraft's read index covers those).
    pub async fn linearizable_barrier(&self) -> Result<(), RaftError<NodeId, openraft::error::CheckIsLeaderError<NodeId, openraft::BasicNode>>> {
        let logged = {
            let (term, last) = {
                let m = self.raft.metrics().borrow().clone();
                (m.current_term, m.last_log_index.unwrap_or(0))
            };
            let mut floor = self.read_floor.lock().unwrap();
            if floor.0 != term {
                *floor = (term, last);
            }
            floor.1
        };
        // Mutant: openraft's read index alone.
        let logged = if crate::mutant::active("stale-leader-read") { 0 } else { logged };
        let (read_log_id, _) = self.raft.get_read_log_id().await?;
        let read = read_log_id.map_or(0, |l| l.index).max(logged);
        if read == 0 {
            return Ok(());
        }
        let sig = self.state.applied_signal();
        loop {
            let seen = sig.version();
            if self.state.applied().0 >= read {
                return Ok(());
            }
            sig.changed(seen).await;
        }
    }

    /// Linearizable read of one object: confirms leadership with a quorum round first (on the
    /// leader; a follower forwards).
    pub async fn read(&self, kind: Kind, id: &str, hops: u32) -> Result<(Option<Object>, u64), RequestError> {
        let leader = match tokio::time::timeout(REQUEST_TIMEOUT, self.linearizable_barrier()).await {
            Err(_) => return Err(RequestError::Timeout(REQUEST_TIMEOUT)),
            Ok(Ok(_)) => {
                let (index, _) = self.state.applied();
                return Ok((self.state.get(kind, id), index));
            }
            Ok(Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f)))) => {
                self.forward_target(f.leader_node, hops)?
            }
            Ok(Err(e)) => return Err(RequestError::Unavailable(e.to_string())),
        };
        let mut c = self.peer(&leader)?;
        let req = ReadRequest { kind: kind.as_str().into(), id: id.into(), hops: hops + 1 };
        let resp = self.forwarded(&leader, c.read(req)).await?;
        let obj = if resp.object.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&resp.object).map_err(|e| RequestError::Invalid(e.to_string()))?)
        };
        Ok((obj, resp.index))
    }
}

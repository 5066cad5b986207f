//! Raft transport over gRPC: the client (openraft's `RaftNetwork`) and the server (the
//! `Raft` service that hands peers' messages to the local `Raft`).
//!
//! Dead peers are detected by deadlines, not HTTP/2 keepalive (madsim-tonic ignores it, and an
//! open stream to a partitioned peer stalls silently): every RPC runs under a timeout. Failures
//! are reported as `RPCError::Network`/`Timeout`, never `Unreachable`: openraft answers
//! `Unreachable` with an unbiased `select!` backoff that breaks determinism (CONTRIBUTING.md, measured facts).

use super::{NodeId, Raft, TypeConfig};
use crate::proto::raft_client::RaftClient;
use crate::proto::raft_server;
use crate::proto::RaftMessage;
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Upper bound on any raft RPC; openraft's own TTL is used when smaller.
const RPC_TIMEOUT_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Backoff after consecutive failures to one peer: 20 ms doubling up to 500 ms. openraft
/// retries on every heartbeat and every new entry after `Network` errors (its own backoff only
/// follows `Unreachable`, which we avoid for determinism), so without this a dead peer costs a
/// stream of calls that each re-serialise every entry it misses. During the backoff calls fail
/// at once without serialising: sleeping instead would overrun openraft's own RPC timeout.
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// Makes the endpoint for "host:port" of a node with the given role (its certificate names
/// it as a manager or a worker): the production runtime installs one that speaks mTLS with
/// this machine's certificate ([`set_endpoint_maker`]).
pub type EndpointMaker = dyn Fn(&str, crate::model::NodeRole) -> Result<Endpoint, tonic::transport::Error> + Send + Sync;

/// Process-wide because a process is one machine with one identity, and every dial (raft,
/// forwarding, the agent, the CLI) must use it. Never set in the simulator: plaintext there,
/// as madsim-tonic has no TLS.
static ENDPOINT_MAKER: std::sync::RwLock<Option<std::sync::Arc<EndpointMaker>>> = std::sync::RwLock::new(None);

/// Installs (or with None removes) how endpoints are made; channels dialled before keep theirs.
pub fn set_endpoint_maker(maker: Option<std::sync::Arc<EndpointMaker>>) {
    *ENDPOINT_MAKER.write().unwrap_or_else(|e| e.into_inner()) = maker;
}

/// Builds a lazily connecting channel to the manager at `addr` ("host:port").
pub fn channel(addr: &str) -> Result<Channel, tonic::transport::Error> {
    channel_to(addr, crate::model::NodeRole::Manager)
}

/// Builds a lazily connecting channel to the node at `addr` whose certificate is `role`'s.
pub fn channel_to(addr: &str, role: crate::model::NodeRole) -> Result<Channel, tonic::transport::Error> {
    let maker = ENDPOINT_MAKER.read().unwrap_or_else(|e| e.into_inner()).clone();
    let endpoint = match maker {
        Some(make) => make(addr, role)?,
        None => Endpoint::from_shared(format!("http://{addr}"))?,
    };
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).connect_lazy())
}

/// When each peer last answered a raft RPC (the leader's view of who is reachable).
pub type PeerHealth = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<NodeId, tokio::time::Instant>>>;

/// A manager that answered the leader's raft within this long is reachable: what `node ls`
/// shows and what a demotion's quorum check counts (the leader heartbeats every 100 ms, so
/// ten in a row were missed).
pub const PEER_REACHABLE_WITHIN: Duration = Duration::from_secs(1);

/// The leader's view of its peers at `now`: the voters other than `self_id` that did not
/// answer within [`PEER_REACHABLE_WITHIN`], and the earliest instant at which one of the others
/// turns unreachable unless it answers again.
pub fn unreachable_peers(
    health: &PeerHealth,
    voters: impl IntoIterator<Item = NodeId>,
    self_id: NodeId,
    now: tokio::time::Instant,
) -> (std::collections::BTreeSet<NodeId>, Option<tokio::time::Instant>) {
    let health = health.lock().unwrap_or_else(|e| e.into_inner());
    let mut unreachable = std::collections::BTreeSet::new();
    let mut next: Option<tokio::time::Instant> = None;
    for v in voters.into_iter().filter(|v| *v != self_id) {
        match health.get(&v).map(|t| *t + PEER_REACHABLE_WITHIN).filter(|until| now <= *until) {
            Some(until) => next = Some(next.map_or(until, |n| n.min(until))),
            None => {
                unreachable.insert(v);
            }
        }
    }
    (unreachable, next)
}

pub struct NetworkFactory {
    pub self_id: NodeId,
    pub health: PeerHealth,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Network {
        Network {
            from: self.self_id,
            target,
            addr: node.addr.clone(),
            client: None,
            failures: 0,
            retry_at: None,
            health: self.health.clone(),
        }
    }
}

pub struct Network {
    from: NodeId,
    target: NodeId,
    addr: String,
    client: Option<RaftClient<Channel>>,
    /// Consecutive failed calls; drives the backoff.
    failures: u32,
    /// No call is attempted before this instant.
    retry_at: Option<tokio::time::Instant>,
    health: PeerHealth,
}

type RpcErr<E = openraft::error::Infallible> = RPCError<NodeId, BasicNode, RaftError<NodeId, E>>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl Network {
    async fn call<Req, Resp, E>(
        &mut self,
        rpc: &'static str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RpcErr<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl().min(RPC_TIMEOUT_MAX);
        let now = tokio::time::Instant::now();
        if let Some(t) = self.retry_at.filter(|t| now < *t) {
            // Fail without serialising, but not instantly: openraft may retry straight away,
            // and a loop that never yields virtual time would stall the simulation. Half the
            // RPC's TTL keeps us inside openraft's own timeout.
            tokio::time::sleep((t - now).min(ttl / 2)).await;
            return Err(RPCError::Network(NetworkError::new(&Msg(format!("{rpc} to {}: backing off", self.addr)))));
        }
        // An async block, so its early `return`s land here and the backoff sees them.
        let r: Result<Resp, RpcErr<E>> = async {
            if self.client.is_none() {
                let ch = channel(&self.addr).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                self.client = Some(RaftClient::new(ch));
            }
            let mut client = self.client.clone().expect("client set above");
            let payload = serde_json::to_vec(req).expect("openraft requests serialise");
            let msg = RaftMessage { payload, target: self.target };
            let fut = async move {
                match rpc {
                    "append" => client.append_entries(msg).await,
                    "vote" => client.vote(msg).await,
                    _ => client.install_snapshot(msg).await,
                }
            };
            let resp = match tokio::time::timeout(ttl, fut).await {
                Err(_) => {
                    // The peer may be partitioned with a stalled connection: drop it and dial anew.
                    self.client = None;
                    return Err(RPCError::Timeout(Timeout {
                        action: match rpc {
                            "append" => openraft::RPCTypes::AppendEntries,
                            "vote" => openraft::RPCTypes::Vote,
                            _ => openraft::RPCTypes::InstallSnapshot,
                        },
                        id: self.from,
                        target: self.target,
                        timeout: ttl,
                    }));
                }
                Ok(Err(status)) => {
                    self.client = None;
                    return Err(RPCError::Network(NetworkError::new(&Msg(format!("{rpc} to {}: {status}", self.addr)))));
                }
                Ok(Ok(r)) => r.into_inner(),
            };
            let res: Result<Resp, RaftError<NodeId, E>> = serde_json::from_slice(&resp.payload)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
            res.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
        }
        .await;
        match &r {
            Ok(_) | Err(RPCError::RemoteError(_)) => {
                self.failures = 0;
                self.retry_at = None;
                self.health.lock().unwrap().insert(self.target, tokio::time::Instant::now());
            }
            Err(_) => {
                let backoff = BACKOFF_FIRST.saturating_mul(1 << self.failures.min(5)).min(BACKOFF_MAX);
                self.failures = self.failures.saturating_add(1);
                self.retry_at = Some(tokio::time::Instant::now() + backoff);
            }
        }
        r
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcErr> {
        let r = self.call("append", &rpc, &option).await;
        if crate::mutant::active("commit-without-quorum") && matches!(r, Err(RPCError::Network(_) | RPCError::Timeout(_))) {
            // Mutant: an unreachable follower "accepted" the entries, so a leader cut off from
            // its peers still commits on its own.
            return Ok(AppendEntriesResponse::Success);
        }
        r
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RpcErr<InstallSnapshotError>> {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Result<VoteResponse<NodeId>, RpcErr> {
        self.call("vote", &rpc, &option).await
    }
}

/// The server half: peers' raft messages into the local `Raft`.
pub struct RaftService {
    pub raft: Raft,
    pub id: NodeId,
    /// This node's applied state: who was removed from the voters.
    pub state: super::SharedState,
}

impl RaftService {
    /// Refuses a message meant for another member id (this machine's old identity).
    fn check_target(&self, m: &RaftMessage) -> Result<(), tonic::Status> {
        if m.target != 0 && m.target != self.id {
            return Err(tonic::Status::failed_precondition(format!(
                "raft message for member {}, but this node is member {} now",
                m.target, self.id
            )));
        }
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(m: &RaftMessage) -> Result<T, tonic::Status> {
    serde_json::from_slice(&m.payload).map_err(|e| tonic::Status::invalid_argument(format!("bad raft payload: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
    Ok(tonic::Response::new(RaftMessage { payload: serde_json::to_vec(v).expect("openraft responses serialise"), target: 0 }))
}

#[tonic::async_trait]
impl raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        request: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_target(request.get_ref())?;
        let req: AppendEntriesRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.raft.append_entries(req).await)
    }

    async fn vote(&self, request: tonic::Request<RaftMessage>) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_target(request.get_ref())?;
        let req: VoteRequest<NodeId> = decode(request.get_ref())?;
        // A member removed from the voters (a demoted manager, whose manager certificate is
        // still valid) may not campaign: its vote requests would only raise the term under
        // the others (swarmkit refuses removed members' raft messages the same way). Only a
        // removal this node applied counts: one it has not seen yet might be a promotion it
        // has not seen either, and refusing that could leave no one electable.
        if let Some(candidate) = req.vote.leader_id().voted_for().filter(|c| self.state.removed_voter(*c)) {
            return Err(tonic::Status::permission_denied(format!("raft member {candidate} was removed from the managers: its votes are refused")));
        }
        encode(&self.raft.vote(req).await)
    }

    async fn install_snapshot(
        &self,
        request: tonic::Request<RaftMessage>,
    ) -> Result<tonic::Response<RaftMessage>, tonic::Status> {
        self.check_target(request.get_ref())?;
        let req: InstallSnapshotRequest<TypeConfig> = decode(request.get_ref())?;
        encode(&self.raft.install_snapshot(req).await)
    }
}

//! The `NodeCa` gRPC service (shell): machines join the swarm here with a join token.
//!
//! Served by every manager; only the leader answers, others redirect (the joining machine
//! asks the leader next). The leader checks the token against the committed Cluster object
//! under the control lock (so a rotation and a join never see different tokens), writes the
//! new Node (the token's role as desired role, state UNKNOWN until its agent registers), and for
//! a manager token adds the node's raft member as a voter before answering.
//!
//! Certificates (production): a request carrying a CSR gets the node's certificate, signed
//! by the [`CertSigner`] the runtime installed (CN node id, OU role), and the root CA. Such a
//! node cannot serve raft before it holds its certificate, so for it the leader does not add
//! the raft member: the node asks for it itself (`Manager.ChangeMembership`, with its new
//! manager certificate) once it serves. The simulator sends a CSR and installs its own signer
//! only where a scenario models certificates (sim/src/pki.rs).
//!
//! Joins are group-committed: each waits in a queue; whoever holds the control lock writes
//! every queued join in one raft entry (300 machines joining at once cost a few entries, not
//! 300 serial round trips).

use super::Manager;
use crate::control;
use crate::model::NodeRole;
use crate::orchestrator::IdGen;
use crate::proto::{node_ca_server, IssueNodeCertificateRequest, IssueNodeCertificateResponse};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct NodeCaService {
    pub node: Arc<Manager>,
}

/// Signs node certificates with the root CA's key (the production runtime's rcgen signer;
/// outside the pure core because signing draws randomness and parses ASN.1).
pub trait CertSigner: Send + Sync + std::fmt::Debug {
    /// A PEM certificate for the key in `csr_pem`: subject CN `node_id`, OU `role`, valid for
    /// `expiry_secs` (the swarm's `--cert-expiry`). During a root rotation it is signed by the
    /// new root and followed by the new root's cross-signed certificate.
    fn sign(&self, root: &crate::model::RootCa, csr_pem: &str, node_id: &str, role: NodeRole, expiry_secs: u64) -> Result<String, String>;

    /// A new root for `swarm ca --rotate`, cross-signed by `root`'s key.
    fn new_root(&self, root: &crate::model::RootCa) -> Result<crate::ca::rotation::NewRoot, String>;

    /// 32 bytes of the OS's randomness for a new join token (`swarm join-token --rotate`):
    /// the core's own seeds are for determinism, not secrecy.
    fn token_seed(&self) -> Result<[u8; 32], String>;
}

#[tonic::async_trait]
impl node_ca_server::NodeCa for NodeCaService {
    async fn issue_node_certificate(
        &self,
        request: Request<IssueNodeCertificateRequest>,
    ) -> Result<Response<IssueNodeCertificateResponse>, Status> {
        let req = request.into_inner();
        let m = &self.node;
        if !m.is_leader() {
            let leader_addr = m.leader_addr(None).unwrap_or_default();
            return Ok(Response::new(IssueNodeCertificateResponse { leader_addr, redirect: true, ..Default::default() }));
        }
        if req.addr.is_empty() {
            return Err(Status::invalid_argument("join request without an address: give the address the node listens on"));
        }
        let signer = match (req.csr_pem.is_empty(), &m.cert_signer) {
            (true, _) => None,
            (false, Some(s)) => Some(s.clone()),
            (false, None) => return Err(Status::invalid_argument("this swarm issues no certificates: join without a CSR")),
        };
        let (node_id, role) = m.join_batched(req.clone()).await?;
        if let Some(signer) = signer {
            let (root, expiry_secs) = m
                .state
                .with_store(|s| control::cluster(s).map(|c| (c.root_ca.clone(), c.spec.ca_config.node_cert_expiry_secs)))
                .map_err(Status::from)?;
            let certificate_pem = signer
                .sign(&root, &req.csr_pem, &node_id, role, expiry_secs)
                .map_err(|e| Status::invalid_argument(format!("cannot sign the node's certificate: {e}")))?;
            tracing::info!(target: "shoal", node = %m.name, joined = %node_id, ?role, addr = %req.addr, "node joined; certificate issued");
            return Ok(Response::new(IssueNodeCertificateResponse {
                node_id,
                role: role.as_str().into(),
                certificate_pem,
                ca_cert_pem: crate::ca::rotation::trust_bundle(&root),
                ..Default::default()
            }));
        }
        let voter = m.state.membership().membership().voter_ids().any(|v| v == req.raft_id);
        if role == NodeRole::Manager && !voter {
            // The node is in the store as a worker-to-be-manager; raft membership makes it one
            // (the leader's pass then records the role).
            m.change_manager(req.raft_id, &req.addr, true, super::MAX_HOPS).await.map_err(Status::from)?;
        }
        tracing::info!(target: "shoal", node = %m.name, joined = %node_id, ?role, addr = %req.addr, "node joined");
        Ok(Response::new(IssueNodeCertificateResponse { node_id, role: role.as_str().into(), ..Default::default() }))
    }
}

/// A join waiting for the next group commit.
pub(super) struct PendingJoin {
    req: IssueNodeCertificateRequest,
    reply: tokio::sync::oneshot::Sender<Result<(String, NodeRole), Status>>,
}

/// The queue of joins.
#[derive(Default)]
pub(super) struct JoinQueue {
    pending: Vec<PendingJoin>,
}

/// At most this many joins per raft entry (one change each).
const MAX_JOINS_PER_COMMIT: usize = crate::store::MAX_CHANGES_PER_TRANSACTION;

impl Manager {
    /// Queues a join and group-commits the queue under the control lock; the node id and role.
    async fn join_batched(&self, req: IssueNodeCertificateRequest) -> Result<(String, NodeRole), Status> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.joins.lock().unwrap().pending.push(PendingJoin { req, reply: tx });
        {
            let _guard = self.control_lock.lock().await;
            // The batch is taken before the barrier, and a waiter whose join an earlier batch
            // took leaves at once: waiters that each paid a barrier round trip under the lock
            // for an empty batch made joins a convoy of one per round trip (~60 a second; a
            // 5,000-node swarm could not finish joining in a minute).
            let batch: Vec<PendingJoin> = {
                let mut q = self.joins.lock().unwrap();
                let n = q.pending.len().min(MAX_JOINS_PER_COMMIT);
                q.pending.drain(..n).collect()
            };
            debug_assert!(batch.len() <= MAX_JOINS_PER_COMMIT);
            if !batch.is_empty() {
                match self.write_barrier().await {
                    Ok(()) => self.commit_joins(batch).await,
                    // Not written by anyone: refuse them all, so no node appears that nobody got.
                    Err(e) => {
                        for p in batch {
                            let _ = p.reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
        rx.await.unwrap_or_else(|_| Err(Status::unavailable("join was not committed; retry")))
    }

    /// Writes a batch of joins in one transaction (under the control lock) and answers each.
    async fn commit_joins(&self, batch: Vec<PendingJoin>) {
        if batch.is_empty() {
            return;
        }
        let mut ids = IdGen::new(self.fresh_seed());
        let mut actions = Vec::new();
        let mut accepted = Vec::new();
        self.state.with_store(|s| {
            for p in batch {
                let id = ids.next_id();
                match control::join_node(s, &p.req.token, id.clone(), p.req.raft_id, &p.req.addr) {
                    Ok((a, role)) => {
                        actions.extend(a);
                        accepted.push((p.reply, id, role));
                    }
                    Err(e) => {
                        let _ = p.reply.send(Err(e.into()));
                    }
                }
            }
        });
        match self.commit_control(actions).await {
            Ok(_) => {
                for (reply, id, role) in accepted {
                    let _ = reply.send(Ok((id, role)));
                }
            }
            Err(e) => {
                for (reply, _, _) in accepted {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

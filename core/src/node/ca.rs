//! The `NodeCa` gRPC service (shell): machines join the swarm here with a join token.
//!
//! Served by every manager; only the leader answers, others redirect (the joining machine
//! asks the leader next). The leader checks the token against the committed Cluster object
//! under the control lock (so a rotation and a join never see different tokens), writes the
//! new Node (the token's role as desired role, state UNKNOWN until its agent registers), and for
//! a manager token adds the node's raft member as a voter before answering. Certificates are
//! issued here once mTLS lands (production runtime).

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
        let (node_id, role) = {
            let _guard = m.control_write_lock().await?;
            let node_id = IdGen::new(m.fresh_seed()).next_id();
            let (actions, role) =
                m.state.with_store(|s| control::join_node(s, &req.token, node_id.clone(), req.raft_id, &req.addr))?;
            m.commit_control(actions).await?;
            (node_id, role)
        };
        let voter = m.state.membership().membership().voter_ids().any(|v| v == req.raft_id);
        if role == NodeRole::Manager && !voter {
            // The node is in the store as a worker-to-be-manager; raft membership makes it one
            // (the leader's pass then records the role).
            m.change_manager(req.raft_id, &req.addr, true, super::MAX_HOPS).await.map_err(Status::from)?;
        }
        tracing::info!(target: "shoal", node = %m.name, joined = %node_id, ?role, addr = %req.addr, "node joined");
        let role = if role == NodeRole::Manager { "manager" } else { "worker" };
        Ok(Response::new(IssueNodeCertificateResponse { node_id, role: role.into(), ..Default::default() }))
    }
}

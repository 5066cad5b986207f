use super::Manager;
use crate::model::Kind;
use crate::proto::manager_server;
use crate::proto::{MembershipRequest, MembershipResponse, ProposeRequest, ProposeResponse, ReadRequest, ReadResponse};
use crate::store::Transaction;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The `Manager` gRPC service: decodes requests and calls [`Manager`].
pub struct ManagerService {
    pub node: Arc<Manager>,
}

fn parse_kind(s: &str) -> Result<Kind, Status> {
    Kind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| Status::invalid_argument(format!("unknown kind {s:?}: use one of cluster, node, service, task, secret, config, network")))
}

#[tonic::async_trait]
impl manager_server::Manager for ManagerService {
    async fn propose(&self, request: Request<ProposeRequest>) -> Result<Response<ProposeResponse>, Status> {
        let req = request.into_inner();
        let txn: Transaction = serde_json::from_slice(&req.transaction)
            .map_err(|e| Status::invalid_argument(format!("transaction is not valid JSON: {e}")))?;
        let r = self.node.propose(txn, req.hops).await?;
        Ok(Response::new(ProposeResponse { index: r.index, error: r.error.unwrap_or_default() }))
    }

    async fn add_manager(&self, request: Request<MembershipRequest>) -> Result<Response<MembershipResponse>, Status> {
        let req = request.into_inner();
        let index = self.node.change_manager(req.node_id, &req.addr, true, req.hops).await?;
        Ok(Response::new(MembershipResponse { index }))
    }

    async fn remove_manager(&self, request: Request<MembershipRequest>) -> Result<Response<MembershipResponse>, Status> {
        let req = request.into_inner();
        let index = self.node.change_manager(req.node_id, &req.addr, false, req.hops).await?;
        Ok(Response::new(MembershipResponse { index }))
    }

    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadResponse>, Status> {
        let req = request.into_inner();
        let kind = parse_kind(&req.kind)?;
        let (obj, index) = self.node.read(kind, &req.id, req.hops).await?;
        let object = obj.map(|o| serde_json::to_vec(&o).expect("objects serialise")).unwrap_or_default();
        Ok(Response::new(ReadResponse { object, index }))
    }
}

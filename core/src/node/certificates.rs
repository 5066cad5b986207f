//! The `Certificates` gRPC service (shell): a node of the swarm renews its certificate.
//!
//! Inputs: a CSR for the node's new key, from a caller whose current certificate (checked by
//! the interceptor, which hands its node id in as [`CallerNode`]) names the node. Output: a
//! certificate for that node with the role the swarm wants it to have (`spec.desired_role`,
//! set at join and by `node promote|demote`), signed by the root CA in the store. Only the
//! leader answers, once it applied everything committed (a store that is behind would sign
//! with a root a rotation left, or the old role); the node asks its managers in turn.
//!
//! Why a node renews: 50-80% of its certificate's validity has passed, a promotion or
//! demotion changed its desired role (a promoted node must hold a manager certificate before
//! it can serve raft and call the other managers; it then asks for its raft membership), or
//! a root rotation (heartbeat answers say what to hold; the answer here carries the roots to
//! trust, `ca::rotation`).
//! Served only with mTLS (the production runtime), and in the simulator where a scenario models
//! certificates (sim/src/pki.rs).

use super::Manager;
use crate::control;
use crate::model::{Kind, Object};
use crate::proto::{certificates_server, RenewCertificateRequest, RenewCertificateResponse};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// The node id the caller's verified certificate names (put into the request by the
/// interceptor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerNode(pub String);

pub struct CertificatesService {
    pub node: Arc<Manager>,
}

#[tonic::async_trait]
impl certificates_server::Certificates for CertificatesService {
    async fn renew(&self, request: Request<RenewCertificateRequest>) -> Result<Response<RenewCertificateResponse>, Status> {
        let caller = request
            .extensions()
            .get::<CallerNode>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("renewing a certificate needs this swarm's certificate"))?;
        let req = request.into_inner();
        if req.csr_pem.is_empty() {
            return Err(Status::invalid_argument("renewal without a CSR: send one for the node's new key"));
        }
        let m = &self.node;
        let signer = m.cert_signer.clone().ok_or_else(|| Status::failed_precondition("this manager issues no certificates"))?;
        // Only the leader signs, with everything committed applied: a manager whose store is
        // behind would sign with a root the swarm left (a rotation that ended) and strand
        // the node outside the swarm's trust, or with a role it no longer has.
        if let Some(leader) = m.redirect() {
            return Err(Status::unavailable(format!("not the leader: renew at the leader ({leader})")));
        }
        m.read_barrier().await?;
        let (root, expiry_secs, role) = m
            .state
            .with_store(|s| -> Result<_, control::ControlError> {
                let c = control::cluster(s)?;
                let (root, expiry_secs) = (c.root_ca.clone(), c.spec.ca_config.node_cert_expiry_secs);
                match s.get(Kind::Node, &caller.0) {
                    Some(Object::Node(n)) => Ok((root, expiry_secs, n.spec.desired_role)),
                    _ => Err(control::ControlError::NotFound(format!(
                        "node {} is not a member of this swarm (removed?): join again with a token",
                        caller.0
                    ))),
                }
            })
            .map_err(Status::from)?;
        let certificate_pem = signer
            .sign(&root, &req.csr_pem, &caller.0, role, expiry_secs)
            .map_err(|e| Status::invalid_argument(format!("cannot sign the node's certificate: {e}")))?;
        tracing::info!(target: "shoal", node = %m.name, renewed = %caller.0, ?role, "certificate renewed");
        let ca_cert_pem = crate::ca::rotation::trust_bundle(&root);
        Ok(Response::new(RenewCertificateResponse { certificate_pem, role: role.as_str().into(), ca_cert_pem }))
    }
}

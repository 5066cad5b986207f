//! The store actions of each control write, from its protobuf request: one pure function over
//! a given store (the leader's committed one for a write, a copy for a plan), so the control
//! service, what-if plans and the fuzz properties share it. Reads are the control service's.

use super::{ControlError, NodeUpdate, PayloadKind};
use crate::control;
use crate::model::{NodeAvailability, NodeRole, ServiceSpec};
use crate::orchestrator::IdGen;
use crate::proto::control_request::Op;
use crate::store::{Action, Store};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn spec_of(bytes: &[u8]) -> Result<ServiceSpec, ControlError> {
    serde_json::from_slice(bytes).map_err(|e| ControlError::InvalidArgument(format!("service spec is not valid JSON: {e}")))
}

/// `secret update` / `config update` (labels only).
fn update_payload(s: &Store, kind: PayloadKind, u: &crate::proto::UpdatePayload) -> Result<Vec<Action>, ControlError> {
    let v = (u.version != 0).then_some(u.version);
    let labels = u.labels.clone().into_iter().collect();
    let data = u.data_given.then_some(u.data.as_slice());
    control::update_payload(s, kind, &u.key, &u.name, data, labels, v)
}

/// The store actions of a control write over `s`, and the id of what it creates; None for a
/// read. Pure over the store it is given: the live one for a write, a copy for a plan.
pub fn write_actions(s: &Store, op: &Op, ids: &mut IdGen, seed: u64) -> Result<Option<(Vec<Action>, String)>, ControlError> {
    let none = String::new;
    let a = match op {
        Op::CreateService(c) => {
            let id = ids.next_id();
            (control::create_service(s, spec_of(&c.spec)?, id.clone())?, id)
        }
        Op::UpdateService(u) => {
            let v = (u.version != 0).then_some(u.version);
            (control::update_service(s, &u.service, spec_of(&u.spec)?, v)?, none())
        }
        Op::ScaleService(x) => (control::scale_service(s, &x.service, x.replicas)?, none()),
        Op::RemoveService(k) => (control::remove_service(s, &k.key)?, none()),
        Op::RollbackService(k) => (control::rollback_service(s, &k.key)?, none()),
        Op::RebalanceService(r) => (control::rebalance_services(s, &r.services, r.all)?, none()),
        Op::UpdateNode(u) => {
            let availability = match u.availability.as_str() {
                "" => None,
                "active" => Some(NodeAvailability::Active),
                "pause" => Some(NodeAvailability::Pause),
                "drain" => Some(NodeAvailability::Drain),
                a => return Err(ControlError::InvalidArgument(format!("availability {a:?}: use active, pause or drain"))),
            };
            let desired_role = match u.role.as_str() {
                "" => None,
                r => Some(NodeRole::parse(r).ok_or_else(|| ControlError::InvalidArgument(format!("role {r:?}: use manager or worker")))?),
            };
            let nu = NodeUpdate {
                availability,
                desired_role,
                label_add: u.label_add.clone().into_iter().collect(),
                label_rm: u.label_rm.clone(),
                expected_version: (u.version != 0).then_some(u.version),
            };
            (control::update_node(s, &u.node, &nu)?, none())
        }
        Op::RotateJoinToken(r) => {
            let role = NodeRole::parse(&r.role)
                .ok_or_else(|| ControlError::InvalidArgument(format!("join token role {:?}: use worker or manager", r.role)))?;
            // The OS's randomness where the runtime gave it (production), else the seed.
            let mut rng = match <[u8; 32]>::try_from(r.token_seed.as_slice()) {
                Ok(os) => ChaCha8Rng::from_seed(os),
                Err(_) => ChaCha8Rng::seed_from_u64(seed),
            };
            (control::rotate_join_token(s, role, &mut rng)?, none())
        }
        Op::RemoveNode(r) => (control::remove_node(s, &r.node, r.force)?, none()),
        Op::UpdateCluster(u) => {
            let new_unlock_key = match u.new_unlock_key.as_str() {
                "" => None,
                k => Some(crate::ca::unlock_key::UnlockKey::parse(k).map_err(|e| ControlError::InvalidArgument(e.to_string()))?),
            };
            let new_root = match &u.new_root_ca {
                None => None,
                Some(n) => Some(crate::ca::rotation::NewRoot {
                    ca_cert_pem: n.ca_cert_pem.clone(),
                    ca_key_pem: n.ca_key_pem.clone(),
                    cross_signed_pem: n.cross_signed_pem.clone(),
                    issuer: crate::model::IssuerInfo { subject: n.issuer_subject.clone(), public_key: n.issuer_public_key.clone() },
                    digest: n.digest.clone(),
                    signed_by_pem: n.signed_by_pem.clone(),
                    token_seed: n.token_seed.as_slice().try_into().map_err(|_| {
                        ControlError::InvalidArgument(format!("the new root's token seed has {} bytes, not 32", n.token_seed.len()))
                    })?,
                }),
            };
            let cu = control::ClusterUpdate {
                task_history_limit: u.task_history_limit,
                max_service_replicas: u.max_service_replicas,
                autolock: u.autolock,
                rotate_unlock_key: u.rotate_unlock_key,
                new_unlock_key,
                dispatcher_heartbeat_ms: u.dispatcher_heartbeat_ms,
                cert_expiry_secs: u.cert_expiry_secs,
                rotate_ca: u.rotate_ca,
                new_root,
            };
            (control::update_cluster(s, &cu)?, none())
        }
        Op::CreateSecret(c) => create_payload(s, PayloadKind::Secret, &c.spec, ids.next_id())?,
        Op::CreateConfig(c) => create_payload(s, PayloadKind::Config, &c.spec, ids.next_id())?,
        Op::RemoveSecret(k) => (control::remove_payload(s, PayloadKind::Secret, &k.key)?, none()),
        Op::RemoveConfig(k) => (control::remove_payload(s, PayloadKind::Config, &k.key)?, none()),
        Op::UpdateSecret(u) => (update_payload(s, PayloadKind::Secret, u)?, none()),
        Op::UpdateConfig(u) => (update_payload(s, PayloadKind::Config, u)?, none()),
        Op::CreateNetwork(c) => {
            let spec: crate::model::NetworkSpec = serde_json::from_slice(&c.spec)
                .map_err(|e| ControlError::InvalidArgument(format!("network spec is not valid JSON: {e}")))?;
            let id = ids.next_id();
            (control::create_network(s, spec, id.clone())?, id)
        }
        Op::RemoveNetwork(k) => (control::remove_network(s, &k.key)?, none()),
        // Reads (`cli::is_read` lists every operation, so a new one is classified there) and
        // PlanWrites, whose writes are each made here in turn.
        other => {
            debug_assert!(crate::cli::is_read(other) || matches!(other, Op::PlanWrites(_)), "{other:?} has no actions: classify it");
            return Ok(None);
        }
    };
    Ok(Some(a))
}

/// `secret create` / `config create` from the spec's JSON: the actions and the new id.
fn create_payload(s: &Store, kind: PayloadKind, spec: &[u8], id: String) -> Result<(Vec<Action>, String), ControlError> {
    let spec: crate::model::SecretSpec = serde_json::from_slice(spec)
        .map_err(|e| ControlError::InvalidArgument(format!("{} spec is not valid JSON: {e}", kind.noun())))?;
    Ok((control::create_payload(s, kind, spec, id.clone())?, id))
}


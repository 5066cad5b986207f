//! Handlers of the swarm endpoints: `/swarm`, `/services`, `/tasks`, `/nodes`, `/secrets`,
//! `/configs`, `/networks`.
//! Each reads through one linearizable table read or writes through one control call; the
//! meaning of every field is core's (`shoal_core::engine_api`).

use super::routes::{parse, Query};
use super::{empty, json, EngineApi, Resp};
use axum::http::StatusCode;
use shoal_core::cli::{payload_op, PayloadVerb};
use shoal_core::control::PayloadKind;
use shoal_core::engine_api::{convert, query, types as d, ApiError};
use shoal_core::model::{Kind, NodeRole};
use shoal_core::proto::{self, control_request::Op};

/// The tables a task list needs (services for the label and `_up-to-date` filters, nodes for
/// the node filter, networks for the tasks' attachments).
const TASK_TABLES: [Kind; 4] = [Kind::Service, Kind::Task, Kind::Node, Kind::Network];

fn model_spec_json(spec: &d::ServiceSpec) -> Result<Vec<u8>, ApiError> {
    let m = convert::spec_from_docker(spec)?;
    serde_json::to_vec(&m).map_err(|e| ApiError::Internal(format!("cannot encode the spec: {e}")))
}

pub async fn inspect_swarm(api: &EngineApi) -> Result<Resp, ApiError> {
    let s = api.read(&[Kind::Cluster], query::swarm).await?;
    Ok(json(StatusCode::OK, &s))
}

/// `GET /swarm/unlockkey`.
pub async fn unlock_key(api: &EngineApi) -> Result<Resp, ApiError> {
    let k = api.read(&[Kind::Cluster], query::unlock_key).await?;
    Ok(json(StatusCode::OK, &k))
}

/// `POST /swarm/update?version=N&rotateWorkerToken=…&rotateManagerToken=…&rotateManagerUnlockKey=…`:
/// join token rotation (`docker swarm join-token --rotate`), autolock
/// (`EncryptionConfig.AutoLockManagers`, `swarm unlock-key --rotate`) and the task history
/// limit. Other changes of the swarm's settings are refused until Shoal can apply them.
pub async fn update_swarm(api: &EngineApi, q: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let sent: d::SwarmSpec = parse("swarm spec", body)?;
    let version = q.version()?;
    let cur = api.read(&[Kind::Cluster], query::swarm).await?;
    let mut change = convert::swarm_update_from_docker(&cur, &sent, version)?;
    change.rotate_unlock_key = q.flag("rotateManagerUnlockKey");
    if !change.is_empty() {
        let key = crate::locked::new_unlock_key().map_err(ApiError::Internal)?;
        api.control(shoal_core::cli::update_cluster_op(&change, || key)).await?;
    }
    for (flag, role) in [("rotateWorkerToken", NodeRole::Worker), ("rotateManagerToken", NodeRole::Manager)] {
        if q.flag(flag) {
            api.control(Op::RotateJoinToken(proto::RotateJoinToken { role: role.as_str().into(), token_seed: Vec::new() })).await?;
        }
    }
    Ok(empty(StatusCode::OK))
}

/// `POST /swarm/leave?force=1`: this node leaves as with `shoal swarm leave` (one rule for
/// both, `Manager::leave_swarm`). The answer comes once it left; the daemon then waits in no
/// swarm (lifecycle.rs) or, run as `swarm init|join`, exits.
pub async fn leave(api: &EngineApi, q: &Query) -> Result<Resp, ApiError> {
    api.manager.leave_swarm(q.flag("force")).await.map_err(super::from_status)?;
    Ok(empty(StatusCode::OK))
}

/// `POST /swarm/init` on a node already in a swarm: only `--force-new-cluster` on a manager
/// (dockerd's rule). It stops this life and starts the node again as the only manager of a
/// swarm made from its state (lifecycle.rs, force_new_cluster.rs), and answers once the node
/// serves again. Runs on the front's runtime: the node's own ends with the life.
pub async fn init_running(api: &EngineApi, again: &tokio::sync::mpsc::Sender<super::Begin>, req: axum::extract::Request) -> Result<Resp, ApiError> {
    let r: d::InitRequest = parse("swarm init request", &super::routes::body(req).await?)?;
    if !r.force_new_cluster {
        return Err(ApiError::Unavailable(super::routes::ALREADY_IN_A_SWARM.into()));
    }
    if !api.is_manager() {
        return Err(ApiError::BadRequest("--force-new-cluster: this node is a worker, which holds no swarm state; run it on a manager".into()));
    }
    // An autolocked state opens, once the node stopped, with the key this swarm holds (read
    // from this manager's own store: a swarm that lost its quorum answers no linearizable read).
    let key = api.manager.state.with_store(|s| shoal_core::control::cluster(s).map(|c| c.unlock_key.0.clone()).unwrap_or_default());
    let unlock_key = match key.as_str() {
        "" => None,
        k => Some(shoal_core::ca::unlock_key::UnlockKey::parse(k).map_err(|e| ApiError::Internal(e.to_string()))?),
    };
    let start = crate::daemon::Start::ForceNewCluster { unlock_key };
    let id = super::inactive::ask(again, |reply| Ok(super::Begin { start, addresses: None, reply })).await?;
    Ok(json(StatusCode::OK, &id))
}

pub async fn list_services(api: &EngineApi, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    let status = q.flag("status");
    let kinds: &[Kind] = if status { &TASK_TABLES } else { &[Kind::Service] };
    let list = api.read(kinds, |s| query::list_services(s, &f, status)).await?;
    Ok(json(StatusCode::OK, &list))
}

pub async fn inspect_service(api: &EngineApi, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let mut s = api.read(&[Kind::Service], |st| query::inspect_service(st, id)).await?;
    if q.flag("insertDefaults") {
        convert::insert_defaults(&mut s.spec);
        if let Some(p) = s.previous_spec.as_mut() {
            convert::insert_defaults(p);
        }
    }
    Ok(json(StatusCode::OK, &s))
}

/// `POST /services/create`: 201 `{ID, Warnings}`.
pub async fn create_service(api: &EngineApi, body: &[u8]) -> Result<Resp, ApiError> {
    let spec: d::ServiceSpec = parse("service spec", body)?;
    let r = api.control(Op::CreateService(proto::CreateService { spec: model_spec_json(&spec)? })).await?;
    Ok(json(StatusCode::CREATED, &d::ServiceCreateResponse { id: r.id, warnings: vec![] }))
}

/// `POST /services/{id}/update?version=N[&rollback=previous]`: the FULL spec replaces the
/// service's (a rollback ignores the spec sent, as dockerd does).
pub async fn update_service(api: &EngineApi, id: &str, q: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let version = q.version()?;
    match q.get("rollback") {
        Some("previous") => {
            api.control(Op::RollbackService(proto::ObjectKey { key: id.into() })).await?;
        }
        None | Some("") | Some("none") => {
            let spec: d::ServiceSpec = parse("service spec", body)?;
            let op = proto::UpdateService { service: id.into(), spec: model_spec_json(&spec)?, version: version.unwrap_or(0) };
            api.control(Op::UpdateService(op)).await?;
        }
        Some(other) => return Err(ApiError::BadRequest(format!("unrecognized rollback option {other}: use previous"))),
    }
    Ok(json(StatusCode::OK, &d::ServiceCreateResponse::default()))
}

pub async fn remove_service(api: &EngineApi, id: &str) -> Result<Resp, ApiError> {
    api.control(Op::RemoveService(proto::ObjectKey { key: id.into() })).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn list_tasks(api: &EngineApi, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    let list = api.read(&TASK_TABLES, |s| query::list_tasks(s, &f)).await?;
    Ok(json(StatusCode::OK, &list))
}

pub async fn inspect_task(api: &EngineApi, id: &str) -> Result<Resp, ApiError> {
    let t = api.read(&[Kind::Task, Kind::Service, Kind::Network], |s| query::inspect_task(s, id)).await?;
    Ok(json(StatusCode::OK, &t))
}

pub async fn list_nodes(api: &EngineApi, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    let list = api.read(&[Kind::Node, Kind::Cluster], |s| query::list_nodes(s, &f)).await?;
    Ok(json(StatusCode::OK, &list))
}

pub async fn inspect_node(api: &EngineApi, id: &str) -> Result<Resp, ApiError> {
    let n = api.read(&[Kind::Node, Kind::Cluster], |s| query::inspect_node(s, id)).await?;
    Ok(json(StatusCode::OK, &n))
}

/// `POST /nodes/{id}/update?version=N` with the node's full spec: availability, role and
/// labels (the labels sent replace the node's).
pub async fn update_node(api: &EngineApi, id: &str, q: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let sent: d::NodeSpec = parse("node spec", body)?;
    let version = q.version()?;
    let cur = api.read(&[Kind::Node, Kind::Cluster], |s| query::inspect_node(s, id)).await?;
    let u = convert::node_update_from_docker(&cur, &sent, version)?;
    let op = proto::UpdateNode {
        node: cur.id.clone(),
        availability: u.availability.map(|a| convert::availability_name(a).to_string()).unwrap_or_default(),
        role: u.desired_role.map(|r| r.as_str().to_string()).unwrap_or_default(),
        label_add: u.label_add.into_iter().collect(),
        label_rm: u.label_rm,
        version: u.expected_version.unwrap_or(0),
    };
    api.control(Op::UpdateNode(op)).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn remove_node(api: &EngineApi, id: &str, q: &Query) -> Result<Resp, ApiError> {
    api.control(Op::RemoveNode(proto::RemoveNode { node: id.into(), force: q.flag("force") })).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn list_payloads(api: &EngineApi, kind: PayloadKind, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    let list = api.read(&[kind.kind()], |s| query::list_payloads(s, kind, &f)).await?;
    Ok(json(StatusCode::OK, &list))
}

pub async fn inspect_payload(api: &EngineApi, kind: PayloadKind, id: &str) -> Result<Resp, ApiError> {
    let s = api.read(&[kind.kind()], |st| query::inspect_payload(st, kind, id)).await?;
    Ok(json(StatusCode::OK, &s))
}

/// `POST /secrets/create`, `POST /configs/create`: 201 `{ID}`.
pub async fn create_payload(api: &EngineApi, kind: PayloadKind, body: &[u8]) -> Result<Resp, ApiError> {
    let sent: d::SecretSpec = parse(&format!("{} spec", kind.noun()), body)?;
    let spec = convert::payload_spec_from_docker(kind, &sent)?;
    let spec = serde_json::to_vec(&spec).map_err(|e| ApiError::Internal(format!("cannot encode the {}: {e}", kind.noun())))?;
    let r = api.control(payload_op(kind, PayloadVerb::Create(proto::CreatePayload { spec }))).await?;
    Ok(json(StatusCode::CREATED, &d::IdResponse { id: r.id }))
}

pub async fn remove_payload(api: &EngineApi, kind: PayloadKind, id: &str) -> Result<Resp, ApiError> {
    api.control(payload_op(kind, PayloadVerb::Remove(id.into()))).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// `POST /secrets/{id}/update?version=N` (and configs): labels only, as swarm allows.
pub async fn update_payload(api: &EngineApi, kind: PayloadKind, id: &str, q: &Query, body: &[u8]) -> Result<Resp, ApiError> {
    let sent: d::SecretSpec = parse(&format!("{} spec", kind.noun()), body)?;
    let data_given = sent.data.as_ref().is_some_and(|x| !x.is_empty());
    let spec = convert::payload_spec_from_docker(kind, &sent)?;
    let op = proto::UpdatePayload {
        key: id.into(),
        name: spec.annotations.name,
        labels: spec.annotations.labels.into_iter().collect(),
        data_given,
        data: spec.data,
        version: q.version()?.unwrap_or(0),
    };
    api.control(payload_op(kind, PayloadVerb::Update(op))).await?;
    Ok(empty(StatusCode::OK))
}

pub async fn list_networks(api: &EngineApi, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    let list = api.read(&[Kind::Network], |s| query::list_networks(s, &f)).await?;
    Ok(json(StatusCode::OK, &list))
}

pub async fn inspect_network(api: &EngineApi, id: &str) -> Result<Resp, ApiError> {
    let n = api.read(&[Kind::Network], |s| query::inspect_network(s, id)).await?;
    Ok(json(StatusCode::OK, &n))
}

/// `POST /networks/create`: 201 `{Id, Warning}`.
pub async fn create_network(api: &EngineApi, body: &[u8]) -> Result<Resp, ApiError> {
    let sent: d::NetworkCreateRequest = parse("network create request", body)?;
    let spec = convert::network_spec_from_docker(&sent)?;
    let spec = serde_json::to_vec(&spec).map_err(|e| ApiError::Internal(format!("cannot encode the network: {e}")))?;
    let r = api.control(Op::CreateNetwork(proto::CreatePayload { spec })).await?;
    Ok(json(StatusCode::CREATED, &d::NetworkCreateResponse { id: r.id, warning: String::new() }))
}

pub async fn remove_network(api: &EngineApi, id: &str) -> Result<Resp, ApiError> {
    api.control(Op::RemoveNetwork(proto::ObjectKey { key: id.into() })).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

//! The Engine API's reads over a store (pure): `GET /services`, `/tasks`, `/nodes`,
//! `/secrets`, `/swarm` and the lookups behind `GET /X/{id}` (full id, then exact name, then a
//! unique id prefix, as dockerd resolves them).
//!
//! Filters follow moby's daemon and swarmkit's control API: `id` and `name` match by prefix,
//! a task's `service` and `node` filters name a service or node the way a path does (an
//! unknown one is a 404), a task's `label` filter matches its service's labels (what `docker
//! stack ps` relies on), `_up-to-date` keeps the tasks of the service's current spec.

use super::convert::{self, parse_task_state};
use super::filters::Filters;
use super::types as d;
use super::ApiError;
use crate::control;
use crate::model::{Kind, Node, NodeState, Object, Service, ServiceMode, Task, TaskState};
use crate::store::Store;
use std::collections::BTreeMap;

fn tasks(store: &Store) -> impl Iterator<Item = &Task> {
    store.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None })
}

fn nodes(store: &Store) -> impl Iterator<Item = &Node> {
    store.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
}

fn trust_root(store: &Store) -> String {
    control::cluster(store).map(|c| c.root_ca.ca_cert_pem.clone()).unwrap_or_default()
}

/// The name dockerd gives a task: `service.slot` (replicated) or `service.node` (global).
pub fn task_name(t: &Task) -> String {
    if t.slot != 0 {
        format!("{}.{}", t.service_name, t.slot)
    } else {
        format!("{}.{}", t.service_name, t.node_id)
    }
}

pub(crate) fn mode_name(m: &ServiceMode) -> &'static str {
    match m {
        ServiceMode::Replicated { .. } => "replicated",
        ServiceMode::Global => "global",
        ServiceMode::ReplicatedJob { .. } => "replicated-job",
        ServiceMode::GlobalJob => "global-job",
    }
}

/// Running, desired and completed tasks of every service in one pass over the tasks (O(tasks),
/// not O(services × tasks): `service ls` on 1,000 services).
/// Each service's running, desired and completed tasks, as dockerd counts them (the Engine
/// API's `?status=true` and the CLI's `service ls`).
pub fn service_statuses(store: &Store) -> BTreeMap<&str, d::ServiceStatus> {
    let ready: std::collections::BTreeSet<&str> =
        nodes(store).filter(|n| n.status.state == NodeState::Ready).map(|n| n.id.as_str()).collect();
    let mut out: BTreeMap<&str, d::ServiceStatus> = BTreeMap::new();
    let mut global_nodes: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for t in tasks(store) {
        let st = out.entry(t.service_id.as_str()).or_default();
        if t.status.state == TaskState::Running && t.desired_state <= TaskState::Running {
            st.running_tasks += 1;
        }
        if t.status.state == TaskState::Complete {
            st.completed_tasks += 1;
        }
        if t.desired_state <= TaskState::Running && ready.contains(t.node_id.as_str()) {
            global_nodes.entry(t.service_id.as_str()).or_default().insert(t.node_id.as_str());
        }
    }
    for s in store.list_services() {
        let st = out.entry(s.id.as_str()).or_default();
        st.desired_tasks = match s.spec.mode {
            ServiceMode::Replicated { replicas } => replicas,
            ServiceMode::ReplicatedJob { max_concurrent, total_completions } => {
                max_concurrent.min(total_completions.saturating_sub(st.completed_tasks))
            }
            // dockerd counts a global service's tasks desired running on nodes that are up.
            ServiceMode::Global | ServiceMode::GlobalJob => global_nodes.get(s.id.as_str()).map_or(0, |n| n.len() as u64),
        };
    }
    out
}

/// The services filters `f` keep (keys id, label, mode, name), for `GET /services` and
/// `service ls --filter`.
pub fn service_filter(f: &Filters) -> Result<impl Fn(&Service) -> bool + '_, ApiError> {
    f.check_keys(&["id", "label", "mode", "name"])?;
    Ok(move |s: &Service| {
        f.any("id", |v| s.id.starts_with(v))
            && f.any("name", |v| s.spec.annotations.name.starts_with(v))
            && f.any("mode", |v| v == mode_name(&s.spec.mode))
            && f.labels_match("label", &s.spec.annotations.labels)
    })
}

/// `GET /services?filters=…&status=…`
pub fn list_services(store: &Store, f: &Filters, with_status: bool) -> Result<Vec<d::Service>, ApiError> {
    let keep = service_filter(f)?;
    let statuses = if with_status { service_statuses(store) } else { BTreeMap::new() };
    Ok(store
        .list_services()
        .filter(|s| keep(s))
        .map(|s| convert::service_to_docker(s, with_status.then(|| statuses.get(s.id.as_str()).cloned().unwrap_or_default())))
        .collect())
}

/// The tasks filters `f` keep for `service ps|node ps --filter` (keys desired-state, id,
/// name, node; a node given by id, id prefix or hostname among `nodes`).
pub fn task_filter<'a>(f: &'a Filters, nodes: &'a [Node]) -> Result<impl Fn(&Task) -> bool + 'a, ApiError> {
    f.check_keys(&["desired-state", "id", "name", "node"])?;
    let mut desired = Vec::new();
    for v in f.values("desired-state") {
        desired.push(parse_task_state(v).ok_or_else(|| ApiError::BadRequest(format!("Invalid desired-state filter {v:?}: use running, shutdown or accepted")))?);
    }
    Ok(move |t: &Task| {
        let host = nodes.iter().find(|n| n.id == t.node_id).and_then(|n| n.description.as_ref()).map(|d| d.hostname.as_str()).unwrap_or("");
        (desired.is_empty() || desired.contains(&t.desired_state))
            && f.any("id", |v| t.id.starts_with(v))
            && f.any("name", |v| task_name(t).starts_with(v))
            && f.any("node", |v| (!t.node_id.is_empty() && t.node_id.starts_with(v)) || (!host.is_empty() && host == v))
    })
}

fn not_found(e: control::ControlError, what: &str, key: &str) -> ApiError {
    match e {
        // dockerd's words, which clients print as they are.
        control::ControlError::NotFound(_) => ApiError::NotFound(format!("{what} {key} not found")),
        e => e.into(),
    }
}

/// `GET /services/{id}`
pub fn inspect_service(store: &Store, key: &str) -> Result<d::Service, ApiError> {
    let s = control::find_service(store, key).map_err(|e| not_found(e, "service", key))?;
    Ok(convert::service_to_docker(s, None))
}

/// The service a request names (id, name or unique prefix).
pub fn find_service<'a>(store: &'a Store, key: &str) -> Result<&'a Service, ApiError> {
    control::find_service(store, key).map_err(|e| not_found(e, "service", key))
}

/// `GET /tasks?filters=…`
pub fn list_tasks(store: &Store, f: &Filters) -> Result<Vec<d::Task>, ApiError> {
    f.check_keys(&["id", "name", "label", "service", "node", "desired-state", "_up-to-date"])?;
    let mut services = Vec::new();
    for v in f.values("service") {
        services.push(find_service(store, v)?.id.as_str());
    }
    let mut node_ids = Vec::new();
    for v in f.values("node") {
        node_ids.push(control::find_node(store, v).map_err(|e| not_found(e, "node", v))?.id.as_str());
    }
    let mut desired = Vec::new();
    for v in f.values("desired-state") {
        desired.push(parse_task_state(v).ok_or_else(|| {
            ApiError::BadRequest(format!("Invalid desired-state filter {v:?}: use running, shutdown or accepted"))
        })?);
    }
    let up_to_date = f.flag("_up-to-date");
    let mut out = Vec::new();
    for t in tasks(store) {
        let svc = match store.get(Kind::Service, &t.service_id) {
            Some(Object::Service(s)) => Some(s),
            _ => None,
        };
        let keep = (services.is_empty() || services.contains(&t.service_id.as_str()))
            && (node_ids.is_empty() || node_ids.contains(&t.node_id.as_str()))
            && (desired.is_empty() || desired.contains(&t.desired_state))
            && f.any("id", |v| t.id.starts_with(v))
            && f.any("name", |v| task_name(t).starts_with(v))
            && (!f.contains("label") || svc.is_some_and(|s| f.labels_match("label", &s.spec.annotations.labels)))
            && (!up_to_date || svc.is_some_and(|s| s.spec_version == t.spec_version));
        if keep {
            out.push(task_view(store, t, svc.and_then(convert::job_iteration).is_some()));
        }
    }
    Ok(out)
}

/// A task as dockerd shows it, with its networks.
fn task_view(store: &Store, t: &Task, job: bool) -> d::Task {
    let mut out = convert::task_to_docker(t, job);
    out.networks_attachments = convert::attachments_to_docker(&t.networks, |id| match store.get(Kind::Network, id) {
        Some(Object::Network(n)) => Some(n),
        _ => None,
    });
    out
}

/// `GET /networks?filters=…` (filters id, name, label, driver, scope, type).
pub fn list_networks(store: &Store, f: &Filters) -> Result<Vec<d::NetworkResource>, ApiError> {
    f.check_keys(&["id", "name", "label", "driver", "scope", "type", "dangling"])?;
    if f.values("type").any(|v| !["custom", "builtin"].contains(&v)) {
        return Err(ApiError::BadRequest("invalid filter: 'type' takes custom or builtin".into()));
    }
    Ok(store
        .list(Kind::Network)
        .filter_map(|o| if let Object::Network(n) = o { Some(n) } else { None })
        .filter(|n| {
            f.any("id", |v| n.id.starts_with(v))
                && f.any("name", |v| n.spec.annotations.name.contains(v))
                && f.any("driver", |v| n.spec.driver == v)
                && f.any("scope", |v| v == "swarm")
                // Every swarm network is the operator's (docker counts only bridge, host and
                // none as builtin), ingress included.
                && f.any("type", |v| v == "custom")
                && f.labels_match("label", &n.spec.annotations.labels)
        })
        .map(convert::network_to_docker)
        .collect())
}

/// `GET /networks/{id}`: full id, exact name, or unique id prefix.
pub fn inspect_network(store: &Store, key: &str) -> Result<d::NetworkResource, ApiError> {
    let n = control::find_network(store, key).map_err(|e| match e {
        control::ControlError::NotFound(_) => ApiError::NotFound(format!("network {key} not found")),
        e => e.into(),
    })?;
    Ok(convert::network_to_docker(n))
}

/// `GET /tasks/{id}` (full id or unique prefix).
pub fn inspect_task(store: &Store, key: &str) -> Result<d::Task, ApiError> {
    let show = |t: &Task| {
        let job = matches!(store.get(Kind::Service, &t.service_id), Some(Object::Service(s)) if convert::job_iteration(s).is_some());
        task_view(store, t, job)
    };
    if let Some(Object::Task(t)) = store.get(Kind::Task, key) {
        return Ok(show(t));
    }
    let found: Vec<&Task> = tasks(store).filter(|t| !key.is_empty() && t.id.starts_with(key)).collect();
    match found.as_slice() {
        [t] => Ok(show(t)),
        [] => Err(ApiError::NotFound(format!("task {key} not found"))),
        _ => Err(ApiError::BadRequest(format!("task {key} is ambiguous ({} matches): use the full id", found.len()))),
    }
}

/// `GET /nodes?filters=…`
pub fn list_nodes(store: &Store, f: &Filters) -> Result<Vec<d::Node>, ApiError> {
    let keep = node_filter(f)?;
    let root = trust_root(store);
    Ok(nodes(store).filter(|n| keep(n)).map(|n| convert::node_to_docker(n, &root)).collect())
}

/// The nodes filters `f` keep (keys id, label, name, membership, role, node.label), for
/// `GET /nodes` and `node ls --filter`.
pub fn node_filter(f: &Filters) -> Result<impl Fn(&Node) -> bool + '_, ApiError> {
    f.check_keys(&["id", "label", "name", "membership", "role", "node.label"])?;
    for v in f.values("membership") {
        if !["accepted", "pending"].contains(&v) {
            return Err(ApiError::BadRequest(format!("Invalid membership filter {v:?}: use accepted or pending")));
        }
    }
    for v in f.values("role") {
        if crate::model::NodeRole::parse(v).is_none() {
            return Err(ApiError::BadRequest(format!("Invalid role filter {v:?}: use manager or worker")));
        }
    }
    Ok(move |n: &Node| {
        let host = n.description.as_ref().map(|d| d.hostname.as_str()).unwrap_or("");
        let engine_labels = n.description.as_ref().map(|d| d.engine_labels.clone()).unwrap_or_default();
        f.any("id", |v| n.id.starts_with(v))
            && f.any("name", |v| host.starts_with(v) || (!n.spec.annotations.name.is_empty() && n.spec.annotations.name.starts_with(v)))
            // Every node in Shoal's store was admitted with a token: accepted.
            && f.any("membership", |v| v == "accepted")
            && f.any("role", |v| v == n.role.as_str())
            && f.labels_match("label", &engine_labels)
            && f.labels_match("node.label", &n.spec.annotations.labels)
    })
}

/// `GET /nodes/{id}` (id, hostname or unique prefix).
pub fn inspect_node(store: &Store, key: &str) -> Result<d::Node, ApiError> {
    let n = control::find_node(store, key).map_err(|e| not_found(e, "node", key))?;
    Ok(convert::node_to_docker(n, &trust_root(store)))
}

/// `GET /swarm/unlockkey`: the unlock key while autolock is on (empty otherwise, which the
/// docker CLI reports as "no unlock key is set").
pub fn unlock_key(store: &Store) -> Result<serde_json::Value, ApiError> {
    let c = control::cluster(store).map_err(|_| ApiError::Unavailable("the swarm has no cluster object yet: its first leader has not written it; retry".into()))?;
    Ok(serde_json::json!({ "UnlockKey": c.unlock_key }))
}

/// `GET /swarm`
pub fn swarm(store: &Store) -> Result<d::Swarm, ApiError> {
    let c = control::cluster(store).map_err(|_| ApiError::Unavailable("the swarm has no cluster object yet: its first leader has not written it; retry".into()))?;
    Ok(convert::swarm_to_docker(c, true))
}

/// `GET /secrets?filters=…` (never the data), `GET /configs?filters=…`.
pub fn list_payloads(store: &Store, kind: control::PayloadKind, f: &Filters) -> Result<Vec<d::Secret>, ApiError> {
    f.check_keys(&["id", "label", "name", "names"])?;
    Ok(store
        .list(kind.kind())
        .filter(|o| {
            let Some((id, _, spec)) = control::payload_parts(o) else { return false };
            f.any("id", |v| id.starts_with(v))
                && f.any("name", |v| spec.annotations.name.starts_with(v))
                && f.any("names", |v| spec.annotations.name == v)
                && f.labels_match("label", &spec.annotations.labels)
        })
        .filter_map(convert::payload_to_docker)
        .collect())
}

/// `GET /secrets/{id}`, `GET /configs/{id}`.
pub fn inspect_payload(store: &Store, kind: control::PayloadKind, key: &str) -> Result<d::Secret, ApiError> {
    let o = control::find_payload(store, kind, key).map_err(|e| match e {
        control::ControlError::NotFound(_) => ApiError::NotFound(format!("{} {key} not found", kind.noun())),
        e => e.into(),
    })?;
    Ok(convert::payload_to_docker(o).expect("a payload kind holds payloads"))
}

/// The `Swarm` block of `GET /info` for the node `node_id` (a manager: `control` is true).
pub fn swarm_info(store: &Store, node_id: &str, node_addr: &str, control: bool) -> d::SwarmInfo {
    let all: Vec<&Node> = nodes(store).collect();
    let managers: Vec<&Node> = all.iter().copied().filter(|n| n.role == crate::model::NodeRole::Manager).collect();
    d::SwarmInfo {
        node_id: node_id.into(),
        node_addr: node_addr.into(),
        local_node_state: "active".into(),
        control_available: control,
        error: String::new(),
        remote_managers: managers
            .iter()
            .filter_map(|n| n.manager_status.as_ref().map(|m| d::Peer { node_id: n.id.clone(), addr: m.addr.clone() }))
            .collect(),
        nodes: all.len() as u64,
        managers: managers.len() as u64,
        cluster: control.then(|| control::cluster(store).ok().map(|c| convert::swarm_to_docker(c, false))).flatten(),
    }
}

#[cfg(test)]
mod tests;

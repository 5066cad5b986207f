//! The control API's rules (pure): spec validation and the store changes of each verb.
//!
//! Owns what `service create|update|scale|rm` and `node update|rm` mean for the store. Input:
//! the committed [`Store`] (read on the leader) and the request. Output: the [`Action`]s to
//! propose, or a [`ControlError`] that says what was wrong and how to fix it — in which case
//! nothing is proposed. The shell (`node::control`) runs these on the leader only, so checks
//! against existing objects (duplicate names, port clashes) see the latest committed state, and
//! the version check of every update catches a concurrent change.

use crate::allocator;
use crate::ca;
use crate::constraint::{self, Constraint};
use crate::model::{
    Kind, Node, NodeAvailability, NodeRole, NodeState, Object, Service, ServiceMode, ServiceSpec, UpdateState, UpdateStatus,
};
use crate::store::{Action, Store};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    /// The object is not at the version the write was computed from: re-read and retry.
    #[error("{0}")]
    OutOfSequence(String),
}

use ControlError::*;

mod cluster;
mod image;
mod network;
mod ops;
mod payload;
mod rebalance;
pub mod revocation;
pub use cluster::*;
pub use image::check_image_reference;
pub use network::*;
pub use ops::write_actions;
pub use payload::*;
pub use rebalance::rebalance_services;

fn valid_name(name: &str) -> Result<(), ControlError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(InvalidArgument(format!(
            "name {name:?} is not valid: use 1-63 letters, digits, '-' or '_', starting and ending with a letter or digit"
        )))
    }
}

/// A service spec's encoding may be at most this big: every task carries a copy, into the raft
/// log and to its node, so a spec of megabytes (a runaway env file) made each task as big.
pub const MAX_SERVICE_SPEC_BYTES: usize = 128 * 1024;

/// Checks a spec on its own (no store needed).
pub fn validate_spec(spec: &ServiceSpec) -> Result<(), ControlError> {
    valid_name(&spec.annotations.name)?;
    let bytes = crate::store::encoded_len(spec);
    if bytes > MAX_SERVICE_SPEC_BYTES {
        return Err(InvalidArgument(format!(
            "the spec of service {} takes {bytes} bytes, more than the {MAX_SERVICE_SPEC_BYTES} (128 KiB) a service may carry \
             (each task holds a copy): move large values into a config or secret",
            spec.annotations.name
        )));
    }
    let c = &spec.task.container;
    image::check_image_reference(&c.image).map_err(InvalidArgument)?;
    for (what, c) in [("update", &spec.update), ("rollback", &spec.rollback)] {
        let Some(c) = c else { continue };
        if !(0.0..=1.0).contains(&c.max_failure_ratio) {
            return Err(InvalidArgument(format!(
                "{what} max failure ratio {} is outside [0, 1]: give the fraction of failed tasks to tolerate",
                c.max_failure_ratio
            )));
        }
    }
    if spec.rollback.as_ref().is_some_and(|r| r.failure_action == crate::model::FailureAction::Rollback) {
        return Err(InvalidArgument("rollback failure action cannot be rollback (a rollback is never rolled back): use pause or continue".into()));
    }
    for text in &spec.task.placement.constraints {
        Constraint::parse(text).map_err(InvalidArgument)?;
    }
    for p in &spec.task.placement.preferences {
        constraint::parse_preference(p).map_err(InvalidArgument)?;
    }
    if let Some(r) = &spec.task.resources.reservations {
        if r.nano_cpus < 0 || r.memory_bytes < 0 || r.generic.values().any(|v| *v < 0) {
            return Err(InvalidArgument("reservations cannot be negative".into()));
        }
    }
    if let Some(l) = &spec.task.resources.limits {
        if l.nano_cpus < 0 || l.memory_bytes < 0 {
            return Err(InvalidArgument("limits cannot be negative".into()));
        }
    }
    if let ServiceMode::ReplicatedJob { max_concurrent, total_completions } = spec.mode {
        if total_completions == 0 || max_concurrent == 0 {
            return Err(InvalidArgument("a replicated job needs --max-concurrent and --replicas of at least 1".into()));
        }
    }
    validate_container(c)?;
    for p in spec.endpoint.iter().flat_map(|e| e.ports.iter()) {
        if p.target_port == 0 || p.target_port > 65535 || p.published_port > 65535 {
            return Err(InvalidArgument(format!("port {}:{}: ports are 1-65535", p.published_port, p.target_port)));
        }
        if !p.protocol.is_empty() && !["tcp", "udp", "sctp"].contains(&p.protocol.as_str()) {
            return Err(InvalidArgument(format!("protocol {:?}: use tcp, udp or sctp", p.protocol)));
        }
    }
    if let Some(a) = &spec.autoscale {
        if !matches!(spec.mode, ServiceMode::Replicated { .. }) {
            return Err(InvalidArgument(format!(
                "service {}: --autoscale works with replicated services only (a global service runs one task per node)",
                spec.annotations.name
            )));
        }
        a.check().map_err(|why| InvalidArgument(format!("--autoscale {a}: {why}")))?;
    }
    Ok(())
}

/// The container options beyond the image: mounts, ulimits, hosts entries, paths.
fn validate_container(c: &crate::model::ContainerSpec) -> Result<(), ControlError> {
    use crate::model::MountKind;
    let mut targets = std::collections::BTreeSet::new();
    for m in &c.mounts {
        let what = format!("mount {}={} on {}", m.kind.as_str(), m.source, m.target);
        if !m.target.starts_with('/') {
            return Err(InvalidArgument(format!("{what}: the target must be an absolute path in the container, e.g. /data")));
        }
        if !targets.insert(m.target.as_str()) {
            return Err(InvalidArgument(format!("{what}: two mounts on one target: give each its own")));
        }
        match m.kind {
            MountKind::Bind if !m.source.starts_with('/') => {
                return Err(InvalidArgument(format!("{what}: a bind mount's source must be an absolute path on the node")))
            }
            MountKind::Tmpfs if !m.source.is_empty() => return Err(InvalidArgument(format!("{what}: a tmpfs mount takes no source"))),
            MountKind::Volume if m.source.contains('/') => {
                return Err(InvalidArgument(format!("{what}: a volume's source is its name (no '/'); for a path use type=bind")))
            }
            _ => {}
        }
    }
    for u in &c.ulimits {
        if u.name.is_empty() || u.soft < 0 || u.hard < 0 || u.soft > u.hard {
            return Err(InvalidArgument(format!(
                "ulimit {}={}:{}: give a name and soft <= hard, both 0 or more (e.g. nofile=1024:2048)",
                u.name, u.soft, u.hard
            )));
        }
    }
    for h in &c.hosts {
        if h.split_whitespace().count() < 2 {
            return Err(InvalidArgument(format!("hosts entry {h:?}: write IP then hostname, e.g. \"10.0.0.5 db\"")));
        }
    }
    if !c.dir.is_empty() && !c.dir.starts_with('/') {
        return Err(InvalidArgument(format!("workdir {:?}: give an absolute path, e.g. /app", c.dir)));
    }
    Ok(())
}

fn services(store: &Store) -> impl Iterator<Item = &Service> + Clone {
    store.list_services()
}

/// How many of `voters` raft voters make a quorum (a majority).
pub fn quorum(voters: usize) -> usize {
    voters / 2 + 1
}

/// Why a node may not leave the swarm now (docker's words), or None. `voter`: this node is a
/// raft voter (a manager); `voters`: how many there are.
pub fn leave_refusal(voter: bool, voters: usize, force: bool) -> Option<String> {
    if !voter || force {
        return None;
    }
    let mut msg = "You are attempting to leave the swarm on a node that is participating as a manager. ".to_string();
    if voters <= 1 {
        msg += "Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.";
        return Some(msg);
    }
    if (voters - 1) * 2 <= voters {
        msg += &format!("Removing this node leaves {} managers out of {voters}. Without a Raft quorum your swarm will be inaccessible. ", voters - 1);
    }
    msg += "Demote it first (`node demote`), or use `--force` to leave anyway.";
    Some(msg)
}

/// An object of a kind with unique names by id, name, or unique id prefix (as docker resolves
/// them); `not_found` is the message when nothing matches.
fn find_named<'a>(store: &'a Store, kind: Kind, key: &str, not_found: String) -> Result<&'a Object, ControlError> {
    if let Some(o) = store.get(kind, key).or_else(|| store.find_by_name(kind, key)) {
        return Ok(o);
    }
    let by_prefix: Vec<&Object> = store.list(kind).filter(|o| !key.is_empty() && o.id().starts_with(key)).collect();
    match by_prefix.as_slice() {
        [o] => Ok(o),
        [] => Err(NotFound(not_found)),
        _ => Err(InvalidArgument(format!(
            "{} {key} is ambiguous: {} {}s match; use the full id",
            kind.as_str(),
            by_prefix.len(),
            kind.as_str()
        ))),
    }
}

/// A service by id, name, or unique id prefix.
pub fn find_service<'a>(store: &'a Store, key: &str) -> Result<&'a Service, ControlError> {
    match find_named(store, Kind::Service, key, format!("service {key} not found"))? {
        Object::Service(s) => Ok(s),
        _ => unreachable!("a service-kind key holds a service"),
    }
}

fn nodes(store: &Store) -> impl Iterator<Item = &Node> {
    store.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
}

/// A node by id, hostname, or unique id prefix.
pub fn find_node<'a>(store: &'a Store, key: &str) -> Result<&'a Node, ControlError> {
    if let Some(Object::Node(n)) = store.get(Kind::Node, key) {
        return Ok(n);
    }
    let by_host: Vec<&Node> =
        nodes(store).filter(|n| n.description.as_ref().is_some_and(|d| d.hostname == key)).collect();
    if let [n] = by_host.as_slice() {
        return Ok(n);
    }
    if by_host.len() > 1 {
        return Err(InvalidArgument(format!("node {key} is ambiguous: {} nodes have that hostname; use the id", by_host.len())));
    }
    let by_prefix: Vec<&Node> = nodes(store).filter(|n| !key.is_empty() && n.id.starts_with(key)).collect();
    match by_prefix.as_slice() {
        [n] => Ok(n),
        [] => Err(NotFound(format!("node {key} not found"))),
        _ => Err(InvalidArgument(format!("node {key} is ambiguous: {} nodes match; use the full id", by_prefix.len()))),
    }
}

fn checks_against_store(store: &Store, spec: &ServiceSpec, self_id: &str) -> Result<(), ControlError> {
    if let Some(Object::Service(other)) = store.find_by_name(Kind::Service, &spec.annotations.name) {
        if other.id != self_id {
            return Err(AlreadyExists(format!(
                "service name {:?} conflicts with an existing service ({}): pick another name or update that one",
                spec.annotations.name, other.id
            )));
        }
    }
    check_replicas_limit(spec, crate::leader::cluster_spec(store).orchestration.max_service_replicas)?;
    let ports = spec.endpoint.as_ref().map(|e| e.ports.clone()).unwrap_or_default();
    if let Some(e) = allocator::port_conflict(&ports, services(store), self_id) {
        return Err(InvalidArgument(e));
    }
    Ok(())
}

/// The cluster's bound on one service's tasks (`orchestration.max_service_replicas`): a
/// replicated service's replicas, a replicated job's concurrency and completions.
pub fn check_replicas_limit(spec: &ServiceSpec, limit: u64) -> Result<(), ControlError> {
    let asked = match spec.mode {
        // The autoscaler may take the service up to its max.
        ServiceMode::Replicated { replicas } => replicas.max(spec.autoscale.map_or(0, |a| a.max_replicas)),
        ServiceMode::ReplicatedJob { max_concurrent, total_completions } => max_concurrent.max(total_completions),
        ServiceMode::Global | ServiceMode::GlobalJob => 0,
    };
    if asked > limit {
        return Err(InvalidArgument(format!(
            "service {} asks for {asked} replicas, but this swarm allows at most {limit} per service: ask for fewer, \
             or raise the limit with `shoal swarm update --max-service-replicas N`",
            spec.annotations.name
        )));
    }
    Ok(())
}

/// A stored spec as the request that made it looked: [`resolve_references`] undone (ids cleared,
/// a target equal to the secret's name cleared), so a client can tell whether a spec it sent
/// is the one stored.
pub fn as_requested(mut spec: ServiceSpec) -> ServiceSpec {
    for r in &mut spec.task.container.secrets {
        r.secret_id.clear();
        if r.target == r.secret_name {
            r.target.clear();
        }
    }
    for r in &mut spec.task.container.configs {
        r.config_id.clear();
        if r.target == r.config_name {
            r.target.clear();
        }
    }
    // Network targets became ids, which a spec alone cannot turn back into the names a client
    // may have sent: they are left out of the comparison (aliases stay).
    for a in &mut spec.task.networks {
        a.target.clear();
    }
    spec
}

/// `service create`: the new service with id `id`.
pub fn create_service(store: &Store, mut spec: ServiceSpec, id: String) -> Result<Vec<Action>, ControlError> {
    validate_spec(&spec)?;
    checks_against_store(store, &spec, &id)?;
    resolve_references(store, &mut spec)?;
    network::resolve_networks(store, &mut spec)?;
    let s = Service { id, spec, spec_version: 1, ..Default::default() };
    Ok(vec![Action::Create(Object::Service(s))])
}

/// `service update`: replaces the spec. A change of the task template bumps `spec_version`
/// and keeps the old spec as `previous_spec` (what `service rollback` restores); a change of
/// replicas alone is a scale, not an update.
pub fn update_service(store: &Store, key: &str, mut spec: ServiceSpec, expected_version: Option<u64>) -> Result<Vec<Action>, ControlError> {
    let cur = find_service(store, key)?;
    if let Some(v) = expected_version {
        if v != cur.meta.version {
            return Err(OutOfSequence(format!(
                "update out of sequence: service {} is at version {}, not {v}; re-read it and retry",
                cur.spec.annotations.name, cur.meta.version
            )));
        }
    }
    validate_spec(&spec)?;
    checks_against_store(store, &spec, &cur.id)?;
    resolve_references(store, &mut spec)?;
    network::resolve_networks(store, &mut spec)?;
    if std::mem::discriminant(&spec.mode) != std::mem::discriminant(&cur.spec.mode) {
        return Err(InvalidArgument("service mode cannot change: remove the service and create it again".into()));
    }
    if spec.annotations.name != cur.spec.annotations.name {
        // Swarm's rule (tasks, logs and DNS names carry the name).
        return Err(InvalidArgument(format!(
            "renaming services is not supported: {} cannot become {}; create a new service",
            cur.spec.annotations.name, spec.annotations.name
        )));
    }
    let mut s = cur.clone();
    if spec.task != cur.spec.task {
        s.previous_spec = Some(cur.spec.clone());
        s.spec_version += 1;
        // Every task is replaced now: a rebalance under way has nothing left to move.
        s.rebalancing.clear();
        // The update controller rolls it out (and resumes a paused update this way).
        s.update_status = Some(UpdateStatus { state: UpdateState::Updating, ..Default::default() });
    } else {
        s.forget_finished_update();
    }
    s.spec = spec;
    if s == *cur {
        return Ok(vec![]);
    }
    Ok(vec![Action::Update { object: Object::Service(s), expected_version: cur.meta.version }])
}

/// `service rollback`: the previous spec comes back, rolled out under the rollback config
/// (the spec rolled back from becomes the previous one, as in swarm).
pub fn rollback_service(store: &Store, key: &str) -> Result<Vec<Action>, ControlError> {
    let cur = find_service(store, key)?;
    let Some(prev) = cur.previous_spec.clone() else {
        return Err(FailedPrecondition(format!(
            "service {} has no previous spec to roll back to: it was never updated",
            cur.spec.annotations.name
        )));
    };
    check_replicas_limit(&prev, crate::leader::cluster_spec(store).orchestration.max_service_replicas)?;
    let mut s = cur.clone();
    let prev = crate::mutant::rollback_target(prev, &cur.spec);
    s.previous_spec = Some(std::mem::replace(&mut s.spec, prev));
    s.spec_version += 1;
    s.update_status = Some(UpdateStatus { state: UpdateState::RollbackStarted, ..Default::default() });
    Ok(vec![Action::Update { object: Object::Service(s), expected_version: cur.meta.version }])
}

/// `service scale NAME=N`.
pub fn scale_service(store: &Store, key: &str, replicas: u64) -> Result<Vec<Action>, ControlError> {
    let cur = find_service(store, key)?;
    let mut spec = cur.spec.clone();
    match &mut spec.mode {
        ServiceMode::Replicated { replicas: r } => *r = replicas,
        _ => {
            return Err(InvalidArgument(format!(
                "{}: scale can only be used with replicated mode",
                cur.spec.annotations.name
            )))
        }
    }
    update_service(store, &cur.id, spec, None)
}

/// `service rm`: the service goes; the reaper removes its tasks once they stopped.
pub fn remove_service(store: &Store, key: &str) -> Result<Vec<Action>, ControlError> {
    let cur = find_service(store, key)?;
    Ok(vec![Action::Delete { kind: Kind::Service, id: cur.id.clone(), expected_version: Some(cur.meta.version) }])
}

/// What `node update` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    pub availability: Option<NodeAvailability>,
    /// `node promote|demote`: the role the node should have (it renews its certificate).
    pub desired_role: Option<NodeRole>,
    pub label_add: BTreeMap<String, String>,
    pub label_rm: Vec<String>,
    /// The node's version the change was computed from (the Engine API's `?version=`).
    pub expected_version: Option<u64>,
}

/// `node update`.
/// How messages name a node: its hostname, else its id.
fn node_name(n: &Node) -> &str {
    n.description.as_ref().map(|d| d.hostname.as_str()).filter(|h| !h.is_empty()).unwrap_or(&n.id)
}

pub fn update_node(store: &Store, key: &str, u: &NodeUpdate) -> Result<Vec<Action>, ControlError> {
    let cur = find_node(store, key)?;
    let key = node_name(cur);
    if let Some(v) = u.expected_version.filter(|v| *v != cur.meta.version) {
        return Err(OutOfSequence(format!(
            "update out of sequence: node {key} is at version {}, not {v}; re-read it and retry",
            cur.meta.version
        )));
    }
    let mut n = cur.clone();
    if let Some(a) = u.availability {
        n.spec.availability = a;
    }
    if let Some(r) = u.desired_role {
        n.spec.desired_role = r;
    }
    for k in &u.label_rm {
        if n.spec.annotations.labels.remove(k).is_none() {
            return Err(NotFound(format!("label {k} does not exist on node {key}: nothing to remove")));
        }
    }
    for (k, v) in &u.label_add {
        if k.is_empty() {
            return Err(InvalidArgument("a label needs a name: write --label-add key=value".into()));
        }
        n.spec.annotations.labels.insert(k.clone(), v.clone());
    }
    if n == *cur {
        return Ok(vec![]);
    }
    Ok(vec![Action::Update { object: Object::Node(n), expected_version: cur.meta.version }])
}

/// `node rm [--force]`: refused for a node that is not down unless forced, and for a manager.
pub fn remove_node(store: &Store, key: &str, force: bool) -> Result<Vec<Action>, ControlError> {
    let cur = find_node(store, key)?;
    let key = node_name(cur);
    if cur.role == NodeRole::Manager {
        return Err(FailedPrecondition(format!(
            "node {key} is a cluster manager and is a member of the raft cluster: demote it before removal"
        )));
    }
    if cur.status.state != NodeState::Down && !force {
        return Err(FailedPrecondition(format!(
            "node {key} is not down and can't be removed: stop it first (or use --force)"
        )));
    }
    let mut actions = vec![Action::Delete { kind: Kind::Node, id: cur.id.clone(), expected_version: Some(cur.meta.version) }];
    // Its certificate stays valid until it expires: every manager refuses it from now on.
    if let Ok(c) = cluster(store) {
        actions.push(revocation::remember_removed(c, &cur.id, store.last_index() + 1));
    }
    Ok(actions)
}

/// A machine joins with `token` (swarmkit's CA issuing a node certificate): the token decides
/// the role; the new node gets `node_id` and is READY once its agent registers. A machine that
/// joins again after leaving is a new node (a new id), as in swarm.
pub fn join_node(store: &Store, token: &str, node_id: String, raft_id: u64, addr: &str) -> Result<(Vec<Action>, NodeRole), ControlError> {
    let role = ca::role_for(&cluster(store)?.root_ca, token).map_err(|e| InvalidArgument(e.to_string()))?;
    if store.get(Kind::Node, &node_id).is_some() {
        return Err(AlreadyExists(format!("node id {node_id} is taken; retry")));
    }
    let n = Node {
        id: node_id,
        spec: crate::model::NodeSpec { desired_role: role, ..Default::default() },
        status: crate::model::NodeStatus { state: NodeState::Unknown, addr: addr.to_string(), ..Default::default() },
        raft_id,
        ..Default::default()
    };
    Ok((vec![Action::Create(Object::Node(n))], role))
}

#[cfg(test)]
mod tests;

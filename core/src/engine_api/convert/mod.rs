//! Shoal's model ↔ dockerd's JSON (pure).
//!
//! Specs go both ways: a spec a client sends becomes a model spec, or an [`ApiError`] naming
//! the field Shoal cannot honour yet (a request is never half applied: a field the model does
//! not hold is refused, not dropped). Stored objects go one way, model → dockerd, with
//! dockerd's defaults and spellings. `spec_to_docker(spec_from_docker(x)) == x` for every spec
//! the model can hold (property-tested below).

use super::types as d;
use super::ApiError;
use crate::model::{self as m, ServiceMode, TaskState};
use std::collections::BTreeMap;

mod network;
mod spec;
mod swarm_init;

pub use network::{attachments_to_docker, network_spec_from_docker, network_to_docker};

pub use spec::{spec_from_docker, spec_to_docker};
pub use swarm_init::{check_join, init_flags_from_docker, manager_address, node_addresses, DEFAULT_LISTEN_ADDR};
use spec::*;

const NS_PER_MS: i64 = 1_000_000;

/// Milliseconds since the epoch as RFC 3339 with nanoseconds, as Go writes `time.Time`.
pub fn time_of_ms(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_nanos(t).to_string()
}

/// An RFC 3339 time (as the engine stamps log lines) in milliseconds since the epoch; None if
/// it is not one.
pub fn ms_of_time(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(s.trim()).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64)
}

pub(crate) fn ms_to_ns(ms: u64) -> i64 {
    (ms as i64).saturating_mul(NS_PER_MS)
}

/// A duration a client sent, in nanoseconds, as whole milliseconds (Shoal's unit). Negative
/// durations are refused.
pub(crate) fn ns_to_ms(field: &str, ns: i64) -> Result<u64, ApiError> {
    if ns < 0 {
        return Err(ApiError::BadRequest(format!("{field}: a duration cannot be negative ({ns} ns)")));
    }
    // Rounded up, so a sub-millisecond duration is not taken for "none".
    Ok((ns as u64).div_ceil(NS_PER_MS as u64))
}

pub fn task_state_name(s: TaskState) -> &'static str {
    match s {
        TaskState::New => "new",
        TaskState::Pending => "pending",
        TaskState::Assigned => "assigned",
        TaskState::Accepted => "accepted",
        TaskState::Preparing => "preparing",
        TaskState::Ready => "ready",
        TaskState::Starting => "starting",
        TaskState::Running => "running",
        TaskState::Complete => "complete",
        TaskState::Shutdown => "shutdown",
        TaskState::Failed => "failed",
        TaskState::Rejected => "rejected",
        TaskState::Remove => "remove",
        TaskState::Orphaned => "orphaned",
    }
}

pub fn parse_task_state(s: &str) -> Option<TaskState> {
    const ALL: [TaskState; 14] = [
        TaskState::New,
        TaskState::Pending,
        TaskState::Assigned,
        TaskState::Accepted,
        TaskState::Preparing,
        TaskState::Ready,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Complete,
        TaskState::Shutdown,
        TaskState::Failed,
        TaskState::Rejected,
        TaskState::Remove,
        TaskState::Orphaned,
    ];
    ALL.into_iter().find(|t| task_state_name(*t) == s)
}

pub(crate) fn update_state_name(s: m::UpdateState) -> &'static str {
    match s {
        m::UpdateState::Unknown => "",
        m::UpdateState::Updating => "updating",
        m::UpdateState::Paused => "paused",
        m::UpdateState::Completed => "completed",
        m::UpdateState::RollbackStarted => "rollback_started",
        m::UpdateState::RollbackPaused => "rollback_paused",
        m::UpdateState::RollbackCompleted => "rollback_completed",
    }
}

pub fn service_to_docker(s: &m::Service, status: Option<d::ServiceStatus>) -> d::Service {
    let spec = spec_to_docker(&s.spec);
    let endpoint_spec = spec.endpoint_spec.clone().unwrap_or_default();
    d::Service {
        id: s.id.clone(),
        version: d::Version { index: s.meta.version },
        created_at: time_of_ms(s.meta.created_at_ms),
        updated_at: time_of_ms(s.meta.updated_at_ms),
        previous_spec: s.previous_spec.as_ref().map(spec_to_docker),
        endpoint: d::Endpoint {
            spec: endpoint_spec,
            ports: s.endpoint_ports.iter().map(port_to_docker).collect(),
            virtual_ips: s.virtual_ips.iter().map(|v| d::VirtualIp { network_id: v.network_id.clone(), addr: v.addr.clone() }).collect(),
        },
        update_status: s.update_status.as_ref().filter(|u| u.state != m::UpdateState::Unknown).map(|u| d::UpdateStatus {
            state: update_state_name(u.state).into(),
            started_at: u.started_at_ms.map(time_of_ms),
            completed_at: u.completed_at_ms.map(time_of_ms),
            message: u.message.clone(),
        }),
        service_status: status,
        job_status: job_iteration(s).map(|i| d::JobStatus { job_iteration: d::Version { index: i }, last_execution: time_of_ms(s.meta.updated_at_ms) }),
        spec,
    }
}

/// A job's run (swarmkit's `JobIteration`): its spec version, so a changed job is a new run
/// and the tasks of the current run are the ones made from the current spec. None: not a job.
pub fn job_iteration(s: &m::Service) -> Option<u64> {
    matches!(s.spec.mode, ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob).then_some(s.spec_version)
}

/// A task as dockerd shows it; `job`: its service is a job (the task then names its run).
pub fn task_to_docker(t: &m::Task, job: bool) -> d::Task {
    let s = &t.status;
    d::Task {
        id: t.id.clone(),
        version: d::Version { index: t.meta.version },
        created_at: time_of_ms(t.meta.created_at_ms),
        updated_at: time_of_ms(t.meta.updated_at_ms),
        labels: BTreeMap::new(),
        spec: task_spec_to_docker(&t.spec),
        service_id: t.service_id.clone(),
        // swarmkit numbers a replicated job's slots from 0 (the docker CLI's job progress
        // counts slots 0..total); Shoal's jobs, like its services, from 1.
        slot: if job { t.slot.saturating_sub(1) } else { t.slot },
        node_id: t.node_id.clone(),
        status: d::TaskStatus {
            timestamp: time_of_ms(s.timestamp_ms),
            state: task_state_name(s.state).into(),
            message: s.message.clone(),
            err: s.err.clone(),
            // Present even when empty (the visualizer reads it without a check).
            container_status: d::ContainerStatus { container_id: s.container_id.clone(), pid: 0, exit_code: i64::from(s.exit_code.unwrap_or(0)) },
            port_status: d::PortStatus {
                ports: t
                    .endpoint_ports
                    .iter()
                    .filter(|p| p.publish_mode == m::PublishMode::Host && s.state == TaskState::Running)
                    .map(port_to_docker)
                    .collect(),
            },
        },
        desired_state: task_state_name(t.desired_state).into(),
        job_iteration: job.then_some(d::Version { index: t.spec_version }),
        // Filled in by queries, which have the networks at hand.
        networks_attachments: vec![],
    }
}

pub(crate) fn node_state_name(s: m::NodeState) -> &'static str {
    match s {
        m::NodeState::Unknown => "unknown",
        m::NodeState::Down => "down",
        m::NodeState::Ready => "ready",
        m::NodeState::Disconnected => "disconnected",
    }
}

pub fn availability_name(a: m::NodeAvailability) -> &'static str {
    match a {
        m::NodeAvailability::Active => "active",
        m::NodeAvailability::Pause => "pause",
        m::NodeAvailability::Drain => "drain",
    }
}

pub fn parse_availability(s: &str) -> Option<m::NodeAvailability> {
    [m::NodeAvailability::Active, m::NodeAvailability::Pause, m::NodeAvailability::Drain].into_iter().find(|a| availability_name(*a) == s)
}

/// The engine version a Shoal node reports for itself (no dockerd runs the swarm).
pub const ENGINE_VERSION: &str = concat!("shoal-", env!("CARGO_PKG_VERSION"));

/// A node as dockerd shows it. A manager's reachability is the leader's raft view, written to
/// the store ([`m::Node::reachability`]).
pub fn node_to_docker(n: &m::Node, trust_root: &str) -> d::Node {
    let desc = n.description.clone().unwrap_or_default();
    d::Node {
        id: n.id.clone(),
        version: d::Version { index: n.meta.version },
        created_at: time_of_ms(n.meta.created_at_ms),
        updated_at: time_of_ms(n.meta.updated_at_ms),
        spec: d::NodeSpec {
            name: n.spec.annotations.name.clone(),
            labels: n.spec.annotations.labels.clone(),
            role: n.spec.desired_role.as_str().into(),
            availability: availability_name(n.spec.availability).into(),
        },
        description: d::NodeDescription {
            hostname: desc.hostname,
            platform: d::Platform { architecture: desc.platform.architecture, os: desc.platform.os },
            resources: d::NodeResources {
                nano_cpus: desc.resources.nano_cpus,
                memory_bytes: desc.resources.memory_bytes,
                generic_resources: generic_to_docker(&desc.resources.generic),
            },
            engine: d::EngineDescription { engine_version: ENGINE_VERSION.into(), labels: desc.engine_labels, plugins: vec![] },
            // What the node reports holding; the swarm's root for a node that reports nothing
            // (the simulator's).
            tls_info: match desc.tls_info.is_empty() {
                true => d::TlsInfo { trust_root: trust_root.into(), ..Default::default() },
                false => d::TlsInfo {
                    trust_root: desc.tls_info.trust_root,
                    cert_issuer_subject: desc.tls_info.issuer.subject,
                    cert_issuer_public_key: desc.tls_info.issuer.public_key,
                },
            },
        },
        status: d::NodeStatus {
            state: node_state_name(n.status.state).into(),
            message: n.status.message.clone(),
            // dockerd shows the IP only.
            addr: n.status.addr.rsplit_once(':').map(|(ip, _)| ip.to_string()).unwrap_or_else(|| n.status.addr.clone()),
        },
        manager_status: n.manager_status.as_ref().map(|ms| d::ManagerStatus {
            leader: ms.leader,
            reachability: n.reachability().unwrap_or_default().into(),
            addr: ms.addr.clone(),
        }),
    }
}

/// The Cluster object as `GET /swarm` shows it (join tokens only when `with_tokens`: dockerd
/// shows them to managers).
pub fn swarm_to_docker(c: &m::Cluster, with_tokens: bool) -> d::Swarm {
    let spec = &c.spec;
    d::Swarm {
        id: c.id.clone(),
        version: d::Version { index: c.meta.version },
        created_at: time_of_ms(c.meta.created_at_ms),
        updated_at: time_of_ms(c.meta.updated_at_ms),
        spec: d::SwarmSpec {
            name: spec.annotations.name.clone(),
            labels: spec.annotations.labels.clone(),
            orchestration: d::SwarmOrchestration { task_history_retention_limit: Some(i64::from(spec.orchestration.task_history_retention_limit)) },
            raft: d::SwarmRaft {
                snapshot_interval: spec.raft.snapshot_interval,
                keep_old_snapshots: Some(0),
                log_entries_for_slow_followers: spec.raft.log_entries_for_slow_followers,
                // Ticks of the heartbeat interval, as swarmkit counts them.
                election_tick: spec.raft.election_timeout_min_ms / spec.raft.heartbeat_interval_ms.max(1),
                heartbeat_tick: 1,
            },
            dispatcher: d::SwarmDispatcher { heartbeat_period: Some(ms_to_ns(spec.dispatcher.heartbeat_period_ms)) },
            ca_config: d::SwarmCaConfig {
                node_cert_expiry: Some((spec.ca_config.node_cert_expiry_secs as i64).saturating_mul(1_000_000_000)),
                force_rotate: spec.ca_config.force_rotate,
                ..Default::default()
            },
            task_defaults: Default::default(),
            encryption_config: d::SwarmEncryption { auto_lock_managers: spec.encryption.auto_lock_managers },
        },
        // The root, and who signs now (the new root during a rotation): docker's progress bars.
        tls_info: {
            let issuer = crate::ca::rotation::signing_issuer(&c.root_ca);
            d::TlsInfo {
                trust_root: c.root_ca.ca_cert_pem.clone(),
                cert_issuer_subject: issuer.subject.clone(),
                cert_issuer_public_key: issuer.public_key.clone(),
            }
        },
        root_rotation_in_progress: c.root_ca.rotation.is_some(),
        default_addr_pool: c.spec.network.default_addr_pool.clone(),
        subnet_size: u32::from(c.spec.network.subnet_size),
        data_path_port: 4789,
        join_tokens: with_tokens
            .then(|| d::JoinTokens { worker: c.root_ca.join_token_worker.clone(), manager: c.root_ca.join_token_manager.clone() }),
    }
}

/// What `POST /swarm/update` asks of the swarm `cur` with the spec `sent` (computed from
/// `version`, if given): the settings Shoal can change (task history limit, autolock, the
/// dispatcher's heartbeat, the certificates' expiry), each None when unchanged. Any other
/// difference is refused, as is an out-of-date version.
pub fn swarm_update_from_docker(cur: &d::Swarm, sent: &d::SwarmSpec, version: Option<u64>) -> Result<crate::control::ClusterUpdate, ApiError> {
    if let Some(v) = version.filter(|v| *v != cur.version.index) {
        return Err(ApiError::BadRequest(format!(
            "update out of sequence: the swarm is at version {}, not {v}; re-read it and retry",
            cur.version.index
        )));
    }
    let ca = &sent.ca_config;
    if !ca.signing_ca_cert.is_empty() || !ca.signing_ca_key.is_empty() || !ca.external_cas.is_empty() {
        return Err(ApiError::NotImplemented(
            "a root CA or external CA you give (--ca-cert, --ca-key, --external-ca) is not supported by Shoal: run `docker swarm ca --rotate` without them, and the swarm makes its new root itself".into(),
        ));
    }
    let mut others = sent.clone();
    others.encryption_config = cur.spec.encryption_config.clone();
    others.orchestration = cur.spec.orchestration.clone();
    others.dispatcher = cur.spec.dispatcher.clone();
    others.ca_config.node_cert_expiry = cur.spec.ca_config.node_cert_expiry;
    others.ca_config.force_rotate = cur.spec.ca_config.force_rotate;
    if others != cur.spec {
        return Err(ApiError::NotImplemented(
            "changing the swarm's settings is not supported by Shoal yet: only join token rotation, autolock, the unlock key's rotation, the task history limit, the dispatcher's heartbeat, the certificates' expiry and the root CA's rotation".into(),
        ));
    }
    let changed_ns = |sent: Option<i64>, cur: Option<i64>| sent.filter(|n| Some(*n) != cur && *n > 0);
    let dispatcher_heartbeat_ms = changed_ns(sent.dispatcher.heartbeat_period, cur.spec.dispatcher.heartbeat_period).map(|ns| ns as u64 / 1_000_000);
    let cert_expiry_secs = changed_ns(sent.ca_config.node_cert_expiry, cur.spec.ca_config.node_cert_expiry).map(|ns| ns as u64 / 1_000_000_000);
    let autolock = sent.encryption_config.auto_lock_managers;
    let autolock = (autolock != cur.spec.encryption_config.auto_lock_managers).then_some(autolock);
    let history = match sent.orchestration.task_history_retention_limit {
        Some(n) if sent.orchestration != cur.spec.orchestration => {
            Some(u32::try_from(n).map_err(|_| ApiError::BadRequest(format!("TaskHistoryRetentionLimit {n}: give 0 or more")))?)
        }
        _ => None,
    };
    // `docker swarm ca --rotate` sends the count it read plus one.
    // (A spec without the count, or an older one, asks for nothing.)
    let rotate_ca = sent.ca_config.force_rotate > cur.spec.ca_config.force_rotate;
    Ok(crate::control::ClusterUpdate { task_history_limit: history, autolock, dispatcher_heartbeat_ms, cert_expiry_secs, rotate_ca, ..Default::default() })
}

/// A secret or config as dockerd shows it (both have this shape): a config with its data
/// (base64), a secret never. None for other objects.
pub fn payload_to_docker(o: &m::Object) -> Option<d::Secret> {
    use base64::Engine;
    let (id, meta, spec) = crate::control::payload_parts(o)?;
    let data = matches!(o, m::Object::Config(_)).then(|| base64::engine::general_purpose::STANDARD.encode(&spec.data));
    Some(d::Secret {
        id: id.to_string(),
        version: d::Version { index: meta.version },
        created_at: time_of_ms(meta.created_at_ms),
        updated_at: time_of_ms(meta.updated_at_ms),
        spec: d::SecretSpec { name: spec.annotations.name.clone(), labels: spec.annotations.labels.clone(), data, ..Default::default() },
    })
}

/// `GET /services/{id}?insertDefaults=true`: the update and rollback configs a service runs
/// with when its spec gives none (swarm's defaults).
pub fn insert_defaults(s: &mut d::ServiceSpec) {
    let def = update_config_to_docker(&m::UpdateConfig::default());
    s.update_config.get_or_insert_with(|| def.clone());
    s.rollback_config.get_or_insert(def);
}

/// `POST /nodes/{id}/update` with the node's full spec, as a change of the node `cur` (as
/// shown): availability, desired role, and labels (the labels sent replace the node's).
pub fn node_update_from_docker(cur: &d::Node, sent: &d::NodeSpec, version: Option<u64>) -> Result<crate::control::NodeUpdate, ApiError> {
    if sent.name != cur.spec.name {
        return Err(unsupported("Node Spec.Name"));
    }
    let availability = match sent.availability.as_str() {
        "" => None,
        a => Some(parse_availability(a).ok_or_else(|| ApiError::BadRequest(format!("invalid availability {a:?}: use active, pause or drain")))?),
    };
    let desired_role = match sent.role.as_str() {
        "" => None,
        r => Some(m::NodeRole::parse(r).ok_or_else(|| ApiError::BadRequest(format!("invalid role {r:?}: use manager or worker")))?),
    };
    Ok(crate::control::NodeUpdate {
        availability,
        desired_role,
        label_add: sent.labels.clone(),
        label_rm: cur.spec.labels.keys().filter(|k| !sent.labels.contains_key(*k)).cloned().collect(),
        expected_version: version,
    })
}

/// `POST /secrets/create`, `POST /configs/create`: the data arrives base64-encoded.
pub fn payload_spec_from_docker(kind: crate::control::PayloadKind, s: &d::SecretSpec) -> Result<m::SecretSpec, ApiError> {
    use base64::Engine;
    let noun = kind.noun();
    if s.driver.as_ref().is_some_and(|x| !x.name.is_empty()) {
        return Err(unsupported(&format!("{noun} Driver (external stores)")));
    }
    if s.templating.as_ref().is_some_and(|x| !x.name.is_empty()) {
        return Err(unsupported(&format!("{noun} Templating")));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(s.data.as_deref().unwrap_or("").trim())
        .map_err(|e| ApiError::BadRequest(format!("{noun} Data is not valid base64 ({e}): send the bytes base64-encoded")))?;
    Ok(m::SecretSpec { annotations: m::Annotations { name: s.name.clone(), labels: s.labels.clone() }, data })
}

#[cfg(test)]
mod tests;

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

fn ms_to_ns(ms: u64) -> i64 {
    (ms as i64).saturating_mul(NS_PER_MS)
}

/// A duration a client sent, in nanoseconds, as whole milliseconds (Shoal's unit). Negative
/// durations are refused.
fn ns_to_ms(field: &str, ns: i64) -> Result<u64, ApiError> {
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

fn update_state_name(s: m::UpdateState) -> &'static str {
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

fn update_config_to_docker(c: &m::UpdateConfig) -> d::UpdateConfig {
    d::UpdateConfig {
        parallelism: c.parallelism,
        delay: ms_to_ns(c.delay_ms),
        failure_action: match c.failure_action {
            m::FailureAction::Pause => "pause",
            m::FailureAction::Continue => "continue",
            m::FailureAction::Rollback => "rollback",
        }
        .into(),
        monitor: ms_to_ns(c.monitor_ms),
        max_failure_ratio: c.max_failure_ratio,
        order: match c.order {
            m::UpdateOrder::StopFirst => "stop-first",
            m::UpdateOrder::StartFirst => "start-first",
        }
        .into(),
    }
}

fn update_config_from_docker(what: &str, c: &d::UpdateConfig) -> Result<m::UpdateConfig, ApiError> {
    let defaults = m::UpdateConfig::default();
    Ok(m::UpdateConfig {
        parallelism: c.parallelism,
        delay_ms: ns_to_ms(&format!("{what}.Delay"), c.delay)?,
        failure_action: match c.failure_action.as_str() {
            "" => defaults.failure_action,
            "pause" => m::FailureAction::Pause,
            "continue" => m::FailureAction::Continue,
            "rollback" => m::FailureAction::Rollback,
            other => return Err(ApiError::BadRequest(format!("{what}.FailureAction {other:?}: use pause, continue or rollback"))),
        },
        // dockerd treats an unset monitor period as its default (5 s).
        monitor_ms: if c.monitor == 0 { defaults.monitor_ms } else { ns_to_ms(&format!("{what}.Monitor"), c.monitor)? },
        max_failure_ratio: c.max_failure_ratio,
        order: match c.order.as_str() {
            "" | "stop-first" => m::UpdateOrder::StopFirst,
            "start-first" => m::UpdateOrder::StartFirst,
            other => return Err(ApiError::BadRequest(format!("{what}.Order {other:?}: use stop-first or start-first"))),
        },
    })
}

fn restart_to_docker(r: &m::RestartPolicy) -> d::RestartPolicy {
    d::RestartPolicy {
        condition: match r.condition {
            m::RestartCondition::None => "none",
            m::RestartCondition::OnFailure => "on-failure",
            m::RestartCondition::Any => "any",
        }
        .into(),
        delay: Some(ms_to_ns(r.delay_ms)),
        max_attempts: Some(r.max_attempts),
        window: Some(ms_to_ns(r.window_ms)),
    }
}

fn restart_from_docker(r: &d::RestartPolicy) -> Result<m::RestartPolicy, ApiError> {
    let defaults = m::RestartPolicy::default();
    Ok(m::RestartPolicy {
        condition: match r.condition.as_str() {
            "" => defaults.condition,
            "none" => m::RestartCondition::None,
            "on-failure" => m::RestartCondition::OnFailure,
            "any" => m::RestartCondition::Any,
            other => return Err(ApiError::BadRequest(format!("RestartPolicy.Condition {other:?}: use none, on-failure or any"))),
        },
        delay_ms: match r.delay {
            None => defaults.delay_ms,
            Some(ns) => ns_to_ms("RestartPolicy.Delay", ns)?,
        },
        max_attempts: r.max_attempts.unwrap_or(defaults.max_attempts),
        window_ms: match r.window {
            None => defaults.window_ms,
            Some(ns) => ns_to_ms("RestartPolicy.Window", ns)?,
        },
    })
}

fn resources_to_docker(r: &m::ResourceRequirements) -> d::ResourceRequirements {
    d::ResourceRequirements {
        limits: Some(r.limits.as_ref().map(|l| d::Limit { nano_cpus: l.nano_cpus, memory_bytes: l.memory_bytes, pids: 0 }).unwrap_or_default()),
        reservations: Some(
            r.reservations
                .as_ref()
                .map(|x| d::Resources { nano_cpus: x.nano_cpus, memory_bytes: x.memory_bytes, generic_resources: generic_to_docker(&x.generic) })
                .unwrap_or_default(),
        ),
    }
}

fn generic_to_docker(g: &BTreeMap<String, i64>) -> Vec<d::GenericResource> {
    g.iter()
        .map(|(k, v)| d::GenericResource { discrete_resource_spec: Some(d::DiscreteGenericResource { kind: k.clone(), value: *v }), ..Default::default() })
        .collect()
}

fn resources_from_docker(r: &d::ResourceRequirements) -> Result<m::ResourceRequirements, ApiError> {
    if r.limits.as_ref().is_some_and(|l| l.pids != 0) {
        return Err(unsupported("TaskTemplate.Resources.Limits.Pids"));
    }
    let limits = r.limits.as_ref().filter(|l| l.nano_cpus != 0 || l.memory_bytes != 0).map(|l| m::Resources {
        nano_cpus: l.nano_cpus,
        memory_bytes: l.memory_bytes,
        generic: BTreeMap::new(),
    });
    let reservations = match &r.reservations {
        None => None,
        Some(x) => {
            let mut generic = BTreeMap::new();
            for g in &x.generic_resources {
                match (&g.discrete_resource_spec, &g.named_resource_spec) {
                    (Some(dsc), None) => *generic.entry(dsc.kind.clone()).or_insert(0) += dsc.value,
                    _ => return Err(unsupported("TaskTemplate.Resources.Reservations.GenericResources[].NamedResourceSpec")),
                }
            }
            (x.nano_cpus != 0 || x.memory_bytes != 0 || !generic.is_empty()).then_some(m::Resources {
                nano_cpus: x.nano_cpus,
                memory_bytes: x.memory_bytes,
                generic,
            })
        }
    };
    Ok(m::ResourceRequirements { limits, reservations })
}

fn unsupported(field: &str) -> ApiError {
    ApiError::BadRequest(format!("{field} is not supported by Shoal yet: leave it out of the spec"))
}

/// A secret file's default mode (0444) and owner, as the docker CLI sends them.
const SECRET_DEFAULT_MODE: u32 = 0o444;

fn container_to_docker(c: &m::ContainerSpec) -> d::ContainerSpec {
    let healthcheck = if c.no_healthcheck {
        Some(d::HealthConfig { test: vec!["NONE".into()], ..Default::default() })
    } else {
        c.healthcheck.as_ref().map(|h| d::HealthConfig {
            test: h.test.clone(),
            interval: ms_to_ns(h.interval_ms),
            timeout: ms_to_ns(h.timeout_ms),
            start_period: ms_to_ns(h.start_period_ms),
            start_interval: 0,
            retries: u64::from(h.retries),
        })
    };
    d::ContainerSpec {
        image: c.image.clone(),
        labels: c.labels.clone(),
        command: c.command.clone(),
        args: c.args.clone(),
        hostname: c.hostname.clone(),
        env: c.env.clone(),
        dir: c.dir.clone(),
        user: c.user.clone(),
        groups: c.groups.clone(),
        tty: c.tty,
        read_only: c.read_only,
        mounts: c
            .mounts
            .iter()
            .map(|x| d::Mount { kind: x.kind.as_str().into(), source: x.source.clone(), target: x.target.clone(), read_only: x.read_only, ..Default::default() })
            .collect(),
        stop_signal: c.stop_signal.clone(),
        hosts: c.hosts.clone(),
        dns_config: (!c.dns.is_empty()).then(|| d::DnsConfig { nameservers: c.dns.nameservers.clone(), search: c.dns.search.clone(), options: c.dns.options.clone() }),
        sysctls: c.sysctls.clone(),
        capability_add: c.cap_add.clone(),
        capability_drop: c.cap_drop.clone(),
        ulimits: c.ulimits.iter().map(|u| d::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect(),
        stop_grace_period: c.stop_grace_period_ms.map(ms_to_ns),
        healthcheck,
        secrets: c
            .secrets
            .iter()
            .map(|r| d::SecretReference {
                file: Some(d::SecretFile {
                    name: if r.target.is_empty() { r.secret_name.clone() } else { r.target.clone() },
                    uid: "0".into(),
                    gid: "0".into(),
                    mode: SECRET_DEFAULT_MODE,
                }),
                secret_id: r.secret_id.clone(),
                secret_name: r.secret_name.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

fn container_from_docker(c: &d::ContainerSpec) -> Result<m::ContainerSpec, ApiError> {
    // Fields the model does not hold yet: refused by name when set to anything but the zero
    // value the docker CLI sends by default.
    let p = "TaskTemplate.ContainerSpec";
    // Init is not listed: Shoal always runs an init as PID 1 (a task must stop on SIGTERM).
    let unset: [(&str, bool); 4] = [
        ("Privileges", c.privileges.as_ref().is_none_or(is_empty_value)),
        ("OpenStdin", !c.open_stdin),
        ("Configs", c.configs.is_empty()),
        ("OomScoreAdj", c.oom_score_adj == 0),
    ];
    if let Some((f, _)) = unset.iter().find(|(_, ok)| !ok) {
        return Err(unsupported(&format!("{p}.{f}")));
    }
    if !["", "default"].contains(&c.isolation.as_str()) {
        return Err(unsupported(&format!("{p}.Isolation")));
    }
    let (healthcheck, no_healthcheck) = match &c.healthcheck {
        None => (None, false),
        Some(h) if h.test.first().map(String::as_str) == Some("NONE") => (None, true),
        Some(h) => {
            let defaults = m::HealthConfig::default();
            let or = |ns: i64, def: u64, f: &str| if ns == 0 { Ok(def) } else { ns_to_ms(&format!("{p}.Healthcheck.{f}"), ns) };
            if h.start_interval != 0 {
                return Err(unsupported(&format!("{p}.Healthcheck.StartInterval")));
            }
            (
                Some(m::HealthConfig {
                    test: h.test.clone(),
                    interval_ms: or(h.interval, defaults.interval_ms, "Interval")?,
                    timeout_ms: or(h.timeout, defaults.timeout_ms, "Timeout")?,
                    retries: if h.retries == 0 { defaults.retries } else { u32::try_from(h.retries).unwrap_or(u32::MAX) },
                    start_period_ms: or(h.start_period, defaults.start_period_ms, "StartPeriod")?,
                }),
                false,
            )
        }
    };
    let mut secrets = Vec::with_capacity(c.secrets.len());
    for s in &c.secrets {
        let file = s.file.clone().unwrap_or_default();
        if !["", "0"].contains(&file.uid.as_str()) || !["", "0"].contains(&file.gid.as_str()) || ![0, SECRET_DEFAULT_MODE].contains(&file.mode) {
            return Err(unsupported(&format!("{p}.Secrets[].File UID, GID or Mode other than 0, 0, 0444")));
        }
        if s.secret_name.is_empty() && s.secret_id.is_empty() {
            return Err(ApiError::BadRequest(format!("{p}.Secrets[]: give SecretName or SecretID")));
        }
        secrets.push(m::SecretReference { secret_id: s.secret_id.clone(), secret_name: s.secret_name.clone(), target: file.name });
    }
    let mut mounts = Vec::with_capacity(c.mounts.len());
    for x in &c.mounts {
        let kind = m::MountKind::parse(&x.kind)
            .ok_or_else(|| ApiError::BadRequest(format!("{p}.Mounts[].Type {:?}: use bind, volume or tmpfs", x.kind)))?;
        let options_set = [&x.bind_options, &x.volume_options, &x.tmpfs_options].iter().any(|o| o.as_ref().is_some_and(|v| !is_empty_value(v)));
        if options_set || !x.consistency.is_empty() {
            return Err(unsupported(&format!("{p}.Mounts[] BindOptions, VolumeOptions, TmpfsOptions and Consistency")));
        }
        mounts.push(m::Mount { kind, source: x.source.clone(), target: x.target.clone(), read_only: x.read_only });
    }
    let dns = c.dns_config.clone().unwrap_or_default();
    Ok(m::ContainerSpec {
        image: c.image.clone(),
        args: c.args.clone(),
        env: c.env.clone(),
        labels: c.labels.clone(),
        secrets,
        configs: vec![],
        stop_grace_period_ms: c.stop_grace_period.map(|ns| ns_to_ms(&format!("{p}.StopGracePeriod"), ns)).transpose()?,
        healthcheck,
        no_healthcheck,
        command: c.command.clone(),
        hostname: c.hostname.clone(),
        dir: c.dir.clone(),
        user: c.user.clone(),
        groups: c.groups.clone(),
        tty: c.tty,
        read_only: c.read_only,
        stop_signal: c.stop_signal.clone(),
        hosts: c.hosts.clone(),
        dns: m::DnsConfig { nameservers: dns.nameservers, search: dns.search, options: dns.options },
        sysctls: c.sysctls.clone(),
        cap_add: c.capability_add.clone(),
        cap_drop: c.capability_drop.clone(),
        ulimits: c.ulimits.iter().map(|u| m::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect(),
        mounts,
    })
}

fn is_empty_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(o) => o.values().all(is_empty_value),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Bool(b) => !b,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

fn port_to_docker(p: &m::PortConfig) -> d::PortConfig {
    d::PortConfig {
        name: String::new(),
        protocol: if p.protocol.is_empty() { "tcp".into() } else { p.protocol.clone() },
        target_port: p.target_port,
        published_port: p.published_port,
        publish_mode: match p.publish_mode {
            m::PublishMode::Ingress => "ingress",
            m::PublishMode::Host => "host",
        }
        .into(),
    }
}

fn port_from_docker(p: &d::PortConfig) -> Result<m::PortConfig, ApiError> {
    if !p.name.is_empty() {
        return Err(unsupported("EndpointSpec.Ports[].Name"));
    }
    Ok(m::PortConfig {
        protocol: if p.protocol.is_empty() { "tcp".into() } else { p.protocol.clone() },
        target_port: p.target_port,
        published_port: p.published_port,
        publish_mode: match p.publish_mode.as_str() {
            "" | "ingress" => m::PublishMode::Ingress,
            "host" => m::PublishMode::Host,
            other => return Err(ApiError::BadRequest(format!("EndpointSpec.Ports[].PublishMode {other:?}: use ingress or host"))),
        },
    })
}

fn task_spec_to_docker(t: &m::TaskSpec) -> d::TaskSpec {
    d::TaskSpec {
        container_spec: Some(container_to_docker(&t.container)),
        resources: Some(resources_to_docker(&t.resources)),
        restart_policy: Some(restart_to_docker(&t.restart)),
        placement: Some(d::Placement {
            constraints: t.placement.constraints.clone(),
            preferences: t
                .placement
                .preferences
                .iter()
                .map(|p| d::PlacementPreference { spread: Some(d::SpreadOver { spread_descriptor: p.clone() }) })
                .collect(),
            max_replicas: t.placement.max_replicas,
            platforms: t.placement.platforms.iter().map(|p| d::Platform { architecture: p.architecture.clone(), os: p.os.clone() }).collect(),
        }),
        networks: t.networks.iter().map(|n| d::NetworkAttachmentConfig { target: n.clone(), ..Default::default() }).collect(),
        force_update: t.force_update,
        runtime: "container".into(),
        ..Default::default()
    }
}

fn task_spec_from_docker(t: &d::TaskSpec, legacy_networks: &[d::NetworkAttachmentConfig]) -> Result<m::TaskSpec, ApiError> {
    if t.plugin_spec.is_some() || t.network_attachment_spec.is_some() || !["", "container"].contains(&t.runtime.as_str()) {
        return Err(ApiError::BadRequest("TaskTemplate: Shoal runs containers only (Runtime \"container\" with a ContainerSpec)".into()));
    }
    if t.log_driver.as_ref().is_some_and(|l| !l.name.is_empty() || !l.options.is_empty()) {
        return Err(unsupported("TaskTemplate.LogDriver"));
    }
    let container = container_from_docker(t.container_spec.as_ref().ok_or_else(|| {
        ApiError::BadRequest("TaskTemplate.ContainerSpec must be given: the container to run, with its Image".into())
    })?)?;
    let placement = t.placement.clone().unwrap_or_default();
    let mut preferences = Vec::with_capacity(placement.preferences.len());
    for p in &placement.preferences {
        match &p.spread {
            Some(s) => preferences.push(s.spread_descriptor.clone()),
            None => return Err(ApiError::BadRequest("TaskTemplate.Placement.Preferences[]: only Spread preferences exist".into())),
        }
    }
    let mut networks = Vec::new();
    for n in t.networks.iter().chain(legacy_networks) {
        if !n.aliases.is_empty() || !n.driver_opts.is_empty() {
            return Err(unsupported("TaskTemplate.Networks[].Aliases and DriverOpts"));
        }
        networks.push(n.target.clone());
    }
    Ok(m::TaskSpec {
        container,
        resources: t.resources.as_ref().map(resources_from_docker).transpose()?.unwrap_or_default(),
        restart: t.restart_policy.as_ref().map(restart_from_docker).transpose()?.unwrap_or_default(),
        placement: m::Placement {
            constraints: placement.constraints,
            preferences,
            max_replicas: placement.max_replicas,
            platforms: placement.platforms.into_iter().map(|p| m::Platform { os: p.os, architecture: p.architecture }).collect(),
        },
        networks,
        force_update: t.force_update,
    })
}

/// A model spec as dockerd shows it.
pub fn spec_to_docker(s: &m::ServiceSpec) -> d::ServiceSpec {
    let mode = match &s.mode {
        ServiceMode::Replicated { replicas } => d::ServiceMode { replicated: Some(d::ReplicatedService { replicas: Some(*replicas) }), ..Default::default() },
        ServiceMode::Global => d::ServiceMode { global: Some(d::Empty {}), ..Default::default() },
        ServiceMode::ReplicatedJob { max_concurrent, total_completions } => d::ServiceMode {
            replicated_job: Some(d::ReplicatedJob { max_concurrent: Some(*max_concurrent), total_completions: Some(*total_completions) }),
            ..Default::default()
        },
        ServiceMode::GlobalJob => d::ServiceMode { global_job: Some(d::Empty {}), ..Default::default() },
    };
    d::ServiceSpec {
        name: s.annotations.name.clone(),
        labels: s.annotations.labels.clone(),
        task_template: task_spec_to_docker(&s.task),
        mode: Some(mode),
        update_config: s.update.as_ref().map(update_config_to_docker),
        rollback_config: s.rollback.as_ref().map(update_config_to_docker),
        networks: vec![],
        endpoint_spec: Some(d::EndpointSpec {
            mode: "vip".into(),
            ports: s.endpoint.iter().flat_map(|e| e.ports.iter()).map(port_to_docker).collect(),
        }),
    }
}

/// A spec a client sent, as the model holds it; refused (nothing changed) when it asks for
/// something Shoal cannot do yet.
pub fn spec_from_docker(s: &d::ServiceSpec) -> Result<m::ServiceSpec, ApiError> {
    let mode = match &s.mode {
        None => ServiceMode::Replicated { replicas: 1 },
        Some(md) => {
            let set = [md.replicated.is_some(), md.global.is_some(), md.replicated_job.is_some(), md.global_job.is_some()];
            if set.iter().filter(|x| **x).count() > 1 {
                return Err(ApiError::BadRequest("Mode: give exactly one of Replicated, Global, ReplicatedJob, GlobalJob".into()));
            }
            if let Some(r) = &md.replicated {
                ServiceMode::Replicated { replicas: r.replicas.unwrap_or(1) }
            } else if md.global.is_some() {
                ServiceMode::Global
            } else if let Some(j) = &md.replicated_job {
                ServiceMode::ReplicatedJob { max_concurrent: j.max_concurrent.unwrap_or(1), total_completions: j.total_completions.unwrap_or(1) }
            } else if md.global_job.is_some() {
                ServiceMode::GlobalJob
            } else {
                ServiceMode::Replicated { replicas: 1 }
            }
        }
    };
    let endpoint = match &s.endpoint_spec {
        None => None,
        Some(e) => {
            match e.mode.as_str() {
                "" | "vip" => {}
                "dnsrr" => return Err(unsupported("EndpointSpec.Mode dnsrr")),
                other => return Err(ApiError::BadRequest(format!("EndpointSpec.Mode {other:?}: use vip or dnsrr"))),
            }
            let ports = e.ports.iter().map(port_from_docker).collect::<Result<Vec<_>, _>>()?;
            (!ports.is_empty()).then_some(m::EndpointSpec { ports })
        }
    };
    Ok(m::ServiceSpec {
        annotations: m::Annotations { name: s.name.clone(), labels: s.labels.clone() },
        task: task_spec_from_docker(&s.task_template, &s.networks)?,
        mode,
        update: s.update_config.as_ref().map(|c| update_config_from_docker("UpdateConfig", c)).transpose()?,
        rollback: s.rollback_config.as_ref().map(|c| update_config_from_docker("RollbackConfig", c)).transpose()?,
        endpoint,
    })
}

/// Running, desired and completed tasks of a service, as `GET /services?status=true` shows
/// them (docker's `service ls` REPLICAS column).
pub fn service_status<'a>(s: &m::Service, tasks: impl Iterator<Item = &'a m::Task>, ready_nodes: &dyn Fn(&str) -> bool) -> d::ServiceStatus {
    let mut st = d::ServiceStatus::default();
    let mut eligible_nodes = std::collections::BTreeSet::new();
    for t in tasks.filter(|t| t.service_id == s.id) {
        if t.status.state == TaskState::Running && t.desired_state <= TaskState::Running {
            st.running_tasks += 1;
        }
        if t.status.state == TaskState::Complete {
            st.completed_tasks += 1;
        }
        if t.desired_state <= TaskState::Running && !t.node_id.is_empty() && ready_nodes(&t.node_id) {
            eligible_nodes.insert(t.node_id.clone());
        }
    }
    st.desired_tasks = match s.spec.mode {
        ServiceMode::Replicated { replicas } => replicas,
        ServiceMode::ReplicatedJob { max_concurrent, total_completions } => max_concurrent.min(total_completions.saturating_sub(st.completed_tasks)),
        // dockerd counts the global service's tasks desired running on nodes that are up.
        ServiceMode::Global | ServiceMode::GlobalJob => eligible_nodes.len() as u64,
    };
    st
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
        endpoint: d::Endpoint { spec: endpoint_spec, ports: s.endpoint_ports.iter().map(port_to_docker).collect(), virtual_ips: vec![] },
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
pub fn task_to_docker(t: &m::Task, container_id: &str, job: bool) -> d::Task {
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
            container_status: d::ContainerStatus { container_id: container_id.into(), pid: 0, exit_code: i64::from(s.exit_code.unwrap_or(0)) },
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
    }
}

fn node_state_name(s: m::NodeState) -> &'static str {
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

/// A node as dockerd shows it. `reachable` says whether a manager answers raft (the leader's
/// view: every voter it hears from).
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
            tls_info: d::TlsInfo { trust_root: trust_root.into(), ..Default::default() },
        },
        status: d::NodeStatus {
            state: node_state_name(n.status.state).into(),
            message: n.status.message.clone(),
            // dockerd shows the IP only.
            addr: n.status.addr.rsplit_once(':').map(|(ip, _)| ip.to_string()).unwrap_or_else(|| n.status.addr.clone()),
        },
        manager_status: n.manager_status.as_ref().map(|ms| d::ManagerStatus {
            leader: ms.leader,
            reachability: if n.status.state == m::NodeState::Down { "unreachable" } else { "reachable" }.into(),
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
            ca_config: d::SwarmCaConfig { node_cert_expiry: Some((spec.ca_config.node_cert_expiry_secs as i64).saturating_mul(1_000_000_000)) },
            task_defaults: Default::default(),
            encryption_config: d::SwarmEncryption { auto_lock_managers: false },
        },
        tls_info: d::TlsInfo { trust_root: c.root_ca.ca_cert_pem.clone(), ..Default::default() },
        root_rotation_in_progress: false,
        default_addr_pool: vec!["10.0.0.0/8".into()],
        subnet_size: 24,
        data_path_port: 4789,
        join_tokens: with_tokens
            .then(|| d::JoinTokens { worker: c.root_ca.join_token_worker.clone(), manager: c.root_ca.join_token_manager.clone() }),
    }
}

pub fn secret_to_docker(s: &m::Secret) -> d::Secret {
    d::Secret {
        id: s.id.clone(),
        version: d::Version { index: s.meta.version },
        created_at: time_of_ms(s.meta.created_at_ms),
        updated_at: time_of_ms(s.meta.updated_at_ms),
        spec: d::SecretSpec { name: s.spec.annotations.name.clone(), labels: s.spec.annotations.labels.clone(), ..Default::default() },
    }
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

/// `POST /secrets/create`: the data arrives base64-encoded.
pub fn secret_spec_from_docker(s: &d::SecretSpec) -> Result<m::SecretSpec, ApiError> {
    use base64::Engine;
    if s.driver.as_ref().is_some_and(|x| !x.name.is_empty()) {
        return Err(unsupported("Secret Driver (external secret stores)"));
    }
    if s.templating.as_ref().is_some_and(|x| !x.name.is_empty()) {
        return Err(unsupported("Secret Templating"));
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(s.data.as_deref().unwrap_or("").trim())
        .map_err(|e| ApiError::BadRequest(format!("secret Data is not valid base64 ({e}): send the bytes base64-encoded")))?;
    Ok(m::SecretSpec { annotations: m::Annotations { name: s.name.clone(), labels: s.labels.clone() }, data })
}

#[cfg(test)]
mod tests;

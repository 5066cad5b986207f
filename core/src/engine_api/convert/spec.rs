//! Service specs both ways: what a client sends becomes a model spec, or an [`ApiError`]
//! naming the field Shoal cannot honour yet (a request is never half applied: a field the
//! model does not hold is refused, not dropped); a model spec shows as dockerd writes it,
//! with its defaults and spellings.

use super::*;

pub(super) fn update_config_to_docker(c: &m::UpdateConfig) -> d::UpdateConfig {
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

pub(super) fn update_config_from_docker(what: &str, c: &d::UpdateConfig) -> Result<m::UpdateConfig, ApiError> {
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

pub(super) fn restart_to_docker(r: &m::RestartPolicy) -> d::RestartPolicy {
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

pub(super) fn restart_from_docker(r: &d::RestartPolicy) -> Result<m::RestartPolicy, ApiError> {
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

pub(super) fn resources_to_docker(r: &m::ResourceRequirements) -> d::ResourceRequirements {
    d::ResourceRequirements {
        limits: Some(d::Limit {
            pids: r.pids_limit,
            ..r.limits.as_ref().map(|l| d::Limit { nano_cpus: l.nano_cpus, memory_bytes: l.memory_bytes, pids: 0 }).unwrap_or_default()
        }),
        reservations: Some(
            r.reservations
                .as_ref()
                .map(|x| d::Resources { nano_cpus: x.nano_cpus, memory_bytes: x.memory_bytes, generic_resources: generic_to_docker(&x.generic) })
                .unwrap_or_default(),
        ),
    }
}

pub(super) fn generic_to_docker(g: &BTreeMap<String, i64>) -> Vec<d::GenericResource> {
    g.iter()
        .map(|(k, v)| d::GenericResource { discrete_resource_spec: Some(d::DiscreteGenericResource { kind: k.clone(), value: *v }), ..Default::default() })
        .collect()
}

pub(super) fn resources_from_docker(r: &d::ResourceRequirements) -> Result<m::ResourceRequirements, ApiError> {
    let pids_limit = r.limits.as_ref().map_or(0, |l| l.pids);
    if pids_limit < 0 {
        return Err(ApiError::BadRequest(format!("TaskTemplate.Resources.Limits.Pids {pids_limit}: give 0 (no limit) or more")));
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
    Ok(m::ResourceRequirements { limits, reservations, pids_limit })
}

pub(super) fn unsupported(field: &str) -> ApiError {
    ApiError::BadRequest(format!("{field} is not supported by Shoal yet: leave it out of the spec"))
}

/// A file's owner and mode as dockerd shows them (`0`, `0`, 0444 when not set).
fn file_to_docker(name: &str, f: &m::FileOwner) -> d::SecretFile {
    d::SecretFile { name: name.to_string(), uid: f.uid().to_string(), gid: f.gid().to_string(), mode: f.mode() }
}

/// A file's owner and mode as the model keeps them: the defaults (0, 0, 0444; the docker CLI
/// sends them spelled out) are left unset.
fn file_from_docker(f: &d::SecretFile) -> m::FileOwner {
    let id = |v: &str| if v == "0" { String::new() } else { v.to_string() };
    m::FileOwner {
        uid: id(&f.uid),
        gid: id(&f.gid),
        mode: Some(f.mode).filter(|m| ![0, m::FileOwner::DEFAULT_MODE].contains(m)),
    }
}

pub(super) fn container_to_docker(c: &m::ContainerSpec) -> d::ContainerSpec {
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
            .map(|x| d::Mount {
                kind: x.kind.as_str().into(),
                source: x.source.clone(),
                target: x.target.clone(),
                read_only: x.read_only,
                volume_options: x.volume.as_ref().map(|v| d::VolumeOptions {
                    no_copy: v.no_copy,
                    labels: v.labels.clone(),
                    driver_config: v.driver.as_ref().map(driver_to_docker),
                    subpath: String::new(),
                }),
                ..Default::default()
            })
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
                file: Some(file_to_docker(if r.target.is_empty() { &r.secret_name } else { &r.target }, &r.file)),
                secret_id: r.secret_id.clone(),
                secret_name: r.secret_name.clone(),
            })
            .collect(),
        configs: c
            .configs
            .iter()
            .map(|r| d::ConfigReference {
                file: Some(file_to_docker(if r.target.is_empty() { &r.config_name } else { &r.target }, &r.file)),
                runtime: None,
                config_id: r.config_id.clone(),
                config_name: r.config_name.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

pub(super) fn container_from_docker(c: &d::ContainerSpec) -> Result<m::ContainerSpec, ApiError> {
    // Fields the model does not hold yet: refused by name when set to anything but the zero
    // value the docker CLI sends by default.
    let p = "TaskTemplate.ContainerSpec";
    // Init is not listed: Shoal always runs an init as PID 1 (a task must stop on SIGTERM).
    let unset: [(&str, bool); 3] = [
        ("Privileges", c.privileges.as_ref().is_none_or(is_empty_value)),
        ("OpenStdin", !c.open_stdin),
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
        if s.secret_name.is_empty() && s.secret_id.is_empty() {
            return Err(ApiError::BadRequest(format!("{p}.Secrets[]: give SecretName or SecretID")));
        }
        let target = file.name.strip_prefix("/run/secrets/").unwrap_or(&file.name).to_string();
        secrets.push(m::SecretReference { secret_id: s.secret_id.clone(), secret_name: s.secret_name.clone(), target, file: file_from_docker(&file) });
    }
    let mut configs = Vec::with_capacity(c.configs.len());
    for r in &c.configs {
        if r.runtime.is_some() {
            return Err(unsupported(&format!("{p}.Configs[].Runtime (credential specs)")));
        }
        let Some(file) = &r.file else {
            return Err(ApiError::BadRequest(format!("{p}.Configs[]: give File (the path in the container)")));
        };
        if r.config_name.is_empty() && r.config_id.is_empty() {
            return Err(ApiError::BadRequest(format!("{p}.Configs[]: give ConfigName or ConfigID")));
        }
        configs.push(m::ConfigReference {
            config_id: r.config_id.clone(),
            config_name: r.config_name.clone(),
            target: file.name.clone(),
            file: file_from_docker(file),
        });
    }
    let mut mounts = Vec::with_capacity(c.mounts.len());
    for x in &c.mounts {
        let kind = m::MountKind::parse(&x.kind)
            .ok_or_else(|| ApiError::BadRequest(format!("{p}.Mounts[].Type {:?}: use bind, volume or tmpfs", x.kind)))?;
        let options_set = [&x.bind_options, &x.tmpfs_options].iter().any(|o| o.as_ref().is_some_and(|v| !is_empty_value(v)));
        if options_set || !["", "default", "consistent"].contains(&x.consistency.as_str()) {
            return Err(unsupported(&format!("{p}.Mounts[] BindOptions, TmpfsOptions and Consistency")));
        }
        let volume = match &x.volume_options {
            Some(v) if !v.subpath.is_empty() => return Err(unsupported(&format!("{p}.Mounts[].VolumeOptions.Subpath"))),
            Some(v) if kind != m::MountKind::Volume && *v != d::VolumeOptions::default() => {
                return Err(ApiError::BadRequest(format!("{p}.Mounts[].VolumeOptions: only a volume mount takes them, not a {} mount", x.kind)));
            }
            Some(v) if *v != d::VolumeOptions::default() => Some(m::VolumeOptions {
                no_copy: v.no_copy,
                labels: v.labels.clone(),
                driver: v.driver_config.as_ref().filter(|d| !d.name.is_empty() || !d.options.is_empty()).map(driver_from_docker),
            }),
            _ => None,
        };
        mounts.push(m::Mount { kind, source: x.source.clone(), target: x.target.clone(), read_only: x.read_only, volume });
    }
    let dns = c.dns_config.clone().unwrap_or_default();
    Ok(m::ContainerSpec {
        image: c.image.clone(),
        args: c.args.clone(),
        env: c.env.clone(),
        labels: c.labels.clone(),
        secrets,
        configs,
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

pub(super) fn driver_to_docker(x: &m::Driver) -> d::Driver {
    d::Driver { name: x.name.clone(), options: x.options.clone() }
}

pub(super) fn driver_from_docker(x: &d::Driver) -> m::Driver {
    m::Driver { name: x.name.clone(), options: x.options.clone() }
}

pub(super) fn is_empty_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(o) => o.values().all(is_empty_value),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Bool(b) => !b,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Number(n) => n.as_f64() == Some(0.0),
    }
}

pub(super) fn port_to_docker(p: &m::PortConfig) -> d::PortConfig {
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

pub(super) fn port_from_docker(p: &d::PortConfig) -> Result<m::PortConfig, ApiError> {
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

pub(super) fn task_spec_to_docker(t: &m::TaskSpec) -> d::TaskSpec {
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
        networks: t
            .networks
            .iter()
            .map(|n| d::NetworkAttachmentConfig { target: n.target.clone(), aliases: n.aliases.clone(), ..Default::default() })
            .collect(),
        force_update: t.force_update,
        runtime: "container".into(),
        log_driver: t.log_driver.as_ref().map(driver_to_docker),
        ..Default::default()
    }
}

pub(super) fn task_spec_from_docker(t: &d::TaskSpec, legacy_networks: &[d::NetworkAttachmentConfig]) -> Result<m::TaskSpec, ApiError> {
    if t.plugin_spec.is_some() || t.network_attachment_spec.is_some() || !["", "container"].contains(&t.runtime.as_str()) {
        return Err(ApiError::BadRequest("TaskTemplate: Shoal runs containers only (Runtime \"container\" with a ContainerSpec)".into()));
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
        if !n.driver_opts.is_empty() {
            return Err(unsupported("TaskTemplate.Networks[].DriverOpts"));
        }
        networks.push(m::NetworkAttachmentConfig { target: n.target.clone(), aliases: n.aliases.clone() });
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
        // Options without a name apply to the engine's default driver.
        log_driver: t.log_driver.as_ref().filter(|l| !l.name.is_empty() || !l.options.is_empty()).map(driver_from_docker),
    })
}

/// Docker's spec has no place for Shoal's `--rebalance auto`: it travels as this service label
/// (as a stack's namespace does), so the docker CLI's read-modify-write keeps it, and
/// `docker service create --label com.shoal.rebalance=auto` sets it.
pub const REBALANCE_LABEL: &str = "com.shoal.rebalance";
/// Shoal's `--autoscale` travels the same way: `com.shoal.autoscale=min=2,max=10,target-cpu=70%`.
pub const AUTOSCALE_LABEL: &str = "com.shoal.autoscale";

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
    let mut labels = s.annotations.labels.clone();
    if s.rebalance == m::RebalanceMode::Auto {
        labels.insert(REBALANCE_LABEL.into(), "auto".into());
    }
    if let Some(a) = &s.autoscale {
        labels.insert(AUTOSCALE_LABEL.into(), a.to_string());
    }
    d::ServiceSpec {
        name: s.annotations.name.clone(),
        labels,
        task_template: task_spec_to_docker(&s.task),
        mode: Some(mode),
        update_config: s.update.as_ref().map(update_config_to_docker),
        rollback_config: s.rollback.as_ref().map(update_config_to_docker),
        networks: vec![],
        endpoint_spec: Some(d::EndpointSpec {
            mode: s.endpoint.as_ref().map_or(m::EndpointMode::Vip, |e| e.mode).as_str().into(),
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
            let mode = match e.mode.as_str() {
                "" | "vip" => m::EndpointMode::Vip,
                "dnsrr" => m::EndpointMode::Dnsrr,
                other => return Err(ApiError::BadRequest(format!("EndpointSpec.Mode {other:?}: use vip or dnsrr"))),
            };
            let ports = e.ports.iter().map(port_from_docker).collect::<Result<Vec<_>, _>>()?;
            (!ports.is_empty() || !mode.is_vip()).then_some(m::EndpointSpec { mode, ports })
        }
    };
    let mut labels = s.labels.clone();
    let rebalance = match labels.remove(REBALANCE_LABEL).as_deref() {
        None | Some("off") => m::RebalanceMode::Off,
        Some("auto") => m::RebalanceMode::Auto,
        Some(v) => return Err(ApiError::BadRequest(format!("label {REBALANCE_LABEL}={v:?}: use auto or off"))),
    };
    let autoscale = match labels.remove(AUTOSCALE_LABEL).as_deref() {
        None | Some("off") => None,
        Some(v) => Some(m::Autoscale::parse(v).map_err(|e| ApiError::BadRequest(format!("label {AUTOSCALE_LABEL}: {e}")))?),
    };
    Ok(m::ServiceSpec {
        annotations: m::Annotations { name: s.name.clone(), labels },
        task: task_spec_from_docker(&s.task_template, &s.networks)?,
        mode,
        update: s.update_config.as_ref().map(|c| update_config_from_docker("UpdateConfig", c)).transpose()?,
        rollback: s.rollback_config.as_ref().map(|c| update_config_from_docker("RollbackConfig", c)).transpose()?,
        endpoint,
        rebalance,
        autoscale,
    })
}

//! The `deploy:` section of a compose service (mode, replicas, resources, restart policy,
//! update and rollback configs, placement, endpoint mode and ports) and its `healthcheck:`, as
//! the Engine API's types the docker CLI fills (convert.rs builds the rest of the service).
//! Errors name the key (`(key, why)`); convert.rs adds the file and the service.

use super::compose::*;
use super::values::{duration_ns, float, int, port_number, short_ports, uint};
use crate::engine_api::types as d;

pub(super) fn healthcheck(h: &HealthcheckConfig) -> Result<d::HealthConfig, (&'static str, String)> {
    if h.disable == Some(true) {
        if h.test.is_some() {
            return Err(("disable", "test and disable can't be set at the same time".into()));
        }
        return Ok(d::HealthConfig { test: vec!["NONE".into()], ..Default::default() });
    }
    let dur = |k: &'static str, v: &Option<String>| v.as_deref().map(|s| duration_ns(s).map_err(|e| (k, e))).transpose().map(Option::unwrap_or_default);
    Ok(d::HealthConfig {
        test: match &h.test {
            None => vec![],
            Some(StringOrList::One(s)) => vec!["CMD-SHELL".into(), s.clone()],
            Some(StringOrList::List(l)) => l.clone(),
        },
        interval: dur("interval", &h.interval)?,
        timeout: dur("timeout", &h.timeout)?,
        start_period: dur("start_period", &h.start_period)?,
        start_interval: dur("start_interval", &h.start_interval)?,
        retries: h.retries.as_ref().map(|r| uint(r).map_err(|e| ("retries", e))).transpose()?.unwrap_or(0),
    })
}

pub(super) fn restart_policy(deploy: &DeployConfig, legacy: Option<&str>) -> Result<Option<d::RestartPolicy>, (String, String)> {
    let key = |k: &str| format!("deploy.restart_policy.{k}");
    if let Some(r) = &deploy.restart_policy {
        let dur = |k: &str, v: &Option<String>| v.as_deref().map(|s| duration_ns(s).map_err(|e| (key(k), e))).transpose();
        return Ok(Some(d::RestartPolicy {
            condition: r.condition.clone().unwrap_or_default(),
            delay: dur("delay", &r.delay)?,
            max_attempts: r.max_attempts.as_ref().map(|n| uint(n).map_err(|e| (key("max_attempts"), e))).transpose()?,
            window: dur("window", &r.window)?,
        }));
    }
    // The legacy `restart:` key (docker reads it though it warns that it ignores it).
    let Some(legacy) = legacy.filter(|l| !l.is_empty()) else { return Ok(None) };
    let (policy, count) = match legacy.split_once(':') {
        Some((p, n)) => (p, Some(n.parse::<u64>().map_err(|_| ("restart".to_string(), format!("{legacy:?}: the retry count must be a non-negative integer")))?)),
        None => (legacy, None),
    };
    let condition = match policy {
        "no" => return Ok(None),
        "always" | "unless-stopped" => "any",
        "on-failure" => "on-failure",
        other => return Err(("restart".into(), format!("invalid restart policy: unknown policy '{other}' (must be one of 'no', 'always', 'on-failure', or 'unless-stopped')"))),
    };
    Ok(Some(d::RestartPolicy { condition: condition.into(), max_attempts: count.filter(|n| *n > 0), ..Default::default() }))
}

pub(super) fn update_config(u: &UpdateConfig) -> Result<d::UpdateConfig, (&'static str, String)> {
    let dur = |k: &'static str, v: &Option<String>| v.as_deref().map(|s| duration_ns(s).map_err(|e| (k, e))).transpose().map(Option::unwrap_or_default);
    Ok(d::UpdateConfig {
        parallelism: u.parallelism.as_ref().map(|p| uint(p).map_err(|e| ("parallelism", e))).transpose()?.unwrap_or(1),
        delay: dur("delay", &u.delay)?,
        failure_action: u.failure_action.clone().unwrap_or_default(),
        monitor: dur("monitor", &u.monitor)?,
        max_failure_ratio: u.max_failure_ratio.as_ref().map(|r| float(r).map_err(|e| ("max_failure_ratio", e))).transpose()?.unwrap_or(0.0) as f32,
        order: u.order.clone().unwrap_or_default(),
    })
}

pub(super) fn resources(r: &ResourcesConfig) -> Result<d::ResourceRequirements, (String, String)> {
    let cpus = |k: &str, c: &Option<Scalar>| c.as_ref().map(|c| crate::cli::parse_cpus(&c.text()).map_err(|e| (format!("{k}.cpus"), e))).transpose().map(Option::unwrap_or_default);
    let memory = |k: &str, c: &Option<Scalar>| {
        c.as_ref()
            .map(|c| match c {
                Scalar::Int(n) if *n >= 0 => Ok(*n),
                other => crate::cli::parse_bytes(&other.text()).map_err(|e| (format!("{k}.memory"), e)),
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let limits = match &r.limits {
        None => None,
        Some(l) => Some(d::Limit {
            nano_cpus: cpus("limits", &l.cpus)?,
            memory_bytes: memory("limits", &l.memory)?,
            pids: l.pids.as_ref().map(|p| int(p).map_err(|e| ("limits.pids".to_string(), e))).transpose()?.unwrap_or(0),
        }),
    };
    let reservations = match &r.reservations {
        None => None,
        Some(x) => Some(d::Resources {
            nano_cpus: cpus("reservations", &x.cpus)?,
            memory_bytes: memory("reservations", &x.memory)?,
            generic_resources: x
                .generic_resources
                .iter()
                .map(|g| {
                    Ok(d::GenericResource {
                        discrete_resource_spec: match &g.discrete_resource_spec {
                            None => None,
                            Some(s) => Some(d::DiscreteGenericResource {
                                kind: s.kind.clone(),
                                value: int(&s.value).map_err(|e| ("reservations.generic_resources".to_string(), e))?,
                            }),
                        },
                        named_resource_spec: None,
                    })
                })
                .collect::<Result<_, (String, String)>>()?,
        }),
    };
    Ok(d::ResourceRequirements { limits, reservations })
}

pub(super) fn placement(deploy: &DeployConfig) -> Result<d::Placement, String> {
    let p = deploy.placement.clone().unwrap_or_default();
    Ok(d::Placement {
        constraints: p.constraints.clone(),
        preferences: p.preferences.iter().map(|x| d::PlacementPreference { spread: Some(d::SpreadOver { spread_descriptor: x.spread.clone() }) }).collect(),
        max_replicas: p.max_replicas_per_node.as_ref().map(uint).transpose()?.unwrap_or(0),
        platforms: vec![],
    })
}

pub(super) fn mode(deploy: &DeployConfig) -> Result<d::ServiceMode, (String, String)> {
    let replicas = deploy.replicas.as_ref().map(|r| uint(r).map_err(|e| ("deploy.replicas".to_string(), e))).transpose()?;
    let no_replicas = |m: &str| {
        if replicas.is_some() {
            Err(("deploy.replicas".to_string(), format!("replicas can only be used with replicated or replicated-job mode, not {m}")))
        } else {
            Ok(())
        }
    };
    Ok(match deploy.mode.as_deref().unwrap_or("") {
        "global" => {
            no_replicas("global")?;
            d::ServiceMode { global: Some(d::Empty {}), ..Default::default() }
        }
        "global-job" => {
            no_replicas("global-job")?;
            d::ServiceMode { global_job: Some(d::Empty {}), ..Default::default() }
        }
        "replicated-job" => d::ServiceMode { replicated_job: Some(d::ReplicatedJob { max_concurrent: replicas, total_completions: replicas }), ..Default::default() },
        "replicated" | "" => d::ServiceMode { replicated: Some(d::ReplicatedService { replicas }), ..Default::default() },
        other => return Err(("deploy.mode".into(), format!("unknown mode: {other} (use replicated, global, replicated-job or global-job)"))),
    })
}

pub(super) fn endpoint(deploy: &DeployConfig, ports: &[PortEntry]) -> Result<d::EndpointSpec, String> {
    let mut out = Vec::new();
    for p in ports {
        match p {
            PortEntry::Short(s) => out.extend(short_ports(&s.text())?),
            PortEntry::Long(l) => out.push(d::PortConfig {
                name: String::new(),
                protocol: l.protocol.clone().unwrap_or_default(),
                target_port: port_number(&l.target)?,
                published_port: l.published.as_ref().map(port_number).transpose()?.unwrap_or(0),
                publish_mode: l.mode.clone().unwrap_or_default(),
            }),
        }
    }
    // docker's order: published, target, protocol, mode.
    out.sort_by(|a, b| (a.published_port, a.target_port, &a.protocol, &a.publish_mode).cmp(&(b.published_port, b.target_port, &b.protocol, &b.publish_mode)));
    Ok(d::EndpointSpec { mode: deploy.endpoint_mode.clone().unwrap_or_default().to_lowercase(), ports: out })
}

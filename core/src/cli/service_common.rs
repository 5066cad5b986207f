//! The flags `service create` and `service update` share (resources, restart policy, update
//! and rollback configs, healthcheck, rebalance, autoscale…) and how they apply to a
//! [`ServiceSpec`]. Pure: values are parsed and checked here; the control API validates the
//! resulting spec as a whole.

use crate::model::{EndpointSpec, FailureAction, HealthConfig, Resources, RestartCondition, ServiceSpec, UpdateConfig, UpdateOrder};
use super::values::{parse_bytes, parse_cpus, parse_duration_ms};
use clap::Args;

/// Flags shared by create and update (resources, restart policy, update config).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct CommonFlags {
    /// Endpoint mode (vip or dnsrr)
    #[arg(long = "endpoint-mode", value_parser = ["vip", "dnsrr"])]
    pub endpoint_mode: Option<String>,
    /// Move tasks back toward an even spread when a node joins or comes back ("auto"), or
    /// only on `service rebalance` ("off", the default)
    #[arg(long, value_parser = ["auto", "off"])]
    pub rebalance: Option<String>,
    /// Let the leader move the replicas between bounds following the tasks' CPU, e.g.
    /// min=2,max=10,target-cpu=70% (optional: cooldown=60s); "off" stops it
    #[arg(long)]
    pub autoscale: Option<String>,
    /// Reserve CPUs, e.g. 0.5
    #[arg(long)]
    pub reserve_cpu: Option<String>,
    /// Reserve memory, e.g. 512M
    #[arg(long)]
    pub reserve_memory: Option<String>,
    /// Limit CPUs
    #[arg(long)]
    pub limit_cpu: Option<String>,
    /// Limit memory
    #[arg(long)]
    pub limit_memory: Option<String>,
    /// Limit maximum number of processes (0 = unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub limit_pids: Option<i64>,
    /// Maximum number of tasks per node (0 = unlimited)
    #[arg(long, allow_negative_numbers = true)]
    pub replicas_max_per_node: Option<u64>,
    /// Restart when condition is met ("none", "on-failure", "any")
    #[arg(long)]
    pub restart_condition: Option<String>,
    /// Delay between restart attempts (ns|us|ms|s|m|h)
    #[arg(long)]
    pub restart_delay: Option<String>,
    /// Maximum number of restarts before giving up
    #[arg(long, allow_negative_numbers = true)]
    pub restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy
    #[arg(long)]
    pub restart_window: Option<String>,
    /// Maximum number of tasks updated simultaneously (0 to update all at once)
    #[arg(long, allow_negative_numbers = true)]
    pub update_parallelism: Option<u64>,
    /// Delay between updates
    #[arg(long)]
    pub update_delay: Option<String>,
    /// Action on update failure ("pause", "continue", "rollback")
    #[arg(long)]
    pub update_failure_action: Option<String>,
    /// Duration after each task update to monitor for failure
    #[arg(long)]
    pub update_monitor: Option<String>,
    /// Failure rate to tolerate during an update
    #[arg(long)]
    pub update_max_failure_ratio: Option<String>,
    /// Update order ("start-first", "stop-first")
    #[arg(long)]
    pub update_order: Option<String>,
    /// Maximum number of tasks rolled back simultaneously (0 to roll back all at once)
    #[arg(long, allow_negative_numbers = true)]
    pub rollback_parallelism: Option<u64>,
    /// Delay between task rollbacks
    #[arg(long)]
    pub rollback_delay: Option<String>,
    /// Action on rollback failure ("pause", "continue")
    #[arg(long)]
    pub rollback_failure_action: Option<String>,
    /// Duration after each task rollback to monitor for failure
    #[arg(long)]
    pub rollback_monitor: Option<String>,
    /// Failure rate to tolerate during a rollback
    #[arg(long)]
    pub rollback_max_failure_ratio: Option<String>,
    /// Rollback order ("start-first", "stop-first")
    #[arg(long)]
    pub rollback_order: Option<String>,
    /// Command to run to check health
    #[arg(long)]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long)]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long, allow_negative_numbers = true)]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before counting retries towards unstable
    #[arg(long)]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)
    #[arg(long)]
    pub stop_grace_period: Option<String>,
}

/// One of the two update-config flag groups (`--update-*`, `--rollback-*`).
struct UpdateFlags<'a> {
    prefix: &'static str,
    parallelism: Option<u64>,
    delay: &'a Option<String>,
    failure_action: &'a Option<String>,
    monitor: &'a Option<String>,
    max_failure_ratio: &'a Option<String>,
    order: &'a Option<String>,
}

impl UpdateFlags<'_> {
    /// Applies the flags given to `target` (created with swarm's defaults if any is given).
    fn apply(&self, target: &mut Option<UpdateConfig>) -> Result<(), String> {
        let p = self.prefix;
        let touched = self.parallelism.is_some()
            || self.delay.is_some()
            || self.failure_action.is_some()
            || self.monitor.is_some()
            || self.max_failure_ratio.is_some()
            || self.order.is_some();
        if !touched {
            return Ok(());
        }
        let u = target.get_or_insert_with(UpdateConfig::default);
        if let Some(v) = self.parallelism {
            u.parallelism = v;
        }
        if let Some(v) = self.delay {
            u.delay_ms = parse_duration_ms(&format!("{p}-delay"), v)?;
        }
        if let Some(v) = self.monitor {
            u.monitor_ms = parse_duration_ms(&format!("{p}-monitor"), v)?;
        }
        if let Some(v) = self.failure_action {
            u.failure_action = match v.as_str() {
                "pause" => FailureAction::Pause,
                "continue" => FailureAction::Continue,
                "rollback" if p == "update" => FailureAction::Rollback,
                "rollback" => {
                    return Err(format!("invalid --{p}-failure-action \"rollback\": a rollback is never rolled back; use pause or continue"))
                }
                _ if p == "update" => return Err(format!("invalid --{p}-failure-action {v:?}: use pause, continue or rollback")),
                _ => return Err(format!("invalid --{p}-failure-action {v:?}: use pause or continue")),
            };
        }
        if let Some(v) = self.max_failure_ratio {
            u.max_failure_ratio = v
                .parse::<f32>()
                .ok()
                .filter(|x| (0.0..=1.0).contains(x))
                .ok_or_else(|| format!("invalid --{p}-max-failure-ratio {v:?}: use a number in [0, 1]"))?;
        }
        if let Some(v) = self.order {
            u.order = match v.as_str() {
                "stop-first" => UpdateOrder::StopFirst,
                "start-first" => UpdateOrder::StartFirst,
                _ => return Err(format!("invalid --{p}-order {v:?}: use stop-first or start-first")),
            };
        }
        Ok(())
    }
}

pub(super) fn apply_common(spec: &mut ServiceSpec, c: &CommonFlags) -> Result<(), String> {
    match c.rebalance.as_deref() {
        Some("auto") => spec.rebalance = crate::model::RebalanceMode::Auto,
        Some(_) => spec.rebalance = crate::model::RebalanceMode::Off,
        None => {}
    }
    match c.autoscale.as_deref() {
        Some("off") => spec.autoscale = None,
        Some(v) => spec.autoscale = Some(crate::model::Autoscale::parse(v).map_err(|e| e.to_string())?),
        None => {}
    }
    match c.endpoint_mode.as_deref() {
        Some("dnsrr") => spec.endpoint.get_or_insert_with(EndpointSpec::default).mode = crate::model::EndpointMode::Dnsrr,
        Some(_) => {
            if let Some(e) = spec.endpoint.as_mut() {
                e.mode = crate::model::EndpointMode::Vip;
            }
        }
        None => {}
    }
    if spec.endpoint.as_ref().is_some_and(|e| e.ports.is_empty() && e.mode.is_vip()) {
        spec.endpoint = None;
    }
    if let Some(v) = &c.stop_grace_period {
        spec.task.container.stop_grace_period_ms = Some(parse_duration_ms("stop-grace-period", v)?);
    }
    let health_given = c.health_cmd.is_some()
        || c.health_interval.is_some()
        || c.health_timeout.is_some()
        || c.health_retries.is_some()
        || c.health_start_period.is_some();
    if c.no_healthcheck && health_given {
        return Err("--no-healthcheck conflicts with --health-* options: give one or the other".into());
    }
    if c.no_healthcheck {
        spec.task.container.no_healthcheck = true;
        spec.task.container.healthcheck = None;
    }
    if health_given {
        spec.task.container.no_healthcheck = false;
        let h = spec.task.container.healthcheck.get_or_insert_with(HealthConfig::default);
        if let Some(cmd) = &c.health_cmd {
            h.test = vec!["CMD-SHELL".into(), cmd.clone()];
        }
        if let Some(v) = &c.health_interval {
            h.interval_ms = parse_duration_ms("health-interval", v)?.max(1);
        }
        if let Some(v) = &c.health_timeout {
            h.timeout_ms = parse_duration_ms("health-timeout", v)?.max(1);
        }
        if let Some(v) = c.health_retries {
            h.retries = v;
        }
        if let Some(v) = &c.health_start_period {
            h.start_period_ms = parse_duration_ms("health-start-period", v)?;
        }
    }
    let res = &mut spec.task.resources;
    if let Some(v) = &c.reserve_cpu {
        res.reservations.get_or_insert_with(Resources::default).nano_cpus = parse_cpus(v)?;
    }
    if let Some(v) = &c.reserve_memory {
        res.reservations.get_or_insert_with(Resources::default).memory_bytes = parse_bytes(v)?;
    }
    if let Some(v) = &c.limit_cpu {
        res.limits.get_or_insert_with(Resources::default).nano_cpus = parse_cpus(v)?;
    }
    if let Some(v) = &c.limit_memory {
        res.limits.get_or_insert_with(Resources::default).memory_bytes = parse_bytes(v)?;
    }
    if let Some(v) = c.limit_pids {
        if v < 0 {
            return Err(format!("invalid --limit-pids {v}: give 0 (no limit) or more"));
        }
        res.pids_limit = v;
    }
    if let Some(v) = c.replicas_max_per_node {
        spec.task.placement.max_replicas = v;
    }
    let r = &mut spec.task.restart;
    if let Some(v) = &c.restart_condition {
        r.condition = match v.as_str() {
            "none" => RestartCondition::None,
            "on-failure" => RestartCondition::OnFailure,
            "any" => RestartCondition::Any,
            _ => return Err(format!("invalid --restart-condition {v:?}: use none, on-failure or any")),
        };
    }
    if let Some(v) = &c.restart_delay {
        r.delay_ms = parse_duration_ms("restart-delay", v)?;
    }
    if let Some(v) = c.restart_max_attempts {
        r.max_attempts = v;
    }
    if let Some(v) = &c.restart_window {
        r.window_ms = parse_duration_ms("restart-window", v)?;
    }
    UpdateFlags {
        prefix: "update",
        parallelism: c.update_parallelism,
        delay: &c.update_delay,
        failure_action: &c.update_failure_action,
        monitor: &c.update_monitor,
        max_failure_ratio: &c.update_max_failure_ratio,
        order: &c.update_order,
    }
    .apply(&mut spec.update)?;
    UpdateFlags {
        prefix: "rollback",
        parallelism: c.rollback_parallelism,
        delay: &c.rollback_delay,
        failure_action: &c.rollback_failure_action,
        monitor: &c.rollback_monitor,
        max_failure_ratio: &c.rollback_max_failure_ratio,
        order: &c.rollback_order,
    }
    .apply(&mut spec.rollback)?;
    Ok(())
}

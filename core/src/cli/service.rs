//! `service create|update|scale|rm` flags (docker's names) and their translation into a
//! [`ServiceSpec`]. Pure: parsing and validation of values only; the control API validates the
//! resulting spec as a whole.

use crate::model::{
    EndpointSpec, FailureAction, HealthConfig, Resources, RestartCondition, ServiceMode,
    ServiceSpec, UpdateConfig, UpdateOrder,
};
use super::reference::{parse_config, parse_network, parse_secret};
use super::values::{parse_bytes, parse_cpus, parse_duration_ms, parse_port};
use super::ServiceLogs;
use clap::{Args, Subcommand};

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ServiceCommand {
    /// Create a new service.
    Create(ServiceCreate),
    /// Update a service.
    Update(ServiceUpdate),
    /// Scale one or multiple replicated services (NAME=REPLICAS ...).
    Scale {
        /// Exit immediately instead of waiting for the services to converge
        #[arg(long, short = 'd')]
        detach: bool,
        #[command(flatten)]
        plan: super::PlanFlags,
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Remove one or more services.
    #[command(alias = "remove")]
    Rm {
        #[command(flatten)]
        plan: super::PlanFlags,
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Revert changes to a service's configuration.
    Rollback {
        /// Exit immediately instead of waiting for the service to converge
        #[arg(long, short = 'd')]
        detach: bool,
        #[command(flatten)]
        plan: super::PlanFlags,
        service: String,
    },
    /// Move running tasks toward the spread the scheduler would choose now (after a node
    /// joined or came back), as a rolling change under each service's update config (Shoal's).
    Rebalance {
        /// Every replicated service that is not being updated
        #[arg(long, conflicts_with = "services")]
        all: bool,
        /// Exit immediately instead of waiting for the services to converge
        #[arg(long, short = 'd')]
        detach: bool,
        #[command(flatten)]
        plan: super::PlanFlags,
        services: Vec<String>,
    },
    /// Fetch the logs of a service or task.
    Logs(ServiceLogs),
}


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

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServiceCreate {
    /// Service name
    #[arg(long)]
    pub name: String,
    /// Number of tasks
    #[arg(long, allow_negative_numbers = true)]
    pub replicas: Option<u64>,
    /// Service mode ("replicated", "global", "replicated-job", "global-job")
    #[arg(long, default_value = "replicated")]
    pub mode: String,
    /// Maximum number of job tasks running at once (replicated-job)
    #[arg(long, allow_negative_numbers = true)]
    pub max_concurrent: Option<u64>,
    /// Placement constraints, e.g. node.labels.zone==east
    #[arg(long = "constraint")]
    pub constraints: Vec<String>,
    /// Placement preferences, e.g. spread=node.labels.zone
    #[arg(long = "placement-pref")]
    pub placement_prefs: Vec<String>,
    /// Publish a port as a node port: [published:]target[/proto] or mode=host,target=80,published=8080
    #[arg(long = "publish", short = 'p')]
    pub publish: Vec<String>,
    /// Set environment variables
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Specify secrets to expose to the service: NAME or source=NAME,target=FILE[,uid=,gid=,mode=]
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// Specify configurations to expose to the service: NAME or source=NAME,target=/PATH[,uid=,gid=,mode=]
    #[arg(long = "config")]
    pub configs: Vec<String>,
    /// Network attachments: NAME or name=NAME,alias=ALIAS
    #[arg(long = "network")]
    pub networks: Vec<String>,
    /// Service labels
    #[arg(long = "label", short = 'l')]
    pub labels: Vec<String>,
    #[command(flatten)]
    pub common: CommonFlags,
    #[command(flatten)]
    pub container: super::ContainerFlags,
    #[command(flatten)]
    pub container_lists: super::ContainerListFlags,
    /// Exit immediately instead of waiting for the service to converge
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[command(flatten)]
    pub plan: super::PlanFlags,
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ServiceUpdate {
    /// Service image tag
    #[arg(long)]
    pub image: Option<String>,
    /// Number of tasks
    #[arg(long, allow_negative_numbers = true)]
    pub replicas: Option<u64>,
    /// Service command args (replaces them), as one string split on spaces
    #[arg(long, allow_hyphen_values = true)]
    pub args: Option<String>,
    #[arg(long = "constraint-add")]
    pub constraint_add: Vec<String>,
    #[arg(long = "constraint-rm")]
    pub constraint_rm: Vec<String>,
    #[arg(long = "placement-pref-add")]
    pub placement_pref_add: Vec<String>,
    #[arg(long = "placement-pref-rm")]
    pub placement_pref_rm: Vec<String>,
    #[arg(long = "env-add")]
    pub env_add: Vec<String>,
    #[arg(long = "env-rm")]
    pub env_rm: Vec<String>,
    #[arg(long = "publish-add")]
    pub publish_add: Vec<String>,
    /// Remove a published port by its target port: TARGET[/PROTOCOL]
    #[arg(long = "publish-rm")]
    pub publish_rm: Vec<String>,
    /// Add or update a service label (key=value)
    #[arg(long = "label-add")]
    pub label_add: Vec<String>,
    /// Remove a service label by its key
    #[arg(long = "label-rm")]
    pub label_rm: Vec<String>,
    /// Roll back to the previous specification (docker's `service update --rollback`)
    #[arg(long)]
    pub rollback: bool,
    /// Add or update a secret on a service: NAME or source=NAME,target=FILE[,uid=,gid=,mode=]
    #[arg(long = "secret-add")]
    pub secret_add: Vec<String>,
    /// Remove a secret (by name)
    #[arg(long = "secret-rm")]
    pub secret_rm: Vec<String>,
    /// Add or update a config file on a service: NAME or source=NAME,target=/PATH[,uid=,gid=,mode=]
    #[arg(long = "config-add")]
    pub config_add: Vec<String>,
    /// Remove a configuration file (by name)
    #[arg(long = "config-rm")]
    pub config_rm: Vec<String>,
    /// Add a network: NAME or name=NAME,alias=ALIAS
    #[arg(long = "network-add")]
    pub network_add: Vec<String>,
    /// Remove a network (by name or id)
    #[arg(long = "network-rm")]
    pub network_rm: Vec<String>,
    #[command(flatten)]
    pub common: CommonFlags,
    #[command(flatten)]
    pub container: super::ContainerFlags,
    #[command(flatten)]
    pub container_lists: super::ContainerListUpdateFlags,
    /// Force update even if no changes require it
    #[arg(long)]
    pub force: bool,
    /// Exit immediately instead of waiting for the service to converge
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[command(flatten)]
    pub plan: super::PlanFlags,
    pub service: String,
}

fn apply_common(spec: &mut ServiceSpec, c: &CommonFlags) -> Result<(), String> {
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

pub(crate) fn kv(flag: &str, s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ if !s.is_empty() && !s.contains('=') => Ok((s.to_string(), String::new())),
        _ => Err(format!("invalid --{flag} {s:?}: write key=value")),
    }
}

impl ServiceCreate {
    pub fn to_spec(&self) -> Result<ServiceSpec, String> {
        let mut spec = ServiceSpec::default();
        spec.annotations.name = self.name.clone();
        for l in &self.labels {
            let (k, v) = kv("label", l)?;
            spec.annotations.labels.insert(k, v);
        }
        spec.task.container.image = self.image.clone();
        spec.task.container.args = self.args.clone();
        spec.task.container.env = self.env.clone();
        spec.task.container.secrets = self.secrets.iter().map(|s| parse_secret(s)).collect::<Result<_, _>>()?;
        spec.task.container.configs = self.configs.iter().map(|s| parse_config(s)).collect::<Result<_, _>>()?;
        spec.task.networks = self.networks.iter().map(|s| parse_network(s)).collect::<Result<_, _>>()?;
        spec.task.placement.constraints = self.constraints.clone();
        spec.task.placement.preferences = self.placement_prefs.clone();
        spec.mode = match self.mode.as_str() {
            "replicated" => ServiceMode::Replicated { replicas: self.replicas.unwrap_or(1) },
            "global" => ServiceMode::Global,
            "replicated-job" => ServiceMode::ReplicatedJob {
                max_concurrent: self.max_concurrent.unwrap_or(1),
                total_completions: self.replicas.unwrap_or(1),
            },
            "global-job" => ServiceMode::GlobalJob,
            m => return Err(format!("invalid --mode {m:?}: use replicated, global, replicated-job or global-job")),
        };
        if matches!(spec.mode, ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob) {
            // docker's default for jobs: a job that succeeded is not run again.
            spec.task.restart.condition = RestartCondition::OnFailure;
        }
        if self.replicas.is_some() && matches!(spec.mode, ServiceMode::Global | ServiceMode::GlobalJob) {
            return Err("--replicas can only be used with replicated or replicated-job mode".into());
        }
        if !self.publish.is_empty() {
            let ports = self.publish.iter().map(|p| parse_port(p)).collect::<Result<Vec<_>, _>>()?;
            spec.endpoint = Some(EndpointSpec { ports, ..Default::default() });
        }
        apply_common(&mut spec, &self.common)?;
        self.container.apply(&mut spec.task.container);
        self.container_lists.apply(&mut spec.task.container)?;
        Ok(spec)
    }
}

impl ServiceUpdate {
    /// The spec after applying these flags to `cur`.
    pub fn apply(&self, cur: &ServiceSpec) -> Result<ServiceSpec, String> {
        let mut spec = cur.clone();
        if let Some(i) = &self.image {
            spec.task.container.image = i.clone();
        }
        if let Some(r) = self.replicas {
            match &mut spec.mode {
                ServiceMode::Replicated { replicas } => *replicas = r,
                _ => return Err("--replicas can only be used with replicated mode".into()),
            }
        }
        if let Some(a) = &self.args {
            spec.task.container.args = a.split_whitespace().map(str::to_string).collect();
        }
        let p = &mut spec.task.placement;
        p.constraints.retain(|c| !self.constraint_rm.contains(c));
        for c in &self.constraint_add {
            if !p.constraints.contains(c) {
                p.constraints.push(c.clone());
            }
        }
        p.preferences.retain(|c| !self.placement_pref_rm.contains(c));
        p.preferences.extend(self.placement_pref_add.iter().cloned());
        let env = &mut spec.task.container.env;
        env.retain(|e| !self.env_rm.iter().any(|k| e.split('=').next() == Some(k.as_str())));
        for e in &self.env_add {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let secrets = &mut spec.task.container.secrets;
        secrets.retain(|r| !self.secret_rm.contains(&r.secret_name));
        for s in &self.secret_add {
            let r = parse_secret(s)?;
            secrets.retain(|x| x.secret_name != r.secret_name);
            secrets.push(r);
        }
        // A network to remove is named as the operator knows it; the stored target is its id,
        // which the control API resolves the same way (`--network-rm` takes a name or id).
        spec.task.networks.retain(|a| !self.network_rm.contains(&a.target));
        for n in &self.network_add {
            let a = parse_network(n)?;
            spec.task.networks.retain(|x| x.target != a.target);
            spec.task.networks.push(a);
        }
        let configs = &mut spec.task.container.configs;
        configs.retain(|r| !self.config_rm.contains(&r.config_name));
        for s in &self.config_add {
            let r = parse_config(s)?;
            configs.retain(|x| x.config_name != r.config_name || x.path() != r.path());
            configs.push(r);
        }
        if !self.publish_rm.is_empty() {
            let mut gone = Vec::new();
            for r in &self.publish_rm {
                let (port, proto) = r.split_once('/').unwrap_or((r, "tcp"));
                let port: u32 = port.rsplit(':').next().unwrap_or(port).parse().map_err(|_| format!("invalid --publish-rm {r:?}: write TARGET[/PROTOCOL], e.g. 80/tcp"))?;
                gone.push((port, proto.to_string()));
            }
            if let Some(e) = spec.endpoint.as_mut() {
                let proto = |p: &crate::model::PortConfig| if p.protocol.is_empty() { "tcp".to_string() } else { p.protocol.clone() };
                e.ports.retain(|p| !gone.contains(&(p.target_port, proto(p))));
                if e.ports.is_empty() && e.mode.is_vip() {
                    spec.endpoint = None;
                }
            }
        }
        for k in &self.label_rm {
            spec.annotations.labels.remove(k);
        }
        for l in &self.label_add {
            let (k, v) = kv("label-add", l)?;
            spec.annotations.labels.insert(k, v);
        }
        if !self.publish_add.is_empty() {
            let ports = self.publish_add.iter().map(|p| parse_port(p)).collect::<Result<Vec<_>, _>>()?;
            spec.endpoint.get_or_insert_with(EndpointSpec::default).ports.extend(ports);
        }
        apply_common(&mut spec, &self.common)?;
        self.container.apply(&mut spec.task.container);
        self.container_lists.apply(&mut spec.task.container)?;
        if self.force {
            spec.task.force_update += 1;
        }
        Ok(spec)
    }
}

/// `service scale web=5 api=2` pairs.
impl ServiceUpdate {
    /// The control request that applies these flags to `cur`, guarded by the version read
    /// (a concurrent change makes it fail "out of sequence": read again and retry).
    pub fn request(&self, cur: &crate::model::Service) -> Result<crate::proto::control_request::Op, String> {
        if self.rollback {
            if *self != (ServiceUpdate { rollback: true, detach: self.detach, plan: self.plan.clone(), service: self.service.clone(), ..Default::default() }) {
                return Err("--rollback cannot be combined with other changes: roll back first, then update".into());
            }
            return Ok(crate::proto::control_request::Op::RollbackService(crate::proto::ObjectKey { key: cur.id.clone() }));
        }
        let spec = self.apply(&cur.spec)?;
        Ok(crate::proto::control_request::Op::UpdateService(crate::proto::UpdateService {
            service: cur.id.clone(),
            spec: serde_json::to_vec(&spec).expect("spec serialises"),
            version: cur.meta.version,
        }))
    }
}

pub fn parse_scale_pairs(pairs: &[String]) -> Result<Vec<(String, u64)>, String> {
    pairs
        .iter()
        .map(|p| {
            let (name, n) = p.split_once('=').ok_or_else(|| format!("invalid scale specifier {p:?}: write SERVICE=REPLICAS"))?;
            let n: u64 = n.parse().map_err(|_| format!("invalid replicas value {n:?} for {name}: use a whole number ≥ 0"))?;
            Ok((name.to_string(), n))
        })
        .collect()
}

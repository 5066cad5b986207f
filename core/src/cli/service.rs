//! `service create|update|scale|rm` flags (docker's names) and their translation into a
//! [`ServiceSpec`]. Pure: parsing and validation of values only; the control API validates the
//! resulting spec as a whole. The flags create and update share are service_common.rs's.

use crate::model::{EndpointSpec, RestartCondition, ServiceMode, ServiceSpec};
use super::reference::{parse_config, parse_network, parse_secret};
use super::service_common::{apply_common, CommonFlags};
use super::values::parse_port;
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
    /// Read in a file of environment variables (KEY=VALUE lines; --env wins over it)
    #[arg(long = "env-file")]
    pub env_files: Vec<String>,
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

pub(crate) fn kv(flag: &str, s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ if !s.is_empty() && !s.contains('=') => Ok((s.to_string(), String::new())),
        _ => Err(format!("invalid --{flag} {s:?}: write key=value")),
    }
}

/// docker's create rule for repeated variables: a later one of the same name replaces the
/// earlier one and takes its place at the end.
fn dedup_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let key = e.split('=').next().unwrap_or_default();
        out.retain(|c| c.split('=').next().unwrap_or_default() != key);
        out.push(e.clone());
    }
    out
}

impl ServiceCreate {
    /// Reads the `--env-file` files with `read` (the shell's file access) and puts their
    /// variables before `--env`'s, as docker does: a later `--env` of the same name wins. A
    /// bare `KEY` line takes the value `lookup` gives (the CLI's environment), or is dropped.
    pub fn read_env_files(&mut self, read: impl Fn(&str) -> Result<String, String>, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        let mut env = Vec::new();
        for f in std::mem::take(&mut self.env_files) {
            let text = read(&f).map_err(|e| format!("--env-file {f}: {e}"))?;
            let vars = crate::stack::load::parse_env_file(&f, &text, lookup).map_err(|e| format!("--env-file {e}"))?;
            env.extend(vars.into_iter().filter_map(|(k, v)| v.map(|v| format!("{k}={v}"))));
        }
        env.append(&mut self.env);
        self.env = env;
        Ok(())
    }

    pub fn to_spec(&self) -> Result<ServiceSpec, String> {
        if let Some(f) = self.env_files.first() {
            // The shell reads the files first (read_env_files); a spec never names a file.
            return Err(format!("--env-file {f}: the file was not read: give the variables with --env here"));
        }
        let mut spec = ServiceSpec::default();
        spec.annotations.name = self.name.clone();
        for l in &self.labels {
            let (k, v) = kv("label", l)?;
            spec.annotations.labels.insert(k, v);
        }
        spec.task.container.image = self.image.clone();
        spec.task.container.args = self.args.clone();
        spec.task.container.env = dedup_env(&self.env);
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

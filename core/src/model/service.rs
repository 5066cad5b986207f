use super::{Annotations, Meta, Resources};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a task runs: swarmkit's `ContainerSpec` subset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub image: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Secrets the task's container gets as files under /run/secrets (`--secret`).
    #[serde(default)]
    pub secrets: Vec<SecretReference>,
    /// Configs the task's container gets as read-only files (`--config`).
    #[serde(default)]
    pub configs: Vec<ConfigReference>,
    #[serde(default)]
    pub stop_grace_period_ms: Option<u64>,
    /// The task's healthcheck (`--health-*`); None = the image's own, if it has one.
    #[serde(default)]
    pub healthcheck: Option<HealthConfig>,
    /// `--no-healthcheck`: no healthcheck at all, not even the image's.
    #[serde(default)]
    pub no_healthcheck: bool,
    // What follows is docker's ContainerSpec beyond the essentials; each field is skipped
    // when empty, so specs that do not use it encode (and hash) as before.
    /// `--entrypoint`: replaces the image's ENTRYPOINT (docker's `ContainerSpec.Command`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `--hostname`
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `--workdir`
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dir: String,
    /// `--user` (user[:group], names or ids)
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `--group`: supplementary groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `--tty`
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    /// `--read-only`: the root filesystem is read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `--stop-signal` (default: the image's, else SIGTERM).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// `--host host:ip`, kept as swarm keeps them: `IP hostname` (/etc/hosts lines).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `--dns`, `--dns-search`, `--dns-option`.
    #[serde(default, skip_serializing_if = "DnsConfig::is_empty")]
    pub dns: DnsConfig,
    /// `--sysctl key=value`
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// `--cap-add`, `--cap-drop` (e.g. `CAP_NET_ADMIN`, `ALL`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `--ulimit name=soft[:hard]`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly]`
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A container's resolver settings (docker's `DNSConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl DnsConfig {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty() && self.search.is_empty() && self.options.is_empty()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A path of the node's filesystem.
    Bind,
    /// A named volume of the node's engine (anonymous without a source).
    #[default]
    Volume,
    /// A tmpfs of the task's own.
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }

    pub fn parse(s: &str) -> Option<MountKind> {
        [MountKind::Bind, MountKind::Volume, MountKind::Tmpfs].into_iter().find(|k| k.as_str() == s)
    }
}

/// A mount of a task's container (docker's `mount.Mount`, without driver or propagation
/// options). Volumes and binds are the node's own: nothing follows a task to another node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// The host path (bind), the volume's name (volume; empty = anonymous), nothing (tmpfs).
    #[serde(default)]
    pub source: String,
    /// The absolute path in the container.
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// How the engine makes a named volume the first time a task uses it (a volume mount only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
}

/// A named volume's creation options (docker's `mount.VolumeOptions`): the node's engine
/// creates the volume with these on first use; an existing volume is used as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeOptions {
    /// Do not copy the image's files at the target into a new volume.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_copy: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Driver>,
}

/// A named driver with options (a volume driver, a log driver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A secret a task uses (swarmkit's `SecretReference`): the control API resolves the name
/// the operator gave to the secret's id when the service is created or updated; the file
/// appears in the container as `/run/secrets/<target>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretReference {
    #[serde(default)]
    pub secret_id: String,
    pub secret_name: String,
    /// File name under /run/secrets; the secret's name unless given.
    #[serde(default)]
    pub target: String,
    /// Owner and permissions of the file (`uid=`, `gid=`, `mode=`).
    #[serde(default, skip_serializing_if = "FileOwner::is_default")]
    pub file: FileOwner,
}

/// Who owns a secret's or config's file in the container and its permission bits (docker's
/// `File.UID/GID/Mode`): empty ids mean 0 (root), no mode means 0444. Skipped when default,
/// so references that do not set them encode as before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOwner {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl FileOwner {
    /// Docker's default permission bits of a secret or config file.
    pub const DEFAULT_MODE: u32 = 0o444;

    pub fn is_default(&self) -> bool {
        *self == FileOwner::default()
    }

    pub fn uid(&self) -> &str {
        if self.uid.is_empty() { "0" } else { &self.uid }
    }

    pub fn gid(&self) -> &str {
        if self.gid.is_empty() { "0" } else { &self.gid }
    }

    pub fn mode(&self) -> u32 {
        self.mode.unwrap_or(Self::DEFAULT_MODE)
    }
}

/// A config a task uses (swarmkit's `ConfigReference`): resolved to the config's id by the
/// control API like a secret; the file appears in the container at `target` (an absolute
/// path; a bare name means `/NAME`, docker's rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReference {
    #[serde(default)]
    pub config_id: String,
    pub config_name: String,
    /// Path in the container; the config's name unless given.
    #[serde(default)]
    pub target: String,
    #[serde(default, skip_serializing_if = "FileOwner::is_default")]
    pub file: FileOwner,
}

impl ConfigReference {
    /// Where the file appears in the container: `target` (the name if none) if absolute,
    /// else under `/`.
    pub fn path(&self) -> String {
        let t = if self.target.is_empty() { &self.config_name } else { &self.target };
        if t.starts_with('/') { t.clone() } else { format!("/{t}") }
    }
}

/// A container healthcheck (docker's HEALTHCHECK): a probe every `interval_ms`, failing after
/// `timeout_ms`; `retries` consecutive failures make the container unhealthy; failures in the
/// first `start_period_ms` do not count. The task is RUNNING only once a probe passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// The probe command (`--health-cmd`); empty = the image's.
    #[serde(default)]
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

impl Default for HealthConfig {
    /// Docker's defaults: every 30 s, 30 s timeout, 3 retries, no start period.
    fn default() -> Self {
        HealthConfig { test: vec![], interval_ms: 30_000, timeout_ms: 30_000, retries: 3, start_period_ms: 0 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    pub limits: Option<Resources>,
    pub reservations: Option<Resources>,
    /// The most processes one task's container may run (`--limit-pids`, docker's
    /// `Limits.Pids`); 0: no limit. The scheduler does not count it: it limits, never reserves.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pids_limit: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartCondition {
    None,
    OnFailure,
    #[default]
    Any,
}

/// Restart supervisor settings; swarm's defaults: any, 5 s, unlimited, no window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub condition: RestartCondition,
    pub delay_ms: u64,
    pub max_attempts: u64,
    pub window_ms: u64,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { condition: RestartCondition::Any, delay_ms: 5_000, max_attempts: 0, window_ms: 0 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// e.g. `node.labels.zone==east`
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Spread descriptors, e.g. `node.labels.zone`, outermost first.
    #[serde(default)]
    pub preferences: Vec<String>,
    /// 0 = unlimited.
    #[serde(default)]
    pub max_replicas: u64,
    /// Platforms the image runs on; empty = any. An empty field of an entry matches anything.
    #[serde(default)]
    pub platforms: Vec<super::Platform>,
}

/// The task template. A change of any field here is what makes a rolling update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub container: ContainerSpec,
    #[serde(default)]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub placement: Placement,
    /// The networks the task joins (`--network`), targets resolved to network ids.
    #[serde(default)]
    pub networks: Vec<super::NetworkAttachmentConfig>,
    /// Bumped by `service update --force` to make an update without a spec change.
    #[serde(default)]
    pub force_update: u64,
    /// The containers' log driver (`--log-driver`, `--log-opt`); None = the engine's default
    /// (so is an empty name, with the options given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceMode {
    Replicated { replicas: u64 },
    Global,
    ReplicatedJob { max_concurrent: u64, total_completions: u64 },
    GlobalJob,
}

impl Default for ServiceMode {
    fn default() -> Self {
        ServiceMode::Replicated { replicas: 1 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureAction {
    #[default]
    Pause,
    Continue,
    Rollback,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOrder {
    #[default]
    StopFirst,
    StartFirst,
}

/// Rolling update (and rollback) settings; swarm's defaults: 1, 0 s, pause, 5 s, 0, stop-first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    pub parallelism: u64,
    pub delay_ms: u64,
    pub failure_action: FailureAction,
    pub monitor_ms: u64,
    pub max_failure_ratio: f32,
    pub order: UpdateOrder,
}

impl Eq for UpdateConfig {}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay_ms: 0,
            failure_action: FailureAction::Pause,
            monitor_ms: 5_000,
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishMode {
    #[default]
    Ingress,
    Host,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    pub protocol: String,
    pub target_port: u32,
    /// 0 = the allocator picks one in the ingress range 30000-32767.
    pub published_port: u32,
    pub publish_mode: PublishMode,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// `--endpoint-mode vip|dnsrr` (vip unless said).
    #[serde(default, skip_serializing_if = "super::EndpointMode::is_vip")]
    pub mode: super::EndpointMode,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub annotations: Annotations,
    pub task: TaskSpec,
    pub mode: ServiceMode,
    pub update: Option<UpdateConfig>,
    pub rollback: Option<UpdateConfig>,
    pub endpoint: Option<EndpointSpec>,
    /// `--rebalance auto`: when a node joins or comes back, the leader moves tasks toward the
    /// spread the scheduler would choose now (Shoal's; swarm never moves a running task).
    #[serde(default, skip_serializing_if = "RebalanceMode::is_off")]
    pub rebalance: RebalanceMode,
    /// `--autoscale`: the leader moves a replicated service's replicas between these bounds
    /// following its tasks' CPU (Shoal's; swarm has no autoscaler).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<super::Autoscale>,
}

/// Whether the leader rebalances a service by itself ([`ServiceSpec::rebalance`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebalanceMode {
    /// Only `service rebalance` moves tasks (swarm's behaviour: tasks stay where they run).
    #[default]
    Off,
    /// A node joining or coming back starts a rebalance when it would improve the spread.
    Auto,
}

impl Service {
    /// A finished update's status goes with the next change of the service (swarmkit clears
    /// it on every update): a client following a scale must not read "completed" and stop.
    pub fn forget_finished_update(&mut self) {
        if self.update_status.as_ref().is_some_and(|u| matches!(u.state, UpdateState::Completed | UpdateState::RollbackCompleted)) {
            self.update_status = None;
        }
    }
}

impl RebalanceMode {
    pub fn is_off(&self) -> bool {
        *self == RebalanceMode::Off
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    #[default]
    Unknown,
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    pub state: UpdateState,
    pub started_at_ms: Option<u64>,
    pub completed_at_ms: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub meta: Meta,
    pub spec: ServiceSpec,
    /// The spec before the last update; `service rollback` restores it.
    pub previous_spec: Option<ServiceSpec>,
    /// Bumped on every spec change; tasks record the version they were made from.
    pub spec_version: u64,
    pub update_status: Option<UpdateStatus>,
    /// The published ports as allocated (swarmkit's `Endpoint`): the spec's ports with every
    /// ingress port that asked for 0 given one from the range 30000-32767.
    #[serde(default)]
    pub endpoint_ports: Vec<PortConfig>,
    /// The service's virtual IP on each of its networks (endpoint mode vip), given by the
    /// allocator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ips: Vec<super::VirtualIp>,
    /// The tasks a rebalance is moving (`service rebalance`, or `--rebalance auto`): the
    /// update controller replaces them as it replaces tasks of an older spec, and clears the
    /// list when the rebalance completes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rebalancing: Vec<String>,
    /// The autoscaler's latest change to the replicas (services with `--autoscale`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale_status: Option<super::AutoscaleStatus>,
}

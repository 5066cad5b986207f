use super::{Annotations, Meta};
use serde::{Deserialize, Serialize};

/// Cluster-wide settings; there is exactly one Cluster object (swarmkit names it "default").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    pub id: String,
    pub meta: Meta,
    pub spec: ClusterSpec,
    /// Join tokens `SHTKN-1-<ca digest>-<secret>` for workers and managers.
    #[serde(default)]
    pub root_ca: RootCa,
    /// Nodes removed from the swarm (`node rm`), with the raft index of the removal: their
    /// certificates, still valid until they expire, open nothing any more (swarmkit's
    /// `BlacklistedCertificates`). At most [`REMOVED_NODES_MAX`], the latest kept.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub removed_nodes: std::collections::BTreeMap<String, u64>,
    /// The manager unlock key `SWMKEY-1-…` while autolock is on (empty otherwise): every
    /// manager wraps its data key with it as it applies the change (swarmkit's `UnlockKeys`).
    /// It lives only here, in the raft store, which is itself encrypted at rest.
    #[serde(default, skip_serializing_if = "UnlockKeyText::is_empty")]
    pub unlock_key: UnlockKeyText,
}

/// The unlock key's text as the Cluster object holds it: serialised as the plain string, but
/// never shown by `Debug`, so no `{:?}` of a Cluster (a log line, a violation, a report)
/// carries it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnlockKeyText(pub String);

impl UnlockKeyText {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for UnlockKeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "<redacted>" })
    }
}

/// The most removed nodes [`Cluster::removed_nodes`] remembers (the oldest are forgotten
/// first: their certificates have most likely expired by then).
pub const REMOVED_NODES_MAX: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub annotations: Annotations,
    pub orchestration: OrchestrationConfig,
    pub raft: RaftConfig,
    pub dispatcher: DispatcherConfig,
    pub ca_config: CaConfig,
    /// Where networks' subnets come from (`swarm init --default-addr-pool`).
    #[serde(default)]
    pub network: NetworkDefaults,
    #[serde(default)]
    pub encryption: EncryptionConfig,
}

/// `swarm init --autolock`, `swarm update --autolock=true|false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionConfig {
    /// Restarted managers stay locked until `swarm unlock` gives them the unlock key.
    pub auto_lock_managers: bool,
}

/// The address pools networks take their subnets from, and the subnets' size (swarm's
/// defaults: 10.0.0.0/8 in /24s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDefaults {
    pub default_addr_pool: Vec<String>,
    pub subnet_size: u8,
}

impl Default for NetworkDefaults {
    fn default() -> Self {
        NetworkDefaults { default_addr_pool: vec!["10.0.0.0/8".into()], subnet_size: 24 }
    }
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            annotations: Annotations { name: "default".into(), ..Default::default() },
            orchestration: OrchestrationConfig::default(),
            raft: RaftConfig::default(),
            dispatcher: DispatcherConfig { heartbeat_period_ms: 5_000, heartbeat_grace_ms: 2_000 },
            ca_config: CaConfig { node_cert_expiry_secs: 90 * 24 * 3600, force_rotate: 0 },
            network: NetworkDefaults::default(),
            encryption: EncryptionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrchestrationConfig {
    /// Finished tasks kept per slot (or per node for global services) for `service ps`.
    pub task_history_retention_limit: u32,
    /// How the scheduler picks among the nodes that pass its filters.
    #[serde(default)]
    pub scheduler_strategy: SchedulerStrategy,
    /// The most live tasks one service may ask for (replicas, or a job's max concurrent):
    /// every task lives in every manager's memory and raft log, so a typo such as
    /// `--replicas 1000000` must be refused rather than take the swarm down. Swarm has no such
    /// limit; `swarm update --max-service-replicas N` raises it.
    #[serde(default = "default_max_service_replicas")]
    pub max_service_replicas: u64,
}

/// The default of [`OrchestrationConfig::max_service_replicas`]: above the largest services
/// swarm users report (Swarm2k ran 95,000 tasks on its whole cluster).
pub const DEFAULT_MAX_SERVICE_REPLICAS: u64 = 100_000;

fn default_max_service_replicas() -> u64 {
    DEFAULT_MAX_SERVICE_REPLICAS
}

impl Default for OrchestrationConfig {
    fn default() -> Self {
        OrchestrationConfig {
            task_history_retention_limit: 5,
            scheduler_strategy: SchedulerStrategy::default(),
            max_service_replicas: DEFAULT_MAX_SERVICE_REPLICAS,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SchedulerStrategy {
    /// Fewest tasks of the service, then fewest tasks overall (swarm mode's only strategy).
    #[default]
    Spread,
    /// Fullest node that fits first (classic swarm's binpack, seed 000).
    Binpack,
    /// Any node that fits, from the seeded RNG.
    Random,
}

/// Raft settings. Shoal's defaults are faster than swarm's (tick 1 s × election 10) so that a
/// leader failover completes in under 3 s of (virtual) time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftConfig {
    pub snapshot_interval: u64,
    pub log_entries_for_slow_followers: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            snapshot_interval: 10_000,
            log_entries_for_slow_followers: 500,
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatcherConfig {
    /// How often agents heartbeat (each is told this ± 10%, so heartbeats do not align).
    pub heartbeat_period_ms: u64,
    /// How long past its announced period a node may stay silent before it is marked down.
    /// Swarm waits 3 periods (15 s); Shoal's agents retry a failed heartbeat within 250 ms, so
    /// a short margin after one period detects a dead node in ≈ 7 s without false downs.
    pub heartbeat_grace_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaConfig {
    pub node_cert_expiry_secs: u64,
    /// How many times `swarm ca --rotate` asked for a new root (docker's `ForceRotate`: a
    /// client asks for one more by sending a higher count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub force_rotate: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCa {
    /// The root CA certificate (production; in the simulator empty unless the scenario models
    /// certificates, then the model's text).
    pub ca_cert_pem: String,
    /// The root CA's private key. Kept in the raft store, as swarmkit keeps its CA key, so
    /// whichever manager leads can sign joining nodes' certificates; only manager
    /// certificates may read the store.
    pub ca_key_pem: String,
    pub join_token_worker: String,
    pub join_token_manager: String,
    /// The root certificate as an issuer (empty for a root made before Shoal recorded it, and
    /// in the simulator).
    #[serde(default, skip_serializing_if = "IssuerInfo::is_empty")]
    pub issuer: IssuerInfo,
    /// A root rotation under way (`swarm ca --rotate`): nodes get certificates of the new root
    /// and trust both until every node holds one; then the new root replaces this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RootRotation>,
}

/// The root a rotation moves to (swarmkit's `RootRotation`). Made by the manager that took
/// the request (the runtime's [`crate::node::ca::CertSigner`]): only it can cross-sign.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRotation {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    /// The new root's certificate signed by the old root: sent after every certificate the
    /// new root signs during the rotation, so a node that trusts only the old root verifies it.
    pub cross_signed_pem: String,
    pub issuer: IssuerInfo,
    /// The join tokens once the rotation ends: they name the new root's digest.
    pub join_token_worker: String,
    pub join_token_manager: String,
}

/// A secret as `{:?}` shows it: whether it is set and its size, never its text (a key or a
/// join token must not reach a log through a debug print).
struct Redacted<'a>(&'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            write!(f, "<redacted, {} bytes>", self.0.len())
        }
    }
}

impl std::fmt::Debug for RootCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("ca_key_pem", &Redacted(&self.ca_key_pem))
            .field("join_token_worker", &Redacted(&self.join_token_worker))
            .field("join_token_manager", &Redacted(&self.join_token_manager))
            .field("issuer", &self.issuer)
            .field("rotation", &self.rotation)
            .finish()
    }
}

impl std::fmt::Debug for RootRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootRotation")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("ca_key_pem", &Redacted(&self.ca_key_pem))
            .field("cross_signed_pem", &self.cross_signed_pem)
            .field("issuer", &self.issuer)
            .field("join_token_worker", &Redacted(&self.join_token_worker))
            .field("join_token_manager", &Redacted(&self.join_token_manager))
            .finish()
    }
}

#[cfg(test)]
#[test]
fn debug_prints_show_no_key_and_no_token() {
    let r = RootRotation { ca_key_pem: "SECRET-KEY".into(), join_token_worker: "SHTKN-secret".into(), ..Default::default() };
    let root = RootCa { ca_key_pem: "SECRET-KEY".into(), join_token_manager: "SHTKN-secret".into(), rotation: Some(r), ..Default::default() };
    let shown = format!("{root:?}");
    assert!(!shown.contains("SECRET") && !shown.contains("SHTKN"), "{shown}");
    assert!(shown.contains("<redacted, 10 bytes>"), "{shown}");
}

/// Who signs a certificate, as docker's `TLSInfo` says it: base64 of the issuer's subject and
/// of its public key (SubjectPublicKeyInfo), both DER. A root and its cross-signed copy are
/// the same issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IssuerInfo {
    pub subject: String,
    pub public_key: String,
}

impl IssuerInfo {
    pub fn is_empty(&self) -> bool {
        self.subject.is_empty() && self.public_key.is_empty()
    }
}

/// What a node holds: the roots it trusts (PEM, one or two) and who signed its certificate
/// (docker's node `TLSInfo`). Reported in its description; empty in the simulator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub trust_root: String,
    pub issuer: IssuerInfo,
}

impl TlsInfo {
    pub fn is_empty(&self) -> bool {
        self.trust_root.is_empty() && self.issuer.is_empty()
    }
}

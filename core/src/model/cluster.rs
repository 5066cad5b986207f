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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub annotations: Annotations,
    pub orchestration: OrchestrationConfig,
    pub raft: RaftConfig,
    pub dispatcher: DispatcherConfig,
    pub ca_config: CaConfig,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            annotations: Annotations { name: "default".into(), ..Default::default() },
            orchestration: OrchestrationConfig { task_history_retention_limit: 5 },
            raft: RaftConfig::default(),
            dispatcher: DispatcherConfig { heartbeat_period_ms: 5_000 },
            ca_config: CaConfig { node_cert_expiry_secs: 90 * 24 * 3600 },
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrchestrationConfig {
    pub task_history_retention_limit: u32,
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
    pub heartbeat_period_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaConfig {
    pub node_cert_expiry_secs: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCa {
    pub ca_cert_pem: String,
    pub join_token_worker: String,
    pub join_token_manager: String,
}

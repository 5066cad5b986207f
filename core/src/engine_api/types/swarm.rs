//! The swarm (`GET /swarm`, `/info`'s Swarm block), its join tokens and settings, and secrets.

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    pub worker: String,
    pub manager: String,
}

/// The swarm's spec (`SwarmSpec`): what `docker swarm update` changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub orchestration: SwarmOrchestration,
    #[serde(default)]
    pub raft: SwarmRaft,
    #[serde(default)]
    pub dispatcher: SwarmDispatcher,
    #[serde(default, rename = "CAConfig")]
    pub ca_config: SwarmCaConfig,
    #[serde(default)]
    pub task_defaults: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub encryption_config: SwarmEncryption,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmOrchestration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_history_retention_limit: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmRaft {
    #[serde(default)]
    pub snapshot_interval: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_old_snapshots: Option<u64>,
    #[serde(default)]
    pub log_entries_for_slow_followers: u64,
    #[serde(default)]
    pub election_tick: u64,
    #[serde(default)]
    pub heartbeat_tick: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmDispatcher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_period: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmCaConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_cert_expiry: Option<i64>,
    /// `swarm ca --rotate` raises it by one.
    #[serde(default, skip_serializing_if = "super::is_zero_u64")]
    pub force_rotate: u64,
    /// Read only to refuse them: Shoal signs with its own root.
    #[serde(default, rename = "ExternalCAs", skip_serializing_if = "Vec::is_empty")]
    pub external_cas: Vec<serde_json::Value>,
    #[serde(default, rename = "SigningCACert", skip_serializing_if = "String::is_empty")]
    pub signing_ca_cert: String,
    /// Read only to refuse it (`swarm ca --rotate --ca-key`): Shoal makes the new root itself.
    #[serde(default, rename = "SigningCAKey", skip_serializing_if = "String::is_empty")]
    pub signing_ca_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmEncryption {
    #[serde(default)]
    pub auto_lock_managers: bool,
}

/// `GET /swarm` (and the `Cluster` block of `/info`, without the join tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Swarm {
    #[serde(rename = "ID")]
    pub id: String,
    pub version: Version,
    pub created_at: String,
    pub updated_at: String,
    pub spec: SwarmSpec,
    #[serde(rename = "TLSInfo")]
    pub tls_info: TlsInfo,
    pub root_rotation_in_progress: bool,
    pub default_addr_pool: Vec<String>,
    pub subnet_size: u32,
    pub data_path_port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_tokens: Option<JoinTokens>,
}

/// `POST /swarm/init`'s body, as the docker CLI sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitRequest {
    #[serde(default)]
    pub listen_addr: String,
    #[serde(default)]
    pub advertise_addr: String,
    #[serde(default)]
    pub data_path_addr: String,
    #[serde(default)]
    pub data_path_port: u32,
    #[serde(default)]
    pub force_new_cluster: bool,
    #[serde(default)]
    pub spec: SwarmSpec,
    #[serde(default)]
    pub auto_lock_managers: bool,
    #[serde(default)]
    pub availability: String,
    #[serde(default)]
    pub default_addr_pool: Vec<String>,
    #[serde(default)]
    pub subnet_size: u32,
}

/// `POST /swarm/join`'s body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinRequest {
    #[serde(default)]
    pub listen_addr: String,
    #[serde(default)]
    pub advertise_addr: String,
    #[serde(default)]
    pub data_path_addr: String,
    #[serde(default)]
    pub remote_addrs: Vec<String>,
    #[serde(default)]
    pub join_token: String,
    #[serde(default)]
    pub availability: String,
}

/// A secret as `GET /secrets` lists it: never its data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Base64 (standard alphabet), as dockerd takes it; never written back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Driver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templating: Option<Driver>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    #[serde(rename = "ID")]
    pub id: String,
    pub version: Version,
    pub created_at: String,
    pub updated_at: String,
    pub spec: SecretSpec,
}

/// A manager as `/info` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Peer {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub addr: String,
}

/// The `Swarm` block of `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    /// "inactive", "pending", "active", "error" or "locked".
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Vec<Peer>,
    pub nodes: u64,
    pub managers: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Swarm>,
}

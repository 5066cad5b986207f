//! The scenario file's shape as serde reads it (every table and key, unknown ones refused),
//! before `Scenario::parse_with` validates it and turns it into a [`super::Scenario`].

use serde::Deserialize;
use shoal_core::model::RaftConfig;
use std::collections::BTreeMap;
use toml::Spanned;

pub(super) fn serve() -> String {
    "serve".into()
}

/// The scenario's `[raft]` table over Shoal's defaults.
pub(super) fn raft_config(raw: Option<&RawRaft>) -> RaftConfig {
    let d = RaftConfig::default();
    match raw {
        None => d,
        Some(r) => RaftConfig {
            snapshot_interval: r.snapshot_interval.unwrap_or(d.snapshot_interval),
            log_entries_for_slow_followers: r.log_entries_for_slow_followers.unwrap_or(d.log_entries_for_slow_followers),
            heartbeat_interval_ms: r.heartbeat_interval_ms.unwrap_or(d.heartbeat_interval_ms),
            election_timeout_min_ms: r.election_timeout_min_ms.unwrap_or(d.election_timeout_min_ms),
            election_timeout_max_ms: r.election_timeout_max_ms.unwrap_or(d.election_timeout_max_ms),
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: String,
    pub(super) seed: Option<u64>,
    #[allow(dead_code)]
    pub(super) description: Option<String>,
    pub(super) cluster: Option<Spanned<RawCluster>>,
    /// The swarm starts as the twin of this snapshot (relative to the file).
    pub(super) from_snapshot: Option<Spanned<String>>,
    pub(super) raft: Option<RawRaft>,
    pub(super) sim: Option<RawSim>,
    #[serde(default)]
    pub(super) step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    pub(super) injector: Vec<Spanned<RawInjector>>,
    #[serde(default)]
    pub(super) images: BTreeMap<String, Spanned<RawImage>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawImage {
    #[serde(default = "serve")]
    pub(super) behaviour: String,
    #[serde(rename = "cpu-per-request")]
    pub(super) cpu_per_request: Option<Spanned<String>>,
    pub(super) code: Option<i32>,
    pub(super) after: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub(super) managers: Spanned<u32>,
    #[serde(default)]
    pub(super) workers: u32,
    #[serde(default)]
    pub(super) node: Vec<Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: Option<String>,
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    pub(super) cpus: Option<f64>,
    pub(super) memory_gib: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRaft {
    pub(super) snapshot_interval: Option<u64>,
    pub(super) log_entries_for_slow_followers: Option<u64>,
    pub(super) heartbeat_interval_ms: Option<u64>,
    pub(super) election_timeout_min_ms: Option<u64>,
    pub(super) election_timeout_max_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSim {
    pub(super) latency_ms: Option<[u64; 2]>,
    pub(super) disk_sync_ms: Option<u64>,
    pub(super) torn_writes: Option<bool>,
    pub(super) clock_skew_ms: Option<u64>,
    pub(super) buggify: Option<bool>,
    pub(super) encrypt_at_rest: Option<bool>,
    pub(super) operator_unlock_ms: Option<u64>,
    pub(super) certificates: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub(super) at: Option<Spanned<String>>,
    pub(super) after: Option<Spanned<String>>,
    pub(super) r#do: Option<Spanned<String>>,
    pub(super) fault: Option<Spanned<String>>,
    pub(super) expect: Option<Spanned<String>>,
    pub(super) within: Option<Spanned<String>>,
    pub(super) name: Option<String>,
    pub(super) error: Option<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInjector {
    pub(super) kind: Spanned<String>,
    pub(super) every: Option<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) until: Spanned<String>,
    pub(super) down: Option<Spanned<String>>,
    pub(super) duration: Option<Spanned<String>>,
    pub(super) rate: Option<f64>,
    pub(super) latency: Option<Spanned<String>>,
}

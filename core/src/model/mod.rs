//! Domain model: the objects kept in the raft-replicated store.
//!
//! Names follow swarmkit's `api/objects.proto` and `api/specs.proto` (Cluster, Node, Service,
//! Task, Secret, Config, Network; `spec`, `meta`, `desired_state`, `status`). Every object has an
//! `id` chosen by the proposer and a [`Meta`] whose `version` is the raft index of the entry that
//! last wrote it, so optimistic concurrency checks compare raft indexes.
//!
//! Invariants: maps that can reach an output are `BTreeMap`s (deterministic order); timestamps
//! are milliseconds written by the proposer into the raft entry, never read from a clock here.

mod cluster;
mod node;
mod object;
mod service;
mod task;

pub use cluster::*;
pub use node::*;
pub use object::*;
pub use service::*;
pub use task::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version and timestamps of a stored object. `version` is the raft log index of the
/// transaction that last created or updated the object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub version: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// Name and labels, as swarmkit's `Annotations`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotations {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A secret's or config's payload. Secrets only ever reach nodes whose tasks use them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSpec {
    pub annotations: Annotations,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    pub meta: Meta,
    pub spec: SecretSpec,
}

/// A config has the same shape as a secret but is not sensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSpec {
    pub annotations: Annotations,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub id: String,
    pub meta: Meta,
    pub spec: ConfigSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub annotations: Annotations,
    /// Driver name, e.g. "overlay".
    pub driver: String,
    /// True for the ingress network of the routing mesh.
    #[serde(default)]
    pub ingress: bool,
    /// Subnets in CIDR notation; empty means the allocator picks.
    #[serde(default)]
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub meta: Meta,
    pub spec: NetworkSpec,
}

//! shoal-core: the pure state machines of Shoal and the runtime-agnostic node shell.
//!
//! * Pure modules (`model`, `store`, `cli`): no async, no I/O, no clock, no ambient
//!   randomness; `BTreeMap` wherever order can reach an output. `scripts/check-boundary`
//!   and `clippy.toml` enforce it.
//! * `node`: the async shell (the only async code in core): the manager that owns the
//!   openraft `Raft`, serves gRPC and forwards writes; `node::raft` holds the openraft glue —
//!   type config, async runtime (madsim under `cfg(madsim)`), log and state-machine storage on
//!   the [`node::raft::Disk`] trait, the gRPC network.

// Store objects and events are plain values moved once per transaction; boxing their large
// variants would add an allocation per change for no measured gain. openraft's ConfigError is
// not ours to shrink.
#![allow(clippy::large_enum_variant, clippy::result_large_err)]

pub mod agent;
pub mod allocator;
pub mod ca;
pub mod cli;
pub mod constraint;
pub mod control;
pub mod dispatcher;
pub mod engine_api;
pub mod figures;
pub mod leader;
pub mod model;
pub mod mutant;
pub mod node;
pub mod orchestrator;
pub mod plan;
pub mod scheduler;
pub mod stack;
pub mod store;
pub mod ui;

/// Generated protobuf/gRPC code (madsim-tonic: real tonic, or simulated under `cfg(madsim)`).
pub mod proto {
    tonic::include_proto!("shoal.raft");
}

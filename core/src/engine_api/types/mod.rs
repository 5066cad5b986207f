//! The Docker Engine API's swarm objects as dockerd writes and reads them (moby
//! `api/types/swarm`): PascalCase names, Meta flattened into the object, durations in int64
//! nanoseconds, times as RFC 3339 strings with nanoseconds.
//!
//! Written here rather than taken from bollard-stubs because those lack `PreviousSpec` and
//! `NetworksAttachments` and reject enum values they do not know; every field a client may
//! leave out is `Option` or defaulted, and every field we write that dockerd omits when empty
//! is skipped when empty, so clients see dockerd's shapes.

mod network;
mod node;
mod service;
mod swarm;
mod system;
mod task;

pub use network::*;
pub use node::*;
pub use service::*;
pub use swarm::*;
pub use system::*;
pub use task::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// `Version` of a swarm object: the store index that last wrote it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    #[serde(default)]
    pub index: u64,
}

pub(crate) fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

pub(crate) fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

//! Domain model: the objects kept in the raft-replicated store.
//!
//! Names follow swarmkit's `api/objects.proto` and `api/specs.proto` (Cluster, Node, Service,
//! Task, Secret, Config, Network; `spec`, `meta`, `desired_state`, `status`). Every object has an
//! `id` chosen by the proposer and a [`Meta`] whose `version` is the raft index of the entry that
//! last wrote it, so optimistic concurrency checks compare raft indexes.
//!
//! Invariants: maps that can reach an output are `BTreeMap`s (deterministic order); timestamps
//! are milliseconds written by the proposer into the raft entry, never read from a clock here.

mod autoscale;
mod cluster;
mod network;
mod node;
mod object;
mod service;
mod task;

pub use autoscale::*;
pub use cluster::*;
pub use network::*;
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
    /// Base64 in JSON (a byte array would be 3-4 times the size on the wire and in the log).
    #[serde(with = "data_base64")]
    pub data: Vec<u8>,
}

/// `data` as a base64 string; reading also takes the array of numbers that logs written
/// before this encoding hold.
pub(crate) mod data_base64 {
    use base64::Engine as _;
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("base64 data or an array of bytes")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Vec<u8>, E> {
                base64::engine::general_purpose::STANDARD.decode(v).map_err(|e| E::custom(format!("data is not base64: {e}")))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    pub meta: Meta,
    pub spec: SecretSpec,
}

/// A config's spec has the same shape as a secret's (name, labels, data); configs are not
/// sensitive, so reads show their data.
pub type ConfigSpec = SecretSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    pub id: String,
    pub meta: Meta,
    pub spec: ConfigSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    // Secret data is base64 in JSON; specs logged before as arrays of numbers still read.
    #[test]
    fn secret_data_is_base64_and_old_arrays_still_read() {
        let s = SecretSpec { annotations: Annotations { name: "pw".into(), ..Default::default() }, data: vec![0, 1, 255] };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""data":"AAH/""#), "{json}");
        assert_eq!(serde_json::from_str::<SecretSpec>(&json).unwrap(), s);
        let old = r#"{"annotations":{"name":"pw","labels":{}},"data":[0,1,255]}"#;
        assert_eq!(serde_json::from_str::<SecretSpec>(old).unwrap(), s);
        assert!(serde_json::from_str::<SecretSpec>(r#"{"annotations":{"name":"pw"},"data":"!!"}"#).is_err());
    }
}

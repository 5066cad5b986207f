//! `shoal snapshot`: the committed store at one raft index as a file that a what-if planner
//! (`shoal-sim plan --snapshot FILE …`) or a simulated twin can start from. What must not leave
//! the managers is removed: secrets' and configs' data, the root CA's private key, the join
//! tokens. The file is the store's own snapshot format (JSON: the raft index and the objects
//! in key order), so it restores with [`Store::restore`].

use crate::model::{Kind, Object};
use crate::store::{Store, StoreError};

/// The export of `objects`, the whole store at raft index `index`.
pub fn export(index: u64, objects: Vec<Object>) -> Result<Vec<u8>, StoreError> {
    let objects = objects.into_iter().map(redact).collect();
    Ok(Store::from_objects(index, objects)?.snapshot())
}

/// The hash of `store` as [`export`] would write it: equal for a swarm and for its twin
/// (which holds the simulator's own CA and tokens where the export has none), whatever
/// the secrets' data.
pub fn shape_hash(store: &Store) -> u64 {
    let objects = Kind::ALL.into_iter().flat_map(|k| store.list(k).cloned()).map(redact).collect();
    Store::from_objects(store.last_index(), objects).map(|s| s.state_hash()).unwrap_or_default()
}

/// The latest time written in `store` (object updates, task status reports), milliseconds
/// since the Unix epoch: about when the swarm was last seen, since a snapshot carries no
/// clock of its own. A twin's clocks start there, so the restart delays, update monitors and
/// heartbeat deadlines in the store mean what they meant in the swarm.
pub fn latest_time_ms(store: &Store) -> u64 {
    Kind::ALL
        .into_iter()
        .flat_map(|k| store.list(k))
        .map(|o| {
            let meta = o.meta().updated_at_ms.max(o.meta().created_at_ms);
            match o {
                Object::Task(t) => meta.max(t.status.timestamp_ms),
                _ => meta,
            }
        })
        .max()
        .unwrap_or(0)
}

/// An object without what must not leave the managers.
fn redact(o: Object) -> Object {
    match o {
        Object::Secret(mut s) => {
            s.spec.data.clear();
            Object::Secret(s)
        }
        Object::Config(mut c) => {
            c.spec.data.clear();
            Object::Config(c)
        }
        Object::Cluster(mut c) => {
            c.root_ca.ca_key_pem.clear();
            c.root_ca.join_token_worker.clear();
            c.root_ca.join_token_manager.clear();
            Object::Cluster(c)
        }
        o => o,
    }
}

//! `shoal snapshot`: the committed store at one raft index as a file that a what-if planner
//! (`shoal-sim plan --snapshot FILE …`) or a simulated twin can start from. What must not leave
//! the managers is removed: secrets' and configs' data, the root CA's private key, the join
//! tokens. The file is the store's own snapshot format (JSON: the raft index and the objects
//! in key order), so it restores with [`Store::restore`].

use crate::model::{Object, RootCa};
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
    let objects = store.all().cloned().map(redact).collect();
    Store::from_objects(store.last_index(), objects).map(|s| s.state_hash()).unwrap_or_default()
}

/// A snapshot's store with `root`'s join tokens where the export removed them (a twin's, so
/// machines can join it); nothing else changes, so its [`shape_hash`] is the snapshot's.
pub fn with_join_tokens(store: &Store, root: &RootCa) -> Store {
    let objects = store
        .all()
        .cloned()
        .map(|o| match o {
            Object::Cluster(mut c) if c.root_ca.join_token_worker.is_empty() => {
                c.root_ca.join_token_worker = root.join_token_worker.clone();
                c.root_ca.join_token_manager = root.join_token_manager.clone();
                Object::Cluster(c)
            }
            o => o,
        })
        .collect();
    Store::from_objects(store.last_index(), objects).expect("the objects of a store have distinct keys")
}

/// When `store` was last written (its objects' latest timestamp), milliseconds since the Unix
/// epoch: about when the swarm was last seen, since a snapshot carries no clock of its own.
/// An offline plan's clock and a twin's clocks start there, so the restart delays, update
/// monitors and heartbeat deadlines in the store mean what they meant in the swarm.
pub fn latest_time_ms(store: &Store) -> u64 {
    store.all().map(|o| o.meta().updated_at_ms.max(o.meta().created_at_ms)).max().unwrap_or(0)
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
            if let Some(r) = &mut c.root_ca.rotation {
                r.ca_key_pem.clear();
                r.join_token_worker.clear();
                r.join_token_manager.clear();
            }
            // The unlock key opens the managers' disks: it never leaves them. A copy made
            // from the snapshot (twin, plan) runs without autolock.
            c.unlock_key = Default::default();
            c.spec.encryption.auto_lock_managers = false;
            Object::Cluster(c)
        }
        o => o,
    }
}

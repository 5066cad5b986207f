//! `shoal snapshot`: the committed store at one raft index as a file that a what-if planner
//! (`shoal-sim plan --snapshot FILE …`) or a simulated twin can start from. What must not leave
//! the managers is removed: secrets' and configs' data, the root CA's private key, the join
//! tokens. The file is the store's own snapshot format (JSON: the raft index and the objects
//! in key order), so it restores with [`Store::restore`].

use crate::model::Object;
use crate::store::{Store, StoreError};

/// The export of `objects`, the whole store at raft index `index`.
pub fn export(index: u64, objects: Vec<Object>) -> Result<Vec<u8>, StoreError> {
    let objects = objects.into_iter().map(redact).collect();
    Ok(Store::from_objects(index, objects)?.snapshot())
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

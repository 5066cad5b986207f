//! Revocation: what a valid certificate of this swarm no longer opens. A certificate carries
//! its node's id and role until it expires; the store knows better:
//!
//! * a node removed from the swarm (`node rm`, kept in [`Cluster::removed_nodes`]) is refused
//!   everything, as if it had never joined (NOT_FOUND, which its agent reads as "removed");
//! * a node the operator demoted (`spec.desired_role` worker) is refused the manager-only
//!   services (control, logs, forwarding) even with its old manager certificate. Not raft:
//!   a follower whose store is behind would take a just-promoted leader for the worker it was
//!   and refuse the entries that would tell it otherwise. Raft's own membership decides
//!   there: a demoted manager leaves it before its role changes, and the raft service refuses
//!   the votes of members removed from it (`RaftService::vote`).
//!
//! Every manager checks this on every call, against its own committed store (a manager whose
//! store is behind may still let a just-revoked certificate in until it catches up). A caller
//! the store does not know yet (a manager that just joined, whose node object is not applied
//! here) is not refused.

use crate::model::{Cluster, Kind, NodeRole, Object, REMOVED_NODES_MAX};
use crate::store::{Action, Store};

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Revoked {
    #[error("node {0} was removed from this swarm: its certificate opens nothing any more; join again with a token")]
    Removed(String),
    #[error("node {0} was demoted to a worker: its manager certificate no longer grants manager rights (it renews to a worker's)")]
    Demoted(String),
}

/// Whether `node_id`'s certificate may still call a service (`manager_only`: one that needs a
/// manager's certificate).
pub fn check(store: &Store, node_id: &str, manager_only: bool) -> Result<(), Revoked> {
    if let Some(Object::Cluster(c)) = store.get(Kind::Cluster, crate::leader::CLUSTER_ID) {
        if c.removed_nodes.contains_key(node_id) {
            return Err(Revoked::Removed(node_id.to_string()));
        }
    }
    if manager_only {
        if let Some(Object::Node(n)) = store.get(Kind::Node, node_id) {
            if n.spec.desired_role == NodeRole::Worker && n.role == NodeRole::Worker {
                return Err(Revoked::Demoted(node_id.to_string()));
            }
        }
    }
    Ok(())
}

/// The Cluster object after `node_id`'s removal at about raft index `index`: remembered, the
/// oldest forgotten beyond [`REMOVED_NODES_MAX`].
pub(super) fn remember_removed(cluster: &Cluster, node_id: &str, index: u64) -> Action {
    let mut c = cluster.clone();
    c.removed_nodes.insert(node_id.to_string(), index);
    while c.removed_nodes.len() > REMOVED_NODES_MAX {
        let oldest = c.removed_nodes.iter().min_by_key(|(id, at)| (**at, id.as_str())).map(|(id, _)| id.clone());
        match oldest {
            Some(id) => c.removed_nodes.remove(&id),
            None => break,
        };
    }
    Action::Update { object: Object::Cluster(c), expected_version: cluster.meta.version }
}

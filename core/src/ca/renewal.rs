//! When a node renews its certificate, the pure half (the production daemon's `renew.rs` and
//! the simulator's certificate model act on it): the swarm wants the node in another role
//! (`node promote|demote`, announced by heartbeat answers), or a root rotation wants other
//! roots or another issuer ([`super::rotation::holds`]). Production also renews at 50-80 % of
//! the certificate's validity, which is time and stays in the shell.

use crate::model::{NodeRole, TlsInfo};

/// Whether a node holding a certificate of role `held` and `held_tls` must renew now, as
/// heartbeat answers last said: the role the swarm wants and, during a rotation, what the
/// node must hold instead (None: what it holds will do).
pub fn due(held: NodeRole, desired: NodeRole, held_tls: &TlsInfo, wanted: Option<&TlsInfo>) -> bool {
    held != desired || wanted.is_some_and(|w| !super::rotation::holds(held_tls, w))
}

/// A renewal from a worker's certificate to a manager's: the node was promoted, and once it
/// serves raft with the new certificate it asks for its raft membership itself.
pub fn promoted(before: NodeRole, after: NodeRole) -> bool {
    before == NodeRole::Worker && after == NodeRole::Manager
}

/// The roots to trust after a renewal: those the answer names, or (a manager of an older
/// version names none) the ones held.
pub fn trust_after(answered: String, held: &str) -> String {
    if answered.is_empty() {
        held.to_string()
    } else {
        answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IssuerInfo;

    #[test]
    fn a_node_renews_for_another_role_or_what_a_rotation_wants() {
        let tls = |root: &str, issuer: &str| TlsInfo { trust_root: root.into(), issuer: IssuerInfo { subject: issuer.into(), public_key: issuer.into() } };
        let held = tls("A", "a");
        assert!(!due(NodeRole::Worker, NodeRole::Worker, &held, None));
        assert!(!due(NodeRole::Worker, NodeRole::Worker, &held, Some(&tls(" A\n", "a"))), "the same roots, wrapped otherwise");
        assert!(due(NodeRole::Worker, NodeRole::Manager, &held, None));
        assert!(due(NodeRole::Manager, NodeRole::Worker, &held, Some(&held)));
        assert!(due(NodeRole::Worker, NodeRole::Worker, &held, Some(&tls("A\nB", "b"))));
        assert!(promoted(NodeRole::Worker, NodeRole::Manager));
        assert!(!promoted(NodeRole::Manager, NodeRole::Manager) && !promoted(NodeRole::Manager, NodeRole::Worker));
        assert_eq!(trust_after(String::new(), "A"), "A");
        assert_eq!(trust_after("A\nB".into(), "A"), "A\nB");
    }
}

//! Root CA rotation (`swarm ca --rotate`; swarmkit's root rotation reconciler), the pure half.
//!
//! Owns: what a rotation stores in the Cluster object, which roots a node must trust and who
//! must have signed its certificate at each moment ([`wanted`]), whether a node's report says
//! it holds that ([`holds`]), when the rotation ends ([`finish`]), and the two counts docker's
//! progress bars show ([`progress`]). The runtime makes the new root and its cross-signed
//! copy (crypto and randomness live there); the shell signs and the nodes renew.
//!
//! The protocol, in the order a swarm goes through it:
//! 1. [`start`]: the Cluster object gets a [`RootRotation`]: the new root, its key, the new
//!    root signed by the old one, and the join tokens of the new root. From then on every
//!    certificate is signed by the new root's key and sent with the cross-signed copy, and
//!    nodes are told to trust both roots: a node that still trusts only the old root verifies
//!    a new certificate through the cross-signed copy; one that renewed verifies the old ones.
//! 2. Heartbeat answers tell each node whose report differs what to hold; it renews.
//! 3. [`finish`] (a leader pass): once every node in the store reports a certificate of the
//!    new root and trusts both roots, the new root replaces the old and its join tokens become the swarm's (the old
//!    tokens name the old root's digest). A node that is down holds the rotation until it
//!    comes back and renews, or is removed, as in swarm.
//! 4. Nodes are told to trust the new root alone; they renew once more.
//!
//! Invariants: at every step, every two nodes of the swarm can verify each other (the trust
//! moves from {old} to {old, new} before any certificate of the new root is needed, and to
//! {new} only after none of the old is held); a root's key and its rotation's key are never
//! shown by a read that does not show the root's key.

use crate::model::{Cluster, IssuerInfo, Node, Object, RootCa, RootRotation, TlsInfo};
use crate::store::Overlay;
use rand_chacha::ChaCha8Rng;

/// A new root as the runtime made it, before it enters the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoot {
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cross_signed_pem: String,
    pub issuer: IssuerInfo,
    /// The new root's digest as join tokens carry it ([`super::digest_base36`]).
    pub digest: String,
    /// The root certificate whose key cross-signed it.
    pub signed_by_pem: String,
    /// Randomness for the new root's join tokens (from the OS, as `swarm init`'s).
    pub token_seed: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("this swarm issues no certificates, so it has no root CA to rotate")]
    NoCertificates,
    #[error("the new root CA is incomplete ({0} is empty): the manager makes it; retry the rotation")]
    Incomplete(&'static str),
    #[error("the new root CA's digest {0:?} is not 50 base-36 digits")]
    BadDigest(String),
    #[error("the new root CA has the current root's key: a rotation needs a new key")]
    SameKey,
    /// The root changed between the new root's making and its write (a rotation ended).
    #[error("the swarm's root CA changed while the new root was made: retry the rotation")]
    RootChanged,
}

/// A rotation to `new` starts (or replaces the one under way: its nodes renew again).
pub fn start(root: &RootCa, new: NewRoot) -> Result<RootCa, RotationError> {
    if root.ca_key_pem.is_empty() {
        return Err(RotationError::NoCertificates);
    }
    if new.signed_by_pem != root.ca_cert_pem {
        return Err(RotationError::RootChanged);
    }
    for (what, v) in [("certificate", &new.ca_cert_pem), ("key", &new.ca_key_pem), ("cross-signed certificate", &new.cross_signed_pem)] {
        if v.trim().is_empty() {
            return Err(RotationError::Incomplete(what));
        }
    }
    if new.issuer.is_empty() {
        return Err(RotationError::Incomplete("issuer"));
    }
    if !super::is_digest(&new.digest) {
        return Err(RotationError::BadDigest(new.digest));
    }
    if new.issuer == root.issuer {
        return Err(RotationError::SameKey);
    }
    use rand::SeedableRng;
    let tokens = super::root_for_ca(String::new(), String::new(), &new.digest, &mut ChaCha8Rng::from_seed(new.token_seed));
    let mut next = root.clone();
    next.rotation = Some(RootRotation {
        ca_cert_pem: new.ca_cert_pem,
        ca_key_pem: new.ca_key_pem,
        cross_signed_pem: new.cross_signed_pem,
        issuer: new.issuer,
        join_token_worker: tokens.join_token_worker,
        join_token_manager: tokens.join_token_manager,
    });
    Ok(next)
}

/// The roots a node must trust now (PEM): the root, and during a rotation the new one too.
pub fn trust_bundle(root: &RootCa) -> String {
    match &root.rotation {
        None => root.ca_cert_pem.clone(),
        Some(r) => format!("{}\n{}\n", root.ca_cert_pem.trim_end(), r.ca_cert_pem.trim_end()),
    }
}

/// The root that signs certificates now, and what follows each certificate it signs.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    pub ca_cert_pem: &'a str,
    pub ca_key_pem: &'a str,
    /// During a rotation, the new root's cross-signed copy: the nodes that trust only the old
    /// root yet verify a new certificate through it.
    pub then: &'a str,
}

/// The root, or during a rotation the new one.
pub fn signing(root: &RootCa) -> Signing<'_> {
    match &root.rotation {
        Some(r) => Signing { ca_cert_pem: &r.ca_cert_pem, ca_key_pem: &r.ca_key_pem, then: &r.cross_signed_pem },
        None => Signing { ca_cert_pem: &root.ca_cert_pem, ca_key_pem: &root.ca_key_pem, then: "" },
    }
}

/// Who signs certificates now: the new root during a rotation.
pub fn signing_issuer(root: &RootCa) -> &IssuerInfo {
    root.rotation.as_ref().map_or(&root.issuer, |r| &r.issuer)
}

/// What every node should hold now.
pub fn wanted(root: &RootCa) -> TlsInfo {
    TlsInfo { trust_root: trust_bundle(root), issuer: signing_issuer(root).clone() }
}

/// What a node that reports `held` must hold instead; None when it holds what the swarm wants,
/// reports no certificates (the simulator's nodes unless its scenario models certificates),
/// or the swarm has none.
pub fn instead(root: &RootCa, held: &TlsInfo) -> Option<TlsInfo> {
    let want = wanted(root);
    (!held.is_empty() && !want.trust_root.is_empty() && !holds(held, &want)).then_some(want)
}

/// PEM texts with the same certificates (line endings and wrapping aside).
fn same_pem(a: &str, b: &str) -> bool {
    a.split_ascii_whitespace().eq(b.split_ascii_whitespace())
}

/// Whether a node that reports `held` holds what `wanted` asks (an issuer the swarm never
/// recorded, a root made before Shoal recorded issuers, is not asked for).
pub fn holds(held: &TlsInfo, wanted: &TlsInfo) -> bool {
    same_pem(&held.trust_root, &wanted.trust_root) && (wanted.issuer.is_empty() || held.issuer == wanted.issuer)
}

fn reported(n: &Node) -> Option<&TlsInfo> {
    n.description.as_ref().map(|d| &d.tls_info)
}

/// The root once its rotation ended.
fn finished(r: &RootRotation) -> RootCa {
    RootCa {
        ca_cert_pem: r.ca_cert_pem.clone(),
        ca_key_pem: r.ca_key_pem.clone(),
        join_token_worker: r.join_token_worker.clone(),
        join_token_manager: r.join_token_manager.clone(),
        issuer: r.issuer.clone(),
        rotation: None,
    }
}

/// The nodes that hold a rotation up: those whose report does not hold what the swarm wants
/// now (none when no rotation is under way).
pub fn holding_up<'a>(root: &RootCa, nodes: impl IntoIterator<Item = &'a Node>) -> Vec<&'a Node> {
    if root.rotation.is_none() {
        return Vec::new();
    }
    let want = wanted(root);
    nodes.into_iter().filter(|n| !reported(n).is_some_and(|t| holds(t, &want))).collect()
}

/// A leader pass's step: ends the rotation once every node of the store reports a
/// certificate of the new root and trusts both roots.
pub fn finish(o: &mut Overlay) {
    let Some(Object::Cluster(c)) = o.get(crate::model::Kind::Cluster, crate::leader::CLUSTER_ID) else { return };
    let Some(r) = &c.root_ca.rotation else { return };
    // Who signed each node's certificate, and the roots it trusts: a node must trust the new
    // root before the swarm moves to it alone.
    let skip_down = |n: &&Node| crate::mutant::active("rotation-skips-down-nodes") && n.status.state == crate::model::NodeState::Down;
    let done = holding_up(&c.root_ca, o.nodes()).iter().all(skip_down);
    if done {
        let next = Cluster { root_ca: finished(r), ..c.clone() };
        o.put(Object::Cluster(next));
    }
}

/// Docker's two progress bars of `swarm ca --rotate`: nodes holding a certificate of the
/// wanted issuer, and nodes trusting the swarm's root alone (counted only once the rotation
/// ended, as docker shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub certs_rotated: usize,
    pub roots_rotated: usize,
    pub total: usize,
    pub in_progress: bool,
}

impl Progress {
    /// The rotation ended and every node trusts the new root alone.
    pub fn done(&self) -> bool {
        !self.in_progress && self.certs_rotated == self.total && self.roots_rotated == self.total
    }
}

pub fn progress<'a>(root: &RootCa, nodes: impl IntoIterator<Item = &'a Node>) -> Progress {
    let issuer = signing_issuer(root);
    let in_progress = root.rotation.is_some();
    let (mut certs_rotated, mut roots_rotated, mut total) = (0, 0, 0);
    for n in nodes {
        total += 1;
        let t = reported(n);
        certs_rotated += usize::from(t.is_some_and(|t| !issuer.is_empty() && t.issuer == *issuer));
        roots_rotated += usize::from(!in_progress && t.is_some_and(|t| same_pem(&t.trust_root, &root.ca_cert_pem)));
    }
    Progress { certs_rotated, roots_rotated, total, in_progress }
}

#[cfg(test)]
mod tests;

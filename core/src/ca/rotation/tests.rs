//! A root rotation through the control API and leader passes, with nodes that report what
//! they hold by hand (the certificates are opaque text here: the runtime's tests sign real
//! ones and handshake with them).

use super::*;
use crate::control::{self, ControlError, ClusterUpdate};
use crate::leader::tests::{reg, World};
use crate::leader::PassInput;
use crate::model::Kind;
use crate::store::Action;
use std::collections::BTreeMap;

fn issuer(name: &str) -> IssuerInfo {
    IssuerInfo { subject: format!("subject-{name}"), public_key: format!("key-{name}") }
}

fn pem(name: &str) -> String {
    format!("-----BEGIN CERTIFICATE-----\n{name}\n-----END CERTIFICATE-----\n")
}

fn new_root(name: &str) -> NewRoot {
    NewRoot {
        ca_cert_pem: pem(name),
        ca_key_pem: format!("key of {name}"),
        cross_signed_pem: pem(&format!("{name} signed by old")),
        issuer: issuer(name),
        digest: "7".repeat(50),
        signed_by_pem: pem("old"),
        token_seed: [7; 32],
    }
}

fn cluster(w: &World) -> Cluster {
    control::cluster(&w.store).unwrap().clone()
}

/// A World whose swarm has a root with a key (the simulator's has none).
fn world_with_root(workers: usize) -> World {
    let mut w = World::new(workers);
    let cur = cluster(&w);
    let mut c = cur.clone();
    c.root_ca.ca_cert_pem = pem("old");
    c.root_ca.ca_key_pem = "key of old".into();
    c.root_ca.issuer = issuer("old");
    w.commit(vec![Action::Update { object: Object::Cluster(c), expected_version: cur.meta.version }]);
    w
}

/// Node `i` (of [`World::new`]'s workers) reports holding `tls`.
fn reports(w: &mut World, i: usize, tls: TlsInfo) {
    let mut r = reg(&format!("worker-{i}"), BTreeMap::new());
    r.description.tls_info = tls;
    w.pass(PassInput { registrations: vec![r], ..Default::default() });
}

fn rotate(new: NewRoot) -> ClusterUpdate {
    ClusterUpdate { rotate_ca: true, new_root: Some(new), ..Default::default() }
}

#[test]
fn a_rotation_ends_once_every_node_holds_a_certificate_of_the_new_root() {
    let mut w = world_with_root(3);
    let before = cluster(&w).root_ca;
    for i in 1..=3 {
        reports(&mut w, i, wanted(&before));
    }
    let p = progress(&before, w.store.list(Kind::Node).filter_map(node));
    assert_eq!((p.certs_rotated, p.roots_rotated, p.total, p.in_progress), (3, 3, 3, false));

    w.commit(control::update_cluster(&w.store, &rotate(new_root("new"))).unwrap());
    let during = cluster(&w);
    assert_eq!(during.spec.ca_config.force_rotate, 1);
    let r = during.root_ca.rotation.clone().expect("a rotation under way");
    assert_eq!(during.root_ca.ca_cert_pem, pem("old"), "the old root stays the swarm's until every node moved");
    assert_eq!((r.issuer.clone(), before.join_token_worker == during.root_ca.join_token_worker), (issuer("new"), true));
    assert!(r.join_token_worker.contains(&"7".repeat(50)) && r.join_token_worker != r.join_token_manager, "tokens of the new root");
    let want = wanted(&during.root_ca);
    assert!(want.trust_root.contains("old") && want.trust_root.contains("new"), "both roots trusted: {}", want.trust_root);
    assert_eq!(want.issuer, issuer("new"));
    let s = signing(&during.root_ca);
    assert_eq!((s.ca_key_pem, s.then), ("key of new", r.cross_signed_pem.as_str()), "the new root signs, its cross-signed copy follows");
    assert_eq!(signing(&before).then, "", "no rotation: the root alone");
    assert!(!holds(&wanted(&before), &want), "every node is told to renew");
    assert_eq!(instead(&during.root_ca, &wanted(&before)), Some(want.clone()));
    assert_eq!(instead(&during.root_ca, &want), None, "one that holds it is told nothing");
    assert_eq!(instead(&during.root_ca, &TlsInfo::default()), None, "nor one that reports nothing (the simulator's)");

    // Two nodes renew; a node that is down holds the rotation.
    reports(&mut w, 1, want.clone());
    reports(&mut w, 2, want.clone());
    assert!(cluster(&w).root_ca.rotation.is_some());
    let p = progress(&cluster(&w).root_ca, w.store.list(Kind::Node).filter_map(node));
    assert_eq!((p.certs_rotated, p.roots_rotated, p.total, p.in_progress), (2, 0, 3, true));

    // The last one renews: the new root is the swarm's, with its tokens.
    reports(&mut w, 3, want.clone());
    let after = cluster(&w).root_ca;
    assert_eq!((after.ca_cert_pem.as_str(), after.ca_key_pem.as_str(), &after.issuer), (pem("new").as_str(), "key of new", &issuer("new")));
    assert_eq!((&after.join_token_worker, &after.join_token_manager), (&r.join_token_worker, &r.join_token_manager));
    assert!(after.rotation.is_none());
    assert_eq!(wanted(&after), TlsInfo { trust_root: pem("new"), issuer: issuer("new") }, "then the new root alone");
    let p = progress(&after, w.store.list(Kind::Node).filter_map(node));
    assert_eq!((p.certs_rotated, p.roots_rotated, p.done()), (3, 0, false), "nodes still trust both");
    for i in 1..=3 {
        reports(&mut w, i, wanted(&after));
    }
    assert!(progress(&after, w.store.list(Kind::Node).filter_map(node)).done());
}

#[test]
fn a_node_removed_during_a_rotation_no_longer_holds_it() {
    let mut w = world_with_root(2);
    w.commit(control::update_cluster(&w.store, &rotate(new_root("new"))).unwrap());
    let want = wanted(&cluster(&w).root_ca);
    reports(&mut w, 1, want);
    assert!(cluster(&w).root_ca.rotation.is_some(), "worker-2 reports nothing yet");
    // worker-2 went down for good: removed (forced, as it is not down in this store).
    w.commit(control::remove_node(&w.store, "id-worker-2", true).unwrap());
    w.pass(PassInput::default());
    assert!(cluster(&w).root_ca.rotation.is_none() && cluster(&w).root_ca.ca_cert_pem == pem("new"));
}

#[test]
fn a_rotation_is_refused_with_what_was_wrong_and_changes_nothing() {
    // The simulator's swarm issues no certificates.
    let w = World::new(1);
    let e = control::update_cluster(&w.store, &rotate(new_root("new"))).unwrap_err();
    assert!(matches!(&e, ControlError::FailedPrecondition(m) if m.contains("issues no certificates")), "{e}");
    let e = control::update_cluster(&w.store, &ClusterUpdate { rotate_ca: true, ..Default::default() }).unwrap_err();
    assert!(matches!(e, ControlError::FailedPrecondition(_)), "{e}");

    let w = world_with_root(1);
    let bad = |f: fn(&mut NewRoot)| {
        let mut n = new_root("new");
        f(&mut n);
        control::update_cluster(&w.store, &rotate(n)).unwrap_err()
    };
    assert!(bad(|n| n.cross_signed_pem.clear()).to_string().contains("cross-signed certificate is empty"));
    assert!(bad(|n| n.digest = "NOT-A-DIGEST".into()).to_string().contains("not 50 base-36 digits"));
    assert!(bad(|n| n.issuer = issuer("old")).to_string().contains("needs a new key"));
    // Cross-signed by a root the swarm no longer has (a rotation ended meanwhile): retried.
    assert!(matches!(bad(|n| n.signed_by_pem = pem("older")), ControlError::OutOfSequence(_)));
    assert_eq!(cluster(&w).root_ca.rotation, None);

    // A second rotation replaces the first: its nodes renew again.
    let mut w = world_with_root(1);
    w.commit(control::update_cluster(&w.store, &rotate(new_root("one"))).unwrap());
    w.commit(control::update_cluster(&w.store, &rotate(new_root("two"))).unwrap());
    let c = cluster(&w);
    assert_eq!((c.root_ca.rotation.clone().unwrap().issuer, c.spec.ca_config.force_rotate), (issuer("two"), 2));

    // `join-token --rotate` during a rotation rotates the token the swarm moves to as well.
    let before = c.root_ca.rotation.unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
    w.commit(control::rotate_join_token(&w.store, crate::model::NodeRole::Worker, &mut rng).unwrap());
    let after = cluster(&w).root_ca.rotation.unwrap();
    assert!(after.join_token_worker != before.join_token_worker && after.join_token_manager == before.join_token_manager);
    assert!(after.join_token_worker.contains(&"7".repeat(50)), "still the new root's digest");
}

#[test]
fn holding_compares_certificates_not_their_line_endings() {
    let want = TlsInfo { trust_root: pem("a"), issuer: issuer("a") };
    let crlf = TlsInfo { trust_root: pem("a").replace('\n', "\r\n"), issuer: issuer("a") };
    assert!(holds(&crlf, &want));
    assert!(!holds(&TlsInfo { issuer: issuer("b"), ..crlf.clone() }, &want));
    assert!(!holds(&TlsInfo { trust_root: pem("b"), ..crlf }, &want));
    // A root made before Shoal recorded issuers asks only for the trust root.
    assert!(holds(&TlsInfo { trust_root: pem("a"), issuer: issuer("z") }, &TlsInfo { trust_root: pem("a"), issuer: IssuerInfo::default() }));
}

fn node(o: &Object) -> Option<&Node> {
    match o {
        Object::Node(n) => Some(n),
        _ => None,
    }
}

//! The simulated world's certificates, where a scenario turns them on (`[sim] certificates =
//! true`): enough of a PKI to run the production protocols that depend on who holds what —
//! joining with a CSR, renewal on promotion and demotion, root rotation (`swarm ca --rotate`),
//! and revocation — under crashes, partitions and leader changes.
//!
//! Owns: what each machine holds (its certificate and the roots it trusts, kept across crashes
//! as a disk would keep them), the signer the managers sign with ([`SimSigner`], a
//! [`CertSigner`] like production's), the handshake every call goes through
//! ([`SimAuthorizer`], the production [`Manager::serve_secure`] guards run after it), and each
//! machine's renewal loop ([`renew_loop`], production's `renew.rs` without files).
//!
//! The model: a certificate is text naming its node, role and issuing root, followed during a
//! rotation by the new root's copy cross-signed by the old one; a root is its name. A verifier
//! that trusts a set of roots accepts a certificate whose issuer it trusts, or whose
//! cross-signed copy was signed by a root it trusts (rustls follows the same chain). A call
//! between machines is a mutual handshake: each side verifies the other's certificate with
//! the roots it holds at the moment of the call (production verifies at connection time and
//! re-dials after a renewal; the model has no connections to keep). Callers that are not
//! machines (the scenario's operator, the load generators) hold a client bundle that every
//! root accepts. Expiry is not modelled (renewal at 50-80% of validity is production's).
//!
//! Checked (the `certificates` checker): a call between two nodes of the swarm is never
//! refused at the handshake by a manager whose store has caught up with the swarm's root
//! (the rotation's invariant: every two nodes of the swarm can always verify each other); at
//! convergence every live node of the swarm holds a certificate of the swarm's root, trusts
//! it alone, and no rotation is under way ([`Pki::unconverged`]).

use crate::invariants::Checkers;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shoal_core::ca::renewal;
use shoal_core::ca::rotation::{self, NewRoot};
use shoal_core::model::{IssuerInfo, Kind, NodeRole, Object, RootCa, TlsInfo};
use shoal_core::node::ca::CertSigner;
use shoal_core::node::{Authorizer, Caller, Manager};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::Status;

const ROOT: &str = "SIM-ROOT";
const KEY: &str = "SIM-KEY";
const CROSS: &str = "SIM-CROSS";
const CERT: &str = "SIM-CERT";
/// What a machine sends as its CSR (the model has no keys).
pub const CSR: &str = "SIM-CSR";

fn root_pem(name: &str) -> String {
    format!("{ROOT} {name}\n")
}

/// The root names a PEM bundle (or one root) holds.
fn roots(bundle: &str) -> BTreeSet<String> {
    bundle.lines().filter_map(|l| l.strip_prefix(ROOT).map(|n| n.trim().to_string())).collect()
}

fn issuer_of(name: &str) -> IssuerInfo {
    IssuerInfo { subject: name.to_string(), public_key: format!("key-of-{name}") }
}

/// A certificate as the model reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cert {
    node_id: String,
    role: NodeRole,
    issuer: String,
    /// The issuer's copy cross-signed by this root (during a rotation).
    cross_signed_by: Option<String>,
}

impl Cert {
    fn parse(text: &str) -> Option<Cert> {
        let mut lines = text.lines();
        let mut head = lines.next()?.strip_prefix(CERT)?.split_whitespace();
        let (node_id, role, issuer) = (head.next()?.to_string(), NodeRole::parse(head.next()?)?, head.next()?.to_string());
        let cross_signed_by = lines.find_map(|l| {
            let mut w = l.strip_prefix(CROSS)?.split_whitespace();
            (w.next()? == issuer).then(|| w.next().map(str::to_string)).flatten()
        });
        Some(Cert { node_id, role, issuer, cross_signed_by })
    }

    /// Whether a verifier trusting `trust` accepts this certificate.
    fn verified_by(&self, trust: &BTreeSet<String>) -> bool {
        trust.contains(&self.issuer) || self.cross_signed_by.as_ref().is_some_and(|by| trust.contains(by))
    }
}

/// What one machine holds.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub cert_pem: String,
    /// The roots it trusts (the bundle its join or last renewal answered with).
    pub trust_pem: String,
}

impl Held {
    /// What the node reports in its description (docker's `TLSInfo`).
    pub fn tls_info(&self) -> TlsInfo {
        match Cert::parse(&self.cert_pem) {
            Some(c) => TlsInfo { trust_root: self.trust_pem.clone(), issuer: issuer_of(&c.issuer) },
            None => TlsInfo::default(),
        }
    }
}

/// A live machine that is a node of the swarm, as convergence looks at it.
#[derive(Debug, Clone)]
pub struct Member {
    pub ip: IpAddr,
    pub name: String,
    pub node_id: String,
    /// The role the swarm wants it to have.
    pub role: NodeRole,
}

/// Every machine's certificates, by address.
pub struct Pki {
    held: Mutex<BTreeMap<IpAddr, Held>>,
    /// The machines' addresses (a caller from elsewhere is an operator's client bundle).
    machines: BTreeSet<IpAddr>,
    checkers: Arc<Checkers>,
    seed: u64,
    /// Roots made and token seeds drawn so far (each draw's own stream of the seed).
    draws: AtomicU64,
}

impl Pki {
    pub fn new(machines: BTreeSet<IpAddr>, checkers: Arc<Checkers>, seed: u64) -> Arc<Pki> {
        Arc::new(Pki { held: Mutex::default(), machines, checkers, seed, draws: AtomicU64::new(0) })
    }

    /// `swarm init`'s root, with the tokens `new_root` drew.
    pub fn first_root(&self, tokens: &RootCa) -> RootCa {
        let name = "root-0";
        RootCa { ca_cert_pem: root_pem(name), ca_key_pem: format!("{KEY} {name}\n"), issuer: issuer_of(name), ..tokens.clone() }
    }

    /// A bootstrap manager's certificate before its join named its node (see `Cluster::create`).
    pub fn provision_bootstrap(&self, ip: IpAddr, raft_id: u64) {
        let cert_pem = format!("{CERT} bootstrap-{raft_id} manager root-0\n");
        self.held.lock().unwrap().insert(ip, Held { cert_pem, trust_pem: root_pem("root-0") });
    }

    pub fn held(&self, ip: IpAddr) -> Option<Held> {
        self.held.lock().unwrap().get(&ip).cloned()
    }

    /// The machine left the swarm or learned it was removed: it holds nothing any more.
    pub fn forget(&self, ip: IpAddr) {
        self.held.lock().unwrap().remove(&ip);
    }

    /// A join or renewal answered: the machine holds `cert_pem` and trusts `trust_pem` now.
    pub fn set(&self, ip: IpAddr, cert_pem: String, trust_pem: String) {
        self.held.lock().unwrap().insert(ip, Held { cert_pem, trust_pem });
    }

    /// A fresh stream of the seed for the next draw.
    fn draw(&self) -> ChaCha8Rng {
        let n = self.draws.fetch_add(1, Ordering::SeqCst);
        // Not the explorer's certificate stream (seed ^ 0x706b69 << 40): a run of a plan under
        // the plan's seed would draw the same numbers.
        ChaCha8Rng::seed_from_u64(self.seed ^ 0x7369_676e_0000_0000 ^ n.rotate_left(24))
    }

    /// Why the machines' certificates have not converged, if they have not: every live
    /// member must hold a certificate of `root` for its own node in the role the swarm wants,
    /// and trust `root` alone, with no rotation under way.
    pub fn unconverged(&self, root: &RootCa, members: &[Member]) -> Option<String> {
        if root.rotation.is_some() {
            return Some("the root CA rotation is still under way".into());
        }
        let want = roots(&root.ca_cert_pem);
        let held = self.held.lock().unwrap();
        for Member { ip, name, node_id, role } in members {
            let h = held.get(ip).cloned().unwrap_or_default();
            match Cert::parse(&h.cert_pem) {
                None => return Some(format!("{name} holds no certificate")),
                Some(c) if c.node_id != *node_id => return Some(format!("{name} holds a certificate of node {} instead of {node_id}", c.node_id)),
                Some(c) if c.role != *role => return Some(format!("{name} holds a {} certificate, and the swarm wants it a {}", c.role.as_str(), role.as_str())),
                Some(c) if !want.contains(&c.issuer) => return Some(format!("{name} holds a certificate of {} instead of the swarm's root {want:?}", c.issuer)),
                Some(_) if roots(&h.trust_pem) != want => {
                    return Some(format!("{name} trusts {:?} instead of the swarm's root {want:?} alone", roots(&h.trust_pem)))
                }
                Some(_) => {}
            }
        }
        None
    }
}

/// The managers' signer in the simulated world.
pub struct SimSigner(pub Arc<Pki>);

impl std::fmt::Debug for SimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimSigner")
    }
}

impl CertSigner for SimSigner {
    fn sign(&self, root: &RootCa, csr_pem: &str, node_id: &str, role: NodeRole, _expiry_secs: u64) -> Result<String, String> {
        if csr_pem.trim() != CSR {
            return Err(format!("not a CSR of the simulated world: {csr_pem:?}"));
        }
        let s = rotation::signing(root);
        let issuer = roots(s.ca_cert_pem).into_iter().next().ok_or("the swarm's root is not a root of the simulated world")?;
        if s.ca_key_pem.trim() != format!("{KEY} {issuer}") {
            return Err(format!("the key at hand is not {issuer}'s"));
        }
        Ok(format!("{CERT} {node_id} {} {issuer}\n{}", role.as_str(), s.then))
    }

    fn new_root(&self, root: &RootCa) -> Result<NewRoot, String> {
        let old = roots(&root.ca_cert_pem).into_iter().next().ok_or("the swarm's root is not a root of the simulated world")?;
        let mut rng = self.0.draw();
        let name = format!("root-{:08x}", rng.gen::<u32>());
        Ok(NewRoot {
            ca_cert_pem: root_pem(&name),
            ca_key_pem: format!("{KEY} {name}\n"),
            cross_signed_pem: format!("{CROSS} {name} {old}\n"),
            issuer: issuer_of(&name),
            digest: shoal_core::ca::digest_base36(&rng.gen()),
            signed_by_pem: root.ca_cert_pem.clone(),
            token_seed: rng.gen(),
        })
    }

    fn token_seed(&self) -> Result<[u8; 32], String> {
        Ok(self.0.draw().gen())
    }
}

/// The handshake on one machine's server: who calls, with what, and whether the two verify
/// each other.
pub struct SimAuthorizer {
    pub pki: Arc<Pki>,
    pub me: IpAddr,
    pub name: String,
    pub manager: Arc<Manager>,
}

impl SimAuthorizer {
    /// A refused handshake between two nodes of the swarm is a violation once this manager's
    /// store has caught up with the root the server trusts (a store behind may still list a
    /// node the swarm removed before the rotation ended).
    fn handshake_refused(&self, caller: &Cert, me: &Held, why: String) -> Status {
        let members = self.manager.state.with_store(|s| {
            let root = shoal_core::control::cluster(s).ok().map(|c| c.root_ca.clone());
            let known = |id: &str| matches!(s.get(Kind::Node, id), Some(Object::Node(_)));
            let current = root.is_some_and(|r| roots(&rotation::trust_bundle(&r)) == roots(&me.trust_pem));
            current && known(&caller.node_id) && Cert::parse(&me.cert_pem).is_some_and(|c| known(&c.node_id))
        });
        if members {
            self.pki.checkers.violate("certificates", format!("{} refused a call from node {}, both of the swarm: {why}", self.name, caller.node_id));
        }
        Status::unavailable(format!("TLS handshake failed: {why}"))
    }
}

impl Authorizer for SimAuthorizer {
    fn authorize(&self, req: &tonic::Request<()>, service: &'static str, need: Caller) -> Result<(), Status> {
        let r = self.handshake(req, service, need);
        if let Err(s) = &r {
            let from = req.remote_addr().map(|a| a.ip().to_string()).unwrap_or_default();
            tracing::info!(target: "shoal::tls", node = %self.name, "refused {service} from {from}: {}", s.message());
        }
        r
    }

    fn caller_node(&self, req: &tonic::Request<()>) -> Option<String> {
        let from = req.remote_addr()?.ip();
        Cert::parse(&self.pki.held(from)?.cert_pem).map(|c| c.node_id)
    }
}

impl SimAuthorizer {
    fn handshake(&self, req: &tonic::Request<()>, service: &'static str, need: Caller) -> Result<(), Status> {
        let Some(from) = req.remote_addr().map(|a| a.ip()) else { return Err(Status::unauthenticated("no peer address")) };
        if need == Caller::Anyone || !self.pki.machines.contains(&from) {
            // Joining needs no certificate; the operator's client bundle opens the rest.
            return Ok(());
        }
        let unauthenticated = || Status::unauthenticated(format!("the {service} service needs this swarm's certificate"));
        let caller_held = self.pki.held(from).ok_or_else(unauthenticated)?;
        let caller = Cert::parse(&caller_held.cert_pem).ok_or_else(unauthenticated)?;
        let Some(me) = self.pki.held(self.me) else { return Err(Status::unavailable("this machine holds no certificate yet")) };
        let my_cert = Cert::parse(&me.cert_pem).ok_or_else(|| Status::unavailable("this machine holds no certificate yet"))?;
        if !caller.verified_by(&roots(&me.trust_pem)) {
            let why = format!("{} trusts {:?}, and the caller's certificate is of {}", self.name, roots(&me.trust_pem), caller.issuer);
            return Err(self.handshake_refused(&caller, &me, why));
        }
        if !my_cert.verified_by(&roots(&caller_held.trust_pem)) {
            let why = format!("the caller trusts {:?}, and {}'s certificate is of {}", roots(&caller_held.trust_pem), self.name, my_cert.issuer);
            return Err(self.handshake_refused(&caller, &me, why));
        }
        match need {
            Caller::Manager if caller.role != NodeRole::Manager => Err(Status::permission_denied(format!("the {service} service needs a manager's certificate"))),
            Caller::Itself if caller.node_id != my_cert.node_id => Err(Status::permission_denied(format!("the {service} service answers only this node"))),
            _ => Ok(()),
        }
    }
}

/// One machine's renewals (production's `renew.rs`, without files): when heartbeat answers
/// say the swarm wants another role or other certificates, ask the managers in turn for a
/// new certificate; what the machine holds goes back to the agent, which reports it. Ends with
/// the machine's life (a crash drops its tasks). A node that renewed from a worker's
/// certificate to a manager's (a promotion) then joins the raft as member `raft_id` at `addr`.
#[allow(clippy::too_many_arguments)]
pub async fn renew_loop(
    pki: Arc<Pki>,
    me: IpAddr,
    name: String,
    raft_id: u64,
    addr: String,
    mut desired: tokio::sync::watch::Receiver<NodeRole>,
    mut wanted: tokio::sync::watch::Receiver<Option<TlsInfo>>,
    held_tls: tokio::sync::watch::Sender<TlsInfo>,
    managers: tokio::sync::watch::Receiver<Vec<String>>,
) {
    /// At most one renewal attempt this often (production's gap).
    const MIN_GAP: Duration = Duration::from_secs(2);
    loop {
        // Ends with the agent that reports what it holds (a removal, a leave, a crash).
        if held_tls.is_closed() {
            return;
        }
        let held = pki.held(me).unwrap_or_default();
        // A machine that holds nothing (not joined yet) has nothing to renew.
        let held_role = Cert::parse(&held.cert_pem).map(|c| c.role);
        let want = *desired.borrow_and_update();
        let due = held_role.is_some_and(|role| renewal::due(role, want, &held.tls_info(), wanted.borrow_and_update().as_ref()));
        if !due {
            tokio::select! {
                biased;
                r = desired.changed() => if r.is_err() { return },
                r = wanted.changed() => if r.is_err() { return },
            }
            continue;
        }
        let list = managers.borrow().clone();
        for via in &list {
            let call = async {
                let ch = shoal_core::node::raft::network::channel(via).map_err(|e| Status::unavailable(e.to_string()))?;
                let mut c = shoal_core::proto::certificates_client::CertificatesClient::new(ch);
                c.renew(shoal_core::proto::RenewCertificateRequest { csr_pem: CSR.into() }).await
            };
            match tokio::time::timeout(Duration::from_secs(10), call).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    pki.set(me, r.certificate_pem, renewal::trust_after(r.ca_cert_pem, &held.trust_pem));
                    let now = pki.held(me).unwrap_or_default().tls_info();
                    tracing::info!(target: "shoal", node = %name, issuer = %now.issuer.subject, role = %r.role, "certificate renewed");
                    held_tls.send_replace(now);
                    let promoted = held_role.zip(NodeRole::parse(&r.role)).is_some_and(|(before, after)| renewal::promoted(before, after));
                    if promoted {
                        match shoal_core::node::agent::add_self_as_manager(&list, raft_id, &addr).await {
                            Ok(()) => tracing::info!(target: "shoal", node = %name, "promoted: a raft member now"),
                            Err(e) => tracing::info!(target: "shoal", node = %name, "promoted but not a raft member: {e}"),
                        }
                    }
                    break;
                }
                Ok(Err(s)) => tracing::debug!(target: "shoal", node = %name, "renewal at {via}: {}", s.message()),
                Err(_) => tracing::debug!(target: "shoal", node = %name, "renewal at {via}: no answer"),
            }
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cross_signed_certificate_is_verified_by_the_old_root_alone() {
        let c = Cert::parse("SIM-CERT n1 worker root-b\nSIM-CROSS root-b root-a\n").unwrap();
        assert_eq!(c.cross_signed_by.as_deref(), Some("root-a"));
        assert!(c.verified_by(&roots("SIM-ROOT root-a\n")));
        assert!(c.verified_by(&roots("SIM-ROOT root-b\n")));
        assert!(!c.verified_by(&roots("SIM-ROOT root-c\n")));
        let plain = Cert::parse("SIM-CERT n1 manager root-a\n").unwrap();
        assert!(!plain.verified_by(&roots("SIM-ROOT root-b\n")));
        // A cross-signed copy of another root does not vouch for this one.
        let other = Cert::parse("SIM-CERT n1 worker root-b\nSIM-CROSS root-c root-a\n").unwrap();
        assert!(!other.verified_by(&roots("SIM-ROOT root-a\n")));
    }
}

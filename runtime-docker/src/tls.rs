//! Mutual TLS for the `shoal` daemon and CLI (swarmkit's `ca` package, certificate half).
//!
//! Owns: the root CA `swarm init` makes (rcgen, ECDSA P-256, 20 years), node certificates
//! (CN node id, OU role, DNS names `shoal-manager`/`shoal-worker` and the node id, server and
//! client auth, valid for the swarm's `--cert-expiry`, 90 days by default), the certificate files in the data directory
//! (`certs/ca.crt`, `certs/node.crt`, `certs/node.key`, 0600), the TLS configs of tonic's
//! server and clients, the [`Authorizer`] that reads a caller's role from its certificate,
//! and the pinned first contact of a joining machine.
//!
//! Joining (as swarm's `SWMTKN`): the token carries the root CA's SHA-256 in base 36. A
//! machine that holds only the token opens one TLS handshake to the manager, accepts its chain
//! only if it contains a CA with that digest and the manager's certificate verifies against
//! it ([`fetch_pinned_ca`]), then trusts that CA for everything after. Its key never leaves
//! it: it sends a CSR and gets its certificate back.
//!
//! Invariants: every server certificate a client accepts chains to the swarm's root; a
//! worker's certificate never passes a [`Caller::Manager`] check; a request without a
//! certificate reaches only the node CA (joining).

use shoal_core::model::{NodeRole, RootCa};
use shoal_core::node::ca::CertSigner;
use shoal_core::node::raft::Disk;
use shoal_core::node::{Authorizer, Caller};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// Name every manager certificate carries and every client asks for (managers are dialled by
/// IP address, which certificates do not name).
pub const MANAGER_NAME: &str = "shoal-manager";
const WORKER_NAME: &str = "shoal-worker";
/// Swarm's default node certificate lifetime (renewed at 50-80% of it, daemon.rs).
pub const NODE_CERT_DAYS: i64 = 90;
const CA_CERT_DAYS: i64 = 20 * 365;
pub const CERTS_DIR: &str = "certs";
/// Where a new set of certificates is written before it replaces [`CERTS_DIR`], and where the
/// old set waits meanwhile ([`NodeCerts::save`]).
pub const CERTS_NEXT: &str = "certs.next";
pub const CERTS_OLD: &str = "certs.old";

/// Removes a directory that may not exist.
fn remove_dir(p: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot remove {}: {e}", p.display())),
        _ => Ok(()),
    }
}

/// Installs ring as rustls' process-wide crypto provider (CONTRIBUTING.md, measured facts:
/// builds 3x faster than aws-lc-rs). Idempotent.
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn err(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from(std::time::SystemTime::now())
}

/// `N` bytes from the OS's random source.
pub fn os_random<const N: usize>() -> Result<[u8; N], String> {
    use std::io::Read;
    let mut b = [0u8; N];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(b)
}

fn random_serial() -> Result<rcgen::SerialNumber, String> {
    let mut b: [u8; 16] = os_random()?;
    b[0] &= 0x7f; // a positive ASN.1 integer
    Ok(rcgen::SerialNumber::from_slice(&b))
}

/// The base-36 SHA-256 of a certificate (DER), as join tokens carry it.
pub fn digest(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut b = [0u8; 32];
    b.copy_from_slice(d.as_ref());
    shoal_core::ca::digest_base36(&b)
}

#[cfg(test)]
fn first_der(pem: &str, what: &str) -> Result<Vec<u8>, String> {
    let p = pem::parse(pem).map_err(|e| format!("{what} is not PEM: {e}"))?;
    Ok(p.contents().to_vec())
}

pub use roots::new_root;

/// A machine's new key and the CSR for it (the subject is the signer's choice, not ours).
pub fn new_key_and_csr() -> Result<(String, String), String> {
    let key = rcgen::KeyPair::generate().map_err(err("cannot make the node key"))?;
    let params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err("CSR parameters"))?;
    let csr = params.serialize_request(&key).map_err(err("cannot make the CSR"))?;
    Ok((key.serialize_pem(), csr.pem().map_err(err("CSR PEM"))?))
}

/// The signer of certificates now ([`shoal_core::ca::rotation::signing`]: the new root during
/// a rotation) and what follows each certificate it signs.
pub fn signer(root: &RootCa) -> Result<(rcgen::Issuer<'static, rcgen::KeyPair>, &str), String> {
    let shoal_core::ca::rotation::Signing { ca_cert_pem, ca_key_pem, then } = shoal_core::ca::rotation::signing(root);
    if ca_key_pem.is_empty() {
        return Err("this node's store holds no CA key: run this on a manager of the swarm".into());
    }
    let key = rcgen::KeyPair::from_pem(ca_key_pem).map_err(err("the CA key"))?;
    let issuer = rcgen::Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(err("the CA certificate"))?;
    Ok((issuer, then))
}

/// Signs with the root key held in the raft store (whichever manager leads).
#[derive(Debug)]
pub struct RootSigner;

impl CertSigner for RootSigner {
    fn sign(&self, root: &RootCa, csr_pem: &str, node_id: &str, role: NodeRole, expiry_secs: u64) -> Result<String, String> {
        let (issuer, then) = signer(root)?;
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(err("the CSR"))?;
        let role_name = match role {
            NodeRole::Manager => MANAGER_NAME,
            NodeRole::Worker => WORKER_NAME,
        };
        let mut params = rcgen::CertificateParams::new(vec![role_name.to_string(), node_id.to_string()]).map_err(err("node certificate"))?;
        params.distinguished_name.push(rcgen::DnType::CommonName, node_id);
        params.distinguished_name.push(rcgen::DnType::OrganizationalUnitName, role.as_str());
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "shoal");
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth, rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = now() - time::Duration::hours(1);
        let expiry_secs = i64::try_from(expiry_secs).unwrap_or(i64::MAX).clamp(shoal_core::control::MIN_CERT_EXPIRY_SECS as i64, 100 * 365 * 86_400);
        params.not_after = now() + time::Duration::seconds(expiry_secs);
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&csr.public_key, &issuer).map_err(err("cannot sign"))?;
        Ok(format!("{}\n{then}", cert.pem().trim_end()))
    }

    fn new_root(&self, root: &RootCa) -> Result<shoal_core::ca::rotation::NewRoot, String> {
        roots::rotation_root(root)
    }

    fn token_seed(&self) -> Result<[u8; 32], String> {
        os_random()
    }
}

/// This machine's certificate, key and the swarm's root CA, as PEM.
#[derive(Clone)]
pub struct NodeCerts {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl NodeCerts {
    /// The three files must match (a key and its certificate, the roots they chain to): a new
    /// set is written whole into [`CERTS_NEXT`] and swapped in by two renames, so a crash
    /// leaves the old set or the new one, never a mix ([`NodeCerts::load`] finishes a swap a
    /// crash cut short). A node renews twice in every root rotation.
    pub fn save(&self, data_dir: &Path) -> Result<(), String> {
        let (cur, next, old) = (data_dir.join(CERTS_DIR), data_dir.join(CERTS_NEXT), data_dir.join(CERTS_OLD));
        remove_dir(&next)?;
        let disk = crate::disk::FileDisk::open(&next).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        for (name, pem) in [("ca.crt", &self.ca_pem), ("node.crt", &self.cert_pem), ("node.key", &self.key_pem)] {
            disk.replace(name, pem.as_bytes()).map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        if cur.exists() {
            remove_dir(&old)?;
            std::fs::rename(&cur, &old).map_err(|e| format!("cannot move {} aside: {e}", cur.display()))?;
        }
        std::fs::rename(&next, &cur).map_err(|e| format!("cannot put the new certificates in {}: {e}", cur.display()))?;
        std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        remove_dir(&old)
    }

    /// A swap [`NodeCerts::save`] began and a crash cut short between its renames: the new set
    /// is whole in [`CERTS_NEXT`] (written and synced before the first rename).
    fn finish_swap(data_dir: &Path) -> Result<(), String> {
        let (cur, next, old) = (data_dir.join(CERTS_DIR), data_dir.join(CERTS_NEXT), data_dir.join(CERTS_OLD));
        if cur.exists() || !old.exists() {
            return Ok(());
        }
        let from = if next.exists() { next } else { old };
        std::fs::rename(&from, &cur).map_err(|e| format!("cannot restore {} from {}: {e}", cur.display(), from.display()))
    }

    /// Ok(None) when the directory holds no certificates.
    pub fn load(data_dir: &Path) -> Result<Option<NodeCerts>, String> {
        NodeCerts::finish_swap(data_dir)?;
        let dir = data_dir.join(CERTS_DIR);
        let read = |name: &str| std::fs::read_to_string(dir.join(name));
        match (read("ca.crt"), read("node.crt"), read("node.key")) {
            (Ok(ca_pem), Ok(cert_pem), Ok(key_pem)) => Ok(Some(NodeCerts { ca_pem, cert_pem, key_pem })),
            (Err(e), _, _) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(format!("cannot read the certificates in {}: {e}", dir.display())),
        }
    }

    /// When the certificate becomes valid and when it expires (unix seconds).
    pub fn validity(&self) -> Result<(i64, i64), String> {
        let der = pem::parse(&self.cert_pem).map_err(|e| format!("node.crt is not PEM: {e}"))?.into_contents();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| format!("node.crt: {e}"))?;
        Ok((cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
    }

    /// Err says why the certificate cannot be used now (expired, or not yet valid) and what
    /// to do about it; `now_unix` is the wall clock in seconds.
    pub fn usable_at(&self, now_unix: i64, data_dir: &Path) -> Result<(), String> {
        let der = pem::parse(&self.cert_pem).map_err(|e| format!("node.crt is not PEM: {e}"))?.into_contents();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| format!("node.crt: {e}"))?;
        let v = cert.validity();
        let when = |t: &x509_parser::time::ASN1Time| t.to_rfc2822().unwrap_or_else(|_| t.timestamp().to_string());
        if now_unix > v.not_after.timestamp() {
            return Err(format!(
                "this node's certificate ({}/{CERTS_DIR}/node.crt) expired on {}: a node renews it at 50-80% of its \
                 validity while its daemon runs, and this one was down past its end, so the swarm \
                 no longer knows it. Remove {} and join the swarm again with a token (`shoal swarm join-token` on a manager)",
                data_dir.display(),
                when(&v.not_after),
                data_dir.display()
            ));
        }
        if now_unix < v.not_before.timestamp() {
            return Err(format!(
                "this node's certificate is not valid before {}: this machine's clock is behind the swarm's; fix the clock",
                when(&v.not_before)
            ));
        }
        Ok(())
    }

    /// [`NodeCerts::usable_at`] the current time.
    pub fn usable(&self, data_dir: &Path) -> Result<(), String> {
        self.usable_at(now().unix_timestamp(), data_dir)
    }

    /// The role the certificate grants (its OU).
    pub fn role(&self) -> Result<NodeRole, String> {
        let der = pem::parse(&self.cert_pem).map_err(|e| format!("node.crt is not PEM: {e}"))?.into_contents();
        role_and_id_of(&der).map(|(role, _)| role).ok_or_else(|| "node.crt names no Shoal role (OU)".into())
    }

    /// The server config: our chain (node certificate + root, so joiners can pin the root),
    /// client certificates verified against the root but optional (joining machines have none;
    /// the [`CertAuthorizer`] refuses them everywhere but the node CA).
    pub fn server_tls(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(format!("{}{}", self.cert_pem, self.ca_pem), &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(true)
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// Every dial of this process: mTLS with our certificate, trusting only the root.
    pub fn install_client(&self) {
        install_client_tls(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca_pem)).domain_name(MANAGER_NAME).identity(Identity::from_pem(&self.cert_pem, &self.key_pem)));
    }
}

/// The data directory whose certificates the CLI dials with ([`reload_client`]).
static CLIENT_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The CLI: dials as the node whose data directory `dir` is; Err says why it cannot.
pub fn install_client_from(dir: &Path) -> Result<(), String> {
    let c = NodeCerts::load(dir)?.ok_or_else(|| {
        format!(
            "{} holds no swarm certificates: run this on a swarm node, or give --data-dir (SHOAL_DATA_DIR) of one; \
             `shoal swarm init` or `shoal swarm join` makes a node",
            dir.display()
        )
    })?;
    c.usable(dir)?;
    c.install_client();
    let _ = CLIENT_DIR.set(dir.to_path_buf());
    Ok(())
}

/// A CLI that outlives its node's certificates (`swarm ca --rotate` waits while every node,
/// its own too, renews and comes to trust the new root alone) dials with the node's current
/// files again.
pub fn reload_client() {
    if let Some(c) = CLIENT_DIR.get().and_then(|d| NodeCerts::load(d).ok().flatten()) {
        c.install_client();
    }
}

/// Dials of a machine that has the root CA but no certificate yet (joining).
pub fn install_anonymous_client(ca_pem: &str) {
    install_client_tls(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name(MANAGER_NAME));
}

/// Every dial verifies the server's certificate by the name of the role it is dialled as:
/// managers for everything but `TaskLogs`, which a manager may ask of a worker.
fn install_client_tls(tls: ClientTlsConfig) {
    shoal_core::node::raft::network::set_endpoint_maker(Some(Arc::new(move |addr: &str, role: NodeRole| {
        let tls = match role {
            NodeRole::Manager => tls.clone(),
            NodeRole::Worker => tls.clone().domain_name(WORKER_NAME),
        };
        Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)
    })));
}

/// The Shoal role (subject OU) and node id (subject CN) of a certificate.
fn role_and_id_of(der: &[u8]) -> Option<(NodeRole, String)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let ou = cert.subject().iter_organizational_unit().next()?.as_str().ok()?.to_string();
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some((NodeRole::parse(&ou)?, cn))
}

/// Reads the caller's role and node id from its verified client certificate (rustls checked
/// that it chains to our root before the request got here). `node_id`: this node's own id,
/// the only caller of its `Local` service.
pub struct CertAuthorizer {
    pub node_id: String,
}

impl Authorizer for CertAuthorizer {
    fn authorize(&self, req: &tonic::Request<()>, service: &'static str, need: Caller) -> Result<(), tonic::Status> {
        if need == Caller::Anyone {
            return Ok(());
        }
        let caller = req.peer_certs().and_then(|certs| certs.first().and_then(|c| role_and_id_of(c.as_ref())));
        match (need, caller) {
            (_, None) => Err(tonic::Status::unauthenticated(format!(
                "the {service} API needs a certificate of this swarm: join it first (`shoal swarm join --token …`)"
            ))),
            (Caller::Manager, Some((NodeRole::Worker, _))) => Err(tonic::Status::permission_denied(format!(
                "a worker's certificate cannot call the {service} API: this node is not a swarm manager; run the command on a manager"
            ))),
            (Caller::Itself, Some((_, id))) if id != self.node_id => Err(tonic::Status::permission_denied(format!(
                "the {service} API answers only this node's own certificate (node {}), not node {id}'s: run the command on this node's machine",
                self.node_id
            ))),
            _ => Ok(()),
        }
    }

    fn caller_node(&self, req: &tonic::Request<()>) -> Option<String> {
        req.peer_certs().and_then(|certs| certs.first().and_then(|c| role_and_id_of(c.as_ref()))).map(|(_, id)| id)
    }
}

/// A server-certificate verifier for a joiner's first handshake: accepts the chain only if it
/// carries a CA whose digest is the token's and the end certificate verifies against that CA
/// (as a manager's); remembers the CA.
#[derive(Debug)]
struct PinnedRoot {
    digest: String,
    found: Mutex<Option<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedRoot {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.iter().find(|c| digest(c.as_ref()) == self.digest) else {
            return Err(rustls::Error::General(
                "the manager's root CA does not match the join token's digest: wrong token, not the swarm you meant, or the swarm's root CA was rotated since the token was made (get the current one with `shoal swarm join-token` on a manager)".into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned()).map_err(|e| rustls::Error::General(format!("root CA: {e}")))?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        // During a root rotation the manager's certificate is the new root's, verified
        // through the new root's certificate cross-signed by the pinned one.
        let others: Vec<_> = intermediates.iter().filter(|c| c.as_ref() != ca.as_ref()).cloned().collect();
        let ok = inner.verify_server_cert(end_entity, &others, server_name, ocsp_response, now)?;
        *self.found.lock().unwrap_or_else(|e| e.into_inner()) = Some(ca.as_ref().to_vec());
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// How long a client may take to finish its TLS handshake with one of our listeners (gRPC and
/// the Engine API): a connection that never finishes one is closed instead of held for ever.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Time allowed for the pinned handshake.
const PIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A joiner's first contact: one TLS handshake with `manager` that succeeds only if the manager
/// proves it belongs to the swarm the token names. Returns the root CA (PEM).
pub async fn fetch_pinned_ca(manager: &str, token: &str) -> Result<String, String> {
    let digest = shoal_core::ca::digest_of(token.trim()).ok_or_else(|| {
        shoal_core::ca::TokenError::Malformed(token.trim().to_string()).to_string()
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedRoot { digest: digest.to_string(), found: Mutex::new(None), provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(MANAGER_NAME).expect("valid DNS name");
    let handshake = async {
        let tcp = tokio_rt::net::TcpStream::connect(manager).await.map_err(|e| format!("cannot connect to {manager}: {e}"))?;
        connector.connect(name, tcp).await.map_err(|e| format!("{manager}: {e}"))
    };
    match tokio_rt::time::timeout(PIN_TIMEOUT, handshake).await {
        Err(_) => return Err(format!("{manager} did not complete a TLS handshake within {PIN_TIMEOUT:?}")),
        Ok(r) => drop(r?),
    }
    let der = verifier.found.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("the manager presented no root CA")?;
    Ok(pem::encode(&pem::Pem::new("CERTIFICATE", der)))
}

pub mod failure;
pub mod roots;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rotation_tests;
#[cfg(test)]
mod fuzz_tests;

//! The Engine API over TCP with mutual TLS (`--docker-api tcp://IP:PORT`, dockerd's
//! `--tlsverify`): clients present a certificate of the swarm's CA (`shoal ca client-bundle
//! DIR` writes one in the layout `DOCKER_CERT_PATH` expects), and the server shows a
//! certificate of that CA naming the addresses clients dial.
//!
//! Certificates here are signed by the manager itself with the root key its store holds (as
//! the leader signs node certificates): the API's server certificate names IP addresses,
//! which node certificates do not, and a client bundle is for an operator, not a node (its OU
//! is `client`, so it opens no gRPC service: those need a node's role).
//!
//! Invariant: a connection reaches the API only after a handshake in which the client proved
//! a certificate chaining to the swarm's root that is not a worker's (a client bundle's or a
//! manager's); handshakes run beside the accept loop, each
//! bounded by [`HANDSHAKE_TIMEOUT`], so a silent client holds up no one.

use shoal_core::model::RootCa;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rt::net::{TcpListener, TcpStream};

use crate::tls::HANDSHAKE_TIMEOUT;
/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 64;
/// Lifetime of the certificates made here (a node certificate's).
const CERT_DAYS: i64 = crate::tls::NODE_CERT_DAYS;
/// The subject OU of a client bundle: no Shoal role.
pub const CLIENT_OU: &str = "client";

fn err(what: &'static str) -> impl Fn(rcgen::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// A new key and a certificate for it signed by the swarm's root: a server certificate naming
/// `names` (IP addresses or DNS names), or a client certificate (`client`).
pub fn issue(root: &RootCa, names: &[String], client: bool) -> Result<(String, String), String> {
    let (issuer, then) = crate::tls::signer(root)?;
    let key = rcgen::KeyPair::generate().map_err(err("cannot make a key"))?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(err("certificate names"))?;
    let cn = if client { "docker-client" } else { "shoal-engine-api" };
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name.push(rcgen::DnType::OrganizationalUnitName, if client { CLIENT_OU } else { "engine-api" });
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "shoal");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages =
        vec![if client { rcgen::ExtendedKeyUsagePurpose::ClientAuth } else { rcgen::ExtendedKeyUsagePurpose::ServerAuth }];
    #[allow(clippy::disallowed_methods)] // The production shell reads the wall clock.
    let now = time::OffsetDateTime::from(std::time::SystemTime::now());
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CERT_DAYS);
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer).map_err(err("cannot sign"))?;
    Ok((format!("{}\n{then}", cert.pem().trim_end()), key.serialize_pem()))
}

/// The subject OU of a certificate (a node's role, or [`CLIENT_OU`]).
fn subject_ou(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let ou = cert.subject().iter_organizational_unit().next()?.as_str().ok()?.to_string();
    Some(ou)
}

fn der_of(pem_text: &str, what: &str) -> Result<Vec<u8>, String> {
    Ok(pem::parse(pem_text).map_err(|e| format!("{what} is not PEM: {e}"))?.into_contents())
}

/// Whether a client must show a certificate of the swarm's CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// The Engine API: no certificate, no connection.
    Required,
    /// The cluster page (ui/): a browser without one may show a read-only token instead.
    Optional,
}

/// Who connected: their address, and whether they showed a certificate of the swarm's CA
/// (always, under [`ClientAuth::Required`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub certified: bool,
}

/// rustls' server config: our certificate, client certificates verified against the swarm's
/// root (required or optional).
fn server_config(root: &RootCa, cert_pem: &str, key_pem: &str, auth: ClientAuth) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    // Both roots during a rotation (`shoal_core::ca::rotation`).
    let bundle = shoal_core::ca::rotation::trust_bundle(root);
    let cas = crate::tls::roots::certificates(&bundle, "the CA certificates")?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in &cas {
        roots.add(ca.clone()).map_err(|e| format!("the CA certificate: {e}"))?;
    }
    let builder = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots));
    let builder = if auth == ClientAuth::Optional { builder.allow_unauthenticated() } else { builder };
    let verifier = builder.build().map_err(|e| format!("client verifier: {e}"))?;
    // Our certificate, what was signed with it (a rotation's cross-signed root), the roots.
    let mut chain = crate::tls::roots::certificates(cert_pem, "the API certificate")?;
    chain.extend(cas);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der_of(key_pem, "the API key")?));
    rustls::ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(chain, key).map_err(|e| format!("TLS: {e}"))
}

/// Connections open at once under [`ClientAuth::Optional`], where anyone may finish a
/// handshake: more are closed at accept (each holds a descriptor of the process that runs raft).
pub const OPTIONAL_CONNECTIONS_MAX: usize = 128;

/// A connection holding its place among [`OPTIONAL_CONNECTIONS_MAX`] until it closes.
pub struct Held {
    inner: tokio_rustls::server::TlsStream<TcpStream>,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

// Plain delegation (the stream is Unpin).
impl tokio_rt::io::AsyncRead for Held {
    fn poll_read(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio_rt::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl tokio_rt::io::AsyncWrite for Held {
    fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepted connections that finished their handshake (axum's [`axum::serve::Listener`]).
pub struct TlsListener {
    ready: tokio::sync::mpsc::Receiver<(Held, Peer)>,
    local: Peer,
}

impl axum::serve::Listener for TlsListener {
    type Io = Held;
    type Addr = Peer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept loop ended (its socket failed): serve nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(self.local)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        *stream.remote_addr()
    }
}

/// The swarm's root CA as the store shows it now (None: not known).
pub type CurrentRoot = Box<dyn Fn() -> Option<RootCa> + Send + Sync>;

/// A server certificate naming `names` signed by whoever signs for `root` now, and the TLS
/// acceptor that shows it and trusts `root`'s roots.
fn acceptor_for(root: &RootCa, names: &[String], auth: ClientAuth) -> Result<tokio_rustls::TlsAcceptor, String> {
    let (cert, key) = issue(root, names, false)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server_config(root, &cert, &key, auth)?)))
}

/// Listens on `addr` with a server certificate naming `names`, signed by `root`. `what`
/// names the server in the log. When `current` shows other roots to trust (a root rotation,
/// `shoal_core::ca::rotation`), the next connection gets a new certificate and trust.
pub async fn bind(addr: SocketAddr, root: &RootCa, current: CurrentRoot, names: &[String], auth: ClientAuth, what: &'static str) -> Result<TlsListener, String> {
    let mut acceptor = acceptor_for(root, names, auth)?;
    let mut built_for = shoal_core::ca::rotation::trust_bundle(root);
    let names = names.to_vec();
    let tcp = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = Peer { addr: tcp.local_addr().map_err(|e| e.to_string())?, certified: false };
    let (tx, ready) = tokio::sync::mpsc::channel(READY_QUEUE);
    let slots = (auth == ClientAuth::Optional).then(|| Arc::new(tokio::sync::Semaphore::new(OPTIONAL_CONNECTIONS_MAX)));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match tcp.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(target: "shoal", "{what} accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = match &slots {
                None => None,
                Some(s) => match s.clone().try_acquire_owned() {
                    Ok(p) => Some(p),
                    Err(_) => {
                        tracing::info!(target: "shoal", %peer, "{what}: {OPTIONAL_CONNECTIONS_MAX} connections open already: closed");
                        continue;
                    }
                },
            };
            if let Some(r) = current() {
                let bundle = shoal_core::ca::rotation::trust_bundle(&r);
                if bundle != built_for {
                    match acceptor_for(&r, &names, auth) {
                        Ok(a) => {
                            tracing::info!(target: "shoal", "{what}: the swarm's roots changed (a root rotation): serving a new certificate");
                            (acceptor, built_for) = (a, bundle);
                        }
                        // Said once per change of the roots, not per connection.
                        Err(e) => {
                            tracing::warn!(target: "shoal", "{what}: still the certificate of the previous roots: {e}");
                            built_for = bundle;
                        }
                    }
                }
            }
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                        let (ou, certified) = (cert.and_then(|c| subject_ou(c.as_ref())), cert.is_some());
                        if ou.as_deref() == Some("worker") {
                            // A worker's node certificate chains to the root too, but grants no
                            // manager rights, here as on the gRPC API.
                            tracing::info!(target: "shoal", %peer, "{what} refused a worker's certificate");
                            return;
                        }
                        let _ = tx.send((Held { inner: tls, _slot: slot }, Peer { addr: peer, certified })).await;
                    }
                    Ok(Err(e)) => tracing::info!(target: "shoal", %peer, "{what} TLS handshake refused: {e}"),
                    Err(_) => tracing::info!(target: "shoal", %peer, "{what} TLS handshake not finished within {HANDSHAKE_TIMEOUT:?}"),
                }
            });
        }
    });
    Ok(TlsListener { ready, local })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A client bundle opens no gRPC service: its OU is no node role.
    #[test]
    fn client_certificates_carry_no_node_role() {
        crate::tls::install_provider();
        let root = crate::tls::new_root().unwrap();
        let (cert, _) = issue(&root, &[], true).unwrap();
        let ou = subject_ou(&der_of(&cert, "cert").unwrap()).unwrap();
        assert_eq!(ou, CLIENT_OU);
        assert!(shoal_core::model::NodeRole::parse(&ou).is_none());
        let (server, key) = issue(&root, &["127.0.0.1".into(), "localhost".into()], false).unwrap();
        assert!(server_config(&root, &server, &key, ClientAuth::Required).is_ok());
        assert!(server_config(&root, &server, &key, ClientAuth::Optional).is_ok());
        let no_key = RootCa { ca_key_pem: String::new(), ..root };
        assert!(issue(&no_key, &[], true).unwrap_err().contains("run this on a manager"));
    }

    /// A client that trusts only the new root (a client bundle made after the rotation began)
    /// reaches the listener once the store shows the rotation, without a restart.
    #[tokio_rt::test(flavor = "multi_thread", worker_threads = 2, crate = "tokio_rt")]
    async fn the_listener_follows_a_root_rotation() {
        use shoal_core::node::ca::CertSigner;
        crate::tls::install_provider();
        let old = crate::tls::new_root().unwrap();
        let new = crate::tls::RootSigner.new_root(&old).unwrap();
        let during = shoal_core::ca::rotation::start(&old, new.clone()).unwrap();
        let now = Arc::new(std::sync::Mutex::new(old.clone()));
        let seen = now.clone();
        let current: CurrentRoot = Box::new(move || Some(seen.lock().unwrap().clone()));
        let l = bind("127.0.0.1:0".parse().unwrap(), &old, current, &["127.0.0.1".into()], ClientAuth::Optional, "test").await.unwrap();
        let addr = l.local.addr;
        let dial = || {
            let ca = new.ca_cert_pem.clone();
            async move {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(rustls::pki_types::CertificateDer::from(der_of(&ca, "ca").unwrap())).unwrap();
                let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
                let tcp = TcpStream::connect(addr).await.unwrap();
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map(drop)
            }
        };
        assert!(dial().await.is_err(), "the old root's certificate: not trusted by the new root alone");
        *now.lock().unwrap() = during;
        dial().await.expect("a certificate of the new root, once the rotation is in the store");
    }
}

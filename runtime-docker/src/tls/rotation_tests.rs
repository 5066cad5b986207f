//! A root rotation on real handshakes: nodes at each step of the rotation (before, renewed
//! during it, renewed after it) verify each other whenever the protocol lets them meet
//! (`shoal_core::ca::rotation`), the certificates they hold report the issuer the swarm
//! wants, and a joiner with a token of the old root pins it while the manager already holds a
//! certificate of the new one.

use super::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use shoal_core::ca::rotation;

fn certs_for(root: &RootCa, node_id: &str) -> NodeCerts {
    let (key_pem, csr) = new_key_and_csr().unwrap();
    let cert_pem = RootSigner.sign(root, &csr, node_id, NodeRole::Manager, NODE_CERT_DAYS as u64 * 86_400).unwrap();
    NodeCerts { ca_pem: rotation::trust_bundle(root), cert_pem, key_pem }
}

fn ders(pem_text: &str) -> Vec<CertificateDer<'static>> {
    super::roots::certificates(pem_text, "test").unwrap()
}

fn roots(c: &NodeCerts) -> Arc<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    for d in ders(&c.ca_pem) {
        r.add(d).unwrap();
    }
    Arc::new(r)
}

fn key(c: &NodeCerts) -> PrivateKeyDer<'static> {
    PrivateKeyDer::try_from(pem::parse(&c.key_pem).unwrap().into_contents()).unwrap()
}

/// A listener configured as [`NodeCerts::server_tls`] configures tonic's: our chain and the
/// roots we trust, client certificates verified against those roots.
async fn serve(c: &NodeCerts) -> String {
    let verifier = rustls::server::WebPkiClientVerifier::builder(roots(c)).allow_unauthenticated().build().unwrap();
    let chain = ders(&format!("{}{}", c.cert_pem, c.ca_pem));
    let config = rustls::ServerConfig::builder().with_client_cert_verifier(verifier).with_single_cert(chain, key(c)).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = tokio_rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio_rt::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio_rt::spawn(async move {
                // A refused client certificate ends the handshake here; the client sees it.
                if let Ok(mut s) = acceptor.accept(tcp).await {
                    use tokio_rt::io::{AsyncReadExt, AsyncWriteExt};
                    let mut b = [0u8; 1];
                    if s.read(&mut b).await.is_ok() {
                        let _ = s.write_all(b"y").await;
                        let _ = s.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

/// A client as [`NodeCerts::install_client`] dials: our roots, our certificate (and what was
/// sent with it). Ok once both sides accepted the other.
async fn dial(addr: &str, c: &NodeCerts) -> Result<(), String> {
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots(c))
        .with_client_auth_cert(ders(&c.cert_pem), key(c))
        .map_err(|e| e.to_string())?;
    let tcp = tokio_rt::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(MANAGER_NAME).unwrap(), tcp)
        .await
        .map_err(|e| format!("server refused: {e}"))?;
    // TLS 1.3: the server checks the client's certificate after the client's handshake ended;
    // a refusal arrives as an alert on the first read.
    use tokio_rt::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"x").await.map_err(|e| e.to_string())?;
    let mut b = [0u8; 1];
    match tokio_rt::time::timeout(std::time::Duration::from_secs(5), s.read(&mut b)).await {
        Ok(Ok(1)) if b == *b"y" => Ok(()),
        Ok(Err(e)) => Err(format!("client refused: {e}")),
        other => Err(format!("no answer: {other:?}")),
    }
}

#[tokio_rt::test(flavor = "multi_thread", worker_threads = 2, crate = "tokio_rt")]
async fn nodes_at_every_step_of_a_rotation_verify_each_other() {
    install_provider();
    let old = new_root().unwrap();
    let new = RootSigner.new_root(&old).unwrap();
    let during = rotation::start(&old, new.clone()).unwrap();
    // The rotation ends (every node reported the new issuer).
    let after = RootCa {
        ca_cert_pem: new.ca_cert_pem.clone(),
        ca_key_pem: new.ca_key_pem.clone(),
        issuer: new.issuer.clone(),
        rotation: None,
        ..old.clone()
    };
    let before_node = certs_for(&old, "a");
    let renewed_during = certs_for(&during, "b");
    let renewed_after = certs_for(&after, "c");

    // What each reports, against what the swarm wants at each step.
    assert_eq!(before_node.tls_info().issuer, old.issuer);
    assert_eq!(renewed_during.tls_info().issuer, new.issuer, "a certificate of the new root, sent with its cross-signed copy");
    assert_eq!(renewed_after.tls_info().issuer, new.issuer);
    assert!(rotation::holds(&before_node.tls_info(), &rotation::wanted(&old)));
    assert!(!rotation::holds(&before_node.tls_info(), &rotation::wanted(&during)), "told to renew");
    assert!(rotation::holds(&renewed_during.tls_info(), &rotation::wanted(&during)));
    assert!(!rotation::holds(&renewed_during.tls_info(), &rotation::wanted(&after)), "told to trust the new root alone");
    assert!(rotation::holds(&renewed_after.tls_info(), &rotation::wanted(&after)));

    // Who meets whom: during the rotation the old and the renewed, after it the renewed and
    // the renewed again. Both ways each.
    for (x, y) in [(&before_node, &renewed_during), (&renewed_during, &renewed_after), (&renewed_during, &renewed_during), (&renewed_after, &renewed_after)] {
        for (server, client) in [(x, y), (y, x)] {
            let addr = serve(server).await;
            dial(&addr, client).await.unwrap_or_else(|e| panic!("{}: {e}", server.tls_info().issuer.subject));
        }
    }
    // The protocol never lets these two meet, and they could not: the check above can fail.
    let addr = serve(&renewed_after).await;
    assert!(dial(&addr, &before_node).await.is_err(), "a node trusting only the old root cannot verify the new root's certificate");

    // A joiner holding a token of the old root pins it, though the manager shows a
    // certificate of the new root.
    let addr = serve(&renewed_during).await;
    let pinned = fetch_pinned_ca(&addr, &old.join_token_worker).await.unwrap();
    assert!(ders(&pinned) == ders(&old.ca_cert_pem), "the pinned root is the old one");
    // After the rotation the new tokens name the new root.
    let new_token = &during.rotation.as_ref().unwrap().join_token_worker;
    let addr = serve(&renewed_after).await;
    assert!(ders(&fetch_pinned_ca(&addr, new_token).await.unwrap()) == ders(&new.ca_cert_pem));
    assert!(fetch_pinned_ca(&addr, &old.join_token_worker).await.is_err(), "an old token names a root the manager no longer shows");
}

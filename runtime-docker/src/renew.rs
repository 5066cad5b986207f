//! Certificate renewal on a running node: at a random point of its certificate's validity
//! (swarm's 50-80% window), when the swarm wants the node in another role (a promotion or
//! demotion the heartbeat answers announce), or when heartbeat answers say the node must hold
//! other roots or a certificate of another root (a root rotation, `shoal_core::ca::rotation`),
//! it asks the managers it knows for a certificate for a new key, saves it with the roots the
//! answer names, and hands it to the daemon, which serves and dials with it. What the node
//! holds goes back to the agent, whose heartbeats report it.

use crate::daemon::os_random_u64;
use crate::tls::{self, NodeCerts};
use shoal_core::model::{NodeRole, TlsInfo};
use std::path::PathBuf;

/// Renews a certificate at a random point between 50 and 80% of its validity (swarm's
/// window, so a swarm's nodes do not all renew at once).
fn renew_at_unix(certs: &NodeCerts) -> i64 {
    let (from, to) = certs.validity().unwrap_or((0, 0));
    let fraction = 0.5 + 0.3 * (os_random_u64().unwrap_or(0) % 1_000) as f64 / 1_000.0;
    from + ((to - from) as f64 * fraction) as i64
}

/// Asks the managers in turn for a certificate for a new key; the role is the swarm's.
async fn renew_once(certs: &NodeCerts, managers: &[String]) -> Result<NodeCerts, String> {
    let (key_pem, csr_pem) = tls::new_key_and_csr()?;
    let mut last = "no manager known".to_string();
    for addr in managers {
        let ch = shoal_core::node::raft::network::channel(addr).map_err(|e| e.to_string())?;
        let mut c = shoal_core::proto::certificates_client::CertificatesClient::new(ch);
        let req = shoal_core::proto::RenewCertificateRequest { csr_pem: csr_pem.clone() };
        match tokio::time::timeout(std::time::Duration::from_secs(10), c.renew(req)).await {
            Ok(Ok(r)) => {
                let r = r.into_inner();
                // The roots to trust come from a manager this node verified with the ones it
                // trusts.
                let ca_pem = shoal_core::ca::renewal::trust_after(r.ca_cert_pem, &certs.ca_pem);
                return Ok(NodeCerts { ca_pem, cert_pem: r.certificate_pem, key_pem });
            }
            Ok(Err(s)) => last = format!("{addr}: {}", s.message()),
            Err(_) => last = format!("{addr}: no answer within 10 s"),
        }
    }
    Err(last)
}

/// Keeps this node's certificate current: renews it when the swarm wants another role
/// (`node promote|demote`, learned from heartbeat answers through `desired`), other roots or
/// another issuer (`tls_wanted`, a root rotation), or once 50-80% of its validity passed;
/// `held` is told what the node holds. The new certificate is saved, used for new dials at once, and
/// handed to the daemon (`swap`) to serve with; a node promoted this way then asks for its
/// raft membership (a demoted one was removed from the raft before its desired role changed).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn renew_loop(
    dir: PathBuf,
    mut certs: NodeCerts,
    mut desired: tokio::sync::watch::Receiver<NodeRole>,
    mut tls_wanted: tokio::sync::watch::Receiver<Option<TlsInfo>>,
    held_tls: tokio::sync::watch::Sender<TlsInfo>,
    managers: tokio::sync::watch::Receiver<Vec<String>>,
    raft_id: u64,
    advertise: String,
    swap: tokio::sync::mpsc::Sender<NodeCerts>,
) {
    /// At most one renewal attempt this often (a manager whose store is behind may sign the
    /// old role once more).
    const MIN_GAP: std::time::Duration = std::time::Duration::from_secs(2);
    let mut renew_at = renew_at_unix(&certs);
    loop {
        let held = certs.role().unwrap_or(NodeRole::Worker);
        let want = *desired.borrow_and_update();
        let due = shoal_core::ca::renewal::due(held, want, &certs.tls_info(), tls_wanted.borrow_and_update().as_ref());
        #[allow(clippy::disallowed_methods)] // The production shell reads the wall clock.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        if !due && now < renew_at {
            // A day at most, so a clock that jumps is noticed.
            let wait = std::time::Duration::from_secs((renew_at - now).clamp(1, 86_400) as u64);
            tokio::select! {
                biased;
                r = desired.changed() => if r.is_err() { return },
                r = tls_wanted.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let list = managers.borrow().clone();
        match renew_once(&certs, &list).await {
            Ok(new) => {
                let role = new.role().unwrap_or(NodeRole::Worker);
                if let Err(e) = new.save(&dir) {
                    tracing::warn!(target: "shoal", "renewed certificate not saved: {e}");
                    tokio::time::sleep(MIN_GAP).await;
                    continue;
                }
                new.install_client();
                tracing::info!(target: "shoal", from = held.as_str(), to = role.as_str(), "certificate renewed");
                if swap.send(new.clone()).await.is_err() {
                    return;
                }
                certs = new;
                held_tls.send_replace(certs.tls_info());
                renew_at = renew_at_unix(&certs);
                if shoal_core::ca::renewal::promoted(held, role) {
                    // Promoted: serve raft with the manager certificate first (the server is
                    // restarting with it), then become a member.
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    match shoal_core::node::agent::add_self_as_manager(&list, raft_id, &advertise).await {
                        Ok(()) => tracing::info!(target: "shoal", "promoted: a raft member now"),
                        Err(e) => tracing::warn!(target: "shoal", "promoted but not a raft member: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!(target: "shoal", "certificate renewal failed: {e}"),
        }
        tokio::time::sleep(MIN_GAP).await;
    }
}


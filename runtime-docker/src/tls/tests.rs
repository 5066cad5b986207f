//! mTLS on real sockets: a one-manager swarm served with [`Manager::serve_secure`], called with
//! a manager's, a worker's, no and a foreign certificate; the pinned first contact; a join
//! with a CSR. One test: the endpoint maker is process-wide.

use super::*;
use shoal_core::model::RaftConfig;
use shoal_core::node::raft::NoObserver;
use shoal_core::node::{Manager, NodeConfig};
use shoal_core::proto::{self, control_request::Op};
use std::collections::BTreeMap;
use std::time::Duration;

fn certs_for(root: &RootCa, node_id: &str, role: NodeRole) -> NodeCerts {
    let (key_pem, csr) = new_key_and_csr().unwrap();
    let cert_pem = RootSigner.sign(root, &csr, node_id, role, NODE_CERT_DAYS as u64 * 86_400).unwrap();
    NodeCerts { ca_pem: root.ca_cert_pem.clone(), cert_pem, key_pem }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

async fn endpoint(addr: &str, ca_pem: &str, me: Option<&NodeCerts>) -> tonic::transport::Channel {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name(MANAGER_NAME);
    if let Some(c) = me {
        tls = tls.identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
    }
    Endpoint::from_shared(format!("https://{addr}")).unwrap().tls_config(tls).unwrap().connect_timeout(Duration::from_secs(2)).connect_lazy()
}

async fn list_services(ch: tonic::transport::Channel) -> Result<proto::ControlReply, tonic::Status> {
    let mut c = proto::control_client::ControlClient::new(ch);
    c.call(proto::ControlRequest { hops: 0, op: Some(Op::ListServices(proto::ListObjects::default())), dry_run: false }).await.map(|r| r.into_inner())
}

async fn vote(ch: tonic::transport::Channel) -> Result<proto::RaftMessage, tonic::Status> {
    let mut c = proto::raft_client::RaftClient::new(ch);
    c.vote(proto::RaftMessage::default()).await.map(|r| r.into_inner())
}

#[tokio_rt::test(flavor = "multi_thread", worker_threads = 2, crate = "tokio_rt")]
async fn certificates_decide_who_may_call_what() {
    install_provider();
    let root = new_root().unwrap();
    assert!(root.join_token_worker.starts_with("SHTKN-1-"));
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let disk = Arc::new(crate::disk::FileDisk::open(dir.path().join("raft")).unwrap());
    let cfg = NodeConfig {
        id: 1,
        name: "m1".into(),
        addr: addr.clone(),
        raft: RaftConfig::default(),
        bootstrap: Some(BTreeMap::from([(1, addr.clone())])),
        root_ca: Some(root.clone()),
        init_spec: None,
        cert_signer: Some(Arc::new(RootSigner)),
    };
    let m = Manager::start(cfg, disk, Arc::new(NoObserver)).await.unwrap();
    let manager = certs_for(&root, "m1", NodeRole::Manager);
    let server = tonic::transport::Server::builder().tls_config(manager.server_tls()).unwrap();
    tokio_rt::spawn(m.clone().serve_secure(addr.parse().unwrap(), server, Arc::new(CertAuthorizer { node_id: "m1".into() })));
    for _ in 0..100 {
        if m.is_leader() {
            break;
        }
        tokio_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(m.is_leader(), "a one-manager swarm elects itself");

    // A manager's certificate reaches the control API (retried while the first leader
    // writes the Cluster object).
    let mut ok = Err(tonic::Status::unknown("not called"));
    for _ in 0..50 {
        ok = list_services(endpoint(&addr, &root.ca_cert_pem, Some(&manager)).await).await;
        if ok.is_ok() {
            break;
        }
        tokio_rt::time::sleep(Duration::from_millis(100)).await;
    }
    ok.expect("manager certificate calls control");

    // A worker's certificate: no control API, no raft.
    let worker = certs_for(&root, "w1", NodeRole::Worker);
    assert_eq!(worker.role().unwrap(), NodeRole::Worker);
    assert_eq!(manager.role().unwrap(), NodeRole::Manager);
    let e = list_services(endpoint(&addr, &root.ca_cert_pem, Some(&worker)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("not a swarm manager"), "{}", e.message());
    let e = vote(endpoint(&addr, &root.ca_cert_pem, Some(&worker)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // ... but the dispatcher answers it (with whatever it thinks of an unknown node).
    let mut d = proto::dispatcher_client::DispatcherClient::new(endpoint(&addr, &root.ca_cert_pem, Some(&worker)).await);
    let r = d.heartbeat(proto::HeartbeatRequest { node_id: "w1".into(), ..Default::default() }).await;
    if let Err(e) = &r {
        assert!(!matches!(e.code(), tonic::Code::PermissionDenied | tonic::Code::Unauthenticated), "{e:?}");
    }
    // ... only for the node its certificate names: not another node's assignments (and
    // secrets), heartbeats or mesh table.
    let other = |code: tonic::Code, e: tonic::Status| {
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().contains("this certificate is node w1's: it cannot speak for node m1"), "{}", e.message());
    };
    other(tonic::Code::PermissionDenied, d.assignments(proto::AssignmentsRequest { node_id: "m1".into(), known_version: 0 }).await.unwrap_err());
    other(tonic::Code::PermissionDenied, d.heartbeat(proto::HeartbeatRequest { node_id: "m1".into(), ..Default::default() }).await.unwrap_err());
    other(tonic::Code::PermissionDenied, d.ingress(proto::IngressRequest { node_id: "m1".into(), known_version: 0 }).await.unwrap_err());

    // `Local` (swarm leave) answers only this node's own certificate: not another manager's,
    // not a worker's; its own reaches the refusal (the only manager needs --force).
    let leave = |certs: Option<NodeCerts>| {
        let (addr, ca) = (addr.clone(), root.ca_cert_pem.clone());
        async move {
            let mut c = proto::local_client::LocalClient::new(endpoint(&addr, &ca, certs.as_ref()).await);
            c.leave(proto::LeaveRequest { force: false }).await
        }
    };
    let other_manager = certs_for(&root, "m2", NodeRole::Manager);
    let e = leave(Some(other_manager)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("only this node's own certificate"), "{}", e.message());
    assert_eq!(leave(Some(certs_for(&root, "w1", NodeRole::Worker))).await.unwrap_err().code(), tonic::Code::PermissionDenied);
    let e = leave(Some(manager.clone())).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("Removing the last manager erases all current state"), "{}", e.message());

    // No certificate: only the node CA.
    let e = list_services(endpoint(&addr, &root.ca_cert_pem, None).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    let mut ca = proto::node_ca_client::NodeCaClient::new(endpoint(&addr, &root.ca_cert_pem, None).await);
    let bad = shoal_core::ca::rotate(&root, NodeRole::Worker, &mut {
        use rand::SeedableRng;
        rand_chacha::ChaCha8Rng::seed_from_u64(9)
    })
    .join_token_worker;
    let e = ca
        .issue_node_certificate(proto::IssueNodeCertificateRequest { token: bad, addr: "127.0.0.1:1".into(), raft_id: 7, csr_pem: new_key_and_csr().unwrap().1 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("not the current worker or manager token"), "{}", e.message());

    // A certificate from another swarm's CA is refused in the handshake.
    let other = new_root().unwrap();
    let foreign = certs_for(&other, "m1", NodeRole::Manager);
    // (With TLS 1.3 the client learns only that the server closed the connection.)
    assert!(list_services(endpoint(&addr, &root.ca_cert_pem, Some(&foreign)).await).await.is_err());
    // ... and a client trusting another CA does not accept this server.
    let e = list_services(endpoint(&addr, &other.ca_cert_pem, Some(&foreign)).await).await.unwrap_err();
    assert_eq!(failure::failure(&e), Some(failure::Failure::OtherSwarm), "the client refused it: {e:?}");
    // A node that answers with a worker's certificate is not a manager, whatever it serves.
    let as_worker = free_addr();
    let worker_tls = tonic::transport::Server::builder().tls_config(certs_for(&root, "w9", NodeRole::Worker).server_tls()).unwrap();
    tokio_rt::spawn(m.clone().serve_secure(as_worker.parse().unwrap(), worker_tls, Arc::new(CertAuthorizer { node_id: "w9".into() })));
    let mut e = tonic::Status::unknown("not called");
    for _ in 0..50 {
        e = list_services(endpoint(&as_worker, &root.ca_cert_pem, Some(&manager)).await).await.unwrap_err();
        if failure::failure(&e) != Some(failure::Failure::Connect) {
            break;
        }
        tokio_rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failure::failure(&e), Some(failure::Failure::NotAManager), "{e:?}");
    // Nothing listening is no certificate's fault.
    let e = list_services(endpoint(&free_addr(), &root.ca_cert_pem, Some(&manager)).await).await.unwrap_err();
    assert_eq!(failure::failure(&e), Some(failure::Failure::Connect), "{e:?}");

    // Pinned first contact: the right token yields this swarm's CA; another swarm's token fails.
    let ca_pem = fetch_pinned_ca(&addr, &root.join_token_worker).await.unwrap();
    assert_eq!(first_der(&ca_pem, "ca").unwrap(), first_der(&root.ca_cert_pem, "ca").unwrap());
    let e = fetch_pinned_ca(&addr, &other.join_token_worker).await.unwrap_err();
    assert!(e.contains("does not match the join token"), "{e}");
    let e = fetch_pinned_ca(&addr, "SHTKN-1-nope").await.unwrap_err();
    assert!(e.contains("invalid join token"), "{e}");

    // A join with a CSR over the anonymous client: a worker certificate for a new node id.
    install_anonymous_client(&ca_pem);
    let (key_pem, csr) = new_key_and_csr().unwrap();
    let joined = shoal_core::node::agent::join(std::slice::from_ref(&addr), &root.join_token_worker, "127.0.0.1:2", 8, &csr).await.unwrap();
    assert_eq!(joined.role, NodeRole::Worker);
    let mine = NodeCerts { ca_pem: joined.ca_cert_pem.clone(), cert_pem: joined.certificate_pem.clone(), key_pem };
    assert_eq!(mine.role().unwrap(), NodeRole::Worker);
    let der = first_der(&mine.cert_pem, "node").unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn = cert.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
    assert_eq!(cn, joined.node_id, "the certificate names the node id the swarm gave");
    // Its certificate reaches the dispatcher but not the control API.
    let e = list_services(endpoint(&addr, &ca_pem, Some(&mine)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");

    // Revocation (issue 22): the store decides, not only the certificate. A manager's
    // certificate for a node the swarm holds as a worker (what a demoted manager keeps until
    // it renews) opens no manager service ...
    let demoted = certs_for(&root, &joined.node_id, NodeRole::Manager);
    let e = list_services(endpoint(&addr, &ca_pem, Some(&demoted)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("was demoted to a worker"), "{}", e.message());
    // ... but raft is not refused by the store's roles: a follower whose store is behind
    // would otherwise refuse a just-promoted leader's entries (raft's membership decides who
    // takes part; a demoted manager left it before its role changed). The message reaches
    // the raft service, which finds no vote in it.
    let e = vote(endpoint(&addr, &ca_pem, Some(&demoted)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("bad raft payload"), "{}", e.message());
    // ... and once the node is removed, none of its certificates opens anything.
    let rm = proto::ControlRequest { hops: 0, op: Some(Op::RemoveNode(proto::RemoveNode { node: joined.node_id.clone(), force: true })), dry_run: false };
    m.control(rm).await.expect("node rm --force");
    let mut d = proto::dispatcher_client::DispatcherClient::new(endpoint(&addr, &ca_pem, Some(&mine)).await);
    let e = d.heartbeat(proto::HeartbeatRequest { node_id: joined.node_id.clone(), ..Default::default() }).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    assert!(e.message().contains("was removed from this swarm"), "{}", e.message());
    let e = list_services(endpoint(&addr, &ca_pem, Some(&demoted)).await).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    // The manager's own certificate still works.
    list_services(endpoint(&addr, &ca_pem, Some(&manager)).await).await.expect("the manager is not revoked");
    shoal_core::node::raft::network::set_endpoint_maker(None);
}

#[test]
fn saved_certificates_load_back_with_a_private_key_file() {
    use std::os::unix::fs::PermissionsExt;
    install_provider();
    let root = new_root().unwrap();
    let c = certs_for(&root, "n1", NodeRole::Manager);
    let dir = tempfile::tempdir().unwrap();
    assert!(NodeCerts::load(dir.path()).unwrap().is_none());
    c.save(dir.path()).unwrap();
    let back = NodeCerts::load(dir.path()).unwrap().unwrap();
    assert_eq!(back.cert_pem, c.cert_pem);
    let mode = std::fs::metadata(dir.path().join("certs/node.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A garbage CSR is refused with a reason, not a panic.
    let e = RootSigner.sign(&root, "not a csr", "n2", NodeRole::Worker, 3600).unwrap_err();
    assert!(e.contains("CSR"), "{e}");

    // A renewal is a whole set or none, whatever step a crash cut: the new set written
    // (certs.next/) but not swapped in, swapped halfway (certs/ moved aside), or done.
    let renewed = certs_for(&root, "n1", NodeRole::Worker);
    let at = |d: &str| dir.path().join(d);
    // `set` saved whole as the directory `d` of the data directory.
    let put = |set: &NodeCerts, d: &str| {
        let scratch = tempfile::tempdir().unwrap();
        set.save(scratch.path()).unwrap();
        let _ = std::fs::remove_dir_all(at(d));
        std::fs::rename(scratch.path().join(CERTS_DIR), at(d)).unwrap();
    };
    // The state a crash after `step` renames of the swap leaves.
    let crash_after = |step: usize| {
        put(&renewed, CERTS_NEXT);
        put(&c, CERTS_DIR);
        if step >= 1 {
            std::fs::rename(at(CERTS_DIR), at(CERTS_OLD)).unwrap();
        }
    };
    crash_after(0);
    assert_eq!(NodeCerts::load(dir.path()).unwrap().unwrap().cert_pem, c.cert_pem, "not swapped in: the old set");
    crash_after(1);
    assert_eq!(NodeCerts::load(dir.path()).unwrap().unwrap().cert_pem, renewed.cert_pem, "swapped halfway: the new set");
    assert!(!at(CERTS_NEXT).exists() && at(CERTS_DIR).exists());
    renewed.save(dir.path()).unwrap();
    assert!(!at(CERTS_OLD).exists() && !at(CERTS_NEXT).exists(), "nothing left beside certs/");
    assert_eq!(NodeCerts::load(dir.path()).unwrap().unwrap().key_pem, renewed.key_pem);
}

#[test]
fn an_expired_or_not_yet_valid_certificate_is_refused_with_what_to_do() {
    install_provider();
    let root = new_root().unwrap();
    let certs = certs_for(&root, "w1", NodeRole::Worker);
    let dir = std::path::Path::new("/var/lib/shoal");
    let now = now().unix_timestamp();
    assert_eq!(certs.usable_at(now, dir), Ok(()));
    let e = certs.usable_at(now + (NODE_CERT_DAYS + 1) * 86_400, dir).unwrap_err();
    assert!(e.contains("/var/lib/shoal/certs/node.crt) expired on") && e.contains("Remove /var/lib/shoal and join the swarm again"), "{e}");
    let e = certs.usable_at(now - 2 * 86_400, dir).unwrap_err();
    assert!(e.contains("not valid before") && e.contains("fix the clock"), "{e}");
}

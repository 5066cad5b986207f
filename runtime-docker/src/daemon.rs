//! The `shoal` daemon: one machine of a swarm — a manager shell (dormant on workers until a
//! promotion), its gRPC server, and the agent running tasks on the local Docker engine.
//!
//! Owns the data directory's use: `raft/` (log, vote, snapshots through [`FileDisk`]) and
//! `node.json` (datadir.rs: raft member id, node id, role, addresses). Inputs:
//! `swarm init` (bootstrap a one-manager swarm), `swarm join` (ask a manager for an identity)
//! or a restart from an existing data directory. One call of [`run`] is one life of the node
//! in a swarm, on a runtime of its own (lifecycle.rs starts it and runs the next): it ends
//! on SIGTERM/SIGINT, when the node leaves, or when the swarm removes it.
//!
//! Invariants: a data directory belongs to one swarm (init/join refuse one that has an
//! identity); the identity is written atomically, after the join succeeded; a restart reuses
//! the raft log and the node id, so the swarm sees the same node come back.

pub use crate::datadir::{check_start, read_identity, DirBefore, Identity, DOCKER_API_SOCKET};
use crate::datadir::{forget_swarm, write_identity, Undo};
use crate::disk::FileDisk;
use crate::executor::DockerExecutor;
use shoal_core::model::{NodeDescription, NodeRole, Platform, RaftConfig, Resources};
use crate::tls::{self, NodeCerts};
use shoal_core::node::agent::{join, run_agent, AgentConfig, Joined};
use shoal_core::node::{Manager, NodeConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub enum Start {
    /// `swarm init` with the cluster's settings.
    Init(Box<shoal_core::model::ClusterSpec>),
    Join { token: String, manager: String },
    Restart,
    /// `swarm init --force-new-cluster` on a manager's data directory: its raft state becomes
    /// a one-manager swarm, then it restarts. An autolocked state opens with `unlock_key`
    /// (given by a running manager's store), else with a key read from standard input.
    ForceNewCluster { unlock_key: Option<shoal_core::ca::unlock_key::UnlockKey> },
}

#[derive(Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub advertise_addr: String,
    pub listen_addr: Option<String>,
    /// Where to serve Prometheus metrics (`/metrics`); none unless given.
    pub metrics_addr: Option<String>,
    /// `--ui-addr`: the live cluster page (managers).
    pub ui_addr: Option<String>,
    /// `--hollow`: containers that exist only in memory (executor/hollow.rs; scripts/bench-hollow).
    pub hollow: bool,
    /// `--data-path-addr` (init/join): the IP other nodes reach this node's tasks at.
    pub data_path_addr: Option<String>,
    /// `--docker-api unix:///PATH|tcp://IP:PORT` (repeatable): where the Engine API listens
    /// (none given: `docker.sock` in the data directory).
    pub docker_api: Vec<String>,
}

/// 8 bytes from the OS (raft member ids, the root CA's seed): the production runtime is
/// outside the deterministic core, and nothing here needs to replay.
pub(crate) fn os_random_u64() -> Result<u64, String> {
    use std::io::Read;
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(u64::from_le_bytes(b))
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "localhost".into())
}

/// This machine as the scheduler sees it: CPUs and memory from the OS.
fn describe() -> NodeDescription {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    let mem_kib: i64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0);
    NodeDescription {
        hostname: hostname(),
        platform: Platform { os: std::env::consts::OS.into(), architecture: std::env::consts::ARCH.into() },
        resources: Resources { nano_cpus: cpus * 1_000_000_000, memory_bytes: mem_kib * 1024, ..Default::default() },
        engine_labels: BTreeMap::new(),
        data_path_addr: String::new(),
        // The agent fills in what the node holds.
        tls_info: Default::default(),
    }
}

/// How long `swarm init` waits for its own node to lead and write the root (as long as a
/// manager joiner waits for its raft membership).
const SELF_JOIN_DEADLINE: std::time::Duration = shoal_core::node::agent::SELF_JOIN_DEADLINE;

/// `swarm init`'s own join, through the node CA of the manager it just started.
async fn join_in_process(manager: &Arc<Manager>, token: &str, addr: &str, raft_id: u64, csr_pem: &str) -> Result<Joined, String> {
    use shoal_core::node::ca::NodeCaService;
    use shoal_core::proto::node_ca_server::NodeCa;
    let svc = NodeCaService { node: manager.clone() };
    let deadline = tokio::time::Instant::now() + SELF_JOIN_DEADLINE;
    let mut last = String::from("this node did not become leader");
    while tokio::time::Instant::now() < deadline {
        let req = shoal_core::proto::IssueNodeCertificateRequest { token: token.into(), addr: addr.into(), raft_id, csr_pem: csr_pem.into() };
        match svc.issue_node_certificate(tonic::Request::new(req)).await.map(|r| r.into_inner()) {
            Ok(r) if !r.redirect => {
                let role = NodeRole::parse(&r.role).unwrap_or_default();
                return Ok(Joined { node_id: r.node_id, role, certificate_pem: r.certificate_pem, ca_cert_pem: r.ca_cert_pem });
            }
            Ok(_) => {}
            // The first leader writes the root in its first pass: until then the token is unknown.
            Err(e) => last = e.message().to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Err(format!("could not issue this node's own certificate within {SELF_JOIN_DEADLINE:?}: {last}"))
}

/// How a life of the node ended once it had served (a life that never served ends in Err).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Asked to stop (SIGTERM, SIGINT, or a new life): the node stays in its swarm.
    Stopped,
    /// `swarm leave`: the swarm state is forgotten.
    Left,
    /// The swarm removed this node (`node rm`): its swarm state is forgotten too.
    Removed(String),
    /// Something it cannot serve without failed (its gRPC server): the daemon exits.
    Failed(String),
}

/// `--data-path-addr`'s check, for the flag and the Engine API's `DataPathAddr` alike.
pub fn check_data_path_addr(ip: &str) -> Result<(), String> {
    match ip.parse::<std::net::IpAddr>() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("--data-path-addr {ip:?}: give the IP address other nodes reach this node's tasks at, e.g. 10.0.0.5")),
    }
}

/// Where [`run`] answers the Engine API request that began this life (`docker swarm
/// init|join`): this node's id once it serves as part of the swarm.
pub type Ready = Option<tokio::sync::oneshot::Sender<Result<String, shoal_core::engine_api::ApiError>>>;

/// Runs one life of the node; Err is the reason it could not start (for the CLI), and then a
/// directory that held no swarm is left as it was. `front` serves the Engine API's unix
/// sockets: this life sets its mode (locked, then active). `stop` ends the life gracefully
/// (the lifecycle turns signals into it, and stops a life to begin another).
pub async fn run(
    start: Start,
    opts: Options,
    front: &crate::engine_api::Front,
    ready: &mut Ready,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<Ended, String> {
    let dir = &opts.data_dir;
    let start = check_start(start, dir)?;
    let existing = read_identity(dir)?;
    // The key that opened an autolocked state for --force-new-cluster opens it again below.
    let mut unlock_key = None;
    let start = match (start, &existing) {
        (Start::ForceNewCluster { unlock_key: given }, Some(id)) => {
            unlock_key = crate::force_new_cluster::run(dir, id, given)?;
            Start::Restart
        }
        (s, _) => s,
    };
    if existing.is_none() {
        // Before anything is written: a machine whose engine is down cannot run tasks.
        DockerExecutor::engine().await?;
    }
    // What the data directory held before an init or join wrote into it: a start that fails
    // before the node serves takes back what it wrote (an empty `raft/` would look like a node).
    let mut undo = Undo::new(dir, existing.is_none());
    let id_disk = FileDisk::open(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
    let advertise = existing.as_ref().map(|i| i.advertise_addr.clone()).unwrap_or_else(|| opts.advertise_addr.clone());
    if advertise.parse::<SocketAddr>().is_err() {
        return Err(format!("--advertise-addr {advertise:?}: give ip:port that other machines reach, e.g. 10.0.0.5:4242"));
    }
    if let Some(ip) = &opts.data_path_addr {
        check_data_path_addr(ip)?;
    }
    // `--listen-addr` now, else the one this node was made with, else the advertised address.
    let listen: SocketAddr = opts
        .listen_addr
        .as_deref()
        .or(existing.as_ref().and_then(|i| i.listen_addr.as_deref()))
        .unwrap_or(&advertise)
        .parse()
        .map_err(|e| format!("--listen-addr: {e}: give ip:port, e.g. 0.0.0.0:4242"))?;
    let api_endpoints = crate::engine_api::endpoints(&opts.docker_api, dir)?;
    let disk = match (crate::disk::raft_disk(&dir.join("raft"), unlock_key.as_ref()), &existing) {
        (Ok(disk), _) => disk,
        // Autolock: a restarted manager waits, locked, for its unlock key.
        (Err(shoal_core::node::raft::OpenError::Locked), Some(id)) if id.role == "manager" => {
            if api_endpoints.iter().any(|e| matches!(e, crate::engine_api::Endpoint::Tcp(_))) {
                tracing::warn!(target: "shoal", "the Engine API over TCP waits for the unlock: its TLS certificate comes from the locked store");
            }
            crate::locked::wait_for_unlock(dir, id, listen, front, &mut stop).await?
        }
        // A worker (demoted while the swarm was autolocked) holds no state it needs: its old
        // raft files are set aside, never a reason to lock it.
        (Err(shoal_core::node::raft::OpenError::Locked), Some(_)) => {
            let aside = dir.join("raft.locked-before-demotion");
            let _ = std::fs::remove_dir_all(&aside);
            std::fs::rename(dir.join("raft"), &aside).map_err(|e| format!("cannot set aside {}: {e}", dir.join("raft").display()))?;
            tracing::warn!(target: "shoal", "this worker's raft files were locked under autolock (a demoted manager's): set aside in {}", aside.display());
            crate::disk::raft_disk(&dir.join("raft"), None).map_err(|e| format!("data directory: {e}"))?
        }
        (Err(e), _) => return Err(format!("data directory: {e}")),
    };
    let raft_id = match &existing {
        Some(i) => i.raft_id,
        None => os_random_u64()?.max(1),
    };
    let init_spec = match &start {
        Start::Init(spec) => Some((**spec).clone()),
        _ => None,
    };
    // `--autolock`: the first leader writes the Cluster without it; it is turned on below,
    // with a key, once the swarm exists.
    let autolock_at_init = init_spec.as_ref().is_some_and(|s| s.encryption.auto_lock_managers);
    let init_spec = init_spec.map(|mut s| {
        s.encryption.auto_lock_managers = false;
        s
    });
    let base = |root_ca: Option<shoal_core::model::RootCa>, bootstrap: bool| NodeConfig {
        id: raft_id,
        name: hostname(),
        addr: advertise.clone(),
        raft: RaftConfig::default(),
        bootstrap: bootstrap.then(|| BTreeMap::from([(raft_id, advertise.clone())])),
        root_ca,
        init_spec: if bootstrap { init_spec.clone() } else { None },
        cert_signer: Some(Arc::new(tls::RootSigner)),
    };
    // The Engine API's `/events` learn the swarm's changes as raft applies them.
    let event_log = Arc::new(crate::engine_api::EventLog::default());
    let start_manager = |cfg: NodeConfig| async {
        Manager::start(cfg, disk.clone(), event_log.clone()).await.map_err(|e| format!("cannot start: {e}"))
    };
    let serve = |manager: &Arc<Manager>, certs: &NodeCerts, node_id: &str| -> Result<_, String> {
        let server = tonic::transport::Server::builder().tls_config(certs.server_tls()).map_err(|e| format!("TLS: {e}"))?;
        let auth = Arc::new(tls::CertAuthorizer { node_id: node_id.to_string() });
        Ok(tokio::spawn(manager.clone().serve_secure(listen, server, auth)))
    };

    let metrics_addr: Option<SocketAddr> = match &opts.metrics_addr {
        Some(a) => Some(a.parse().map_err(|e| format!("--metrics-addr {a:?}: {e}: give ip:port, e.g. 127.0.0.1:9323"))?),
        None => None,
    };
    let ui_addr: Option<SocketAddr> = match &opts.ui_addr {
        Some(a) => Some(a.parse().map_err(|e| format!("--ui-addr {a:?}: {e}: give ip:port, e.g. 0.0.0.0:8443"))?),
        None => None,
    };
    let made = async { Ok::<_, String>(match (start, existing) {
        (_, Some(i)) => {
            let certs = NodeCerts::load(dir)?.ok_or_else(|| {
                format!("{} holds no certificates ({}/): remove the directory and join the swarm again", dir.display(), tls::CERTS_DIR)
            })?;
            certs.usable(dir)?;
            let mut i = i;
            // The certificate says what this node is (a renewal may have changed it after
            // node.json was written).
            i.role = certs.role()?.as_str().into();
            certs.install_client();
            let manager = start_manager(base(None, false)).await?;
            let server = serve(&manager, &certs, &i.node_id)?;
            (i, server, manager, certs)
        }
        (Start::Init(_), None) => {
            let root = tls::new_root()?;
            let manager = start_manager(base(Some(root.clone()), true)).await?;
            // Our own certificate, asked of our own node CA in process: nothing can reach us
            // before we have one to serve with.
            let (key_pem, csr) = tls::new_key_and_csr()?;
            let joined = join_in_process(&manager, &root.join_token_manager, &advertise, raft_id, &csr).await?;
            let certs = NodeCerts { ca_pem: root.ca_cert_pem.clone(), cert_pem: joined.certificate_pem.clone(), key_pem };
            certs.save(dir)?;
            certs.install_client();
            let server = serve(&manager, &certs, &joined.node_id)?;
            let i = Identity {
                raft_id,
                node_id: joined.node_id,
                role: joined.role.as_str().into(),
                advertise_addr: advertise.clone(),
                managers: vec![advertise.clone()],
                data_path_addr: opts.data_path_addr.clone(),
                listen_addr: opts.listen_addr.clone(),
                joined_digest: None,
            };
            write_identity(&id_disk, &i)?;
            println!("Swarm initialized: current node ({}) is now a manager.\n", i.node_id);
            println!("To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {} {advertise}\n", root.join_token_worker);
            println!("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.");
            if autolock_at_init {
                // The daemon's output is often its log: the key is shown only on a terminal.
                use std::io::IsTerminal;
                match crate::locked::turn_on_autolock(&manager).await {
                    Ok(key) if std::io::stdout().is_terminal() => println!("\n{}", shoal_core::cli::unlock_key_message(&key)),
                    Ok(_) => println!("\nAutolock is on: run `shoal swarm unlock-key` to see the unlock key, and keep it in a password manager."),
                    Err(e) => eprintln!("Warning: {e}"),
                }
            }
            (i, server, manager, certs)
        }
        (Start::Join { token, manager: addr }, None) => {
            // Trust nothing but the CA the token names, then ask for a certificate.
            let ca_pem = tls::fetch_pinned_ca(&addr, &token).await?;
            tls::install_anonymous_client(&ca_pem);
            let (key_pem, csr) = tls::new_key_and_csr()?;
            let joined = join(std::slice::from_ref(&addr), &token, &advertise, raft_id, &csr).await?;
            if joined.certificate_pem.is_empty() {
                return Err(format!("{addr} answered the join without a certificate"));
            }
            // The roots the manager says to trust (two during a root rotation), from a manager
            // this machine verified against the pinned one.
            let ca_pem = if joined.ca_cert_pem.is_empty() { ca_pem } else { joined.ca_cert_pem.clone() };
            let certs = NodeCerts { ca_pem, cert_pem: joined.certificate_pem.clone(), key_pem };
            certs.save(dir)?;
            certs.install_client();
            let manager = start_manager(base(None, false)).await?;
            let server = serve(&manager, &certs, &joined.node_id)?;
            if joined.role == NodeRole::Manager {
                // Now that we serve raft with a manager certificate, become a raft member.
                shoal_core::node::agent::add_self_as_manager(std::slice::from_ref(&addr), raft_id, &advertise).await?;
            }
            let i = Identity {
                raft_id,
                node_id: joined.node_id,
                role: joined.role.as_str().into(),
                advertise_addr: advertise.clone(),
                managers: vec![addr],
                data_path_addr: opts.data_path_addr.clone(),
                listen_addr: opts.listen_addr.clone(),
                joined_digest: shoal_core::ca::digest_of(token.trim()).map(str::to_string),
            };
            write_identity(&id_disk, &i)?;
            println!("This node joined a swarm as a {} (node {}).", i.role, i.node_id);
            (i, server, manager, certs)
        }
        (Start::Restart | Start::ForceNewCluster { .. }, None) => unreachable!("refused above"),
    }) }
    .await;
    let (identity, server, manager, certs) = made?;
    manager.allow_raft(certs.role().is_ok_and(|r| r == NodeRole::Manager));
    // The overlay data path: VXLAN to the other nodes and the name server (datapath/).
    // A hollow node touches neither the engine nor the host's interfaces.
    let data_path = if opts.hollow { None } else { crate::datapath::DataPath::start(&identity.node_id, &identity.data_path_ip()) };
    let exec: Arc<dyn shoal_core::node::agent::Executor> = if opts.hollow {
        tracing::warn!(target: "shoal", "hollow node (--hollow): containers exist only in this process's memory; nothing runs");
        let h = Arc::new(crate::executor::hollow::HollowExecutor::default());
        manager.set_log_source(h.clone());
        h
    } else {
        let d = DockerExecutor::connect(&identity.node_id, &identity.data_path_ip(), data_path.clone()).await?;
        manager.set_log_source(d.clone());
        d
    };
    // The routing mesh: every published ingress port, on every interface.
    let mesh = crate::ingress::IngressProxy::new(std::net::IpAddr::from([0, 0, 0, 0]));
    // The managers the leader names in heartbeat answers go into node.json, so a restart can
    // reach the swarm after the manager it joined through is gone.
    let (managers_seen, mut seen_rx) = tokio::sync::watch::channel(identity.managers.clone());
    let managers_rx = managers_seen.subscribe();
    // The role the swarm wants (from heartbeat answers): the renewal loop follows it, and
    // node.json records the role of the certificate held.
    let held_role = NodeRole::parse(&identity.role).unwrap_or_default();
    let (desired_role, desired_rx) = tokio::sync::watch::channel(held_role);
    let (roles_tx, mut roles_rx) = tokio::sync::watch::channel(identity.role.clone());
    {
        // The Engine API: docker clients drive the swarm through it.
        let api = Arc::new(crate::engine_api::EngineApi {
            manager: manager.clone(),
            node_id: identity.node_id.clone(),
            node_addr: identity.advertise_ip(),
            role: roles_tx.subscribe(),
            docker: bollard::Docker::connect_with_local_defaults().ok(),
            events: event_log.clone(),
        });
        let names = [identity.advertise_ip(), "127.0.0.1".into(), "localhost".into(), hostname()];
        crate::engine_api::start(&api_endpoints, api.clone(), &names).await?;
        if let Some(addr) = ui_addr {
            // The page is a view: a node that cannot serve it still runs, and its start (which
            // may wait for the store to show the CA) holds up nothing.
            let (api, dir, names) = (api.clone(), dir.to_path_buf(), names.to_vec());
            tokio::spawn(async move {
                if let Err(e) = crate::ui::start(addr, api, dir, &names).await {
                    tracing::warn!(target: "shoal", "the cluster page is not served: {e}");
                }
            });
        }
        // The node serves: from here on nothing of its start is taken back.
        front.set(crate::engine_api::Mode::Active { api, rt: tokio_rt::runtime::Handle::current() });
        undo.disarm();
        if let Some(r) = ready.take() {
            let _ = r.send(Ok(identity.node_id.clone()));
        }
    }
    let writer = {
        let mut identity = identity.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    r = seen_rx.changed() => if r.is_err() { return },
                    r = roles_rx.changed() => if r.is_err() { return },
                }
                let managers = seen_rx.borrow_and_update().clone();
                let role = roles_rx.borrow_and_update().clone();
                if managers != identity.managers || role != identity.role {
                    (identity.managers, identity.role) = (managers, role);
                    if let Err(e) = write_identity(&id_disk, &identity) {
                        tracing::warn!(target: "shoal", "cannot record the managers and role: {e}");
                    }
                }
            }
        })
    };
    let (swap_tx, mut swap_rx) = tokio::sync::mpsc::channel::<NodeCerts>(1);
    // What the node holds (its heartbeats report it) and what the swarm wants it to hold (a
    // root rotation), between the agent and the renewal loop.
    let (held_tls, held_tls_rx) = tokio::sync::watch::channel(certs.tls_info());
    let (tls_wanted, tls_wanted_rx) = tokio::sync::watch::channel(None);
    tokio::spawn(crate::renew::renew_loop(
        dir.clone(),
        certs.clone(),
        desired_rx,
        tls_wanted_rx,
        held_tls,
        managers_rx,
        raft_id,
        advertise.clone(),
        swap_tx,
    ));
    let agent_cfg = AgentConfig {
        node_id: identity.node_id.clone(),
        addr: advertise.clone(),
        manager: identity.role == "manager",
        description: NodeDescription { data_path_addr: identity.data_path_ip(), ..describe() },
        labels: BTreeMap::new(),
        managers: identity.managers.clone(),
        raft_id,
        managers_seen: Some(Arc::new(managers_seen)),
        desired_role: Some(Arc::new(desired_role)),
        tls: Some(shoal_core::node::agent::AgentTls { held: held_tls_rx, wanted: Arc::new(tls_wanted) }),
        ingress: Some(mesh.clone()),
        networks: data_path.clone().map(|d| d as Arc<dyn shoal_core::node::mesh::NetworkSink>),
    };
    tracing::info!(target: "shoal", node = %identity.node_id, role = %identity.role, addr = %advertise, "daemon running");
    if let Some(addr) = metrics_addr {
        let (manager, exec, mesh) = (manager.clone(), exec.clone(), mesh.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::metrics::serve(addr, manager, exec, mesh).await {
                tracing::warn!(target: "shoal", "metrics not served: {e}");
            }
        });
    }
    let mut leave = manager.on_leave();
    let mut agent = tokio::spawn(run_agent(agent_cfg, exec.clone()));
    let mut server = server;
    let here = Here { dir, exec: &exec, data_path: data_path.as_ref(), front };
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => {
                tracing::info!(target: "shoal", "stopping");
                break;
            }
            r = &mut server => return Ok(Ended::Failed(format!("the gRPC server stopped: {r:?}"))),
            Some(new) = swap_rx.recv() => {
                // A renewed certificate: serve with it (connections already open keep theirs)
                // and dial managers afresh with it.
                server.abort();
                let _ = (&mut server).await;
                server = match serve(&manager, &new, &identity.node_id) {
                    Ok(s) => s,
                    Err(e) => return Ok(Ended::Failed(format!("cannot serve with the renewed certificate: {e}"))),
                };
                manager.forget_peers();
                manager.allow_raft(new.role().is_ok_and(|r| r == NodeRole::Manager));
                let _ = roles_tx.send(new.role().map(|r| r.as_str().to_string()).unwrap_or_default());
            }
            r = &mut agent => {
                // The swarm removed this node: its swarm state is void, forgotten as on a leave.
                writer.abort();
                if let Err(e) = here.forget(None).await {
                    tracing::warn!(target: "shoal", "{e}");
                }
                return Ok(Ended::Removed(format!("this node was removed from the swarm ({r:?}); join again with a token")));
            }
            Some(reply) = leave.recv() => {
                // `swarm leave` (the Local service checked that the node may). The swarm keeps
                // the node, DOWN once its heartbeats stop, until `node rm`.
                agent.abort();
                let _ = (&mut agent).await;
                writer.abort();
                let result = here.forget(Some(reply)).await;
                // The answer must leave before this life's runtime (and its server) ends.
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                return match result {
                    Ok(()) => {
                        tracing::info!(target: "shoal", "left the swarm");
                        Ok(Ended::Left)
                    }
                    Err(e) => Ok(Ended::Failed(e)),
                };
            }
        }
    }
    // Graceful: no new calls are served and the agent starts nothing more, then raft stops
    // (its state is durable at every acknowledged step, so this loses nothing; a leader that
    // stops leaves the others to elect after their timeout: openraft 0.9 has no leadership
    // transfer). Containers keep running across a daemon restart (the agent adopts them).
    server.abort();
    agent.abort();
    if tokio::time::timeout(std::time::Duration::from_secs(5), manager.raft.shutdown()).await.is_err() {
        tracing::warn!(target: "shoal", "raft did not stop within 5 s; exiting anyway");
    }
    tracing::info!(target: "shoal", "stopped");
    Ok(Ended::Stopped)
}

/// What a node leaving its swarm (or removed from it) clears on this machine.
struct Here<'a> {
    dir: &'a std::path::Path,
    exec: &'a Arc<dyn shoal_core::node::agent::Executor>,
    data_path: Option<&'a Arc<crate::datapath::DataPath>>,
    front: &'a crate::engine_api::Front,
}

impl Here<'_> {
    /// No more starts (the agent is stopped), this node's containers stopped and removed
    /// (docker's leave stops the node's tasks), the overlay cleared, then the swarm state
    /// forgotten; `reply` (a leave's) answered. The sockets then take inits and joins again:
    /// one sent while this life winds down waits for the next (lifecycle.rs).
    async fn forget(&self, reply: Option<shoal_core::node::local::LeaveReply>) -> Result<(), String> {
        // Twice: a start already under way when the agent stopped may still create its
        // container after the first sweep.
        for sweep in 0..2 {
            if sweep > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            for c in self.exec.list().await {
                self.exec.stop(&c.task_id).await;
                self.exec.remove(&c.task_id).await;
            }
        }
        if let Some(dp) = self.data_path {
            dp.clear().await;
        }
        let result = forget_swarm(self.dir);
        if result.is_ok() {
            self.front.set(crate::engine_api::Mode::Inactive);
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.clone());
        }
        result
    }
}

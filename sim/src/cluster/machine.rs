//! A simulated machine's making and life: [`Cluster::create`] builds every machine of a
//! scenario (its disk, seeded from the snapshot for a twin's managers; its identity; its
//! init, which starts the production [`Manager`] over the disk, the simulated executor and
//! the agent, and runs again after each restart), and [`machine_agent`] joins the swarm when
//! asked and runs the agent. What a machine knows of its membership is its [`Identity`].

use super::{addr_of, ip_of, Cluster, SimNode};
use crate::disk::SimDisk;
use crate::executor::{SimExecutor, SimExecutorHandle};
use crate::invariants::Checkers;
use crate::mesh::MeshModel;
use crate::pki::{Pki, SimAuthorizer, SimSigner};
use crate::scenario::Scenario;
use crate::trace::now_ms;
use madsim::runtime::Handle;
use rand_chacha::ChaCha8Rng;
use shoal_core::dispatcher::NetworkTable;
use shoal_core::model::{NodeDescription, NodeRole, Platform, Resources, RootCa};
use shoal_core::node::agent::{join, run_agent, AgentConfig, AgentExit};
use shoal_core::ca::unlock_key::UnlockKey;
use shoal_core::node::raft::{NodeId, OpenError, SharedObserver};
use shoal_core::node::{Manager, NodeConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a simulated agent keeps the networks' table it polls (the Docker runtime programs
/// its data path from it instead), and logs it for the name latencies.
struct SimNetworkSink {
    table: Arc<Mutex<Option<NetworkTable>>>,
    node: usize,
    names: Arc<crate::names::NameLog>,
}

impl shoal_core::node::mesh::NetworkSink for SimNetworkSink {
    fn set(&self, table: NetworkTable) {
        self.names.tables.record(now_ms(), self.node, table.clone());
        *self.table.lock().unwrap() = Some(table);
    }
}

/// A machine's swarm identity (swarm's node state directory): kept across crashes, deleted by
/// `swarm leave`, forgotten when the swarm removed the node.
#[derive(Default)]
pub struct Identity {
    pub(super) inner: Mutex<IdentityState>,
    /// Bumped when a join is requested (the machine's join loop waits on it).
    signal: shoal_core::node::signal::Signal,
}

#[derive(Debug, Default, Clone)]
pub struct IdentityState {
    /// The node id the swarm gave at join; None while not in a swarm.
    pub node_id: Option<String>,
    /// The node id of the machine's last membership, kept after it left or was removed (the
    /// swarm still lists that node).
    pub last_node_id: Option<String>,
    pub role: NodeRole,
    pub raft_id: NodeId,
    /// A join asked for and not finished: the token and the managers to ask.
    pub join: Option<(String, Vec<String>)>,
    /// The last join's outcome (node id or error), taken by the step that asked.
    pub join_result: Option<Result<String, String>>,
}

impl Identity {
    pub fn state(&self) -> IdentityState {
        self.inner.lock().unwrap().clone()
    }

    pub fn node_id(&self) -> Option<String> {
        self.inner.lock().unwrap().node_id.clone()
    }

    /// The node the swarm knows this machine as: its current membership, else its last one.
    pub fn known_id(&self) -> Option<String> {
        let st = self.inner.lock().unwrap();
        st.node_id.clone().or_else(|| st.last_node_id.clone())
    }

    /// Asks the machine to join with `token` (it tries once, and records the outcome).
    pub fn request_join(&self, token: String, managers: Vec<String>) {
        let mut st = self.inner.lock().unwrap();
        st.join = Some((token, managers));
        st.join_result = None;
        drop(st);
        self.signal.bump();
    }

    pub fn take_join_result(&self) -> Option<Result<String, String>> {
        self.inner.lock().unwrap().join_result.take()
    }
}

/// A machine's certificates, where the scenario models them: the world's PKI, the machine's
/// address in it, and whether the machine is a raft voter from the swarm's bootstrap (a
/// manager that joins later with a CSR makes itself a member, as production's daemon does).
#[derive(Clone)]
struct MachinePki {
    pki: Arc<Pki>,
    ip: IpAddr,
    bootstrap_voter: bool,
}

/// The machine's life in the swarm, run from its init (so again after each restart): join
/// when asked and not yet a member, run the agent, and forget the identity when the swarm
/// removed the node.
async fn machine_agent(identity: Arc<Identity>, template: AgentConfig, exec: Arc<SimExecutor>, pki: Option<MachinePki>) {
    loop {
        let seen = identity.signal.version();
        let st = identity.state();
        let (node_id, role) = match (st.node_id, st.join) {
            (Some(id), _) => (id, st.role),
            (None, Some((token, managers))) => {
                let csr = if pki.is_some() { crate::pki::CSR } else { "" };
                let r = join(&managers, &token, &template.addr, st.raft_id, csr).await;
                if let (Some(p), Ok(j)) = (&pki, &r) {
                    p.pki.set(p.ip, j.certificate_pem.clone(), j.ca_cert_pem.clone());
                    if j.role == NodeRole::Manager && !(p.bootstrap_voter && st.raft_id == template.raft_id) {
                        // Joined: the raft membership follows in the background, as the
                        // daemon's does once it serves (the join is recorded at once).
                        let (name, raft_id, addr) = (template.description.hostname.clone(), st.raft_id, template.addr.clone());
                        let managers = managers.clone();
                        tokio::spawn(async move {
                            if let Err(e) = shoal_core::node::agent::add_self_as_manager(&managers, raft_id, &addr).await {
                                tracing::info!(target: "shoal", node = %name, "{e}");
                            }
                        });
                    }
                }
                let mut s = identity.inner.lock().unwrap();
                s.join = None;
                match r {
                    Ok(j) => {
                        tracing::info!(target: "shoal", node = %template.description.hostname, id = %j.node_id, role = ?j.role, "joined the swarm");
                        s.node_id = Some(j.node_id.clone());
                        s.last_node_id = Some(j.node_id.clone());
                        s.role = j.role;
                        s.join_result = Some(Ok(j.node_id));
                    }
                    Err(e) => {
                        tracing::info!(target: "shoal", node = %template.description.hostname, "join refused: {e}");
                        s.join_result = Some(Err(e));
                    }
                }
                continue;
            }
            (None, None) => {
                identity.signal.changed(seen).await;
                continue;
            }
        };
        let mut cfg = AgentConfig { node_id, manager: role == NodeRole::Manager, raft_id: st.raft_id, ..template.clone() };
        if let Some(p) = &pki {
            // The agent reports what the machine holds and hears what the swarm wants of it;
            // the renewal loop acts on that, for as long as this agent runs.
            let held = p.pki.held(p.ip).unwrap_or_default();
            let (desired, desired_rx) = tokio::sync::watch::channel(role);
            let (wanted, wanted_rx) = tokio::sync::watch::channel(None);
            let (held_tx, held_rx) = tokio::sync::watch::channel(held.tls_info());
            let (seen, seen_rx) = tokio::sync::watch::channel(template.managers.clone());
            cfg.desired_role = Some(Arc::new(desired));
            cfg.tls = Some(shoal_core::node::agent::AgentTls { held: held_rx, wanted: Arc::new(wanted) });
            cfg.managers_seen = Some(Arc::new(seen));
            let name = template.description.hostname.clone();
            let renewals = crate::pki::renew_loop(p.pki.clone(), p.ip, name, st.raft_id, template.addr.clone(), desired_rx, wanted_rx, held_tx, seen_rx);
            tokio::spawn(renewals);
        }
        let AgentExit::Removed = run_agent(cfg, Arc::new(SimExecutorHandle(exec.clone()))).await;
        identity.inner.lock().unwrap().node_id = None;
        // Removed: the machine forgets its certificates, as production's daemon does.
        if let Some(p) = &pki {
            p.pki.forget(p.ip);
        }
    }
}


impl Cluster {
    /// Creates every node of the scenario; call inside the simulation.
    pub fn create(scenario: &Scenario, seed: u64, checkers: Arc<Checkers>, rng: ChaCha8Rng, mesh: Arc<MeshModel>, names: Arc<crate::names::NameLog>) -> Cluster {
        let handle = Handle::current();
        let images = Arc::new(scenario.images.clone());
        let managers: BTreeMap<NodeId, String> = scenario
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.manager)
            .map(|(i, _)| (scenario.raft_id(i), addr_of(i)))
            .collect();
        // `swarm init`'s root and join tokens, from the seed.
        let root: RootCa = shoal_core::ca::new_root(&mut <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed ^ 0x726f_6f74));
        // Certificates, where the scenario models them: a root with a key that signs.
        let pki = scenario.sim.certificates.then(|| Pki::new((0..scenario.nodes.len()).map(ip_of).collect(), checkers.clone(), seed));
        let root = pki.as_ref().map_or(root.clone(), |p| p.first_root(&root));
        // A twin's managers start from the snapshot (with the tokens above where it has none).
        let twin_store = scenario.twin.as_ref().map(|t| shoal_core::plan::snapshot::with_join_tokens(&t.store, &root));
        let mut nodes = Vec::new();
        let containers = Arc::new(crate::executor::Containers { names: names.clone(), ..Default::default() });
        for (i, spec) in scenario.nodes.iter().enumerate() {
            let raft_id = scenario.raft_id(i);
            let addr = addr_of(i);
            let disk = Arc::new(SimDisk::new(
                seed ^ raft_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                Duration::from_millis(scenario.sim.disk_sync_ms),
                scenario.sim.torn_writes,
            ));
            disk.report_terms_to(checkers.clone(), raft_id);
            let opener = DiskOpener {
                raw: disk.clone(),
                seed: seed ^ raft_id.rotate_left(17),
                opens: Arc::default(),
                encrypt: scenario.sim.encrypt_at_rest,
                lock: Arc::default(),
            };
            if let (Some(store), true) = (&twin_store, spec.manager) {
                let seeded = opener.open().map_err(std::io::Error::from).and_then(|d| shoal_core::node::raft::seed_disk(d.as_ref(), store, &managers));
                if let Err(e) = seeded {
                    checkers.violate("twin", format!("{}: cannot seed its disk from the snapshot: {e}", spec.name));
                }
            }
            let slot: Arc<Mutex<Option<Arc<Manager>>>> = Arc::default();
            let executor: Arc<Mutex<Option<Arc<SimExecutor>>>> = Arc::default();
            // A twin's machine the swarm saw down starts powered off.
            let down = spec.twin.as_ref().is_some_and(|m| m.down);
            let joined = Arc::new(std::sync::atomic::AtomicBool::new(!spec.joins_later && !down));
            let identity = Arc::new(Identity::default());
            identity.inner.lock().unwrap().raft_id = raft_id;
            let net_table: Arc<Mutex<Option<NetworkTable>>> = Arc::default();
            // A twin's containers at first boot: the tasks its node ran in the swarm.
            let adopt: Arc<Mutex<Vec<shoal_core::model::Task>>> = Arc::default();
            if let Some(m) = &spec.twin {
                // Already a member: the node the swarm knows.
                let mut st = identity.inner.lock().unwrap();
                st.node_id = Some(m.node_id.clone());
                st.last_node_id = Some(m.node_id.clone());
                st.role = if m.manager { NodeRole::Manager } else { NodeRole::Worker };
                drop(st);
                if let Some(t) = scenario.twin.as_ref().filter(|_| !down) {
                    *adopt.lock().unwrap() = t.running_on(&m.node_id);
                }
            } else if !spec.joins_later {
                // The swarm as the scenario starts: every initial machine joins with the token
                // `swarm init` printed (managers with the manager token).
                let token = if spec.manager { &root.join_token_manager } else { &root.join_token_worker };
                identity.request_join(token.clone(), managers.values().cloned().collect());
            }
            let cfg = NodeConfig {
                id: raft_id,
                name: spec.name.clone(),
                addr: addr.clone(),
                raft: scenario.raft.clone(),
                // swarm init: the first manager bootstraps with every initial manager (a
                // twin's managers start from their seeded disks instead).
                bootstrap: (i == 0 && twin_store.is_none()).then(|| managers.clone()),
                root_ca: (spec.manager && twin_store.is_none()).then(|| root.clone()),
                init_spec: None,
                cert_signer: pki.as_ref().map(|p| Arc::new(SimSigner(p.clone())) as Arc<dyn shoal_core::node::ca::CertSigner>),
            };
            let machine_pki = pki.as_ref().map(|p| MachinePki { pki: p.clone(), ip: ip_of(i), bootstrap_voter: spec.manager && !spec.joins_later });
            if let (Some(p), true) = (&pki, spec.manager && !spec.joins_later) {
                // The managers the swarm is bootstrapped with elect before anyone joined (the
                // simulator's `swarm init` of several managers at once): each holds a manager
                // certificate of the first root from the start, as `swarm init` makes one
                // before raft starts; its join then names its node.
                p.provision_bootstrap(ip_of(i), raft_id);
            }
            let agent_cfg = AgentConfig {
                node_id: String::new(),
                addr: addr.clone(),
                manager: spec.manager,
                description: match &spec.twin {
                    // What the node reported in the swarm, but the address and the certificates:
                    // the simulator's (it has none).
                    Some(m) => NodeDescription { data_path_addr: String::new(), tls_info: Default::default(), ..m.description.clone() },
                    None => NodeDescription {
                        hostname: spec.name.clone(),
                        platform: Platform { os: "linux".into(), architecture: "x86_64".into() },
                        resources: Resources { nano_cpus: spec.nano_cpus, memory_bytes: spec.memory_bytes, ..Default::default() },
                        engine_labels: Default::default(),
                        data_path_addr: String::new(),
                        tls_info: Default::default(),
                    },
                },
                labels: spec.labels.clone(),
                managers: managers.values().cloned().collect(),
                raft_id,
                managers_seen: None,
                desired_role: None,
                tls: None,
                ingress: None,
                // Only where the scenario has networks: every agent's long poll costs the
                // leader a look at every store change, for nothing without them.
                networks: scenario
                    .uses_networks()
                    .then(|| Arc::new(SimNetworkSink { table: net_table.clone(), node: i, names: names.clone() }) as Arc<dyn shoal_core::node::mesh::NetworkSink>),
            };
            let init = {
                let (disk, slot, checkers, executor, joined, images, identity) =
                    (disk.clone(), slot.clone(), checkers.clone(), executor.clone(), joined.clone(), images.clone(), identity.clone());
                let opener = opener.clone();
                let (mesh, containers, net_table, adopt) = (mesh.clone(), containers.clone(), net_table.clone(), adopt.clone());
                let machine_pki = machine_pki.clone();
                move || {
                    let (mut cfg, disk, slot, checkers) = (cfg.clone(), disk.clone(), slot.clone(), checkers.clone());
                    let (executor, joined, images, agent_cfg) = (executor.clone(), joined.clone(), images.clone(), agent_cfg.clone());
                    let (identity, mesh, containers, net_table) = (identity.clone(), mesh.clone(), containers.clone(), net_table.clone());
                    let adopt = adopt.clone();
                    let opener = opener.clone();
                    let machine_pki = machine_pki.clone();
                    async move {
                        if !joined.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let opened = opener.open_or_wait(&cfg.name).await;
                        let observer: SharedObserver = checkers.clone();
                        let raft_id = identity.state().raft_id;
                        if raft_id != cfg.id {
                            // The machine left the swarm: a new member id, no init material.
                            (cfg.id, cfg.bootstrap, cfg.root_ca) = (raft_id, None, None);
                        }
                        let corrupted_at = disk.corrupted_at();
                        let started = match opened {
                            Ok(disk) => Manager::start(cfg.clone(), disk, observer).await,
                            Err(e) => Err(std::io::Error::from(e).into()),
                        };
                        match started {
                            // The node must refuse to serve a log it cannot trust.
                            Ok(_) if corrupted_at.is_some() => checkers.violate(
                                "disk-corruption",
                                format!(
                                    "{} started on a raft.log with a bit flipped at byte {} (not its last record) instead of refusing it",
                                    cfg.name,
                                    corrupted_at.unwrap_or_default()
                                ),
                            ),
                            Err(e) if corrupted_at.is_some() => {
                                tracing::info!(target: "shoal::fault", node = %cfg.name, "refused to start: {e}");
                            }
                            Ok(m) => {
                                *slot.lock().unwrap() = Some(m.clone());
                                tracing::info!(target: "shoal", node = %cfg.name, "started");
                                // A fresh machine: no containers survive a crash.
                                // A fresh machine knows no table until its agent polls one.
                                *net_table.lock().unwrap() = None;
                                let exec = SimExecutor::new(&cfg.name, i, mesh, images, containers, checkers.clone());
                                *executor.lock().unwrap() = Some(exec.clone());
                                m.set_log_source(Arc::new(SimExecutorHandle(exec.clone())));
                                // Taken once: after a crash the containers are gone, as anywhere.
                                let adopted = std::mem::take(&mut *adopt.lock().unwrap());
                                for t in &adopted {
                                    use shoal_core::node::agent::Executor;
                                    if let Err(e) = SimExecutorHandle(exec.clone()).start(t, &Default::default()).await {
                                        tracing::info!(target: "shoal::container", node = %cfg.name, "{} {} was running in the swarm but cannot start here: {e}", t.service_name, t.id);
                                    }
                                }
                                tokio::spawn(machine_agent(identity, agent_cfg, exec, machine_pki.clone()));
                                let served = match &machine_pki {
                                    // Every call is a handshake of the certificates the two
                                    // machines hold, then production's guards.
                                    Some(p) => {
                                        let auth = SimAuthorizer { pki: p.pki.clone(), me: p.ip, name: cfg.name.clone(), manager: m.clone() };
                                        let addr = std::net::SocketAddr::new(p.ip, super::RAFT_PORT);
                                        m.serve_secure(addr, tonic::transport::Server::builder(), Arc::new(auth)).await
                                    }
                                    None => m.serve().await,
                                };
                                if let Err(e) = served {
                                    checkers.violate("node", format!("{}: gRPC server failed: {e}", cfg.name));
                                }
                            }
                            Err(e) => checkers.violate("node", format!("{} failed to start: {e}", cfg.name)),
                        }
                    }
                }
            };
            let ip: IpAddr = ip_of(i);
            let handle = handle.create_node().name(spec.name.clone()).ip(ip).init(init).build();
            nodes.push(SimNode {
                name: spec.name.clone(),
                manager: spec.manager,
                raft_id,
                addr,
                handle,
                disk,
                opener,
                slot,
                executor,
                identity,
                joins_later: spec.joins_later,
                up: !spec.joins_later && !down,
                paused: false,
                joined,
                net_table,
            });
        }
        Cluster { nodes, checkers, pki, clogged: BTreeSet::new(), last_crashed: None, cut_off_term: 0, rng, mesh, faults: 0, base_latency: None, containers }
    }
}

/// How a machine's node opens its disk: encrypted at rest, as production does (core's
/// `EncryptedDisk`; the data key made at the first open and kept on the disk), with fresh
/// nonces at every open, drawn from the seed so runs replay.
#[derive(Clone)]
pub(crate) struct DiskOpener {
    raw: Arc<SimDisk>,
    seed: u64,
    opens: Arc<std::sync::atomic::AtomicU64>,
    /// False only for `bench raft`'s comparison (`[sim] encrypt_at_rest = false`).
    encrypt: bool,
    pub(crate) lock: Arc<Mutex<LockState>>,
}

/// Autolock on one machine: whether its manager waits for a key, and the key an operator
/// offered (`swarm unlock NODE`). An offered key is used by one open only, so a later restart
/// is locked again, as in production.
#[derive(Debug, Default)]
pub(crate) struct LockState {
    pub(crate) locked: bool,
    /// Virtual time it locked at (ms), for an operator who unlocks after a while.
    pub(crate) locked_at_ms: u64,
    pub(crate) offered: Option<UnlockKey>,
    /// Keys refused so far (the unlock step compares before and after its offer).
    pub(crate) refused: u64,
}

impl DiskOpener {
    pub(crate) fn open(&self) -> Result<Arc<dyn shoal_core::node::raft::Disk>, OpenError> {
        if !self.encrypt {
            return Ok(self.raw.clone());
        }
        let n = self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let entropy: [u8; 32] = rand::Rng::gen(&mut <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(self.seed ^ n.rotate_left(48) ^ 0x6465_6b00));
        let key = self.lock.lock().unwrap().offered.take();
        shoal_core::node::raft::encrypted_unlocked(self.raw.clone(), entropy, key.as_ref())
    }

    /// Opens the disk; a locked one (autolock) waits, locked, for an offered key that opens
    /// it, as a restarted production manager waits for `swarm unlock`.
    async fn open_or_wait(&self, name: &str) -> Result<Arc<dyn shoal_core::node::raft::Disk>, OpenError> {
        loop {
            match self.open() {
                Err(e @ (OpenError::Locked | OpenError::WrongKey)) => {
                    let mut l = self.lock.lock().unwrap();
                    if matches!(e, OpenError::WrongKey) {
                        l.refused += 1;
                    }
                    if !l.locked {
                        l.locked = true;
                        l.locked_at_ms = now_ms();
                        tracing::info!(target: "shoal", node = %name, "locked (autolock): waiting for `swarm unlock`");
                    }
                }
                other => {
                    self.lock.lock().unwrap().locked = false;
                    return other;
                }
            }
            while self.lock.lock().unwrap().offered.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

//! The `shoal` daemon: one machine of a swarm — a manager shell (dormant on workers until a
//! promotion), its gRPC server, and the agent running tasks on the local Docker engine.
//!
//! Owns the data directory: `raft/` (log, vote, snapshots through [`FileDisk`]) and
//! `node.json` (this machine's identity: raft member id, node id, role, addresses). Inputs:
//! `swarm init` (bootstrap a one-manager swarm), `swarm join` (ask a manager for an identity)
//! or a restart from an existing data directory. Runs until SIGTERM/SIGINT.
//!
//! Invariants: a data directory belongs to one swarm (init/join refuse one that has an
//! identity); the identity is written atomically, after the join succeeded; a restart reuses
//! the raft log and the node id, so the swarm sees the same node come back.

use crate::disk::FileDisk;
use crate::executor::DockerExecutor;
use serde::{Deserialize, Serialize};
use shoal_core::model::{NodeDescription, NodeRole, Platform, RaftConfig, Resources};
use shoal_core::node::agent::{join, run_agent, AgentConfig};
use shoal_core::node::raft::{Disk, NoObserver};
use shoal_core::node::{Manager, NodeConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const IDENTITY_FILE: &str = "node.json";

/// What a machine remembers of its swarm membership.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub raft_id: u64,
    pub node_id: String,
    pub role: String,
    /// Where peers and CLIs reach this machine.
    pub advertise_addr: String,
    /// Managers to contact (the agent learns more from heartbeats).
    pub managers: Vec<String>,
}

pub enum Start {
    Init,
    Join { token: String, manager: String },
    Restart,
}

pub struct Options {
    pub data_dir: PathBuf,
    pub advertise_addr: String,
    pub listen_addr: Option<String>,
}

fn identity_path(dir: &Path) -> PathBuf {
    dir.join(IDENTITY_FILE)
}

pub fn read_identity(dir: &Path) -> Result<Option<Identity>, String> {
    match std::fs::read(identity_path(dir)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: not a Shoal identity ({e}); remove the data directory to start over", identity_path(dir).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", identity_path(dir).display())),
    }
}

/// Writes the identity atomically (temporary file, fsync, rename) through the node's disk.
fn write_identity(disk: &FileDisk, id: &Identity) -> Result<(), String> {
    disk.replace(IDENTITY_FILE, &serde_json::to_vec_pretty(id).expect("identity serialises"))
        .map_err(|e| format!("cannot write the identity: {e}"))
}

/// 8 bytes from the OS (raft member ids, the root CA's seed): the production runtime is
/// outside the deterministic core, and nothing here needs to replay.
fn os_random_u64() -> Result<u64, String> {
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
    }
}

/// Runs the daemon until a signal; Err is the reason it could not start (for the CLI).
pub async fn run(start: Start, opts: Options) -> Result<(), String> {
    let dir = &opts.data_dir;
    let existing = read_identity(dir)?;
    match (&start, &existing) {
        (Start::Init | Start::Join { .. }, Some(id)) => {
            return Err(format!(
                "{} already belongs to a swarm (node {}, {}): restart it with `shoal daemon --data-dir {}`, or remove the directory to start over",
                dir.display(),
                id.node_id,
                id.role,
                dir.display()
            ))
        }
        (Start::Restart, None) => {
            return Err(format!("{} holds no swarm: run `shoal swarm init` or `shoal swarm join` first", dir.display()))
        }
        _ => {}
    }
    let disk = Arc::new(FileDisk::open(dir.join("raft")).map_err(|e| format!("data directory {}: {e}", dir.display()))?);
    let id_disk = FileDisk::open(dir).map_err(|e| format!("data directory {}: {e}", dir.display()))?;
    let advertise = existing.as_ref().map(|i| i.advertise_addr.clone()).unwrap_or_else(|| opts.advertise_addr.clone());
    if advertise.parse::<SocketAddr>().is_err() {
        return Err(format!("--advertise-addr {advertise:?}: give ip:port that other machines reach, e.g. 10.0.0.5:4242"));
    }
    let listen: SocketAddr = opts
        .listen_addr
        .as_deref()
        .unwrap_or(&advertise)
        .parse()
        .map_err(|e| format!("--listen-addr: {e}: give ip:port, e.g. 0.0.0.0:4242"))?;
    let raft_id = match &existing {
        Some(i) => i.raft_id,
        None => os_random_u64()?.max(1),
    };
    let root = match start {
        Start::Init => {
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(os_random_u64()?);
            Some(shoal_core::ca::new_root(&mut rng))
        }
        _ => None,
    };
    let cfg = NodeConfig {
        id: raft_id,
        name: hostname(),
        addr: advertise.clone(),
        raft: RaftConfig::default(),
        bootstrap: matches!(start, Start::Init).then(|| BTreeMap::from([(raft_id, advertise.clone())])),
        root_ca: root.clone(),
    };
    let manager = Manager::start(cfg, disk as Arc<dyn Disk>, Arc::new(NoObserver)).await.map_err(|e| format!("cannot start: {e}"))?;
    let server = tokio::spawn(manager.clone().serve_on(listen));

    let identity = match (start, existing) {
        (_, Some(i)) => i,
        (s, None) => {
            let (token, managers) = match s {
                Start::Init => {
                    let root = root.as_ref().expect("made above");
                    (root.join_token_manager.clone(), vec![advertise.clone()])
                }
                Start::Join { token, manager } => (token, vec![manager]),
                Start::Restart => unreachable!("refused above"),
            };
            let joined = join(&managers, &token, &advertise, raft_id).await?;
            let i = Identity {
                raft_id,
                node_id: joined.node_id,
                role: if joined.role == NodeRole::Manager { "manager".into() } else { "worker".into() },
                advertise_addr: advertise.clone(),
                managers,
            };
            write_identity(&id_disk, &i)?;
            if let Some(root) = &root {
                println!("Swarm initialized: current node ({}) is now a manager.\n", i.node_id);
                println!("To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {} {advertise}\n", root.join_token_worker);
                println!("To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.");
            } else {
                println!("This node joined a swarm as a {} (node {}).", i.role, i.node_id);
            }
            i
        }
    };
    let exec = DockerExecutor::connect(&identity.node_id).await?;
    let agent_cfg = AgentConfig {
        node_id: identity.node_id.clone(),
        addr: advertise.clone(),
        manager: identity.role == "manager",
        description: describe(),
        labels: BTreeMap::new(),
        managers: identity.managers.clone(),
        raft_id,
    };
    tracing::info!(target: "shoal", node = %identity.node_id, role = %identity.role, addr = %advertise, "daemon running");
    let agent = tokio::spawn(run_agent(agent_cfg, exec));
    let mut term = tokio_rt::signal::unix::signal(tokio_rt::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        biased;
        _ = term.recv() => tracing::info!(target: "shoal", "SIGTERM: shutting down"),
        _ = tokio_rt::signal::ctrl_c() => tracing::info!(target: "shoal", "SIGINT: shutting down"),
        r = server => return Err(format!("the gRPC server stopped: {r:?}")),
        r = agent => {
            // The swarm removed this node: its identity is void.
            let _ = std::fs::remove_file(identity_path(dir));
            return Err(format!("this node was removed from the swarm ({r:?}); join again with a token"));
        }
    }
    // Containers keep running across a daemon restart (the agent adopts them); raft state
    // is durable at every acknowledged step, so stopping here loses nothing.
    Ok(())
}

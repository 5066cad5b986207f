//! The data directory's identity: `node.json` (this machine's raft member id, node id, role
//! and addresses), what makes a directory a swarm node's and how it is forgotten on a leave,
//! which start a directory allows, and taking back what a failed init or join wrote.
//!
//! Invariants: a data directory belongs to one swarm (init or join refuse one with an
//! identity); the identity is written atomically, after the join succeeded; a failed init or
//! join leaves the directory as it found it.

use crate::daemon::Start;
use crate::disk::FileDisk;
use crate::tls::{self, NodeCerts};
use shoal_core::node::raft::Disk;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const IDENTITY_FILE: &str = "node.json";
/// The Engine API's socket in the data directory, unless `--docker-api` says otherwise.
pub const DOCKER_API_SOCKET: &str = "docker.sock";

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
    /// The IP where other nodes' routing meshes reach this node's tasks (`--data-path-addr`;
    /// none: the advertised address's IP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_path_addr: Option<String>,
    /// Where this machine's gRPC listens, if not its advertised address (`--listen-addr` at
    /// init or join, or an API request's `ListenAddr`): a restart listens there again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_addr: Option<String>,
    /// The root digest of the token this node joined with: the same join run again (a node
    /// container's command after `docker restart`) restarts the node also after a root
    /// rotation changed the root it trusts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined_digest: Option<String>,
}

impl Identity {
    /// The advertised address's IP (`/info`'s `NodeAddr`).
    pub fn advertise_ip(&self) -> String {
        self.advertise_addr.parse::<SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_default()
    }

    /// The data-path IP: the one given at init/join, else the advertised address's.
    pub fn data_path_ip(&self) -> String {
        self.data_path_addr.clone().unwrap_or_else(|| {
            self.advertise_addr.parse::<SocketAddr>().map(|a| a.ip().to_string()).unwrap_or_else(|_| self.advertise_addr.clone())
        })
    }
}

pub fn identity_path(dir: &Path) -> PathBuf {
    dir.join(IDENTITY_FILE)
}

/// Removes what makes `dir` a swarm node's (its identity first: without it the rest is never
/// read again), so the machine can join a swarm anew.
pub fn forget_swarm(dir: &Path) -> Result<(), String> {
    let gone = |r: std::io::Result<()>, what: &Path| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot remove {}: {e}", what.display())),
        _ => Ok(()),
    };
    let identity = identity_path(dir);
    gone(std::fs::remove_file(&identity), &identity)?;
    for sub in [tls::CERTS_DIR, tls::CERTS_NEXT, tls::CERTS_OLD, "raft"].map(|s| dir.join(s)) {
        gone(std::fs::remove_dir_all(&sub), &sub)?;
    }
    Ok(())
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
pub fn write_identity(disk: &FileDisk, id: &Identity) -> Result<(), String> {
    disk.replace(IDENTITY_FILE, &serde_json::to_vec_pretty(id).expect("identity serialises"))
        .map_err(|e| format!("cannot write the identity: {e}"))
}

/// `start` as it may go ahead on the data directory `dir`: the same join run again restarts
/// the node; an init or join on a swarm's directory, or a restart or --force-new-cluster on an
/// empty one, is refused (before anything is bound or written).
pub fn check_start(start: Start, dir: &Path) -> Result<Start, String> {
    let existing = read_identity(dir)?;
    let same_swarm = |token: &str| -> bool {
        // The token names this data directory's CA: a re-run of the same join (a node
        // container's command after `docker restart`) restarts the node.
        let digest = shoal_core::ca::digest_of(token.trim());
        let ca = NodeCerts::load(dir).ok().flatten().and_then(|c| pem::parse(&c.ca_pem).ok().map(|p| tls::digest(p.contents())));
        let joined = existing.as_ref().and_then(|i| i.joined_digest.clone());
        digest.is_some() && (digest.map(str::to_string) == ca || digest.map(str::to_string) == joined)
    };
    let start = match (start, &existing) {
        (Start::Join { token, .. }, Some(id)) if same_swarm(&token) => {
            println!("This node is already part of this swarm (node {}, {}): restarting it.", id.node_id, id.role);
            Start::Restart
        }
        (s, _) => s,
    };
    match (&start, &existing) {
        (Start::Init(_) | Start::Join { .. }, Some(id)) => {
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
        (Start::ForceNewCluster { .. }, None) => {
            return Err(format!(
                "{} holds no swarm: --force-new-cluster recovers a manager of a swarm that lost its quorum; give that manager's --data-dir",
                dir.display()
            ))
        }
        _ => {}
    }
    Ok(start)
}

/// The entries of a data directory before an init or join wrote into it, to take back what a
/// failed one wrote.
pub struct DirBefore {
    existed: bool,
    entries: std::collections::BTreeSet<std::ffi::OsString>,
}

impl DirBefore {
    pub fn of(dir: &Path) -> DirBefore {
        let entries = std::fs::read_dir(dir).map(|r| r.filter_map(|e| e.ok().map(|e| e.file_name())).collect()).unwrap_or_default();
        DirBefore { existed: dir.exists(), entries }
    }

    /// Removes what was not there before (the directory itself if it was not).
    pub fn restore(&self, dir: &Path) {
        if !self.existed {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !self.entries.contains(&e.file_name()) {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }
}

/// Takes back what a failed init or join wrote when dropped, unless the node came to serve
/// (`disarm`): every early return of a start is covered, not only some.
pub struct Undo<'a> {
    before: Option<DirBefore>,
    dir: &'a Path,
}

impl<'a> Undo<'a> {
    /// Armed for a directory that holds no swarm yet; a no-op for one that does.
    pub fn new(dir: &'a Path, fresh: bool) -> Undo<'a> {
        Undo { before: fresh.then(|| DirBefore::of(dir)), dir }
    }

    pub fn disarm(&mut self) {
        self.before = None;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.before.take() {
            b.restore(self.dir);
        }
    }
}

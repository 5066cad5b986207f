//! Autolock on this machine: a manager of an autolocked swarm that restarts cannot open its
//! raft files (their data key is wrapped with the swarm's unlock key), so before anything
//! else starts it waits here, locked, until `shoal swarm unlock` or `docker swarm unlock`
//! gives it the key.
//!
//! Owns the locked daemon's two doors and the CLI's side of them: on the gRPC address, the
//! node's own `Local.Unlock` (its certificate only) and a `Control` that answers every call
//! with the locked message; on the Engine API's unix sockets (the daemon's front, in
//! [`Mode::Locked`]), `/_ping`, `/version`, `/info` (`LocalNodeState: locked`) and
//! `POST /swarm/unlock` (engine_api/locked.rs). Each key
//! offered is tried on the disk; the first that opens it ends the wait and the daemon starts
//! as after any restart.
//!
//! Invariants: nothing but the key check runs while locked (no raft, no agent, no task); the
//! key is read from standard input, never from arguments or the environment, so it reaches
//! no process list; it is never logged.

use crate::daemon::Identity;
use crate::engine_api::{Front, Mode};
use crate::tls::{self, NodeCerts};
use shoal_core::ca::unlock_key::UnlockKey;
use shoal_core::node::raft::{Disk, OpenError};
use shoal_core::node::{Authorizer, Caller};
use shoal_core::proto::{self, control_server, local_server};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

/// dockerd's words for every request a locked manager cannot serve.
pub const LOCKED_MESSAGE: &str =
    "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"shoal swarm unlock\" (or \"docker swarm unlock\") to unlock it.";

/// Why an offered key did not unlock this manager.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    BadKey(String),
    #[error("{0}")]
    Failed(String),
}

/// A key offered through either door, with where to answer.
pub type Offer = (String, oneshot::Sender<Result<(), Refused>>);

struct LockedLocal {
    offers: mpsc::Sender<Offer>,
}

/// Hands `key` to the wait loop and returns its verdict.
pub async fn offer(offers: &mpsc::Sender<Offer>, key: String) -> Result<(), Refused> {
    let (tx, rx) = oneshot::channel();
    offers.send((key, tx)).await.map_err(|_| Refused::Failed("the daemon is no longer waiting for a key".into()))?;
    rx.await.map_err(|_| Refused::Failed("the daemon stopped before it tried the key".into()))?
}

#[tonic::async_trait]
impl local_server::Local for LockedLocal {
    async fn leave(&self, _r: Request<proto::LeaveRequest>) -> Result<Response<proto::LeaveResponse>, Status> {
        Err(Status::unavailable(LOCKED_MESSAGE))
    }

    async fn unlock(&self, r: Request<proto::UnlockRequest>) -> Result<Response<proto::UnlockResponse>, Status> {
        match offer(&self.offers, r.into_inner().unlock_key).await {
            Ok(()) => Ok(Response::new(proto::UnlockResponse {})),
            Err(Refused::BadKey(m)) => Err(Status::invalid_argument(m)),
            Err(Refused::Failed(m)) => Err(Status::internal(m)),
        }
    }
}

struct LockedControl;

#[tonic::async_trait]
impl control_server::Control for LockedControl {
    async fn call(&self, _r: Request<proto::ControlRequest>) -> Result<Response<proto::ControlReply>, Status> {
        Err(Status::unavailable(LOCKED_MESSAGE))
    }
}

/// Waits, locked, until a key opens the raft files in `raft_dir`; returns the opened disk and
/// the key (the daemon opens nothing twice).
pub async fn wait_for_unlock(
    dir: &Path,
    identity: &Identity,
    listen: SocketAddr,
    front: &Front,
    stop: &mut oneshot::Receiver<()>,
) -> Result<Arc<dyn Disk>, String> {
    let certs = NodeCerts::load(dir)?.ok_or_else(|| format!("{} holds no certificates: remove the directory and join the swarm again", dir.display()))?;
    certs.install_client();
    let (offers, mut rx) = mpsc::channel::<Offer>(4);
    let mut server = tonic::transport::Server::builder().tls_config(certs.server_tls()).map_err(|e| format!("TLS: {e}"))?;
    let auth = Arc::new(tls::CertAuthorizer { node_id: identity.node_id.clone() });
    let guard = move |req: Request<()>| {
        auth.authorize(&req, "local", Caller::Itself)?;
        Ok(req)
    };
    let grpc = tokio::spawn(
        server
            .add_service(local_server::LocalServer::with_interceptor(LockedLocal { offers: offers.clone() }, guard))
            .add_service(control_server::ControlServer::new(LockedControl))
            .serve(listen),
    );
    // A port that cannot be bound ends the task at once: say so rather than wait for a key
    // no one can give.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if grpc.is_finished() {
        return Err(match grpc.await {
            Ok(Err(e)) => format!("this manager is locked, but cannot serve `swarm unlock` on {listen}: {e}"),
            _ => format!("this manager is locked, but its unlock server on {listen} stopped"),
        });
    }
    front.set(Mode::Locked { offers: offers.clone(), node_id: identity.node_id.clone(), node_addr: identity.advertise_ip() });
    tracing::warn!(target: "shoal", node = %identity.node_id, "this manager is locked (autolock): run `shoal swarm unlock` (or `docker swarm unlock`) and give the unlock key");
    eprintln!("This manager is locked: the swarm is autolocked. Run `shoal swarm unlock` and give the unlock key that was current when it stopped.");
    let disk = loop {
        let offer = tokio::select! {
            biased;
            _ = &mut *stop => None,
            o = rx.recv() => o,
        };
        let Some((text, reply)) = offer else {
            grpc.abort();
            return Err("stopped while locked".into());
        };
        let key = match UnlockKey::parse(&text) {
            Ok(k) => k,
            Err(e) => {
                let _ = reply.send(Err(Refused::BadKey(e.to_string())));
                continue;
            }
        };
        match crate::disk::raft_disk(&dir.join("raft"), Some(&key)) {
            Ok(disk) => {
                let _ = reply.send(Ok(()));
                break disk;
            }
            Err(e @ (OpenError::WrongKey | OpenError::Locked)) => {
                tracing::warn!(target: "shoal", "an unlock key was refused: it does not open this manager's data key");
                let _ = reply.send(Err(Refused::BadKey(e.to_string())));
            }
            Err(OpenError::Io(e)) => {
                let _ = reply.send(Err(Refused::Failed(format!("cannot open the raft files: {e}"))));
            }
        }
    };
    // The answer must leave before its server goes (the real servers bind the same addresses).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    front.set(Mode::Starting);
    grpc.abort();
    let _ = grpc.await;
    tracing::info!(target: "shoal", "unlocked");
    Ok(disk)
}

/// `swarm init --autolock`: turns autolock on through this new swarm's own control API (its
/// first leader may still be writing the Cluster object: retried for up to 10 s); returns
/// the key to print.
pub async fn turn_on_autolock(manager: &shoal_core::node::Manager) -> Result<String, String> {
    let key = new_unlock_key()?;
    let op = shoal_core::cli::update_cluster_op(&shoal_core::control::ClusterUpdate { autolock: Some(true), ..Default::default() }, || key.clone());
    let mut last = String::new();
    for _ in 0..50 {
        match manager.control(proto::ControlRequest { hops: 0, op: Some(op.clone()), dry_run: false }).await {
            Ok(_) => return Ok(key.to_string()),
            Err(s) => last = s.message().to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(format!("--autolock: the new swarm did not take the unlock key within 10 s ({last}); run `shoal swarm update --autolock=true`"))
}

/// A fresh unlock key from the OS (the core never draws one itself).
pub fn new_unlock_key() -> Result<UnlockKey, String> {
    Ok(UnlockKey::from_bytes(crate::tls::os_random()?))
}

/// An unlock key from standard input: on a terminal after `prompt`, without echo; otherwise
/// its first line (`echo $KEY | shoal swarm unlock`).
pub fn read_key(prompt: &str) -> Result<String, String> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).map_err(|e| format!("Error: cannot read the unlock key: {e}"));
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("Error: cannot read the unlock key from standard input: {e}"))?;
    Ok(line.trim().to_string())
}

/// `shoal swarm unlock`: the key from standard input to this machine's locked daemon.
pub async fn swarm_unlock(dir: &Path) -> Result<(), String> {
    let (mut c, addr) = crate::daemon_cmd::local_daemon(dir)?;
    let addr = &addr;
    // Ask before reading the key, as docker does: a node that is not locked needs none.
    match c.unlock(proto::UnlockRequest { unlock_key: String::new() }).await {
        Err(s) if s.code() == tonic::Code::FailedPrecondition => return Err(format!("Error: {}", s.message())),
        Err(s) if s.code() == tonic::Code::Unavailable => {
            return Err(format!("Cannot connect to this node's daemon at {addr}: {}. Is it running?", s.message()))
        }
        _ => {}
    }
    let key = read_key("Enter unlock key: ")?;
    match tokio::time::timeout(std::time::Duration::from_secs(30), c.unlock(proto::UnlockRequest { unlock_key: key })).await {
        Err(_) => Err(format!("Error: the daemon at {addr} did not answer within 30 s; see its log")),
        Ok(Err(s)) => Err(format!("Error response from daemon: {}", s.message())),
        Ok(Ok(_)) => Ok(()),
    }
}

//! The Docker Engine API server: every node answers the docker CLI, docker-py and any other
//! Engine API client on a unix socket (`--docker-api unix:///PATH`, by default `docker.sock` in
//! the data directory, mode 0660).
//!
//! Owns the HTTP side only: sockets, routing (routes.rs), reading bodies and query strings,
//! dockerd's headers on every answer, and errors as `{"message": …}` with dockerd's codes.
//! What a request means is core's (`shoal_core::engine_api`: types, conversions, filters,
//! queries); every write goes through the control API (`Manager::control`, forwarded to the
//! leader from any manager), every list through one linearizable read of the tables it needs
//! (`Manager::read_tables`). A worker answers swarm endpoints as dockerd does on a worker (503).

mod events;
mod front;
mod inactive;
mod locked;
mod logs;
mod routes;
mod swarm;
mod system;
pub mod tls;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use shoal_core::engine_api::{types::ErrorResponse, ApiError, API_VERSION};
use shoal_core::model::Kind;
use shoal_core::node::Manager;
use shoal_core::proto::{control_request::Op, ControlReply, ControlRequest};
use shoal_core::store::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use events::EventLog;
pub use front::{Front, Mode};
pub use inactive::{Addresses, Begin};

/// Bodies above this are refused (413): a service spec is a few KiB; a secret at most 500 KiB
/// of data, base64 inflates it by a third.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What the handlers need of the node they run on.
pub struct EngineApi {
    pub manager: Arc<Manager>,
    pub node_id: String,
    /// This node's IP as other nodes see it (`/info`'s `NodeAddr`).
    pub node_addr: String,
    /// The role of the certificate this node holds ("manager" or "worker"); follows renewals.
    pub role: tokio::sync::watch::Receiver<String>,
    /// The local engine, for `/info` and image digests (`/distribution`).
    pub docker: Option<bollard::Docker>,
    /// The swarm's events as this node applies them (its raft observer).
    pub events: Arc<EventLog>,
}

pub type Resp = Response<Body>;

impl EngineApi {
    pub(crate) fn is_manager(&self) -> bool {
        *self.role.borrow() == "manager"
    }

    fn require_manager(&self) -> Result<(), ApiError> {
        if self.is_manager() {
            Ok(())
        } else {
            Err(ApiError::not_a_manager())
        }
    }

    /// One linearizable read of `kinds`, then `f` over it.
    async fn read<R>(&self, kinds: &[Kind], f: impl FnOnce(&Store) -> Result<R, ApiError>) -> Result<R, ApiError> {
        self.require_manager()?;
        self.manager.read_tables(kinds, f).await.map_err(from_status)?
    }

    /// One control-API call (forwarded to the leader if this manager does not lead).
    async fn control(&self, op: Op) -> Result<ControlReply, ApiError> {
        self.require_manager()?;
        self.manager.control(ControlRequest { hops: 0, op: Some(op), dry_run: false }).await.map_err(from_status)
    }
}

/// A control-API status as dockerd's error, by its code (never by its text).
pub fn from_status(s: tonic::Status) -> ApiError {
    use tonic::Code::*;
    let m = s.message().to_string();
    match s.code() {
        InvalidArgument | FailedPrecondition | OutOfRange => ApiError::BadRequest(m),
        NotFound => ApiError::NotFound(m),
        // A write computed from a version that is no longer current.
        AlreadyExists | Aborted => ApiError::Conflict(m),
        Unimplemented => ApiError::NotImplemented(m),
        Unavailable | DeadlineExceeded => ApiError::Unavailable(m),
        PermissionDenied | Unauthenticated => ApiError::not_a_manager(),
        _ => ApiError::Internal(m),
    }
}

/// A JSON answer; `application/json` exactly (the docker CLI compares the header as a string
/// before it reads an error's message).
pub fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Resp {
    let mut body = serde_json::to_vec(v).unwrap_or_else(|e| format!("{{\"message\":\"cannot encode the answer: {e}\"}}").into_bytes());
    body.push(b'\n');
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn error(e: &ApiError) -> Resp {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &ErrorResponse { message: e.to_string() })
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// dockerd's headers on every answer.
fn stamp(r: &mut Resp) {
    let h = r.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert(header::SERVER, HeaderValue::from_static(concat!("Shoal/", env!("CARGO_PKG_VERSION"), " (linux)")));
}

/// Where the API listens (`--docker-api`, repeatable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///PATH`
    Unix(PathBuf),
    /// `tcp://IP:PORT`, mutual TLS with the swarm's CA.
    Tcp(std::net::SocketAddr),
}

pub fn parse_endpoint(spec: &str) -> Result<Endpoint, String> {
    if let Some(p) = spec.strip_prefix("unix://").filter(|p| p.starts_with('/')) {
        return Ok(Endpoint::Unix(PathBuf::from(p)));
    }
    if let Some(a) = spec.strip_prefix("tcp://") {
        return a.parse().map(Endpoint::Tcp).map_err(|e| format!("--docker-api {spec:?}: {e}: give tcp://IP:PORT, e.g. tcp://0.0.0.0:2376"));
    }
    Err(format!("--docker-api {spec:?}: give unix:///PATH (e.g. unix:///var/run/shoal/docker.sock) or tcp://IP:PORT (mutual TLS)"))
}

/// How long a restarted manager waits for its store to show the swarm's CA (replaying its
/// log) before it gives up serving the API over TCP.
const ROOT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The endpoints `--docker-api` names (none: `docker.sock` in the data directory).
pub fn endpoints(docker_api: &[String], data_dir: &Path) -> Result<Vec<Endpoint>, String> {
    if docker_api.is_empty() {
        return Ok(vec![Endpoint::Unix(data_dir.join(crate::daemon::DOCKER_API_SOCKET))]);
    }
    docker_api.iter().map(|s| parse_endpoint(s)).collect()
}

/// The unix sockets among `endpoints` (the [`Front`] serves them for the process's life).
pub fn unix_sockets(endpoints: &[Endpoint]) -> Vec<PathBuf> {
    endpoints.iter().filter_map(|e| if let Endpoint::Unix(p) = e { Some(p.clone()) } else { None }).collect()
}

/// Starts a server on each TCP endpoint, for the node's life (the unix sockets are the
/// [`Front`]'s). A TCP endpoint needs the swarm's CA key, which only managers' stores hold;
/// `names` are what its server certificate names (the addresses clients dial).
pub async fn start(endpoints: &[Endpoint], api: Arc<EngineApi>, names: &[String]) -> Result<(), String> {
    for ep in endpoints {
        match ep {
            Endpoint::Unix(_) => {}
            Endpoint::Tcp(addr) => {
                if !api.is_manager() {
                    return Err(format!("--docker-api tcp://{addr}: only managers serve the Engine API over TCP (they hold the swarm's CA); use a unix socket on a worker"));
                }
                let root = wait_for_root(&api.manager, "--docker-api tcp://").await?;
                let all = cert_names(names, *addr);
                let l = tls::bind(*addr, &root, current_root(&api.manager), &all, tls::ClientAuth::Required, "Engine API").await?;
                tracing::info!(target: "shoal", %addr, names = ?all, "Engine API listening (mutual TLS)");
                let api = api.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(l, api).await {
                        tracing::warn!(target: "shoal", "{e}");
                    }
                });
            }
        }
    }
    Ok(())
}

/// What the server certificate of a TLS endpoint on `addr` names: `names` (the node's
/// addresses and host names) and the IP it listens on, unless that is 0.0.0.0.
pub(crate) fn cert_names(names: &[String], addr: std::net::SocketAddr) -> Vec<String> {
    let mut all = names.to_vec();
    if !addr.ip().is_unspecified() {
        all.push(addr.ip().to_string());
    }
    all.sort();
    all.dedup();
    all
}

/// The swarm's root CA as `manager`'s store shows it, each time it is asked.
pub(crate) fn current_root(manager: &Arc<Manager>) -> tls::CurrentRoot {
    let m = manager.clone();
    Box::new(move || m.state.with_store(|s| shoal_core::control::cluster(s).map(|c| c.root_ca.clone()).ok()))
}

/// The swarm's root CA once this manager's store shows it; `what` names the server waiting.
pub(crate) async fn wait_for_root(manager: &Manager, what: &str) -> Result<shoal_core::model::RootCa, String> {
    let deadline = tokio::time::Instant::now() + ROOT_WAIT;
    loop {
        let root = manager.state.with_store(|s| shoal_core::control::cluster(s).map(|c| c.root_ca.clone()).ok());
        match root {
            Some(r) if !r.ca_key_pem.is_empty() => return Ok(r),
            _ if tokio::time::Instant::now() > deadline => {
                return Err(format!("{what}: this manager's store showed no CA within {ROOT_WAIT:?}"))
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}

/// Binds the socket (a stale one left by a killed daemon is replaced), mode 0660.
fn bind(path: &Path) -> Result<tokio_rt::net::UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!("{} is served by another process (a daemon already running on this data directory?): stop it, or give another --docker-api", path.display()));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("cannot replace {}: {e}", path.display())),
        _ => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let l = tokio_rt::net::UnixListener::bind(path).map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    Ok(l)
}

/// `req` with its body read whole (at most [`MAX_BODY_BYTES`]) before any handler looks at
/// it: an answer given before the client finished sending (a 503 on a POST) would otherwise
/// close the connection under the client, which then reports a broken pipe, not the answer.
pub async fn buffered(req: axum::extract::Request) -> Result<axum::extract::Request, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = routes::read_body(body).await?;
    Ok(axum::extract::Request::from_parts(parts, Body::from(bytes)))
}

/// Serves the API on `listener` until the task is dropped.
async fn serve<L>(listener: L, api: Arc<EngineApi>) -> Result<(), String>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let api = api.clone();
        async move {
            let r = match buffered(req).await {
                Ok(req) => routes::dispatch(&api, req).await,
                Err(e) => Err(e),
            };
            let mut r = r.unwrap_or_else(|e| error(&e));
            stamp(&mut r);
            r
        }
    });
    axum::serve(listener, app).await.map_err(|e| format!("the Engine API server stopped: {e}"))
}

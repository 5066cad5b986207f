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
mod logs;
mod routes;
mod swarm;
mod system;

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
    fn is_manager(&self) -> bool {
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
        self.manager.control(ControlRequest { hops: 0, op: Some(op) }).await.map_err(from_status)
    }
}

/// A control-API status as dockerd's error, by its code (never by its text).
pub fn from_status(s: tonic::Status) -> ApiError {
    use tonic::Code::*;
    let m = s.message().to_string();
    match s.code() {
        InvalidArgument | FailedPrecondition | OutOfRange => ApiError::BadRequest(m),
        NotFound => ApiError::NotFound(m),
        AlreadyExists => ApiError::Conflict(m),
        Unimplemented => ApiError::NotImplemented(m),
        Unavailable | DeadlineExceeded | Aborted => ApiError::Unavailable(m),
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

/// Where the API listens: `unix:///PATH`.
pub fn socket_path(spec: &str) -> Result<PathBuf, String> {
    match spec.strip_prefix("unix://") {
        Some(p) if p.starts_with('/') => Ok(PathBuf::from(p)),
        _ => Err(format!("--docker-api {spec:?}: give unix:///PATH, e.g. unix:///var/run/shoal/docker.sock")),
    }
}

/// Binds the socket (a stale one left by a killed daemon is replaced), mode 0660.
pub fn bind(path: &Path) -> Result<tokio_rt::net::UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
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

/// Serves the API on `listener` until the task is dropped.
pub async fn serve(listener: tokio_rt::net::UnixListener, api: Arc<EngineApi>) -> Result<(), String> {
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let api = api.clone();
        async move {
            let mut r = routes::dispatch(&api, req).await.unwrap_or_else(|e| error(&e));
            stamp(&mut r);
            r
        }
    });
    axum::serve(listener, app).await.map_err(|e| format!("the Engine API server stopped: {e}"))
}

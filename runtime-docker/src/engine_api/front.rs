//! The Engine API's unix sockets, served for the daemon process's whole life. The node behind
//! them changes: in no swarm, starting, locked, or in a swarm. So one Docker client keeps one
//! socket through `docker swarm init`, `docker swarm leave` and the next init, as with dockerd.
//!
//! Owns the sockets and the current [`Mode`]; each request is answered by the mode it finds.
//! A node in a swarm lives on its own tokio runtime (lifecycle.rs), so its requests are
//! handed to that runtime, and end with it.
//!
//! Invariants: the sockets are bound once and never released while the process lives (a
//! client between two modes gets an answer, never a refused connection); the mode is
//! replaced whole, so a request sees one mode from start to end.

use super::{error, inactive::{self, Begin}, locked, routes, stamp, EngineApi, Resp};
use crate::locked::Offer;
use shoal_core::engine_api::ApiError;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// What the node behind the sockets is now.
pub enum Mode {
    /// Starting (opening its state, joining): only the handshake and `/info`.
    Starting,
    /// In no swarm: `docker swarm init|join` are handed to the lifecycle.
    Inactive,
    /// A manager waiting for its unlock key (autolock).
    Locked { offers: mpsc::Sender<Offer>, node_id: String, node_addr: String },
    /// In a swarm: the node's API, run on the node's runtime.
    Active { api: Arc<EngineApi>, rt: tokio::runtime::Handle },
}

/// The daemon's handle on the sockets: it swaps the mode.
#[derive(Clone)]
pub struct Front {
    mode: Arc<watch::Sender<Arc<Mode>>>,
    /// New lives asked through the API (init, join, `--force-new-cluster`), for the
    /// lifecycle: a queue of one, so a second ask while one waits is refused.
    begins: mpsc::Sender<Begin>,
}

impl Front {
    /// Binds every unix socket (mode 0660, a stale file replaced) and serves them, in
    /// [`Mode::Starting`]; the receiver gets the new lives asked through the API.
    pub fn start(sockets: &[PathBuf]) -> Result<(Front, mpsc::Receiver<Begin>), String> {
        let (tx, _) = watch::channel(Arc::new(Mode::Starting));
        let (begins, begins_rx) = mpsc::channel(1);
        let front = Front { mode: Arc::new(tx), begins };
        let docker = bollard::Docker::connect_with_local_defaults().ok();
        for path in sockets {
            let l = super::bind(path)?;
            tracing::info!(target: "shoal", socket = %path.display(), "Engine API listening");
            let (front, docker) = (front.clone(), docker.clone());
            let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
                let (front, docker) = (front.clone(), docker.clone());
                async move {
                    let mut r = front.dispatch(req, docker.as_ref()).await.unwrap_or_else(|e| error(&e));
                    stamp(&mut r);
                    r
                }
            });
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::warn!(target: "shoal", "the Engine API server stopped: {e}");
                }
            });
        }
        Ok((front, begins_rx))
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(Arc::new(mode));
    }

    async fn dispatch(&self, req: axum::extract::Request, docker: Option<&bollard::Docker>) -> Result<Resp, ApiError> {
        let req = super::buffered(req).await?;
        let mode = self.mode.borrow().clone();
        match &*mode {
            Mode::Starting => inactive::dispatch(req, None, docker).await,
            Mode::Inactive => inactive::dispatch(req, Some(&self.begins), docker).await,
            Mode::Locked { offers, node_id, node_addr } => locked::dispatch(req, offers, node_id, node_addr, docker).await,
            // Answered here, not on the node's runtime: it ends the life it runs in.
            Mode::Active { api, .. } if is_swarm_init(&req) => super::swarm::init_running(api, &self.begins, req).await,
            Mode::Active { api, rt } => {
                let api = api.clone();
                rt.spawn(async move { routes::dispatch(&api, req).await })
                    .await
                    .unwrap_or_else(|_| Err(ApiError::Unavailable("this node's daemon is stopping: ask again in a moment".into())))
            }
        }
    }
}

/// `POST /swarm/init`, its path read as the routes read it.
fn is_swarm_init(req: &axum::extract::Request) -> bool {
    req.method() == axum::http::Method::POST && routes::segments(req.uri().path()).is_ok_and(|s| s == ["swarm", "init"])
}

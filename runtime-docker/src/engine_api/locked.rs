//! The Engine API of a locked manager (autolock, locked.rs): what the docker CLI needs to
//! see that the node is locked and to unlock it, and dockerd's locked answer to the rest.
//!
//! `/_ping` (`Swarm: locked`), `/version`, `/info` (`LocalNodeState: locked`) and
//! `POST /swarm/unlock` with `{"UnlockKey": "SWMKEY-1-…"}`; everything else is 503 with
//! dockerd's message. Served on the unix sockets (front.rs) only: a TCP endpoint's
//! certificate comes from the swarm's CA, which is in the locked store.

use super::{empty, routes::{body, parse, segments}, system, Resp};
use crate::locked::{offer, Offer, Refused, LOCKED_MESSAGE};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use shoal_core::engine_api::{types as d, ApiError};
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UnlockRequest {
    #[serde(default)]
    unlock_key: String,
}

pub async fn dispatch(req: Request, offers: &mpsc::Sender<Offer>, node_id: &str, node_addr: &str, docker: Option<&bollard::Docker>) -> Result<Resp, ApiError> {
    let segs = segments(req.uri().path())?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method().clone();
    let swarm = d::SwarmInfo { node_id: node_id.into(), node_addr: node_addr.into(), ..Default::default() };
    if let Some(r) = system::handshake(&m, &segs, "locked", swarm, docker).await {
        return Ok(r);
    }
    match (&m, segs.as_slice()) {
        (&Method::POST, ["swarm", "unlock"]) => {
            let r: UnlockRequest = parse("unlock request", &body(req).await?)?;
            match offer(offers, r.unlock_key).await {
                Ok(()) => Ok(empty(StatusCode::OK)),
                Err(Refused::BadKey(m)) => Err(ApiError::BadRequest(m)),
                Err(Refused::Failed(m)) => Err(ApiError::Internal(m)),
            }
        }
        _ => Err(ApiError::Unavailable(LOCKED_MESSAGE.into())),
    }
}

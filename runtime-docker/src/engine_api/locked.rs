//! The Engine API of a locked manager (autolock, locked.rs): what the docker CLI needs to
//! see that the node is locked and to unlock it, and dockerd's locked answer to the rest.
//!
//! `/_ping` (`Swarm: locked`), `/version`, `/info` (`LocalNodeState: locked`) and
//! `POST /swarm/unlock` with `{"UnlockKey": "SWMKEY-1-…"}`; everything else is 503 with
//! dockerd's message. Served on the unix sockets (front.rs) only: a TCP endpoint's
//! certificate comes from the swarm's CA, which is in the locked store.

use super::{empty, routes::{body, parse}, system, Resp};
use crate::locked::{offer, Offer, Refused, LOCKED_MESSAGE};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use shoal_core::engine_api::{split_version, types as d, ApiError};
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UnlockRequest {
    #[serde(default)]
    unlock_key: String,
}

pub async fn dispatch(req: Request, offers: &mpsc::Sender<Offer>, node_id: &str, node_addr: &str, docker: Option<&bollard::Docker>) -> Result<Resp, ApiError> {
    let path = req.uri().path().to_string();
    let (_, rest) = split_version(&path)?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let m = req.method().clone();
    match (&m, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping_as("locked", m == Method::HEAD)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["info"]) => {
            let swarm = d::SwarmInfo { node_id: node_id.into(), node_addr: node_addr.into(), local_node_state: "locked".into(), ..Default::default() };
            Ok(system::info_with(docker, swarm).await)
        }
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

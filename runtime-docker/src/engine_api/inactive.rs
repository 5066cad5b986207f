//! The Engine API of a daemon in no swarm (dockerd before `docker swarm init`), or one that is
//! still starting: the handshake, `/info` with `LocalNodeState: inactive` (`pending` while
//! starting), and `POST /swarm/init` and `POST /swarm/join`, which the daemon's lifecycle
//! (lifecycle.rs) turns into a node. Every other swarm endpoint gets dockerd's 503.
//!
//! A request's settings and addresses are checked here, in core's words
//! (`engine_api::convert::{init_flags_from_docker, check_join, node_addresses}`), before the
//! daemon is asked: a bad one is answered at once and nothing starts.

use super::{empty, json, routes::{body, parse, segments}, system, Resp};
use crate::daemon::Start;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use shoal_core::engine_api::{convert, types as d, ApiError};
use std::net::SocketAddr;
use tokio::sync::{mpsc, oneshot};

/// dockerd's answer to a swarm endpoint on a node in no swarm.
const NO_SWARM: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's answer to `swarm leave` (and `unlock`) on a node in no swarm.
const NOT_PART: &str = "This node is not part of a swarm";

/// A new life asked through the API, checked, for the lifecycle to carry out: an init or
/// join of a node in no swarm, or `--force-new-cluster` on a running manager. It answers on
/// `reply` with this node's id once the node serves as part of the swarm, or with why it
/// could not.
pub struct Begin {
    pub start: Start,
    /// Where the new node listens and is reached (None: as its data directory says).
    pub addresses: Option<Addresses>,
    pub reply: oneshot::Sender<Result<String, ApiError>>,
}

/// A new node's addresses, from an init or join request.
pub struct Addresses {
    pub listen: SocketAddr,
    pub advertise: SocketAddr,
    pub data_path_addr: Option<String>,
}

/// This machine's IP on its default route, for a request that names no address (dockerd
/// picks it the same way). A UDP `connect` only looks the route up: nothing is sent.
fn default_route_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    s.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified())
}

fn data_path(ip: &str) -> Result<Option<String>, ApiError> {
    match ip.trim() {
        "" => Ok(None),
        ip => crate::daemon::check_data_path_addr(ip).map(|()| Some(ip.to_string())).map_err(ApiError::BadRequest),
    }
}

fn begin_init(r: &d::InitRequest, reply: oneshot::Sender<Result<String, ApiError>>) -> Result<Begin, ApiError> {
    let spec = convert::init_flags_from_docker(r)?.spec().map_err(ApiError::BadRequest)?;
    let (listen, advertise) = convert::node_addresses(&r.listen_addr, &r.advertise_addr, default_route_ip())?;
    let addresses = Some(Addresses { listen, advertise, data_path_addr: data_path(&r.data_path_addr)? });
    Ok(Begin { start: Start::Init(Box::new(spec)), addresses, reply })
}

fn begin_join(r: &d::JoinRequest, reply: oneshot::Sender<Result<String, ApiError>>) -> Result<Begin, ApiError> {
    convert::check_join(r)?;
    let (listen, advertise) = convert::node_addresses(&r.listen_addr, &r.advertise_addr, default_route_ip())?;
    let manager = convert::manager_address(r.remote_addrs.iter().map(|a| a.trim()).find(|a| !a.is_empty()).unwrap_or_default());
    let start = Start::Join { token: r.join_token.trim().to_string(), manager };
    let addresses = Some(Addresses { listen, advertise, data_path_addr: data_path(&r.data_path_addr)? });
    Ok(Begin { start, addresses, reply })
}

/// Hands a checked request to the lifecycle and waits for the node it makes.
pub async fn ask(begins: &mpsc::Sender<Begin>, make: impl FnOnce(oneshot::Sender<Result<String, ApiError>>) -> Result<Begin, ApiError>) -> Result<String, ApiError> {
    let (tx, rx) = oneshot::channel();
    let b = make(tx)?;
    begins.try_send(b).map_err(|_| ApiError::Unavailable("this node is already joining a swarm: wait for it, then ask `docker info`".into()))?;
    rx.await.map_err(|_| ApiError::Unavailable("the daemon stopped before the node started".into()))?
}

/// Answers `req`; `begins` is None while the daemon is starting.
pub async fn dispatch(req: Request, begins: Option<&mpsc::Sender<Begin>>, docker: Option<&bollard::Docker>) -> Result<Resp, ApiError> {
    let segs = segments(req.uri().path())?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = req.method().clone();
    let state = if begins.is_some() { "inactive" } else { "pending" };
    if let Some(r) = system::handshake(&m, &segs, state, d::SwarmInfo::default(), docker).await {
        return Ok(r);
    }
    match (&m, segs.as_slice()) {
        (&Method::POST, ["swarm", verb @ ("init" | "join")]) => {
            let Some(begins) = begins else {
                return Err(ApiError::Unavailable("this node is starting: ask again once `docker info` shows its state".into()));
            };
            let b = body(req).await?;
            if *verb == "init" {
                let r: d::InitRequest = parse("swarm init request", &b)?;
                let id = ask(begins, |tx| begin_init(&r, tx)).await?;
                Ok(json(StatusCode::OK, &id))
            } else {
                let r: d::JoinRequest = parse("swarm join request", &b)?;
                ask(begins, |tx| begin_join(&r, tx)).await?;
                Ok(empty(StatusCode::OK))
            }
        }
        (&Method::POST, ["swarm", "leave" | "unlock"]) if begins.is_some() => Err(ApiError::Unavailable(NOT_PART.into())),
        _ if begins.is_none() => Err(ApiError::Unavailable("this node is starting: ask again in a moment".into())),
        _ => Err(ApiError::Unavailable(NO_SWARM.into())),
    }
}

//! `/_ping`, `/version`, `/info` and `/distribution/{name}/json`: what clients ask before
//! anything else. `/info` is the local engine's own (containers, images, kernel, …) with the
//! `Swarm` block replaced by Shoal's, so `docker info` describes this machine as a swarm node.

use super::{json, EngineApi, Resp};
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use shoal_core::engine_api::{convert::ENGINE_VERSION, query, types as d, ApiError, API_VERSION, MIN_API_VERSION};
use shoal_core::model::Kind;
use std::collections::BTreeMap;

/// `HEAD|GET /_ping`: `OK`, with the `Swarm` header the CLI reads (`active/manager`,
/// `active/worker`).
pub fn ping(api: &EngineApi, head: bool) -> Resp {
    ping_as(if api.is_manager() { "active/manager" } else { "active/worker" }, head)
}

/// `/_ping` with `swarm` as the `Swarm` header (`locked` on a locked manager).
pub fn ping_as(swarm: &'static str, head: bool) -> Resp {
    let mut r = Response::new(if head { Body::empty() } else { Body::from("OK") });
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert("Swarm", HeaderValue::from_static(swarm));
    r
}

/// `/_ping`, `/version` and `/info` of a node outside a life in a swarm (starting, in no
/// swarm, locked): `state` is its `Swarm` header and `LocalNodeState`, `swarm` the rest of
/// `/info`'s block. None for any other request.
pub async fn handshake(m: &axum::http::Method, segs: &[&str], state: &'static str, swarm: d::SwarmInfo, docker: Option<&bollard::Docker>) -> Option<Resp> {
    use axum::http::Method;
    match (m, segs) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Some(ping_as(state, m == Method::HEAD)),
        (&Method::GET, ["version"]) => Some(version()),
        (&Method::GET, ["info"]) => Some(info_with(docker, d::SwarmInfo { local_node_state: state.into(), ..swarm }).await),
        _ => None,
    }
}

pub fn version() -> Resp {
    let (os, arch) = (std::env::consts::OS, go_arch());
    let details = BTreeMap::from([
        ("ApiVersion".to_string(), API_VERSION.to_string()),
        ("MinAPIVersion".to_string(), MIN_API_VERSION.to_string()),
        ("Os".to_string(), os.to_string()),
        ("Arch".to_string(), arch.to_string()),
    ]);
    let v = d::VersionInfo {
        platform: BTreeMap::from([("Name".to_string(), "Shoal".to_string())]),
        components: vec![d::ComponentVersion { name: "Engine".into(), version: ENGINE_VERSION.into(), details }],
        version: ENGINE_VERSION.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: String::new(),
        go_version: String::new(),
        os: os.into(),
        arch: arch.into(),
        kernel_version: std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default(),
        build_time: String::new(),
    };
    json(StatusCode::OK, &v)
}

/// Go's name of this machine's architecture (what docker clients compare with).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /info`: the engine's info, its `Swarm` block Shoal's. Without an engine (or if it
/// does not answer) the answer carries only what Shoal knows.
pub async fn info(api: &EngineApi) -> Result<Resp, ApiError> {
    let swarm = if api.is_manager() {
        let (id, addr) = (api.node_id.clone(), api.node_addr.clone());
        match api.manager.read_tables(&[Kind::Node, Kind::Cluster], |s| query::swarm_info(s, &id, &addr, true)).await {
            Ok(s) => s,
            // dockerd still answers /info when the swarm has no leader: with the error in it.
            Err(e) => d::SwarmInfo {
                node_id: api.node_id.clone(),
                node_addr: api.node_addr.clone(),
                local_node_state: "active".into(),
                control_available: true,
                error: e.message().to_string(),
                ..Default::default()
            },
        }
    } else {
        d::SwarmInfo { node_id: api.node_id.clone(), node_addr: api.node_addr.clone(), local_node_state: "active".into(), ..Default::default() }
    };
    Ok(info_with(api.docker.as_ref(), swarm).await)
}

/// The engine's `/info` (what it answers, or nothing without one) with `swarm` as its block.
pub async fn info_with(docker: Option<&bollard::Docker>, swarm: d::SwarmInfo) -> Resp {
    let mut info = match docker {
        Some(docker) => match docker.info().await {
            Ok(i) => serde_json::to_value(i).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(target: "shoal", "engine info for /info: {e}");
                serde_json::Value::Object(Default::default())
            }
        },
        None => serde_json::Value::Object(Default::default()),
    };
    if let Some(o) = info.as_object_mut() {
        o.insert("Swarm".into(), serde_json::to_value(swarm).unwrap_or_default());
        o.entry("OSType").or_insert_with(|| "linux".into());
        o.entry("Architecture").or_insert_with(|| std::env::consts::ARCH.into());
    }
    json(StatusCode::OK, &info)
}

/// `GET /distribution/{name}/json`: the image as this node's engine has it. No registry is
/// reachable, so the digest is the local image's id; the docker CLI pins the service to it
/// (`name@sha256:…`) and every node's executor then runs exactly that build or rejects the
/// task. Platforms stay empty: the engine's image says nothing a registry's index would.
pub async fn distribution(api: &EngineApi, name: &str) -> Result<Resp, ApiError> {
    api.require_manager()?;
    let docker = api.docker.as_ref().ok_or_else(|| ApiError::Unavailable("no Docker engine on this node to inspect images with".into()))?;
    match docker.inspect_image(name).await {
        Ok(img) => {
            let id = img.id.unwrap_or_default();
            let body = serde_json::json!({
                "Descriptor": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": id, "size": 0},
                "Platforms": [],
            });
            Ok(json(StatusCode::OK, &body))
        }
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            Err(ApiError::NotFound(format!("no such image: {name}: build or load it on this node's engine")))
        }
        Err(e) => Err(ApiError::Internal(format!("cannot inspect image {name} on the Docker engine: {e}"))),
    }
}

//! Routing: the `/vX.Y` prefix split off (core's `split_version`), then one `match` on the
//! method and the path's segments. Written as a match rather than a router table because
//! dockerd serves every path with and without the version prefix, and image names in
//! `/distribution/{name}/json` contain slashes.

use super::{empty, events, logs, swarm, system, EngineApi, Resp, MAX_BODY_BYTES};
use std::sync::Arc;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use shoal_core::engine_api::{filters::Filters, split_version, ApiError};
use std::collections::BTreeMap;

/// dockerd's answer to an init or join on a node in a swarm.
pub const ALREADY_IN_A_SWARM: &str = "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";

/// The query string as key → value (the last of a repeated key wins, as Go's `Get`).
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A boolean parameter as dockerd reads it (`1`, `true`, `True`).
    pub fn flag(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| matches!(v, "1" | "true" | "True" | "TRUE"))
    }

    pub fn filters(&self) -> Result<Filters, ApiError> {
        Filters::parse(self.get("filters"))
    }

    /// `version=N` (the object version an update was computed from); absent = no check.
    pub fn version(&self) -> Result<Option<u64>, ApiError> {
        match self.get("version") {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::BadRequest(format!("invalid version {v:?}: give the object's Version.Index as read"))),
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_decode_bytes(s.as_bytes())
}

/// `%XX` escapes in a path segment (hand-written: eight lines, and no crate in the tree does
/// only this without also pulling in URL parsing).
fn percent_decode_bytes(b: &[u8]) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) async fn body(req: Request) -> Result<axum::body::Bytes, ApiError> {
    read_body(req.into_body()).await
}

pub(super) async fn read_body(body: axum::body::Body) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::BadRequest(format!("request body is over {MAX_BODY_BYTES} bytes or could not be read")))
}

/// Parses a JSON body into `T` as dockerd would (core's `from_json`).
pub fn parse<T: serde::de::DeserializeOwned>(what: &str, b: &[u8]) -> Result<T, ApiError> {
    shoal_core::engine_api::from_json(what, b)
}

/// A request path's segments as every mode routes them: the `/vX.Y` prefix split off, empty
/// segments dropped, `%XX` escapes decoded.
pub fn segments(path: &str) -> Result<Vec<String>, ApiError> {
    let (_, rest) = split_version(path)?;
    Ok(rest.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect())
}

pub async fn dispatch(api: &Arc<EngineApi>, req: Request) -> Result<Resp, ApiError> {
    let segs = segments(req.uri().path())?;
    // The path as the errors name it (without the version prefix).
    let rest = format!("/{}", segs.join("/"));
    let mut segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    // `self` names the node answering (the docker CLI resolves it for some verbs, not all).
    if segs.len() >= 2 && segs[0] == "nodes" && segs[1] == "self" {
        segs[1] = &api.node_id;
    }
    let q = Query(
        axum::extract::Query::<BTreeMap<String, String>>::try_from_uri(req.uri())
            .map(|q| q.0)
            .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?,
    );
    let m = req.method().clone();
    use Method as M;
    match (&m, segs.as_slice()) {
        (&M::GET | &M::HEAD, ["_ping"]) => Ok(system::ping(api, m == M::HEAD)),
        (&M::GET, ["version"]) => Ok(system::version()),
        (&M::GET, ["info"]) => system::info(api).await,
        (&M::GET, ["events"]) => events::events(api, &q).await,
        (&M::GET, ["distribution", name @ .., "json"]) if !name.is_empty() => system::distribution(api, &name.join("/")).await,

        (&M::GET, ["swarm"]) => swarm::inspect_swarm(api).await,
        (&M::POST, ["swarm", "update"]) => swarm::update_swarm(api, &q, &body(req).await?).await,
        // `--force-new-cluster` is answered on the unix sockets (front.rs), which outlive a life.
        (&M::POST, ["swarm", "init"]) => Err(ApiError::Unavailable(format!(
            "{ALREADY_IN_A_SWARM} (`--force-new-cluster` through the API: use this node's unix socket, whose server outlives the restart)"
        ))),
        (&M::POST, ["swarm", "join"]) => Err(ApiError::Unavailable(ALREADY_IN_A_SWARM.into())),
        (&M::GET, ["swarm", "unlockkey"]) => swarm::unlock_key(api).await,
        // A running node is not locked (a locked one answers from engine_api/locked.rs).
        (&M::POST, ["swarm", "unlock"]) => Err(ApiError::Conflict(shoal_core::node::local::NOT_LOCKED.into())),
        (&M::POST, ["swarm", "leave"]) => swarm::leave(api, &q).await,

        (&M::GET, ["services"]) => swarm::list_services(api, &q).await,
        (&M::POST, ["services", "create"]) => swarm::create_service(api, &body(req).await?).await,
        (&M::GET, ["services", id]) => swarm::inspect_service(api, id, &q).await,
        (&M::POST, ["services", id, "update"]) => swarm::update_service(api, id, &q, &body(req).await?).await,
        (&M::DELETE, ["services", id]) => swarm::remove_service(api, id).await,
        (&M::GET, ["services", id, "logs"]) => logs::logs(api, id, &q, false).await,

        (&M::GET, ["tasks"]) => swarm::list_tasks(api, &q).await,
        (&M::GET, ["tasks", id]) => swarm::inspect_task(api, id).await,
        (&M::GET, ["tasks", id, "logs"]) => logs::logs(api, id, &q, true).await,

        (&M::GET, ["nodes"]) => swarm::list_nodes(api, &q).await,
        (&M::GET, ["nodes", id]) => swarm::inspect_node(api, id).await,
        (&M::POST, ["nodes", id, "update"]) => swarm::update_node(api, id, &q, &body(req).await?).await,
        (&M::DELETE, ["nodes", id]) => swarm::remove_node(api, id, &q).await,

        (&M::GET, [k @ ("secrets" | "configs")]) => swarm::list_payloads(api, payload_kind(k), &q).await,
        (&M::POST, [k @ ("secrets" | "configs"), "create"]) => swarm::create_payload(api, payload_kind(k), &body(req).await?).await,
        (&M::GET, [k @ ("secrets" | "configs"), id]) => swarm::inspect_payload(api, payload_kind(k), id).await,
        (&M::DELETE, [k @ ("secrets" | "configs"), id]) => swarm::remove_payload(api, payload_kind(k), id).await,
        (&M::POST, [k @ ("secrets" | "configs"), id, "update"]) => swarm::update_payload(api, payload_kind(k), id, &q, &body(req).await?).await,

        (&M::GET, ["networks"]) => swarm::list_networks(api, &q).await,
        (&M::POST, ["networks", "create"]) => swarm::create_network(api, &body(req).await?).await,
        (&M::GET, ["networks", id]) => swarm::inspect_network(api, id).await,
        (&M::DELETE, ["networks", id]) => swarm::remove_network(api, id).await,
        (_, ["networks", ..]) => Err(ApiError::NotImplemented(format!("{m} {rest}: connecting containers to swarm networks is not supported by Shoal yet"))),
        (_, [first, ..]) if ["services", "tasks", "nodes", "secrets", "configs", "networks", "swarm"].contains(first) => {
            Err(ApiError::NotImplemented(format!("{m} {rest} is not supported by Shoal yet")))
        }
        _ if m == M::OPTIONS => Ok(empty(StatusCode::OK)),
        _ => Err(ApiError::NotFound("page not found".into())),
    }
}

/// The payload kind a path's first segment names (`secrets` or `configs`).
fn payload_kind(segment: &str) -> shoal_core::control::PayloadKind {
    if segment == "configs" {
        shoal_core::control::PayloadKind::Config
    } else {
        shoal_core::control::PayloadKind::Secret
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(super::percent_decode("shoal-app%3A1"), "shoal-app:1");
        assert_eq!(super::percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}

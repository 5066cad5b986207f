//! The Docker Engine API's swarm part, as a grammar of Shoal's control API (pure).
//!
//! Owns the translation between what docker clients (the docker CLI, docker-py, the
//! visualizer) send and read and Shoal's model: dockerd's JSON types ([`types`]), the
//! conversions both ways ([`convert`]), list filters in both JSON shapes clients send
//! ([`filters`]), the list and inspect queries over a store ([`query`]), and errors with
//! dockerd's HTTP codes ([`ApiError`]). Inputs: request bodies, query strings and a read-only
//! [`crate::store::Store`]. Outputs: typed responses or an [`ApiError`]; never a store change
//! (writes go through the control API like every other client's).
//!
//! The HTTP server (sockets, TLS, streaming) lives in the runtime; this module has no I/O and
//! reads no clock, so every answer is a function of the request and the store.

pub mod convert;
pub mod events;
pub mod filters;
pub mod query;
pub mod types;

use crate::control::ControlError;

/// The API version Shoal speaks: the docker CLI 28 steps down to it, CLI 29 (which refuses
/// servers below 1.44) accepts it, and its swarm types are the ones [`types`] writes.
pub const API_VERSION: &str = "1.47";
/// The oldest API version a client may ask for (dockerd's minimum).
pub const MIN_API_VERSION: &str = "1.24";

/// An error as dockerd answers it: an HTTP status and `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: invalid argument or failed precondition.
    #[error("{0}")]
    BadRequest(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 501
    #[error("{0}")]
    NotImplemented(String),
    /// 503: no leader, or this node is not a manager.
    #[error("{0}")]
    Unavailable(String),
    /// 500
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::NotImplemented(_) => 501,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// dockerd's answer on a worker to a manager-only endpoint.
    pub fn not_a_manager() -> ApiError {
        ApiError::Unavailable(
            "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.".into(),
        )
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::InvalidArgument(m) | ControlError::FailedPrecondition(m) => ApiError::BadRequest(m),
            ControlError::OutOfSequence(m) => ApiError::Conflict(m),
            ControlError::NotFound(m) => ApiError::NotFound(m),
            ControlError::AlreadyExists(m) => ApiError::Conflict(m),
        }
    }
}

/// Parses a request body into `T` as Go's decoder would: an explicit `null` is the field's
/// zero value (docker-py sends `"Args": null`), unknown fields are ignored. Errors say what
/// was wrong.
pub fn from_json<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(format!("{what}: the request body is empty: send the JSON object")));
    }
    let bad = |e: serde_json::Error| ApiError::BadRequest(format!("{what}: the body is not valid JSON for it: {e}"));
    let mut v: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
    strip_nulls(&mut v);
    serde_json::from_value(v).map_err(bad)
}

/// Removes every `null` member of every object (recursively), so a defaulted field reads it
/// as absent. Bounded by the body's size (1 MiB at most): each value is visited once.
fn strip_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// The `/vX.Y/` prefix of a request path, split off: (version, the rest). A path without one
/// is answered at [`API_VERSION`], as dockerd does.
pub fn split_version(path: &str) -> Result<(Option<&str>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else { return Ok((None, path)) };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match ver.split_once('.') {
        Some((a, b)) if numeric(a) && numeric(b) => {}
        // Not a version segment (e.g. /volumes): the path as it is.
        _ => return Ok((None, path)),
    }
    if version_less(ver, MIN_API_VERSION) {
        return Err(ApiError::BadRequest(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok((Some(ver), tail))
}

/// `a < b` for dotted API versions ("1.9" < "1.24").
pub fn version_less(a: &str, b: &str) -> bool {
    let parts = |s: &str| s.split('.').map(|p| p.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    parts(a) < parts(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    // dockerd serves every path with and without the /vX.Y prefix, and refuses versions below
    // its minimum with 400 (moby api/server/middleware/version.go).
    #[test]
    fn version_prefix() {
        assert_eq!(split_version("/v1.47/services").unwrap(), (Some("1.47"), "/services"));
        assert_eq!(split_version("/services").unwrap(), (None, "/services"));
        assert_eq!(split_version("/v1.41/_ping").unwrap(), (Some("1.41"), "/_ping"));
        assert_eq!(split_version("/volumes").unwrap(), (None, "/volumes"));
        assert!(matches!(split_version("/v1.12/info"), Err(ApiError::BadRequest(_))));
        assert!(version_less("1.9", "1.24") && !version_less("1.47", "1.24"));
    }

    // Go decodes `null` as the zero value; docker-py sends nulls for fields it leaves unset.
    #[test]
    fn nulls_read_as_absent_and_bad_bodies_say_why() {
        let s: types::ServiceSpec =
            from_json("spec", br#"{"Name":"a","Labels":null,"TaskTemplate":{"ContainerSpec":{"Image":"x","Args":null,"Env":null}},"Mode":null}"#).unwrap();
        assert_eq!((s.name.as_str(), s.mode), ("a", None));
        // docker-py's ServiceMode writes the mode's key in lower case.
        let s: types::ServiceSpec = from_json("spec", br#"{"Name":"a","Mode":{"replicated":{"Replicas":2}}}"#).unwrap();
        assert_eq!(s.mode.unwrap().replicated.unwrap().replicas, Some(2));
        assert!(matches!(from_json::<types::ServiceSpec>("spec", b"  "), Err(ApiError::BadRequest(m)) if m.contains("empty")));
        assert!(matches!(from_json::<types::ServiceSpec>("spec", br#"{"Name":1}"#), Err(ApiError::BadRequest(m)) if m.starts_with("spec: ")));
    }

    #[test]
    fn control_errors_keep_their_codes() {
        assert_eq!(ApiError::from(ControlError::NotFound("x".into())).status(), 404);
        assert_eq!(ApiError::from(ControlError::AlreadyExists("x".into())).status(), 409);
        assert_eq!(ApiError::from(ControlError::FailedPrecondition("x".into())).status(), 400);
        assert_eq!(ApiError::not_a_manager().status(), 503);
    }
}

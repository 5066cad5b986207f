//! `shoal events [--since T] [--until T] [--filter K=V]... [--format json]`: the swarm's
//! events as docker prints them, read from this machine's daemon through its Engine API
//! socket (`docker.sock` in the data directory: the same `/events` stream the docker CLI
//! reads; engine_api/events.rs keeps the last 1,024 events on every manager, so `--since`
//! reaches back that far, across a change of leader).
//!
//! Follows until `--until` passes or Ctrl-C, like `docker events`.

use crate::daemon::DOCKER_API_SOCKET;
use clap::Parser;
use http_body_util::BodyExt;
use shoal_core::engine_api::events::{text_line, timestamp_arg};
use shoal_core::engine_api::types::EventMessage;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Parser)]
#[command(name = "shoal events", no_binary_name = true, disable_help_subcommand = true, about = "Get real time events from the swarm")]
pub(crate) struct EventsCli {
    /// Show all events created since timestamp (Unix seconds, a duration such as 10m, or an RFC 3339 time)
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided (type=service|node|secret|config|network, name=…, …)
    #[arg(long, short = 'f')]
    filter: Vec<String>,
    /// Format output: json (one JSON object per event)
    #[arg(long, value_parser = ["json"])]
    format: Option<String>,
}

/// The request path for `c`; Err names the bad flag.
fn path_of(c: &EventsCli, now_ms: u64) -> Result<String, String> {
    let mut q: Vec<(&str, String)> = Vec::new();
    for (flag, v) in [("since", &c.since), ("until", &c.until)] {
        if let Some(v) = v {
            q.push((flag, timestamp_arg(flag, v, now_ms)?));
        }
    }
    if !c.filter.is_empty() {
        let mut filters: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
        for f in &c.filter {
            let (k, v) = f.split_once('=').ok_or_else(|| format!("--filter {f:?}: give key=value, e.g. type=service"))?;
            filters.entry(k.to_string()).or_default().insert(v.to_string(), true);
        }
        q.push(("filters", serde_json::to_string(&filters).expect("filters serialise")));
    }
    let query = serde_urlencoded::to_string(&q).expect("pairs of strings encode");
    Ok(format!("/v{}/events{}{query}", shoal_core::engine_api::API_VERSION, if q.is_empty() { "" } else { "?" }))
}

pub(crate) async fn events(dir: &Path, c: EventsCli) -> Result<(), String> {
    let path = path_of(&c, shoal_core::node::clock::wall_ms())?;
    let socket = dir.join(DOCKER_API_SOCKET);
    let stream = tokio_rt::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| format!("Cannot connect to this node's Engine API at {}: {e}. Is its daemon running (with the default --docker-api)?", socket.display()))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("Error: the Engine API at {} did not speak HTTP: {e}", socket.display()))?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path).header("Host", "shoal").body(http_body_util::Empty::<hyper::body::Bytes>::new()).expect("a valid request");
    let resp = send.send_request(req).await.map_err(|e| format!("Error: the Engine API request failed: {e}"))?;
    let status = resp.status();
    let mut body = resp.into_body();
    if !status.is_success() {
        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        return Err(format!("Error response from daemon: {msg}"));
    }
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("Error: the event stream broke: {e}"))?;
        let Some(data) = frame.data_ref() else { continue };
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            if line.is_empty() {
                continue;
            }
            match (c.format.as_deref(), serde_json::from_slice::<EventMessage>(line)) {
                (Some("json"), _) => println!("{}", String::from_utf8_lossy(line)),
                (_, Ok(m)) => println!("{}", text_line(&m)),
                (_, Err(e)) => return Err(format!("Error: an event the daemon sent is not JSON ({e})")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_the_query_docker_sends() {
        let c = EventsCli::try_parse_from(["--since", "10m", "--filter", "type=service", "-f", "name=web"]).unwrap();
        let p = path_of(&c, 1_733_470_000_000).unwrap();
        assert!(p.starts_with("/v1.") && p.contains("/events?since=1733469400.000&filters="), "{p}");
        assert!(p.ends_with("filters=%7B%22name%22%3A%7B%22web%22%3Atrue%7D%2C%22type%22%3A%7B%22service%22%3Atrue%7D%7D"), "{p}");
        let bad = EventsCli::try_parse_from(["--filter", "type"]).unwrap();
        assert!(path_of(&bad, 0).unwrap_err().contains("give key=value"));
    }
}

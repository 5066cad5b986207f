//! `GET /services/{id}/logs` and `/tasks/{id}/logs`: the merged output of a service's (or one
//! task's) containers across nodes (core's `node::logs` fans out), framed as dockerd frames
//! non-TTY output: an 8-byte header (stream 1 or 2, three zero bytes, big-endian u32 length)
//! and one line per frame, flushed as lines arrive. With `details=1` every line starts with the
//! sorted `com.docker.swarm.node.id`, `.service.id`, `.task.id` pairs the docker CLI needs to
//! label it (`[timestamp ]details message`).

use super::routes::Query;
use super::{EngineApi, Resp};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Response, StatusCode};
use futures_util::StreamExt;
use shoal_core::engine_api::events::parse_time_ms;
use shoal_core::engine_api::{convert, ApiError};
use shoal_core::model::{Kind, Object};
use shoal_core::node::logs::LogsService;
use shoal_core::proto::{logs_server::Logs, LogLine, ServiceLogsRequest};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One stdcopy frame: header, then the payload.
pub fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(8 + payload.len());
    f.extend_from_slice(&[stream, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// (node id, service id) of a task, for the details of its lines.
type Owners = BTreeMap<String, (String, String)>;

fn owner_of(api: &EngineApi, owners: &mut Owners, task_id: &str) -> (String, String) {
    if let Some(o) = owners.get(task_id) {
        return o.clone();
    }
    // A task that started after the call began (a follow picks it up): this manager's store.
    let o = match api.manager.state.get(Kind::Task, task_id) {
        Some(Object::Task(t)) => (t.node_id, t.service_id),
        _ => (String::new(), String::new()),
    };
    owners.insert(task_id.to_string(), o.clone());
    o
}

/// The payload of one line: `[ts ][details ]message\n`.
fn payload(line: &LogLine, owner: &(String, String), timestamps: bool, details: bool) -> Vec<u8> {
    let mut p = Vec::with_capacity(line.data.len() + 160);
    if timestamps && !line.timestamp.is_empty() {
        p.extend_from_slice(line.timestamp.as_bytes());
        p.push(b' ');
    }
    if details {
        // Keys sorted; ids need no escaping (base36).
        let d = format!("com.docker.swarm.node.id={},com.docker.swarm.service.id={},com.docker.swarm.task.id={} ", owner.0, owner.1, line.task_id);
        p.extend_from_slice(d.as_bytes());
    }
    p.extend_from_slice(&line.data);
    p.push(b'\n');
    p
}

pub async fn logs(api: &Arc<EngineApi>, key: &str, q: &Query, task_only: bool) -> Result<Resp, ApiError> {
    // `since`/`until` as the docker CLI sends them (Unix seconds; "0" = no bound): a line is
    // kept by the time the engine stamped it (a line without a stamp is kept).
    let bound = |k: &str| -> Result<Option<u64>, ApiError> {
        match q.get(k) {
            None | Some("") | Some("0") => Ok(None),
            Some(v) => parse_time_ms(k, v).map(Some),
        }
    };
    let (since, until) = (bound("since")?, bound("until")?);
    let in_window = move |l: &LogLine| match convert::ms_of_time(&l.timestamp) {
        Some(t) => since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u),
        None => true,
    };
    let tail = match q.get("tail") {
        None | Some("") | Some("all") => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| ApiError::BadRequest(format!("invalid tail {n:?}: give a number of lines or all")))?),
    };
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::BadRequest("Bad parameters: you must choose at least one stream".into()));
    }
    let (timestamps, details, follow) = (q.flag("timestamps"), q.flag("details"), q.flag("follow"));
    let owned = key.to_string();
    let owners: Owners = api
        .read(&[Kind::Service, Kind::Task], |s| {
            let svc = if task_only {
                match s.get(Kind::Task, &owned) {
                    Some(Object::Task(t)) => t.service_id.clone(),
                    _ => return Err(ApiError::NotFound(format!("task {owned} not found"))),
                }
            } else {
                shoal_core::engine_api::query::find_service(s, &owned)?.id.clone()
            };
            Ok(s.list(Kind::Task)
                .filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None })
                .filter(|t| t.service_id == svc)
                .map(|t| (t.id.clone(), (t.node_id.clone(), t.service_id.clone())))
                .collect())
        })
        .await?;
    let svc = LogsService { node: api.manager.clone() };
    let req = ServiceLogsRequest { service: key.into(), follow, tail: tail.unwrap_or(0), has_tail: tail.is_some() };
    let batches = svc.service_logs(tonic::Request::new(req)).await.map_err(super::from_status)?.into_inner();
    let api = api.clone();
    let mut owners = owners;
    let frames = batches.map(move |b| {
        let mut out = Vec::new();
        match b {
            Ok(b) => {
                if !b.warning.is_empty() {
                    // A frame without details would fail the CLI: the warning goes to the log.
                    tracing::warn!(target: "shoal", "service logs: {}", b.warning);
                }
                for l in &b.lines {
                    let keep = (if l.stream == 2 { stderr } else { stdout }) && in_window(l);
                    if keep {
                        let owner = owner_of(&api, &mut owners, &l.task_id);
                        out.extend(frame(if l.stream == 2 { 2 } else { 1 }, &payload(l, &owner, timestamps, details)));
                    }
                }
            }
            Err(e) => tracing::warn!(target: "shoal", "service logs stream: {}", e.message()),
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(out))
    });
    let mut r = Response::new(Body::from_stream(frames));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.docker.multiplexed-stream"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The stdcopy header: stream, three zero bytes, big-endian length (moby pkg/stdcopy).
    #[test]
    fn frames_and_details() {
        assert_eq!(frame(1, b"hi\n"), vec![1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        let l = LogLine { task_id: "t1".into(), stream: 1, timestamp: "2026-01-01T00:00:00Z".into(), data: b"hello".to_vec(), ..Default::default() };
        let p = payload(&l, &("n1".into(), "s1".into()), true, true);
        assert_eq!(
            String::from_utf8(p).unwrap(),
            "2026-01-01T00:00:00Z com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello\n"
        );
    }
}

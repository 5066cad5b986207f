//! The `Logs` gRPC service (shell): swarm's `service logs [-f] [--tail N]`.
//!
//! Swarmkit runs a log broker on the leader: agents hold a subscription stream to it and
//! publish their containers' output into it. Shoal does without the broker's state: the
//! manager the CLI asks (any manager, leader or not) reads from its store which nodes hold the
//! service's tasks and calls each node's `TaskLogs` (every node serves the same gRPC services),
//! which reads its own containers through the runtime's [`LogSource`] (Docker's container logs
//! in production, the simulated containers' output in the simulator). The answers are merged
//! into one stream, each line labelled with its task's service, slot and node.
//!
//! Inputs: a service (id, name, id prefix) or a task id, `follow`, `tail`. Output: a stream
//! of [`LogBatch`]es; a node that cannot be asked shows as a batch with a warning, not as an
//! error of the whole call (docker prints the lines it has and the nodes it could not reach).
//!
//! Invariants: every queue is bounded (a slow reader slows the nodes' streams, it does not
//! grow memory); every task spawned here ends when the caller hangs up (its sender fails) or
//! its stream ends; without `follow` a node that stops answering for [`REQUEST_TIMEOUT`] is
//! given up (a warning), so a call without `follow` always ends. With `follow`, tasks that
//! start later are picked up every [`FOLLOW_NEW_TASKS_EVERY`] (as docker's `-f` shows a
//! replacement task's output).
//!
//! Managers dial a node by the name its certificate carries for its role (the production
//! endpoint maker), so a worker's certificate is verified as a worker's.

use super::{Manager, REQUEST_TIMEOUT};
use crate::model::{Kind, NodeRole, Object, Task, TaskState};
use crate::proto::{logs_client::LogsClient, logs_server, LogBatch, LogLine, ServiceLogsRequest, TaskLogsRequest};
use crate::store::Store;
use futures_util::stream::BoxStream;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

/// Lines per batch on the wire.
const BATCH_LINES_MAX: usize = 64;
/// Batches (or lines, on a node) buffered per stream before the sender waits.
const STREAM_BUFFER: usize = 16;
/// Task ids one `TaskLogs` call may ask for (a node runs at most a few hundred tasks).
const TASKS_PER_CALL_MAX: usize = 10_000;
/// How often a followed service is looked at again for tasks that started since.
pub const FOLLOW_NEW_TASKS_EVERY: Duration = Duration::from_secs(1);

/// What a caller wants of a task's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep sending new output until the caller hangs up or the container is gone.
    pub follow: bool,
    /// Only the last N lines written so far (then, with `follow`, everything new).
    pub tail: Option<u64>,
}

/// A node's container output, by task (implemented by the runtime next to its executor).
/// Object-safe (a boxed future) because the gRPC service holds it as a trait object.
pub trait LogSource: Send + Sync + 'static {
    /// Sends the output of `task_id`'s container into `tx`, one line per message, and
    /// returns: at the end of what was written without `follow`; with `follow`, once the
    /// container stopped and its output was sent, or once `tx` is closed. A task with no
    /// container here sends nothing.
    fn logs(&self, task_id: String, opts: LogOptions, tx: mpsc::Sender<LogLine>) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl Manager {
    /// Serves `TaskLogs` from `source` from now on (the runtime calls it once its executor
    /// exists; until then a node answers that it runs no agent).
    pub fn set_log_source(&self, source: Arc<dyn LogSource>) {
        *self.log_source.lock().unwrap() = Some(source);
    }
}

/// What `service logs` prints before a line's `|`: `service.slot.task@node` (docker's
/// context; the task id cut to 12 characters unless `no_trunc`, left out without `task_id`;
/// a global task has no slot).
pub fn context(line: &LogLine, no_trunc: bool, task_id: bool) -> String {
    let mut parts = vec![if line.service_name.is_empty() { "?".to_string() } else { line.service_name.clone() }];
    if line.slot != 0 {
        parts.push(line.slot.to_string());
    }
    if task_id {
        parts.push(if no_trunc { line.task_id.clone() } else { line.task_id.get(..12).unwrap_or(&line.task_id).to_string() });
    }
    format!("{}@{}", parts.join("."), line.node_name)
}

impl LogOptions {
    fn from_wire(follow: bool, tail: u64, has_tail: bool) -> LogOptions {
        LogOptions { follow, tail: has_tail.then_some(tail) }
    }
}

pub struct LogsService {
    pub node: Arc<Manager>,
}

type BatchStream = BoxStream<'static, Result<LogBatch, Status>>;

fn stream_of(rx: mpsc::Receiver<Result<LogBatch, Status>>) -> BatchStream {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }))
}

/// One node to ask: where it is, which name its certificate carries, and its tasks wanted.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    addr: String,
    role: NodeRole,
    hostname: String,
    /// (task id, service name, slot)
    tasks: Vec<(String, String, u64)>,
}

/// The nodes holding the tasks of `key` (a task id, else a service by id, name or prefix),
/// by node id. Tasks never placed, or on a node removed or never heard from, have no output
/// anyone can ask for. `started`: only tasks whose container was started (STARTING or later):
/// a follower asks each task once, and a task asked before its container exists would show
/// nothing ever.
fn targets(store: &Store, key: &str, started: bool) -> Result<BTreeMap<String, Target>, Status> {
    let tasks: Vec<&Task> = match store.get(Kind::Task, key) {
        Some(Object::Task(t)) => vec![t],
        _ => {
            let svc = crate::control::find_service(store, key).map_err(|e| match e {
                crate::control::ControlError::NotFound(_) => {
                    Status::not_found(format!("no such service or task: {key}; `service ls` and `service ps SERVICE` list them"))
                }
                e => e.into(),
            })?;
            store.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).filter(|t| t.service_id == svc.id).collect()
        }
    };
    let mut out: BTreeMap<String, Target> = BTreeMap::new();
    for t in tasks.into_iter().filter(|t| !t.node_id.is_empty() && (!started || t.status.state >= TaskState::Starting)) {
        let Some(Object::Node(n)) = store.get(Kind::Node, &t.node_id) else { continue };
        if n.status.addr.is_empty() {
            continue;
        }
        let target = out.entry(n.id.clone()).or_insert_with(|| Target {
            addr: n.status.addr.clone(),
            role: n.role,
            hostname: n.description.as_ref().map(|d| d.hostname.clone()).filter(|h| !h.is_empty()).unwrap_or_else(|| n.id.clone()),
            tasks: Vec::new(),
        });
        target.tasks.push((t.id.clone(), t.service_name.clone(), t.slot));
    }
    Ok(out)
}

#[tonic::async_trait]
impl logs_server::Logs for LogsService {
    type ServiceLogsStream = BatchStream;
    type TaskLogsStream = BatchStream;

    async fn service_logs(&self, request: Request<ServiceLogsRequest>) -> Result<Response<BatchStream>, Status> {
        let req = request.into_inner();
        let opts = LogOptions::from_wire(req.follow, req.tail, req.has_tail);
        let first = self.node.state.with_store(|s| targets(s, &req.service, opts.follow))?;
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        tokio::spawn(fan_out(self.node.clone(), req.service, first, opts, tx));
        Ok(Response::new(stream_of(rx)))
    }

    async fn task_logs(&self, request: Request<TaskLogsRequest>) -> Result<Response<BatchStream>, Status> {
        let source = self.node.log_source.lock().unwrap().clone().ok_or_else(|| Status::unavailable("this node runs no agent yet"))?;
        let req = request.into_inner();
        if req.task_ids.len() > TASKS_PER_CALL_MAX {
            return Err(Status::invalid_argument(format!("{} task ids in one call: ask for at most {TASKS_PER_CALL_MAX}", req.task_ids.len())));
        }
        let opts = LogOptions::from_wire(req.follow, req.tail, req.has_tail);
        let (line_tx, line_rx) = mpsc::channel::<LogLine>(BATCH_LINES_MAX * STREAM_BUFFER);
        for id in req.task_ids {
            tokio::spawn(source.logs(id, opts, line_tx.clone()));
        }
        drop(line_tx);
        // Lines already waiting leave together (up to a batch); the stream ends once every
        // task's source returned.
        let batches = futures_util::stream::unfold(line_rx, |mut rx| async move {
            let first = rx.recv().await?;
            let mut lines = vec![first];
            while lines.len() < BATCH_LINES_MAX {
                match rx.try_recv() {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            Some((Ok(LogBatch { lines, warning: String::new() }), rx))
        });
        Ok(Response::new(Box::pin(batches)))
    }
}

/// Asks every node of `targets` for its tasks' output (with `follow`, again for tasks that
/// start later), all into `tx`. Ends when the caller hung up, or (without `follow`) at once:
/// the stream then ends when the last node's answer ends.
async fn fan_out(node: Arc<Manager>, key: String, mut targets_now: BTreeMap<String, Target>, opts: LogOptions, tx: mpsc::Sender<Result<LogBatch, Status>>) {
    let mut asked: BTreeSet<String> = BTreeSet::new();
    loop {
        for (_, mut t) in std::mem::take(&mut targets_now) {
            t.tasks.retain(|(id, ..)| asked.insert(id.clone()));
            if !t.tasks.is_empty() {
                tokio::spawn(from_node(t, opts, tx.clone()));
            }
        }
        if !opts.follow {
            return;
        }
        tokio::time::sleep(FOLLOW_NEW_TASKS_EVERY).await;
        if tx.is_closed() {
            return;
        }
        match node.state.with_store(|s| targets(s, &key, true)) {
            Ok(t) => targets_now = t,
            // The service was removed: what was asked keeps streaming until it ends.
            Err(_) => return,
        }
    }
}

/// One node's `TaskLogs`, each line labelled for the CLI; a failure becomes a warning batch.
async fn from_node(t: Target, opts: LogOptions, tx: mpsc::Sender<Result<LogBatch, Status>>) {
    let names: BTreeMap<String, (String, u64)> = t.tasks.iter().map(|(id, svc, slot)| (id.clone(), (svc.clone(), *slot))).collect();
    let req = TaskLogsRequest {
        task_ids: t.tasks.iter().map(|(id, ..)| id.clone()).collect(),
        follow: opts.follow,
        tail: opts.tail.unwrap_or(0),
        has_tail: opts.tail.is_some(),
    };
    let result: Result<(), String> = async {
        let ch = crate::node::raft::network::channel_to(&t.addr, t.role).map_err(|e| e.to_string())?;
        let mut client = LogsClient::new(ch);
        let mut stream = match tokio::time::timeout(REQUEST_TIMEOUT, client.task_logs(req)).await {
            Err(_) => return Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
            Ok(r) => r.map_err(|e| e.message().to_string())?.into_inner(),
        };
        loop {
            // Without follow a node that goes quiet mid-stream is given up; with follow, quiet
            // is normal (a container that prints nothing).
            let next = if opts.follow {
                stream.message().await
            } else {
                match tokio::time::timeout(REQUEST_TIMEOUT, stream.message()).await {
                    Err(_) => return Err(format!("stopped answering for {REQUEST_TIMEOUT:?}")),
                    Ok(m) => m,
                }
            };
            match next.map_err(|e| e.message().to_string())? {
                None => return Ok(()),
                Some(mut batch) => {
                    for l in &mut batch.lines {
                        if let Some((svc, slot)) = names.get(&l.task_id) {
                            (l.service_name, l.slot) = (svc.clone(), *slot);
                        }
                        l.node_name = t.hostname.clone();
                    }
                    if tx.send(Ok(batch)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        let warning = format!("node {} ({}): {e}", t.hostname, t.addr);
        let _ = tx.send(Ok(LogBatch { lines: Vec::new(), warning })).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, Node, NodeDescription, NodeStatus, Service, ServiceSpec};
    use crate::store::{Action, Transaction};

    fn store() -> Store {
        let mut spec = ServiceSpec::default();
        spec.annotations.name = "web".into();
        let svc = Service { id: "svc1".into(), spec, spec_version: 1, ..Default::default() };
        let node = |id: &str, host: &str, addr: &str, role| {
            Object::Node(Node {
                id: id.into(),
                role,
                description: Some(NodeDescription { hostname: host.into(), ..Default::default() }),
                status: NodeStatus { addr: addr.into(), ..Default::default() },
                ..Default::default()
            })
        };
        let task = |id: &str, slot, node: &str| {
            Object::Task(Task { id: id.into(), meta: Meta::default(), service_id: "svc1".into(), service_name: "web".into(), slot, node_id: node.into(), ..Default::default() })
        };
        let mut s = Store::default();
        let objs = vec![
            Object::Service(svc),
            node("n1", "m1", "10.0.0.1:4242", NodeRole::Manager),
            node("n2", "w1", "10.0.0.2:4242", NodeRole::Worker),
            task("t1", 1, "n1"),
            task("t2", 2, "n2"),
            task("t3", 3, "n2"),
            task("t4", 4, ""),
            task("t5", 5, "gone"),
        ];
        s.apply(1, &Transaction { actions: objs.into_iter().map(Action::Create).collect(), timestamp_ms: 0 }).unwrap();
        s
    }

    // `service logs web` asks each node that holds a task of it, once, for all its tasks of
    // it, dialling a worker as a worker; tasks not placed or on a node no longer listed have
    // no node to ask (docker shows nothing for them either).
    #[test]
    fn a_service_s_tasks_are_asked_of_the_nodes_that_hold_them() {
        let s = store();
        let t = targets(&s, "web", false).unwrap();
        assert_eq!(t.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(t["n2"].role, NodeRole::Worker);
        assert_eq!(t["n2"].hostname, "w1");
        let ids: Vec<&str> = t["n2"].tasks.iter().map(|(id, ..)| id.as_str()).collect();
        assert_eq!(ids, ["t2", "t3"]);
        // A task id asks only that task's node.
        let one = targets(&s, "t3", false).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one["n2"].tasks, vec![("t3".to_string(), "web".to_string(), 3)]);
        // A follower waits for a task's container to be started before asking for it once.
        assert!(targets(&s, "web", true).unwrap().is_empty());
    }

    // docker's prefix: service.slot.task@node, the id cut to 12 unless --no-trunc, gone with
    // --no-task-ids; a global task has no slot.
    #[test]
    fn the_prefix_is_docker_s() {
        let l = LogLine { task_id: "abcdefghijklmnop".into(), service_name: "web".into(), slot: 2, node_name: "w1".into(), ..Default::default() };
        assert_eq!(context(&l, false, true), "web.2.abcdefghijkl@w1");
        assert_eq!(context(&l, true, true), "web.2.abcdefghijklmnop@w1");
        assert_eq!(context(&l, false, false), "web.2@w1");
        assert_eq!(context(&LogLine { slot: 0, ..l }, false, false), "web@w1");
    }

    // An unknown name is an error that says what to do, not an empty stream.
    #[test]
    fn an_unknown_service_is_not_found() {
        let e = targets(&store(), "nope", false).unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(e.message().contains("service ls"), "{}", e.message());
    }
}

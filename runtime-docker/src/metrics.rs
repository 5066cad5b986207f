//! `/metrics` in Prometheus' text format (version 0.0.4), served by every daemon on
//! `--metrics-addr IP:PORT` (off unless given).
//!
//! What it reports, all read when scraped (nothing is kept between scrapes):
//! * raft: `shoal_raft_term`, `shoal_raft_last_log_index`, `shoal_raft_applied_index`,
//!   `shoal_raft_leader` (1 on the leader), `shoal_raft_voters`, `shoal_raft_apply_lag`,
//!   `shoal_raft_leader_changes_total`;
//! * the store as this node applied it (core/src/figures.rs): `shoal_tasks{state=…}` (live
//!   tasks by observed state), `shoal_tasks_pending`, `shoal_nodes{state=…}` (a node marked
//!   down missed its heartbeats), `shoal_services`, and per service `shoal_service_replicas`,
//!   `shoal_service_updating` and `shoal_service_updated` (an update's progress);
//! * the agent: `shoal_agent_containers{state=…}` (this node's task containers by state);
//! * what this process saw as leader (core/src/node/counters.rs):
//!   `shoal_heartbeats_missed_total` (nodes it marked down for a missed heartbeat deadline)
//!   and `shoal_scheduler_latency_seconds` (a histogram of each task's wait from creation to
//!   assignment);
//! * the routing mesh: `shoal_mesh_ports` (published ports this node serves) and
//!   `shoal_mesh_connections_total{result=forwarded|failed}` (failed: no task answered).
//!
//! Written by hand rather than with a Prometheus crate: a handful of gauges rendered on
//! demand need no registry, and a GET on one path needs no HTTP framework (requests are read
//! up to a bound and answered once, then the connection closes).

use crate::ingress::IngressProxy;
use shoal_core::agent::ContainerState;
use shoal_core::figures::ServiceFigures;
use shoal_core::node::counters::Figures;
use shoal_core::node::agent::Executor;
use shoal_core::node::Manager;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rt::io::{AsyncReadExt, AsyncWriteExt};

/// A request line and headers beyond this are refused (a scrape is a few hundred bytes).
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
}

fn gauge(out: &mut String, name: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// The metrics text of one scrape (pure but for what it reads from the node).
pub async fn render(manager: &Manager, exec: &dyn Executor, mesh: &IngressProxy) -> String {
    let mut out = String::new();
    let Figures { raft, leader, store } = manager.figures();
    let one = |v: u64| [(String::new(), v)];
    gauge(&mut out, "shoal_raft_term", "Current raft term.", &one(raft.term));
    gauge(&mut out, "shoal_raft_last_log_index", "Index of the last raft log entry.", &one(raft.last_log_index));
    gauge(&mut out, "shoal_raft_applied_index", "Index of the last entry applied to the store.", &one(raft.applied_index));
    gauge(&mut out, "shoal_raft_leader", "1 when this manager leads.", &one(u64::from(raft.leader)));
    gauge(&mut out, "shoal_raft_voters", "Voters in the raft membership.", &one(raft.voters));
    gauge(&mut out, "shoal_raft_apply_lag", "Log entries this manager holds but has not applied yet.", &one(raft.apply_lag));
    counter(&mut out, "shoal_raft_leader_changes_total", "Changes of the raft leader this manager saw.", raft.leader_changes);
    let labelled = |m: BTreeMap<String, u64>| m.into_iter().map(|(k, v)| (format!("{{state=\"{k}\"}}"), v)).collect::<Vec<_>>();
    gauge(&mut out, "shoal_tasks", "Live tasks by observed state.", &labelled(store.tasks));
    gauge(&mut out, "shoal_tasks_pending", "Live tasks waiting for a node (the scheduler could not place them yet).", &one(store.pending));
    gauge(&mut out, "shoal_nodes", "Nodes by status (down: missed its heartbeat deadline).", &labelled(store.nodes));
    gauge(&mut out, "shoal_services", "Services.", &one(store.services.len() as u64));
    let per_service = |f: &dyn Fn(&ServiceFigures) -> u64| -> Vec<(String, u64)> {
        store.services.iter().map(|s| (format!("{{service=\"{}\"}}", s.name), f(s))).collect()
    };
    let replicas: Vec<(String, u64)> = store
        .services
        .iter()
        .flat_map(|s| [(format!("{{service=\"{}\",state=\"desired\"}}", s.name), s.desired), (format!("{{service=\"{}\",state=\"running\"}}", s.name), s.running)])
        .collect();
    gauge(&mut out, "shoal_service_replicas", "Per service: tasks desired and running, as `service ls` counts them.", &replicas);
    gauge(&mut out, "shoal_service_updating", "1 while a rolling update or rollback of the service is under way.", &per_service(&|s| u64::from(s.updating)));
    gauge(&mut out, "shoal_service_updated", "Per service: running tasks of its current spec (an update's progress, out of desired).", &per_service(&|s| s.updated));
    let mut containers: BTreeMap<String, u64> = BTreeMap::new();
    for c in exec.list().await {
        let state = match c.state {
            ContainerState::Creating | ContainerState::Starting => "starting",
            ContainerState::Running => "running",
            ContainerState::Exited(_) => "exited",
            ContainerState::Failed(_) => "failed",
            ContainerState::Unhealthy => "unhealthy",
        };
        *containers.entry(state.into()).or_default() += 1;
    }
    gauge(&mut out, "shoal_agent_containers", "This node's task containers by state.", &labelled(containers));
    counter(&mut out, "shoal_heartbeats_missed_total", "Nodes this process, as leader, marked down for a missed heartbeat deadline.", leader.heartbeats_missed);
    let h = manager.counters.scheduler_latency();
    let name = "shoal_scheduler_latency_seconds";
    let _ = writeln!(out, "# HELP {name} Time from a task's creation to its assignment by this process's scheduler.\n# TYPE {name} histogram");
    for (bound_ms, n) in &h.buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{}\"}} {n}", *bound_ms as f64 / 1000.0);
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}", h.count, h.sum_ms as f64 / 1000.0, h.count);
    gauge(&mut out, "shoal_mesh_ports", "Published ingress ports this node's routing mesh serves.", &[(String::new(), mesh.ports().len() as u64)]);
    let name = "shoal_mesh_connections_total";
    let (ok, failed) = (mesh.forwarded.load(std::sync::atomic::Ordering::Relaxed), mesh.failed.load(std::sync::atomic::Ordering::Relaxed));
    let _ = writeln!(out, "# HELP {name} Connections to published ports (failed: no task answered).\n# TYPE {name} counter\n{name}{{result=\"forwarded\"}} {ok}\n{name}{{result=\"failed\"}} {failed}");
    out
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, manager: Arc<Manager>, exec: Arc<dyn Executor>, mesh: Arc<IngressProxy>) -> Result<(), String> {
    let listener = tokio_rt::net::TcpListener::bind(addr).await.map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
    tracing::info!(target: "shoal", %addr, "metrics on http://{addr}/metrics");
    loop {
        let Ok((mut sock, _)) = listener.accept().await else { continue };
        let (manager, exec, mesh) = (manager.clone(), exec.clone(), mesh.clone());
        tokio_rt::spawn(async move {
            let mut buf = Vec::with_capacity(512);
            let mut chunk = [0u8; 1024];
            // Read the request head, bounded in size and time.
            let head_done = loop {
                match tokio_rt::time::timeout(READ_TIMEOUT, sock.read(&mut chunk)).await {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break false,
                    Ok(Ok(n)) => {
                        buf.extend_from_slice(&chunk[..n]);
                        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            break true;
                        }
                        if buf.len() > MAX_REQUEST_BYTES {
                            break false;
                        }
                    }
                }
            };
            if !head_done {
                return;
            }
            let line = String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == b'\r').unwrap_or(0)]).to_string();
            let (status, body, kind) = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["GET", "/metrics", ..] => ("200 OK", render(&manager, exec.as_ref(), &mesh).await, "text/plain; version=0.0.4"),
                ["GET", ..] => ("404 Not Found", "only /metrics is served here\n".to_string(), "text/plain"),
                _ => ("405 Method Not Allowed", "use GET /metrics\n".to_string(), "text/plain"),
            };
            let resp = format!("HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

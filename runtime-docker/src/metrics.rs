//! `/metrics` in the OpenMetrics text format (which Prometheus reads), served by every daemon
//! on `--metrics-addr IP:PORT` (off unless given).
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
//! Encoded with prometheus-client and served with axum. The values are read when scraped, so
//! each scrape registers what it read in a fresh registry; the samples of a metric keep the
//! order they were read in (prometheus-client's `Family` keeps a `HashMap`, whose order would
//! reach the output).

use crate::ingress::IngressProxy;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use shoal_core::agent::ContainerState;
use shoal_core::node::agent::Executor;
use shoal_core::node::counters::{Figures, Histogram};
use shoal_core::node::Manager;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// One metric as read at scrape time: a sample per label set (none: one unlabelled sample).
#[derive(Debug)]
struct Read {
    kind: MetricType,
    samples: Vec<(Vec<(String, String)>, u64)>,
}

impl Read {
    fn gauge(v: u64) -> Read {
        Read { kind: MetricType::Gauge, samples: vec![(Vec::new(), v)] }
    }

    fn counter(v: u64) -> Read {
        Read { kind: MetricType::Counter, samples: vec![(Vec::new(), v)] }
    }

    /// A gauge per value of one label (`state`, `service`…).
    fn by(label: &str, values: impl IntoIterator<Item = (String, u64)>) -> Read {
        Read { kind: MetricType::Gauge, samples: values.into_iter().map(|(k, v)| (vec![(label.to_string(), k)], v)).collect() }
    }
}

impl EncodeMetric for Read {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let one = |e: &mut MetricEncoder, v: &u64| match self.kind {
            MetricType::Counter => e.encode_counter::<NoLabelSet, u64, u64>(v, None),
            _ => e.encode_gauge(v),
        };
        for (labels, v) in &self.samples {
            if labels.is_empty() {
                one(&mut encoder, v)?;
            } else {
                one(&mut encoder.encode_family(labels)?, v)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// The scheduler-latency histogram as the counters hold it (cumulative buckets, in ms).
#[derive(Debug)]
struct Latency(Histogram);

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // The encoder wants each bucket's own count, and the +Inf bucket as f64::MAX. The
        // counters are read one by one while assignments may be recorded: a later bucket (or
        // the count) read before an earlier one may be behind it, so each is at least the one
        // before.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(self.0.buckets.len() + 1);
        for (bound_ms, cumulative) in &self.0.buckets {
            let cumulative = (*cumulative).max(below);
            buckets.push((*bound_ms as f64 / 1000.0, cumulative - below));
            below = cumulative;
        }
        let count = self.0.count.max(below);
        buckets.push((f64::MAX, count - below));
        encoder.encode_histogram::<NoLabelSet>(self.0.sum_ms as f64 / 1000.0, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The metrics text of one scrape (what it reads from the node, encoded).
pub async fn render(manager: &Manager, exec: &dyn Executor, mesh: &IngressProxy) -> String {
    let Figures { raft, leader, store } = manager.figures();
    let mut r = Registry::default();
    r.register("shoal_raft_term", "Current raft term", Read::gauge(raft.term));
    r.register("shoal_raft_last_log_index", "Index of the last raft log entry", Read::gauge(raft.last_log_index));
    r.register("shoal_raft_applied_index", "Index of the last entry applied to the store", Read::gauge(raft.applied_index));
    r.register("shoal_raft_leader", "1 when this manager leads", Read::gauge(u64::from(raft.leader)));
    r.register("shoal_raft_voters", "Voters in the raft membership", Read::gauge(raft.voters));
    r.register("shoal_raft_apply_lag", "Log entries this manager holds but has not applied yet", Read::gauge(raft.apply_lag));
    r.register("shoal_raft_leader_changes", "Changes of the raft leader this manager saw", Read::counter(raft.leader_changes));
    r.register("shoal_tasks", "Live tasks by observed state", Read::by("state", store.tasks));
    r.register("shoal_tasks_pending", "Live tasks waiting for a node (the scheduler could not place them yet)", Read::gauge(store.pending));
    r.register("shoal_nodes", "Nodes by status (down: missed its heartbeat deadline)", Read::by("state", store.nodes));
    r.register("shoal_services", "Services", Read::gauge(store.services.len() as u64));
    let replicas = store.services.iter().flat_map(|s| {
        [("desired", s.desired), ("running", s.running)]
            .map(|(state, v)| (vec![("service".to_string(), s.name.clone()), ("state".to_string(), state.to_string())], v))
    });
    r.register(
        "shoal_service_replicas",
        "Per service: tasks desired and running, as `service ls` counts them",
        Read { kind: MetricType::Gauge, samples: replicas.collect() },
    );
    let per_service = |f: fn(&shoal_core::figures::ServiceFigures) -> u64| Read::by("service", store.services.iter().map(|s| (s.name.clone(), f(s))));
    r.register("shoal_service_updating", "1 while a rolling update or rollback of the service is under way", per_service(|s| u64::from(s.updating)));
    r.register(
        "shoal_service_updated",
        "Per service: running tasks of its current spec (an update's progress, out of desired)",
        per_service(|s| s.updated),
    );
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
    r.register("shoal_agent_containers", "This node's task containers by state", Read::by("state", containers));
    r.register(
        "shoal_heartbeats_missed",
        "Nodes this process, as leader, marked down for a missed heartbeat deadline",
        Read::counter(leader.heartbeats_missed),
    );
    r.register(
        "shoal_scheduler_latency_seconds",
        "Time from a task's creation to its assignment by this process's scheduler",
        Latency(manager.counters.scheduler_latency()),
    );
    r.register("shoal_mesh_ports", "Published ingress ports this node's routing mesh serves", Read::gauge(mesh.ports().len() as u64));
    let (ok, failed) = (mesh.forwarded.load(std::sync::atomic::Ordering::Relaxed), mesh.failed.load(std::sync::atomic::Ordering::Relaxed));
    let connections = [("forwarded", ok), ("failed", failed)].map(|(k, v)| (vec![("result".to_string(), k.to_string())], v));
    r.register(
        "shoal_mesh_connections",
        "Connections to published ports (failed: no task answered)",
        Read { kind: MetricType::Counter, samples: connections.to_vec() },
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}

struct Scrape {
    manager: Arc<Manager>,
    exec: Arc<dyn Executor>,
    mesh: Arc<IngressProxy>,
}

async fn scrape(axum::extract::State(s): axum::extract::State<Arc<Scrape>>) -> impl axum::response::IntoResponse {
    let body = render(&s.manager, s.exec.as_ref(), &s.mesh).await;
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, manager: Arc<Manager>, exec: Arc<dyn Executor>, mesh: Arc<IngressProxy>) -> Result<(), String> {
    let listener = tokio_rt::net::TcpListener::bind(addr).await.map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
    tracing::info!(target: "shoal", %addr, "metrics on http://{addr}/metrics");
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(Arc::new(Scrape { manager, exec, mesh }));
    axum::serve(listener, app).await.map_err(|e| format!("the metrics server on {addr} stopped: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(name: &str, metric: impl prometheus_client::registry::Metric) -> String {
        let mut r = Registry::default();
        r.register(name, "help", metric);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    // Cumulative buckets in ms become the encoder's per-bucket counts and come out cumulative
    // again, in seconds, with the rest of the count in +Inf.
    #[test]
    fn the_latency_histogram_round_trips_its_cumulative_buckets() {
        let h = Histogram { buckets: vec![(5, 1), (10, 3), (25, 3)], count: 4, sum_ms: 1_500 };
        let out = encoded("lat_seconds", Latency(h));
        for line in [
            "# TYPE lat_seconds histogram",
            "lat_seconds_sum 1.5",
            "lat_seconds_count 4",
            "lat_seconds_bucket{le=\"0.005\"} 1",
            "lat_seconds_bucket{le=\"0.01\"} 3",
            "lat_seconds_bucket{le=\"0.025\"} 3",
            "lat_seconds_bucket{le=\"+Inf\"} 4",
        ] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
        }
    }

    // Counters read while an assignment is recorded may disagree (a later bucket behind an
    // earlier one): the scrape stays cumulative instead of failing.
    #[test]
    fn a_histogram_read_mid_update_stays_cumulative() {
        let h = Histogram { buckets: vec![(5, 3), (10, 2)], count: 1, sum_ms: 10 };
        let out = encoded("lat_seconds", Latency(h));
        for line in ["lat_seconds_count 3", "lat_seconds_bucket{le=\"0.01\"} 3", "lat_seconds_bucket{le=\"+Inf\"} 3"] {
            assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
        }
    }

    // Samples keep the order they were read in; counters get `_total`; the text ends as
    // OpenMetrics wants.
    #[test]
    fn samples_keep_their_order_and_counters_their_suffix() {
        let out = encoded("tasks", Read::by("state", [("running".to_string(), 3), ("failed".to_string(), 1)]));
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples, ["tasks{state=\"running\"} 3", "tasks{state=\"failed\"} 1"]);
        let out = encoded("changes", Read::counter(2));
        assert!(out.lines().any(|l| l == "changes_total 2") && out.ends_with("# EOF\n"), "{out}");
    }
}

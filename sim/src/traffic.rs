//! The deterministic request client: `load service NAME port P rate R/s`.
//!
//! Sends one request every 1/R virtual seconds to port P, entering the machines in turn
//! (every machine that was up when the load started: what an external load balancer in front
//! of the swarm would do), through a [`RoutingMesh`]. In the simulator that is
//! [`SimMesh`], the model of `crate::mesh`; the Docker runtime will give real requests the
//! same shape. Outcomes are counted in [`RequestStats`]; each failure is a trace line.

use crate::cluster::Cluster;
use serde::Serialize;
use shoal_core::node::mesh::{RequestFailure, RoutingMesh};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Requests through the mesh.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RequestCounts {
    pub sent: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Failures by reason (entry-down, no-backend, backend-down, …).
    pub failed_by: BTreeMap<String, u64>,
}

impl RequestCounts {
    fn record(&mut self, r: &Result<String, RequestFailure>) {
        self.sent += 1;
        match r {
            Ok(_) => self.succeeded += 1,
            Err(f) => {
                self.failed += 1;
                *self.failed_by.entry(f.as_str().to_string()).or_default() += 1;
            }
        }
    }
}

/// Requests over the whole run, and since the latest `load service` started (what the
/// `requests …` predicates look at).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestStats {
    #[serde(flatten)]
    pub run: RequestCounts,
    #[serde(skip)]
    pub load: RequestCounts,
}

impl RequestStats {
    fn record(&mut self, r: &Result<String, RequestFailure>) {
        self.run.record(r);
        self.load.record(r);
    }
}

/// The simulator's mesh: requests are routed by the model over the cluster's machines.
pub struct SimMesh {
    pub cluster: Arc<Mutex<Cluster>>,
}

#[tonic::async_trait]
impl RoutingMesh for SimMesh {
    async fn request(&self, entry: &str, port: u32, service: &str) -> Result<String, RequestFailure> {
        let c = self.cluster.lock().unwrap();
        let i = c.index_of(entry).ok_or(RequestFailure::EntryDown)?;
        c.route(i, port, service)
    }
}

pub struct TrafficLoad {
    stop: Arc<AtomicBool>,
}

impl TrafficLoad {
    /// Starts sending on the simulated client node `node`.
    pub fn start(
        node: &madsim::runtime::NodeHandle,
        mesh: Arc<dyn RoutingMesh>,
        entries: Vec<String>,
        service: String,
        port: u32,
        per_sec: f64,
        stats: Arc<Mutex<RequestStats>>,
    ) -> TrafficLoad {
        debug_assert!(per_sec > 0.0 && !entries.is_empty());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let period = Duration::from_secs_f64(1.0 / per_sec);
        node.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0usize;
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let entry = &entries[n % entries.len()];
                n += 1;
                let r = mesh.request(entry, port, &service).await;
                if let Err(f) = &r {
                    tracing::info!(target: "shoal::mesh", node = "client", "request {n} to {entry}:{port} for {service} failed: {}", f.as_str());
                }
                stats.lock().unwrap().record(&r);
            }
        });
        TrafficLoad { stop }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

//! The deterministic request clients: `load service NAME port P rate R/s` (through the
//! routing mesh) and `load service NAME from CALLER rate R/s` (by name, task to task).
//!
//! Sends one request every 1/R virtual seconds. Through the mesh it goes to port P, entering
//! the machines in turn (every machine that was up when the load started: what an external
//! load balancer in front of the swarm would do), through a [`RoutingMesh`] (in the simulator
//! [`SimMesh`], the model of `crate::mesh`). By name it leaves the running tasks of CALLER in
//! turn and is resolved with the caller's machine's networks table (`Cluster::route_by_name`).
//! Outcomes are counted in [`RequestStats`]; each failure is a trace line.

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

/// What one load sends: the `n`-th request's description and outcome.
pub enum Target {
    /// Port `port` through the mesh, entering `entries` in turn, answered by `service`.
    Mesh { mesh: Arc<dyn RoutingMesh>, entries: Vec<String>, service: String, port: u32 },
    /// `service` by name from the running tasks of `from`.
    ByName { cluster: Arc<Mutex<Cluster>>, service: String, from: String },
}

impl Target {
    async fn send(&self, n: usize) -> (String, Result<String, RequestFailure>) {
        match self {
            Target::Mesh { mesh, entries, service, port } => {
                let entry = &entries[n % entries.len()];
                (format!("to {entry}:{port} for {service}"), mesh.request(entry, *port, service).await)
            }
            Target::ByName { cluster, service, from } => {
                (format!("from {from} to {service} by name"), cluster.lock().unwrap().route_by_name(from, service, n))
            }
        }
    }
}

pub struct TrafficLoad {
    stop: Arc<AtomicBool>,
    /// The service the requests go to.
    service: String,
}

impl TrafficLoad {
    /// Starts sending on the simulated client node `node`.
    pub fn start(node: &madsim::runtime::NodeHandle, target: Target, per_sec: f64, stats: Arc<Mutex<RequestStats>>) -> TrafficLoad {
        debug_assert!(per_sec > 0.0);
        debug_assert!(!matches!(&target, Target::Mesh { entries, .. } if entries.is_empty()));
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let service = match &target {
            Target::Mesh { service, .. } | Target::ByName { service, .. } => service.clone(),
        };
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
                let (what, r) = target.send(n).await;
                n += 1;
                if let Err(f) = &r {
                    tracing::info!(target: "shoal::mesh", node = "client", "request {n} {what} failed: {}", f.as_str());
                }
                stats.lock().unwrap().record(&r);
            }
        });
        TrafficLoad { stop, service }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

//! The deterministic load client: `load writes R/s`.
//!
//! Runs on its own simulated node and proposes one store transaction (create config `w-<n>`)
//! every 1/R virtual seconds, round-robin over the managers (followers forward to the leader).
//! Acknowledged writes go to the oracle ([`crate::invariants::AckedWrites`]); timeouts and
//! errors are outcome-unknown and never counted. In-flight writes are bounded.

use crate::invariants::Checkers;
use shoal_core::model::{Annotations, Config, ConfigSpec, Meta, Object};
use shoal_core::node::REQUEST_TIMEOUT;
use shoal_core::proto::manager_client::ManagerClient;
use shoal_core::proto::{ProposeRequest, ReadRequest};
use shoal_core::node::raft::network::channel;
use shoal_core::store::{Action, Transaction};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel;

/// At most this many writes are outstanding; the client skips ticks beyond it.
pub const MAX_IN_FLIGHT: u64 = 256;
/// By default one write in this many is read back, linearizably, through another manager.
pub const READ_EVERY: u64 = 5;

pub struct LoadClient {
    stop: Arc<AtomicBool>,
}

impl LoadClient {
    /// Starts writing at `per_sec` on the simulated client node `node`. `next_id` numbers the
    /// writes across loads so no id is ever reused.
    pub fn start(
        node: &madsim::runtime::NodeHandle,
        managers: Vec<String>,
        per_sec: f64,
        read_every: u64,
        checkers: Arc<Checkers>,
        next_id: Arc<AtomicU64>,
    ) -> LoadClient {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let period = Duration::from_secs_f64(1.0 / per_sec);
        node.spawn(async move {
            let in_flight = Arc::new(AtomicU64::new(0));
            // One channel per manager for the whole load, as a real client keeps its connection.
            let clients: Vec<(String, Option<ManagerClient<Channel>>)> =
                managers.iter().map(|m| (m.clone(), channel(m).ok().map(ManagerClient::new))).collect();
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !s.load(Ordering::Relaxed) {
                tick.tick().await;
                if s.load(Ordering::Relaxed) {
                    break;
                }
                if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                    continue;
                }
                let n = next_id.fetch_add(1, Ordering::Relaxed);
                let (target, client) = clients[(n as usize) % clients.len()].clone();
                let Some(client) = client else { continue };
                // Every `read_every`-th write is read back through the next manager.
                let reader = (read_every > 0 && n % read_every == 0)
                    .then(|| clients[(n as usize + 1) % clients.len()].clone())
                    .and_then(|(t, c)| c.map(|c| (t, c)));
                let (checkers, in_flight) = (checkers.clone(), in_flight.clone());
                in_flight.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    if let Some(index) = write_one(n, &target, client, &checkers).await {
                        if let Some((rt, rc)) = reader {
                            read_back(n, index, &rt, rc, &checkers).await;
                        }
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
        });
        LoadClient { stop }
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Proposes write `n`; returns its raft index when acknowledged.
async fn write_one(n: u64, target: &str, mut client: ManagerClient<Channel>, checkers: &Checkers) -> Option<u64> {
    let id = format!("w-{n}");
    let now_ms = (crate::trace::now_secs() * 1000.0) as u64;
    let txn = Transaction {
        timestamp_ms: now_ms,
        actions: vec![Action::Create(Object::Config(Config {
            id: id.clone(),
            meta: Meta::default(),
            spec: ConfigSpec {
                annotations: Annotations { name: id.clone(), ..Default::default() },
                data: n.to_le_bytes().to_vec(),
            },
        }))],
    };
    let req = ProposeRequest { transaction: serde_json::to_vec(&txn).expect("txn serialises"), hops: 0 };
    let deadline = REQUEST_TIMEOUT + Duration::from_secs(1);
    match tokio::time::timeout(deadline, client.propose(req)).await {
        Ok(Ok(resp)) => {
            let resp = resp.into_inner();
            if resp.error.is_empty() {
                checkers.with_acked(|a| a.ack(id.clone(), resp.index, crate::trace::now_secs()));
                tracing::info!(target: "shoal::client", node = "client", index = resp.index, via = target, "ack {id}");
                return Some(resp.index);
            }
            checkers.violate("client", format!("write {id} was rejected: {}", resp.error));
        }
        Ok(Err(status)) => {
            tracing::debug!(target: "shoal::client", node = "client", "write {id} failed: {status}");
        }
        Err(_) => {
            tracing::debug!(target: "shoal::client", node = "client", "write {id} timed out");
        }
    }
    None
}

/// Reads write `n` back through `target`. A linearizable read that starts after the ack must
/// see the write; a read that fails or times out proves nothing and is ignored.
async fn read_back(n: u64, committed: u64, target: &str, mut client: ManagerClient<Channel>, checkers: &Checkers) {
    let id = format!("w-{n}");
    let req = ReadRequest { kind: "config".into(), id: id.clone(), hops: 0 };
    let deadline = REQUEST_TIMEOUT + Duration::from_secs(1);
    if let Ok(Ok(resp)) = tokio::time::timeout(deadline, client.read(req)).await {
        let resp = resp.into_inner();
        if resp.object.is_empty() {
            checkers.violate(
                "linearizable-read",
                format!("read of {id} via {target} at index {} missed it (acknowledged at index {committed})", resp.index),
            );
        } else {
            tracing::info!(target: "shoal::client", node = "client", index = resp.index, via = target, "read {id}");
        }
    }
}

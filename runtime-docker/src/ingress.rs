//! The routing mesh on Docker: every node binds every published ingress port of the swarm and
//! forwards each connection to a running task of the service, on whatever node it runs.
//!
//! Owns: one listener per published TCP port, and the backends behind it. Input: the mesh
//! table the agent long-polls from the leader (`Dispatcher.Ingress`, dispatcher/ingress.rs in
//! the core): ports, and for each the address every running task's agent reported (its
//! container's target port, bound by the engine on its node's data-path address). Output:
//! proxied connections. Swarm does this with IPVS on the ingress overlay; Shoal has neither on
//! a plain engine, so a userspace proxy forwards the bytes (as Docker's own userland proxy
//! does for published ports). Written here rather than taken from a crate: it is an accept
//! loop and `copy_bidirectional`; no proxy crate takes its backends from our table.
//!
//! Rules: connections go round robin over the port's backends; a backend that refuses or
//! does not answer within [`CONNECT_TIMEOUT`] is skipped for the next one (a task the
//! orchestrator is stopping leaves the table before its agent stops it, but a node may hear
//! that late), so a request fails only when no backend answers. A port no longer published
//! is closed; connections already proxied run to their end. A port this machine cannot bind
//! (another process holds it) is retried every [`BIND_RETRY`] and logged once.
//! UDP ports are not proxied yet (logged once per port).
//!
//! Invariants: at most one listener per port; the listener serves whatever backends the
//! latest table gave (read per connection).

use shoal_core::dispatcher::IngressTable;
use shoal_core::node::mesh::IngressSink;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long a backend may take to accept before the next one is tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a port that could not be bound is tried again.
pub const BIND_RETRY: Duration = Duration::from_secs(2);

/// One published port's listener and what it forwards to.
struct Port {
    backends: Arc<RwLock<Vec<String>>>,
    accept: tokio_rt::task::JoinHandle<()>,
}

pub struct IngressProxy {
    /// Where published ports are bound (all interfaces, as swarm publishes them).
    bind_ip: IpAddr,
    ports: Mutex<BTreeMap<u32, Port>>,
    /// UDP ports already logged as not proxied.
    warned_udp: Mutex<std::collections::BTreeSet<u32>>,
    /// Connections forwarded / refused for want of an answering backend, for /metrics.
    pub forwarded: Arc<std::sync::atomic::AtomicU64>,
    pub failed: Arc<std::sync::atomic::AtomicU64>,
}

impl IngressProxy {
    pub fn new(bind_ip: IpAddr) -> Arc<IngressProxy> {
        Arc::new(IngressProxy {
            bind_ip,
            ports: Mutex::default(),
            warned_udp: Mutex::default(),
            forwarded: Arc::default(),
            failed: Arc::default(),
        })
    }

    /// The published ports this node currently serves.
    pub fn ports(&self) -> Vec<u32> {
        self.ports.lock().unwrap().keys().copied().collect()
    }
}

impl IngressSink for IngressProxy {
    fn set(&self, table: IngressTable) {
        let mut wanted: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for p in table.ports {
            if p.protocol != "tcp" {
                if self.warned_udp.lock().unwrap().insert(p.published_port) {
                    tracing::warn!(target: "shoal", port = p.published_port, service = %p.service_name,
                        "routing mesh: {}/{} is not proxied (the Docker runtime's mesh forwards TCP only; publish it with mode=host)",
                        p.published_port, p.protocol);
                }
                continue;
            }
            wanted.insert(p.published_port, p.backends.into_iter().map(|b| b.addr).collect());
        }
        let mut ports = self.ports.lock().unwrap();
        ports.retain(|port, p| {
            let keep = wanted.contains_key(port);
            if !keep {
                p.accept.abort();
                tracing::info!(target: "shoal", port, "routing mesh: port closed");
            }
            keep
        });
        for (port, backends) in wanted {
            match ports.get(&port) {
                Some(p) => *p.backends.write().unwrap() = backends,
                None => {
                    let backends = Arc::new(RwLock::new(backends));
                    let addr = SocketAddr::new(self.bind_ip, port as u16);
                    let accept = tokio_rt::spawn(serve(addr, backends.clone(), self.forwarded.clone(), self.failed.clone()));
                    ports.insert(port, Port { backends, accept });
                }
            }
        }
    }
}

impl Drop for IngressProxy {
    fn drop(&mut self) {
        for p in self.ports.lock().unwrap().values() {
            p.accept.abort();
        }
    }
}

/// Binds `addr` (retrying while another process holds it) and forwards every connection.
async fn serve(
    addr: SocketAddr,
    backends: Arc<RwLock<Vec<String>>>,
    forwarded: Arc<std::sync::atomic::AtomicU64>,
    failed: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut logged = false;
    let listener = loop {
        match tokio_rt::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) => {
                if !logged {
                    tracing::warn!(target: "shoal", %addr, "routing mesh: cannot bind the published port: {e}; retrying every {}s", BIND_RETRY.as_secs());
                    logged = true;
                }
                tokio_rt::time::sleep(BIND_RETRY).await;
            }
        }
    };
    tracing::info!(target: "shoal", %addr, "routing mesh: port published");
    let next = Arc::new(AtomicUsize::new(0));
    loop {
        let (inbound, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: pause rather than spin.
                tracing::warn!(target: "shoal", %addr, "routing mesh: accept: {e}");
                tokio_rt::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let list = backends.read().unwrap().clone();
        let start = next.fetch_add(1, Ordering::Relaxed);
        let (forwarded, failed) = (forwarded.clone(), failed.clone());
        tokio_rt::spawn(async move {
            match connect_any(&list, start).await {
                Some(mut outbound) => {
                    forwarded.fetch_add(1, Ordering::Relaxed);
                    let mut inbound = inbound;
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio_rt::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
                // Dropping the connection closes it: the client sees a reset, as with swarm's
                // mesh when no task runs.
                None => {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}

/// The first backend that accepts, trying each once from `start` on (round robin).
async fn connect_any(backends: &[String], start: usize) -> Option<tokio_rt::net::TcpStream> {
    for i in 0..backends.len() {
        let addr = &backends[(start + i) % backends.len()];
        match tokio_rt::time::timeout(CONNECT_TIMEOUT, tokio_rt::net::TcpStream::connect(addr.as_str())).await {
            Ok(Ok(s)) => return Some(s),
            Ok(Err(e)) => tracing::debug!(target: "shoal", backend = %addr, "routing mesh: {e}; trying the next task"),
            Err(_) => tracing::debug!(target: "shoal", backend = %addr, "routing mesh: no answer; trying the next task"),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::dispatcher::{IngressBackend, IngressPort};
    use tokio_rt::io::{AsyncReadExt, AsyncWriteExt};

    /// A backend that answers every connection with its name and closes.
    async fn backend(name: &'static str) -> String {
        let l = tokio_rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio_rt::spawn(async move {
            loop {
                let (mut c, _) = l.accept().await.unwrap();
                let _ = c.write_all(name.as_bytes()).await;
            }
        });
        addr
    }

    /// A port nothing listens on (bound, then closed).
    fn closed_port() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }

    fn free_port() -> u32 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port() as u32
    }

    fn table(port: u32, addrs: &[String]) -> IngressTable {
        let backends = addrs.iter().enumerate().map(|(i, a)| IngressBackend { task_id: format!("t{i}"), addr: a.clone() }).collect();
        IngressTable { ports: vec![IngressPort { published_port: port, protocol: "tcp".into(), backends, ..Default::default() }] }
    }

    async fn ask(port: u32) -> Option<String> {
        for _ in 0..50 {
            match tokio_rt::net::TcpStream::connect(("127.0.0.1", port as u16)).await {
                Ok(mut c) => {
                    let mut s = String::new();
                    return c.read_to_string(&mut s).await.ok().filter(|_| !s.is_empty()).map(|_| s);
                }
                // Not bound yet.
                Err(_) => tokio_rt::time::sleep(Duration::from_millis(20)).await,
            }
        }
        None
    }

    #[tokio_rt::test(crate = "tokio_rt")]
    async fn connections_go_round_robin_skip_a_dead_backend_and_the_port_closes_when_unpublished() {
        let (a, b) = (backend("a").await, backend("b").await);
        let port = free_port();
        let proxy = IngressProxy::new("127.0.0.1".parse().unwrap());
        proxy.set(table(port, &[a.clone(), closed_port(), b.clone()]));
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(ask(port).await.expect("a backend answers"));
        }
        seen.sort();
        assert_eq!(seen.iter().filter(|s| *s == "a").count() + seen.iter().filter(|s| *s == "b").count(), 6);
        assert!(seen.contains(&"a".to_string()) && seen.contains(&"b".to_string()), "both backends serve: {seen:?}");
        assert_eq!(proxy.failed.load(Ordering::Relaxed), 0, "the dead backend is skipped, never a failed request");

        // No backend: the connection is closed without an answer.
        proxy.set(table(port, &[]));
        assert_eq!(ask(port).await, None);
        assert_eq!(proxy.failed.load(Ordering::Relaxed), 1);

        // Unpublished: the port closes.
        proxy.set(IngressTable::default());
        assert!(proxy.ports().is_empty());
        tokio_rt::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio_rt::net::TcpStream::connect(("127.0.0.1", port as u16)).await.is_err(), "port {port} still open");
    }
}

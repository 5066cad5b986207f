//! The overlay's name server on one node: answers a swarm network's DNS names (a service's
//! name, its aliases, `tasks.<service>`) with the addresses the networks' table lists, to the
//! tasks on that network.
//!
//! How a question gets here: a task's container sits on engine networks, so docker's embedded
//! resolver (127.0.0.11) answers it first and forwards the names it does not know to the
//! container's DNS servers, from inside the container (its source address is the container's
//! address). The executor makes the gateway address of each of the task's networks the first
//! of those servers and gives the engine no aliases, so every swarm name comes here. This
//! server listens on each local network's gateway address (port 53, UDP), answers only
//! endpoints of that network, and only that network's names. Anything else is REFUSED, which
//! sends the embedded resolver on to the next server (the host's resolvers, listed after).
//!
//! A records carry a TTL of 1 s: a task that dies leaves the answers with the table change
//! that says so, and nobody should hold the old answer longer. Addresses rotate on every
//! answer, as docker's resolver shuffles them, so clients that take the first spread out.

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use shoal_core::dispatcher::NetworkTable;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Seconds a client may keep an answer.
const TTL_S: u32 = 1;
/// A DNS question over UDP fits in this (RFC 1035's 512 bytes, with room for EDNS).
const MAX_DATAGRAM: usize = 4096;

#[derive(Default)]
pub struct NameServer {
    /// The table, and whether VIPs are balanced on this node.
    table: RwLock<(Arc<NetworkTable>, bool)>,
    /// Gateway addresses listened on.
    bound: Mutex<BTreeSet<Ipv4Addr>>,
    /// Rotates the order of answers.
    asked: AtomicU64,
}

impl NameServer {
    pub fn set(&self, table: NetworkTable, vip_routed: bool) {
        *self.table.write().unwrap() = (Arc::new(table), vip_routed);
    }

    /// Listens on `gateway`:53 (once; later calls return at once). Err when the address is
    /// not this network namespace's (the daemon runs outside the engine's namespace).
    pub async fn listen(self: &Arc<Self>, gateway: Ipv4Addr) -> Result<(), String> {
        if self.bound.lock().unwrap().contains(&gateway) {
            return Ok(());
        }
        let socket = tokio_rt::net::UdpSocket::bind(SocketAddr::from((gateway, 53)))
            .await
            .map_err(|e| format!("cannot listen for DNS on {gateway}:53: {e}"))?;
        if !self.bound.lock().unwrap().insert(gateway) {
            return Ok(());
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                let (n, from) = match socket.recv_from(&mut buf).await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(target: "shoal", "DNS on {gateway}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let std::net::IpAddr::V4(asker) = from.ip() else { continue };
                if let Some(reply) = me.answer(&buf[..n], asker, gateway) {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Ok(())
    }

    /// The reply to one question asked by `asker` at gateway `on`; None for a datagram that
    /// is not a question (dropped, as resolvers do).
    pub fn answer(&self, query: &[u8], asker: Ipv4Addr, on: Ipv4Addr) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).ok()?;
        if q.message_type() != MessageType::Query || q.queries().len() != 1 {
            return None;
        }
        let question = q.queries()[0].clone();
        let mut r = Message::new();
        r.set_id(q.id())
            .set_message_type(MessageType::Response)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(q.recursion_desired())
            .set_recursion_available(true)
            .add_query(question.clone());
        let (table, vip_routed) = self.table.read().unwrap().clone();
        let on_s = on.to_string();
        let asker_s = asker.to_string();
        let network = table.networks.iter().find(|n| n.gateway == on_s && n.endpoints.iter().any(|e| e.address == asker_s));
        let addresses = network.map(|n| n.resolve(&question.name().to_ascii(), vip_routed)).unwrap_or_default();
        if q.op_code() != OpCode::Query || addresses.is_empty() {
            r.set_response_code(ResponseCode::Refused);
            return r.to_vec().ok();
        }
        r.set_authoritative(true);
        if question.query_type() == RecordType::A {
            let start = (self.asked.fetch_add(1, Ordering::Relaxed) % addresses.len() as u64) as usize;
            for a in addresses[start..].iter().chain(&addresses[..start]) {
                let Ok(ip) = a.parse::<Ipv4Addr>() else { continue };
                r.add_answer(Record::from_rdata(question.name().clone(), TTL_S, RData::A(A(ip))));
            }
        }
        // Other types of a known name: no records, no error (the name exists).
        r.to_vec().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use shoal_core::dispatcher::{DnsName, NetworkEndpoint, NetworkEntry};
    use std::str::FromStr;

    fn server() -> NameServer {
        let s = NameServer::default();
        let endpoint = |t: &str, a: &str| NetworkEndpoint { task_id: t.into(), address: a.into(), ..Default::default() };
        s.set(NetworkTable::new(vec![
                NetworkEntry {
                    network_id: "n1".into(),
                    gateway: "10.0.1.1".into(),
                    endpoints: vec![endpoint("t1", "10.0.1.2"), endpoint("t2", "10.0.1.3"), endpoint("t3", "10.0.1.4")],
                    names: vec![
                        DnsName { name: "tasks.web".into(), addresses: vec!["10.0.1.3".into(), "10.0.1.4".into()] },
                        DnsName { name: "web".into(), addresses: vec!["10.0.1.3".into(), "10.0.1.4".into()] },
                    ],
                    ..Default::default()
                },
                NetworkEntry {
                    network_id: "n2".into(),
                    gateway: "10.0.2.1".into(),
                    endpoints: vec![endpoint("t9", "10.0.2.2")],
                    names: vec![DnsName { name: "db".into(), addresses: vec!["10.0.2.2".into()] }],
                    ..Default::default()
                },
            ]),
            true,
        );
        s
    }

    fn ask(s: &NameServer, name: &str, kind: RecordType, asker: &str, on: &str) -> Message {
        let mut q = Message::new();
        q.set_id(7).set_recursion_desired(true).add_query(Query::query(Name::from_str(name).unwrap(), kind));
        let reply = s.answer(&q.to_vec().unwrap(), asker.parse().unwrap(), on.parse().unwrap()).expect("a reply");
        let m = Message::from_vec(&reply).unwrap();
        assert_eq!(m.id(), 7);
        m
    }

    fn a_records(m: &Message) -> Vec<String> {
        m.answers().iter().filter_map(|r| r.data().as_a().map(|a| a.0.to_string())).collect()
    }

    // Swarm: a name answers on the networks the asking task shares with the service, and
    // round-robins its addresses (docker docs, "Configure service discovery").
    #[test]
    fn a_task_gets_its_networks_names_in_turn_and_nothing_else() {
        let s = server();
        let first = ask(&s, "web.", RecordType::A, "10.0.1.2", "10.0.1.1");
        assert_eq!(first.response_code(), ResponseCode::NoError);
        let second = ask(&s, "WEB", RecordType::A, "10.0.1.2", "10.0.1.1");
        let mut a = a_records(&first);
        let b = a_records(&second);
        assert_eq!(a.len(), 2);
        assert_ne!(a, b, "answers rotate");
        a.sort();
        assert_eq!(a, ["10.0.1.3", "10.0.1.4"]);
        assert_eq!(a_records(&ask(&s, "tasks.web", RecordType::A, "10.0.1.2", "10.0.1.1")).len(), 2);
        // A known name asked for another type: the name exists, with no records.
        let aaaa = ask(&s, "web", RecordType::AAAA, "10.0.1.2", "10.0.1.1");
        assert_eq!((aaaa.response_code(), aaaa.answers().len()), (ResponseCode::NoError, 0));
        // Another network's name, an unknown name, or a stranger asking: refused, so the
        // embedded resolver goes on to the host's resolvers.
        assert_eq!(ask(&s, "db", RecordType::A, "10.0.1.2", "10.0.1.1").response_code(), ResponseCode::Refused);
        assert_eq!(ask(&s, "example.org", RecordType::A, "10.0.1.2", "10.0.1.1").response_code(), ResponseCode::Refused);
        assert_eq!(ask(&s, "web", RecordType::A, "10.0.2.2", "10.0.1.1").response_code(), ResponseCode::Refused);
        assert_eq!(ask(&s, "web", RecordType::A, "10.0.1.2", "10.0.2.1").response_code(), ResponseCode::Refused);
    }

    #[test]
    fn garbage_gets_no_reply() {
        let s = server();
        assert!(s.answer(b"not dns", "10.0.1.2".parse().unwrap(), "10.0.1.1".parse().unwrap()).is_none());
        assert!(s.answer(&[], "10.0.1.2".parse().unwrap(), "10.0.1.1".parse().unwrap()).is_none());
    }
}

//! The overlay networks' table (pure): for every swarm network, where each task endpoint on it
//! lives and which DNS names it answers, as each node's data path needs them.
//!
//! Swarm's nodes learn peers and endpoints by gossip (networkdb) over the overlay's control
//! plane; Shoal's leader derives this table from the store, like the routing mesh's
//! ([`super::IngressTable`]), and every node long-polls its own part (`Dispatcher.Networks`):
//! the networks on which it has a task. The node then programs its data path from it: a VXLAN
//! device per network with a static forwarding and neighbour entry per remote endpoint
//! (libnetwork's overlay design: no flooding, no learning, ARP answered from the entries), and
//! a DNS responder for the names.
//!
//! Input: the store (tasks with their network attachments, nodes with their data-path
//! addresses and states). Output: a [`NetworkTable`], a node's part of it, and a digest.
//!
//! Rules: an endpoint is a task's address on a network while the task is on a node that is not
//! down and has not finished (being stopped included: its open connections drain), so a peer
//! knows where a task lives before the task starts answering; a DNS name answers only tasks desired and observed RUNNING
//! (with a healthcheck: healthy), so a task that stops or dies leaves DNS with the store change
//! that says so. Names are the task attachment's: the service's name, its aliases on the
//! network and `tasks.<service>`. A service with a virtual IP on the network (endpoint mode
//! vip) answers its name and aliases with the VIP instead ([`ServiceVip`], whose backends are
//! the same running tasks), and `tasks.<service>` with the tasks. Invariants: networks sorted
//! by id, endpoints by address, names and VIPs by name and address, each list of addresses
//! sorted; one address belongs to one endpoint.

use crate::model::{Kind, NodeState, Object, Task, TaskState};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkTable {
    pub networks: Vec<NetworkEntry>,
    /// node id → positions in `networks` of the networks it has an endpoint on (so a node's
    /// part costs its own networks, not the whole table, on every long-poll wake-up). Built by
    /// `from_store`; not sent.
    #[serde(skip)]
    by_node: BTreeMap<String, Vec<usize>>,
}

/// One swarm network: its range, where its endpoints live, and its DNS names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEntry {
    pub network_id: String,
    pub name: String,
    pub vxlan_id: u32,
    /// CIDR, e.g. `10.0.1.0/24`.
    pub subnet: String,
    pub gateway: String,
    pub endpoints: Vec<NetworkEndpoint>,
    /// Names answered with task addresses (`tasks.<service>`, and every name of a service
    /// without a VIP here).
    pub names: Vec<DnsName>,
    /// Virtual IPs of services on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips: Vec<ServiceVip>,
}

/// A service's virtual IP on a network: the names it answers and the tasks behind it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceVip {
    pub service_id: String,
    /// The service's name and its aliases on the network, lowercase, sorted.
    pub names: Vec<String>,
    /// The bare VIP, e.g. `10.0.1.2`.
    pub address: String,
    /// Addresses of the service's running tasks on the network, sorted.
    pub backends: Vec<String>,
}

/// A task's address on a network and the node it lives on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkEndpoint {
    pub task_id: String,
    pub node_id: String,
    /// The bare address, e.g. `10.0.1.3`.
    pub address: String,
    /// The container's MAC address on the network, derived from the address ([`mac_for`]),
    /// so peers can hold static entries without asking the engine.
    pub mac: String,
    /// The data-path IP of the node (the VXLAN tunnel endpoint).
    pub vtep: String,
}

/// A DNS name on a network and the addresses it answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsName {
    pub name: String,
    pub addresses: Vec<String>,
}

/// The MAC address a task's container gets on a network: `02:42` and the four bytes of its
/// IPv4 address (locally administered, unique wherever the address is, as docker's own
/// bridge driver derived them before 25.0). None for an address that is not IPv4.
pub fn mac_for(address: &str) -> Option<String> {
    let [a, b, c, d] = crate::model::parse_ip(address.split('/').next()?)?.to_be_bytes();
    Some(format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}"))
}

fn is_endpoint(t: &Task) -> bool {
    !t.node_id.is_empty() && t.status.state <= TaskState::Running
}

fn answers_dns(t: &Task) -> bool {
    t.desired_state == TaskState::Running && t.status.state == TaskState::Running
}

impl NetworkTable {
    /// The table the store describes.
    pub fn from_store(store: &Store) -> NetworkTable {
        // Data-path IP of every node that is not down.
        let mut vteps: BTreeMap<&str, String> = BTreeMap::new();
        for o in store.list(Kind::Node) {
            let Object::Node(n) = o else { continue };
            if n.status.state == NodeState::Down {
                continue;
            }
            let given = n.description.as_ref().map(|d| d.data_path_addr.as_str()).unwrap_or("");
            let ip = if given.is_empty() { n.status.addr.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(&n.status.addr) } else { given };
            if !ip.is_empty() {
                vteps.insert(n.id.as_str(), ip.to_string());
            }
        }
        // (service id, network id) → the service's VIP there, with the names it answers.
        let mut vips: BTreeMap<(&str, &str), ServiceVip> = BTreeMap::new();
        for s in store.list_services() {
            for v in &s.virtual_ips {
                let Some(address) = v.addr.split('/').next().filter(|a| !a.is_empty()) else { continue };
                let mut names = vec![s.spec.annotations.name.to_ascii_lowercase()];
                for n in s.spec.task.networks.iter().filter(|n| n.target == v.network_id) {
                    names.extend(n.aliases.iter().map(|a| a.to_ascii_lowercase()));
                }
                names.sort();
                names.dedup();
                let vip = ServiceVip { service_id: s.id.clone(), names, address: address.to_string(), backends: Vec::new() };
                vips.insert((s.id.as_str(), v.network_id.as_str()), vip);
            }
        }
        let mut networks: BTreeMap<String, NetworkEntry> = BTreeMap::new();
        let mut names: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for o in store.list(Kind::Task) {
            let Object::Task(t) = o else { continue };
            if !is_endpoint(t) {
                continue;
            }
            let Some(vtep) = vteps.get(t.node_id.as_str()) else { continue };
            for a in &t.networks {
                let (Some(address), true) = (a.addresses.first().and_then(|x| x.split('/').next()), a.vxlan_id != 0) else { continue };
                let Some(mac) = mac_for(address) else { continue };
                let entry = networks.entry(a.network_id.clone()).or_insert_with(|| NetworkEntry {
                    network_id: a.network_id.clone(),
                    name: a.network_name.clone(),
                    vxlan_id: a.vxlan_id,
                    subnet: a.subnet.clone(),
                    gateway: a.gateway.clone(),
                    ..Default::default()
                });
                entry.endpoints.push(NetworkEndpoint {
                    task_id: t.id.clone(),
                    node_id: t.node_id.clone(),
                    address: address.to_string(),
                    mac,
                    vtep: vtep.clone(),
                });
                if answers_dns(t) {
                    let vip = vips.get_mut(&(t.service_id.as_str(), a.network_id.as_str()));
                    let behind_vip = vip.is_some();
                    if let Some(vip) = vip {
                        vip.backends.push(address.to_string());
                    }
                    let on_network = names.entry(a.network_id.clone()).or_default();
                    for name in a.aliases.iter().filter(|n| !behind_vip || n.starts_with("tasks.")) {
                        on_network.entry(name.to_ascii_lowercase()).or_default().push(address.to_string());
                    }
                }
            }
        }
        for ((_, network_id), mut vip) in vips {
            // A network no task is on reaches no node's table.
            let Some(entry) = networks.get_mut(network_id) else { continue };
            vip.backends.sort_by_key(|a| sort_key(a));
            entry.vips.push(vip);
        }
        let mut out = NetworkTable { networks: networks.into_values().collect(), by_node: BTreeMap::new() };
        for n in &mut out.networks {
            n.endpoints.sort_by_key(|a| sort_key(&a.address));
            // Two unfinished tasks with one address cannot both be live (the allocator gives
            // an address only when no live holder has it); keep the first, by task id.
            n.endpoints.dedup_by(|b, a| a.address == b.address);
            n.names = names
                .remove(&n.network_id)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, mut addresses)| {
                    addresses.sort_by_key(|a| sort_key(a));
                    addresses.dedup();
                    DnsName { name, addresses }
                })
                .collect();
            n.vips.sort_by(|a, b| (&a.names, sort_key(&a.address)).cmp(&(&b.names, sort_key(&b.address))));
        }
        out.index();
        out
    }

    /// A table of `networks` (as tests and other worlds build one).
    pub fn new(networks: Vec<NetworkEntry>) -> NetworkTable {
        let mut t = NetworkTable { networks, by_node: BTreeMap::new() };
        t.index();
        t
    }

    fn index(&mut self) {
        self.by_node.clear();
        for (i, n) in self.networks.iter().enumerate() {
            for e in &n.endpoints {
                let at = self.by_node.entry(e.node_id.clone()).or_default();
                if at.last() != Some(&i) {
                    at.push(i);
                }
            }
        }
    }

    /// Whether the table lists `task` on every overlay network it joins: its node can then
    /// carry its traffic and answer its questions from the first instant it runs.
    pub fn lists(&self, task: &Task) -> bool {
        task.networks.iter().filter(|a| a.vxlan_id != 0).all(|a| {
            let address = a.addresses.first().and_then(|x| x.split('/').next()).unwrap_or("");
            self.networks.iter().any(|n| n.network_id == a.network_id && n.endpoints.iter().any(|e| e.address == address))
        })
    }

    /// The part of the table `node_id` needs: the networks on which it has an endpoint.
    /// (Indexed in tables made here; a table that came over the wire is scanned.)
    pub fn for_node(&self, node_id: &str) -> NetworkTable {
        let networks: Vec<NetworkEntry> = if self.by_node.is_empty() {
            self.networks.iter().filter(|n| n.endpoints.iter().any(|e| e.node_id == node_id)).cloned().collect()
        } else {
            self.by_node.get(node_id).into_iter().flatten().map(|i| self.networks[*i].clone()).collect()
        };
        debug_assert_eq!(networks.len(), self.networks.iter().filter(|n| n.endpoints.iter().any(|e| e.node_id == node_id)).count());
        NetworkTable::new(networks)
    }

    /// A digest of the table (never 0, the "nothing yet" version).
    pub fn version(&self) -> u64 {
        let bytes = serde_json::to_vec(self).expect("the table serialises");
        xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
    }
}

impl NetworkEntry {
    /// The addresses `name` answers on this network (case-insensitive, as DNS is); empty when
    /// the name is not one of the network's. A service's name answers its VIP when
    /// `vip_routed` (the node balances VIPs), else its tasks' addresses, as dnsrr does.
    pub fn resolve(&self, name: &str, vip_routed: bool) -> Vec<&str> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(i) = self.names.binary_search_by(|n| n.name.as_str().cmp(name.as_str())) {
            return self.names[i].addresses.iter().map(String::as_str).collect();
        }
        match self.vips.iter().find(|v| v.names.contains(&name)) {
            Some(v) if vip_routed => vec![v.address.as_str()],
            Some(v) => v.backends.iter().map(String::as_str).collect(),
            None => Vec::new(),
        }
    }
}

/// Addresses sort numerically (10.0.1.10 after 10.0.1.9), not as text.
fn sort_key(address: &str) -> (u32, String) {
    match crate::model::parse_ip(address) {
        Some(ip) => (ip, String::new()),
        None => (u32::MAX, address.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Node, NodeDescription, NodeStatus, NetworkAttachment, TaskStatus};
    use crate::store::{Action, Transaction};

    fn node(id: &str, state: NodeState, data_path: &str) -> Object {
        Object::Node(Node {
            id: id.into(),
            status: NodeStatus { state, addr: format!("192.168.0.{}:4242", id.trim_start_matches('n')), ..Default::default() },
            description: Some(NodeDescription { data_path_addr: data_path.into(), ..Default::default() }),
            ..Default::default()
        })
    }

    fn task(id: &str, node: &str, desired: TaskState, observed: TaskState, address: &str) -> Object {
        let mut t = Task { id: id.into(), service_id: "s1".into(), node_id: node.into(), desired_state: desired, ..Default::default() };
        t.status = TaskStatus { state: observed, ..Default::default() };
        t.networks = vec![NetworkAttachment {
            network_id: "net1".into(),
            network_name: "backend".into(),
            addresses: vec![format!("{address}/24")],
            subnet: "10.0.1.0/24".into(),
            gateway: "10.0.1.1".into(),
            vxlan_id: 4097,
            aliases: vec!["web".into(), "tasks.web".into()],
            ..Default::default()
        }];
        Object::Task(t)
    }

    fn store(objects: Vec<Object>) -> Store {
        let mut s = Store::new();
        s.apply(1, &Transaction { timestamp_ms: 0, actions: objects.into_iter().map(Action::Create).collect() }).unwrap();
        s
    }

    // Swarm: a service's name and tasks.<service> answer its running tasks' addresses on the
    // networks they share (docker docs, "Use swarm mode service discovery"); a task that is
    // not running yet is already an endpoint, so peers can reach it once it answers.
    #[test]
    fn endpoints_are_unfinished_tasks_on_live_nodes_and_names_are_running_tasks() {
        let s = store(vec![
            node("n1", NodeState::Ready, "10.213.0.11"),
            node("n2", NodeState::Ready, ""),
            node("n3", NodeState::Down, "10.213.0.13"),
            task("t1", "n1", TaskState::Running, TaskState::Running, "10.0.1.10"),
            task("t2", "n2", TaskState::Running, TaskState::Running, "10.0.1.9"),
            task("t3", "n2", TaskState::Running, TaskState::Starting, "10.0.1.11"),
            task("t4", "n3", TaskState::Running, TaskState::Running, "10.0.1.12"),
            task("t5", "n1", TaskState::Shutdown, TaskState::Running, "10.0.1.13"),
            task("t6", "n1", TaskState::Running, TaskState::Failed, "10.0.1.14"),
        ]);
        let table = NetworkTable::from_store(&s);
        assert_eq!(table.networks.len(), 1);
        let n = &table.networks[0];
        assert_eq!((n.name.as_str(), n.vxlan_id, n.gateway.as_str()), ("backend", 4097, "10.0.1.1"));
        let endpoints: Vec<(&str, &str, &str)> = n.endpoints.iter().map(|e| (e.task_id.as_str(), e.address.as_str(), e.vtep.as_str())).collect();
        // t2's node gave no data-path address: its advertised IP serves. t5 is being stopped:
        // it stays an endpoint until it ends, but leaves DNS at once.
        assert_eq!(
            endpoints,
            vec![("t2", "10.0.1.9", "192.168.0.2"), ("t1", "10.0.1.10", "10.213.0.11"), ("t3", "10.0.1.11", "192.168.0.2"), ("t5", "10.0.1.13", "10.213.0.11")]
        );
        assert_eq!(n.resolve("web", true), ["10.0.1.9", "10.0.1.10"]);
        assert_eq!(n.resolve("TASKS.web.", true), ["10.0.1.9", "10.0.1.10"]);
        assert!(n.resolve("api", true).is_empty());
        assert_eq!(n.endpoints[0].mac, "02:42:0a:00:01:09");
    }

    // Swarm: in endpoint mode vip a service's name (and its aliases) resolves to its virtual
    // IP, and tasks.<service> to its tasks (docker docs, "Configure service discovery").
    #[test]
    fn a_vip_service_answers_its_names_with_the_vip_and_its_tasks_stand_behind_it() {
        let mut web = crate::model::Service { id: "s1".into(), ..Default::default() };
        web.spec.annotations.name = "web".into();
        web.spec.task.networks = vec![crate::model::NetworkAttachmentConfig { target: "net1".into(), aliases: vec!["Front".into()] }];
        web.virtual_ips = vec![crate::model::VirtualIp { network_id: "net1".into(), addr: "10.0.1.2/24".into() }];
        let s = store(vec![
            Object::Service(web),
            node("n1", NodeState::Ready, ""),
            task("t1", "n1", TaskState::Running, TaskState::Running, "10.0.1.4"),
            task("t2", "n1", TaskState::Running, TaskState::Running, "10.0.1.3"),
            task("t3", "n1", TaskState::Running, TaskState::Starting, "10.0.1.5"),
        ]);
        let n = &NetworkTable::from_store(&s).networks[0];
        assert_eq!(n.vips.len(), 1);
        assert_eq!(n.vips[0].names, ["front", "web"]);
        assert_eq!(n.vips[0].backends, ["10.0.1.3", "10.0.1.4"], "running tasks only, sorted by address");
        assert_eq!(n.resolve("web", true), ["10.0.1.2"]);
        assert_eq!(n.resolve("front", true), ["10.0.1.2"]);
        assert_eq!(n.resolve("web", false), ["10.0.1.3", "10.0.1.4"], "unrouted: as dnsrr");
        assert_eq!(n.resolve("tasks.web", true), ["10.0.1.3", "10.0.1.4"]);
    }

    #[test]
    fn a_node_gets_only_the_networks_it_has_an_endpoint_on_and_versions_follow_changes() {
        let one = NetworkTable::from_store(&store(vec![node("n1", NodeState::Ready, ""), task("t1", "n1", TaskState::Running, TaskState::Running, "10.0.1.3")]));
        assert_eq!(one.for_node("n1").networks.len(), 1);
        assert!(one.for_node("n2").networks.is_empty());
        let none = NetworkTable::from_store(&store(vec![node("n1", NodeState::Ready, "")]));
        assert!(none.networks.is_empty());
        assert_ne!(one.version(), none.version());
        assert_ne!(none.version(), 0);
    }

    #[test]
    fn macs_derive_from_ipv4_addresses_only() {
        assert_eq!(mac_for("10.0.1.255/24").as_deref(), Some("02:42:0a:00:01:ff"));
        assert_eq!(mac_for("fe80::1"), None);
        assert_eq!(mac_for(""), None);
    }
}

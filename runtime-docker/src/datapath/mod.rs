//! The overlay data path of one node: tasks on different machines reach each other over a
//! swarm network, and find each other by name.
//!
//! Owns: the VXLAN devices `shoalvx<VNI>` of this network namespace, their static forwarding
//! and neighbour entries (vxlan.rs), and the name server on each local network's gateway
//! (dns.rs). Input: this node's part of the overlay networks' table (`NetworkSink::set`, from
//! the agent's long poll of the leader), and `prepare` calls from the executor when a task's
//! container is about to join a network. Output: kernel state and DNS answers.
//!
//! Design (ARCHITECTURE.md, "Networks"): a swarm network is, on each engine, a bridge network
//! (networks.rs) whose bridge gets one VXLAN device, VNI = the network's VXLAN id, tunnel
//! endpoint = this node's data-path address, UDP 4789. Every remote endpoint in the table
//! becomes a static MAC → tunnel-endpoint entry and a static IP → MAC entry (the MAC derives
//! from the address, so no node asks another's engine). No multicast, no flooding, no learning.
//!
//! Needs: the daemon in the Docker engine's network namespace, as root (it sees the engine's
//! bridges and may change devices). Elsewhere (a node in a container with its own namespace,
//! as scripts/e2e-cluster runs them) `prepare` answers false and the executor falls back to
//! the engine's own DNS: names then resolve on one engine only.
//!
//! Invariants: changes are serialised (one lock); the name server answers from a table only
//! after the entries that table needs are programmed, so a name never answers before its
//! address is reachable from here.

pub mod dns;
mod vip;
mod vxlan;

pub use vxlan::OVERLAY_MTU;

use shoal_core::dispatcher::NetworkTable;
use shoal_core::model::NetworkAttachment;
use shoal_core::node::mesh::NetworkSink;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The data path looks again this often even without a table change (a bridge the engine
/// made since, a change that failed).
const RECONCILE_PERIOD: Duration = Duration::from_secs(5);

pub struct DataPath {
    node_id: String,
    vtep: Ipv4Addr,
    netlink: rtnetlink::Handle,
    table: tokio::sync::watch::Sender<NetworkTable>,
    dns: Arc<dns::NameServer>,
    /// One change of kernel state at a time (the reconcile loop and `prepare`).
    lock: tokio::sync::Mutex<()>,
    /// Said once: this daemon cannot serve overlays here.
    warned: AtomicBool,
    /// The VIP rules last applied (None: none yet, or the last apply failed).
    vip_rules: tokio::sync::Mutex<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
enum ProgramError {
    /// The engine network has no bridge in this namespace (yet, or ever: not the engine's).
    #[error("no bridge {0} in this network namespace")]
    NoBridge(String),
    #[error("{0}")]
    Failed(String),
}

impl DataPath {
    /// Starts the data path of node `node_id` whose tunnel endpoint is `vtep_ip`; None when it
    /// cannot run here (no netlink, or an address that is not IPv4), said in the log.
    pub fn start(node_id: &str, vtep_ip: &str) -> Option<Arc<DataPath>> {
        let Ok(vtep) = vtep_ip.parse::<Ipv4Addr>() else {
            tracing::warn!(target: "shoal", "overlay networks reach only this engine: the data-path address {vtep_ip:?} is not IPv4");
            return None;
        };
        let (conn, netlink, _) = match rtnetlink::new_connection() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "shoal", "overlay networks reach only this engine: no netlink ({e})");
                return None;
            }
        };
        tokio::spawn(conn);
        let (table, rx) = tokio::sync::watch::channel(NetworkTable::default());
        let dp = Arc::new(DataPath {
            node_id: node_id.to_string(),
            vtep,
            netlink,
            table,
            dns: Arc::default(),
            lock: tokio::sync::Mutex::new(()),
            warned: AtomicBool::new(false),
            vip_rules: tokio::sync::Mutex::new(None),
        });
        tokio::spawn(dp.clone().follow(rx));
        Some(dp)
    }

    async fn follow(self: Arc<Self>, mut rx: tokio::sync::watch::Receiver<NetworkTable>) {
        // Nothing is removed before the leader's first table came: the devices a restarted
        // daemon finds still serve its running containers.
        if rx.changed().await.is_err() {
            return;
        }
        loop {
            let table = rx.borrow_and_update().clone();
            self.reconcile(&table).await;
            tokio::select! {
                biased;
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(RECONCILE_PERIOD) => {}
            }
        }
    }

    /// Readies network `a` for a task's container, right after its engine network was made
    /// or found: the VXLAN device with the entries known now, and the name server on the
    /// gateway. false: this daemon cannot serve the network here; the container then relies
    /// on the engine's own DNS (names of tasks on this engine only).
    pub async fn prepare(&self, a: &NetworkAttachment) -> bool {
        let _one = self.lock.lock().await;
        let table = self.table.borrow().clone();
        let entry = table.networks.iter().find(|n| n.network_id == a.network_id);
        let remotes = entry.map(|n| self.remotes(n)).unwrap_or_default();
        let vips = entry.map(vip_addresses).unwrap_or_default();
        match self.program(a.vxlan_id, &a.gateway, &remotes, &vips).await {
            Ok(()) => true,
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "shoal",
                        "overlay network {} reaches only this engine: {e} (run the daemon as root in the Docker engine's network namespace: on the host, or in a container with --network host)",
                        a.network_name
                    );
                }
                false
            }
        }
    }

    /// Takes down what this node made (its VXLAN devices and VIP rules), when it leaves the
    /// swarm: its containers are gone by then, and the engine networks with them.
    pub async fn clear(&self) {
        let _one = self.lock.lock().await;
        if let Err(e) = vxlan::remove_others(&self.netlink, &BTreeSet::new()).await {
            tracing::warn!(target: "shoal", "overlay networks: {e}");
        }
        let mut last = self.vip_rules.lock().await;
        if last.is_some() {
            if let Err(e) = vip::apply(vip::REMOVE).await {
                tracing::warn!(target: "shoal", "{e}");
            }
            *last = None;
        }
        self.dns.set(NetworkTable::default(), false);
    }

    /// Gives the addresses of the task's networks' gateways, where the name server listens,
    /// in the task's order (the embedded resolver asks them first).
    pub fn name_servers(&self, task: &shoal_core::model::Task) -> Vec<String> {
        task.networks.iter().map(|a| a.gateway.clone()).filter(|g| !g.is_empty()).collect()
    }

    fn remotes(&self, n: &shoal_core::dispatcher::NetworkEntry) -> BTreeSet<vxlan::Remote> {
        n.endpoints
            .iter()
            .filter(|e| e.node_id != self.node_id)
            .filter_map(|e| Some(vxlan::Remote { ip: e.address.parse().ok()?, mac: vxlan::parse_mac(&e.mac)?, vtep: e.vtep.parse().ok()? }))
            .collect()
    }

    /// Programs one network: its VXLAN device and entries, its VIP addresses on the bridge,
    /// and the name server on its gateway.
    async fn program(&self, vni: u32, gateway: &str, remotes: &BTreeSet<vxlan::Remote>, vips: &BTreeSet<Ipv4Addr>) -> Result<(), ProgramError> {
        let h = &self.netlink;
        let bridge = vxlan::bridge_name(vni);
        let bridge_index = vxlan::index_of(h, &bridge).await.map_err(ProgramError::Failed)?.ok_or(ProgramError::NoBridge(bridge))?;
        let dev = vxlan::ensure_device(h, vni, self.vtep, bridge_index).await.map_err(ProgramError::Failed)?;
        vxlan::sync_entries(h, dev, remotes).await.map_err(ProgramError::Failed)?;
        vip::sync_addresses(h, bridge_index, vips).await.map_err(ProgramError::Failed)?;
        vip::hairpin_ports(h, bridge_index, dev).await.map_err(ProgramError::Failed)?;
        let gateway: Ipv4Addr = gateway.parse().map_err(|_| ProgramError::Failed(format!("gateway {gateway:?} is not IPv4")))?;
        self.dns.listen(gateway).await.map_err(ProgramError::Failed)
    }

    /// Applies the VIP rules of the networks programmed here (only when they changed); false
    /// when they could not be (names then answer with task addresses).
    async fn balance(&self, networks: &[&shoal_core::dispatcher::NetworkEntry]) -> bool {
        let rules = if networks.iter().all(|n| n.vips.is_empty()) { vip::REMOVE.to_string() } else { vip::ruleset(networks) };
        let mut last = self.vip_rules.lock().await;
        if last.as_deref() == Some(rules.as_str()) {
            return true;
        }
        match vip::apply(&rules).await {
            Ok(()) => {
                *last = Some(rules);
                true
            }
            Err(e) => {
                *last = None;
                tracing::warn!(target: "shoal", "virtual IPs are not balanced here, names answer with task addresses: {e}");
                false
            }
        }
    }

    async fn reconcile(&self, table: &NetworkTable) {
        let _one = self.lock.lock().await;
        let mut keep = BTreeSet::new();
        let mut programmed = Vec::new();
        for n in &table.networks {
            match self.program(n.vxlan_id, &n.gateway, &self.remotes(n), &vip_addresses(n)).await {
                Ok(()) => {
                    keep.insert(n.vxlan_id);
                    programmed.push(n);
                }
                // No container of this node has joined it yet: `prepare` will.
                Err(ProgramError::NoBridge(_)) => {}
                Err(ProgramError::Failed(e)) => {
                    keep.insert(n.vxlan_id);
                    tracing::warn!(target: "shoal", "overlay network {}: {e}", n.name);
                }
            }
        }
        if let Err(e) = vxlan::remove_others(&self.netlink, &keep).await {
            tracing::warn!(target: "shoal", "overlay networks: {e}");
        }
        let vip_routed = self.balance(&programmed).await;
        // Names answer only once the entries and rules they need are in place.
        self.dns.set(table.clone(), vip_routed);
    }
}

impl NetworkSink for DataPath {
    fn set(&self, table: NetworkTable) {
        self.table.send_replace(table);
    }
}

fn vip_addresses(n: &shoal_core::dispatcher::NetworkEntry) -> BTreeSet<Ipv4Addr> {
    n.vips.iter().filter_map(|v| v.address.parse().ok()).collect()
}

/// The host's resolvers (`nameserver` lines of /etc/resolv.conf), listed after the gateways
/// so the embedded resolver goes on to them for every other name.
pub fn host_resolvers() -> Vec<String> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

//! Cluster control in the simulated world: create nodes, crash, restart, pause, resume,
//! partition, clog, heal, packet loss — and the observations the runner's predicates need
//! (who leads, whether managers agree).
//!
//! Every node runs the production [`Manager`] shell over a [`SimDisk`]; madsim supplies the
//! network and time. A crash kills the node's tasks and drops its unsynced disk writes; a
//! restart re-runs the node's init, which reopens the same disk. How a machine is made and
//! what its init runs is machine.rs; joins, leaves and force-new-cluster, membership.rs; how
//! partitions are routed, route.rs.

mod machine;
mod membership;
mod route;

pub use machine::{Identity, IdentityState};

use crate::disk::SimDisk;
use crate::executor::SimExecutor;
use crate::invariants::Checkers;
use crate::mesh::MeshModel;
use crate::trace::now_ms;
use shoal_core::dispatcher::NetworkTable;
use crate::scenario::Selector;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use openraft::ServerState;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shoal_core::node::Manager;
use shoal_core::node::raft::NodeId;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const RAFT_PORT: u16 = 4242;

pub struct SimNode {
    pub name: String,
    /// One of the managers the swarm was created with (the scenario's `manager = true`).
    pub manager: bool,
    /// The raft member id the machine uses now (a new one after `swarm leave`).
    pub raft_id: NodeId,
    pub addr: String,
    handle: NodeHandle,
    disk: Arc<SimDisk>,
    /// The disk as the node opens it (encrypted at rest).
    opener: machine::DiskOpener,
    slot: Arc<Mutex<Option<Arc<Manager>>>>,
    /// The machine's container runtime while it is up.
    executor: Arc<Mutex<Option<Arc<SimExecutor>>>>,
    /// What the machine knows about its membership in the swarm.
    pub identity: Arc<Identity>,
    pub up: bool,
    pub paused: bool,
    /// A `node add` machine (not part of the swarm the scenario starts with).
    pub joins_later: bool,
    /// Powered on: false for a `node add` machine until its step runs.
    joined: Arc<std::sync::atomic::AtomicBool>,
    /// The node's part of the overlay networks' table, as its agent last got it from the
    /// leader (the real long poll over the simulated network), when the scenario uses
    /// networks: the machine's DNS and VIP tables.
    net_table: Arc<Mutex<Option<NetworkTable>>>,
}

impl SimNode {
    /// The machine's madsim node, to run a call from it (with its address).
    pub(crate) fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    pub(crate) fn sim_id(&self) -> madsim::task::NodeId {
        self.handle.id()
    }

    /// The machine's disk as the medium holds it (encrypted below the node).
    pub(crate) fn disk(&self) -> &SimDisk {
        &self.disk
    }

    /// Autolock: whether the machine's manager waits locked, and where a key is offered.
    pub(crate) fn lock_state(&self) -> Arc<Mutex<machine::LockState>> {
        self.opener.lock.clone()
    }
}

pub struct Cluster {
    /// The machines' certificates, where the scenario models them.
    pub pki: Option<Arc<crate::pki::Pki>>,
    pub nodes: Vec<SimNode>,
    checkers: Arc<Checkers>,
    clogged: BTreeSet<(madsim::task::NodeId, madsim::task::NodeId)>,
    pub last_crashed: Option<usize>,
    /// Highest term of a leader crashed, paused or cut off from its quorum so far.
    pub cut_off_term: u64,
    rng: ChaCha8Rng,
    /// The routing-mesh model the machines' executors bind their tasks into.
    pub mesh: Arc<MeshModel>,
    /// Faults so far (crashes, pauses, partitions, packet loss): rules that hold only
    /// without faults stop applying once it is above 0.
    pub faults: u64,
    /// The run's message latency while a latency spike holds (to restore it after).
    base_latency: Option<std::ops::Range<Duration>>,
    /// Every task whose container ever ran, and the count of container changes (ground truth
    /// the executors keep).
    containers: Arc<crate::executor::Containers>,
}

/// What a live manager reports about itself.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub index: usize,
    pub state: ServerState,
    pub term: u64,
    pub applied: u64,
    pub applied_term: u64,
    pub state_hash: u64,
}

impl Cluster {
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The running shell of node `i`, if it is up and started.
    pub fn manager(&self, i: usize) -> Option<Arc<Manager>> {
        if !self.nodes[i].up {
            return None;
        }
        self.nodes[i].slot.lock().unwrap().clone()
    }

    pub fn view(&self, i: usize) -> Option<NodeView> {
        let m = self.manager(i)?;
        let metrics = m.raft.metrics().borrow().clone();
        let (applied, state_hash) = m.state.applied();
        Some(NodeView {
            index: i,
            state: metrics.state,
            term: metrics.current_term,
            applied,
            applied_term: metrics.last_applied.map(|l| l.leader_id.term).unwrap_or(0),
            state_hash,
        })
    }

    /// The live, unpaused node that claims leadership with the highest term.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|i| !self.nodes[*i].paused)
            .filter_map(|i| self.view(i))
            .filter(|v| v.state == ServerState::Leader)
            .max_by_key(|v| v.term)
            .map(|v| v.index)
    }

    /// Raft ids of the voters, per the most advanced live node's applied membership.
    pub fn voters(&self) -> BTreeSet<NodeId> {
        let best = (0..self.nodes.len()).filter_map(|i| self.view(i)).max_by_key(|v| v.applied);
        match best.and_then(|v| self.manager(v.index)) {
            Some(m) => m.state.membership().membership().voter_ids().collect(),
            None => BTreeSet::new(),
        }
    }

    /// `leader elected`: a leader newer than every leader cut off so far has committed in its term.
    pub fn leader_elected(&self) -> bool {
        self.leader()
            .and_then(|i| self.view(i))
            .is_some_and(|v| v.term > self.cut_off_term && v.applied_term == v.term)
    }

    /// `managers agree`: every live voter applied the same index with the same state hash.
    /// Returns the agreed index; runs the acknowledged-writes check on agreement.
    pub fn managers_agree(&self) -> Option<u64> {
        let voters = self.voters();
        let views: Vec<NodeView> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.up && voters.contains(&n.raft_id))
            .map(|(i, _)| self.view(i))
            .collect::<Option<Vec<_>>>()?;
        let first = views.first()?;
        if first.applied == 0 || views.iter().any(|v| (v.applied, v.state_hash) != (first.applied, first.state_hash)) {
            return None;
        }
        for v in &views {
            if let Some(m) = self.manager(v.index) {
                m.state.with_store(|s| self.checkers.check_acked(&self.nodes[v.index].name, v.applied, s));
            }
        }
        Some(first.applied)
    }

    /// Resolves a selector to node indexes (at run time, from the seed's RNG).
    pub fn resolve(&mut self, sel: &Selector) -> Result<Vec<usize>, String> {
        let live_managers: Vec<usize> = {
            let voters = self.voters();
            (0..self.nodes.len()).filter(|i| self.nodes[*i].up && voters.contains(&self.nodes[*i].raft_id)).collect()
        };
        let pick = |rng: &mut ChaCha8Rng, v: Vec<usize>, what: &str| -> Result<Vec<usize>, String> {
            v.choose(rng).map(|i| vec![*i]).ok_or_else(|| format!("no {what} to select"))
        };
        match sel {
            Selector::Name(n) => self.index_of(n).map(|i| vec![i]).ok_or_else(|| format!("no node {n}")),
            Selector::Leader => self.leader().map(|i| vec![i]).ok_or_else(|| "no leader".to_string()),
            Selector::Follower => {
                let leader = self.leader();
                let f: Vec<usize> = live_managers.into_iter().filter(|i| Some(*i) != leader).collect();
                pick(&mut self.rng, f, "follower")
            }
            Selector::AnyManager => pick(&mut self.rng, live_managers, "live manager"),
            Selector::AnyWorker => {
                let voters = self.voters();
                let w: Vec<usize> = (0..self.nodes.len()).filter(|i| !voters.contains(&self.nodes[*i].raft_id)).collect();
                pick(&mut self.rng, w, "worker")
            }
            Selector::LastCrashed => self.last_crashed.map(|i| vec![i]).ok_or_else(|| "no node crashed yet".to_string()),
            Selector::Rest => Ok(vec![]),
        }
    }

    fn note_leader_cut_off(&mut self, affected: &[usize]) {
        if let Some(l) = self.leader() {
            if affected.contains(&l) {
                if let Some(v) = self.view(l) {
                    self.cut_off_term = self.cut_off_term.max(v.term);
                }
            }
        }
    }

    /// Running containers on node `i` (of one service, or all), 0 when the machine is down.
    pub fn running(&self, i: usize, service: Option<&str>) -> usize {
        if !self.nodes[i].up {
            return 0;
        }
        self.nodes[i].executor.lock().unwrap().as_ref().map(|e| e.running(service)).unwrap_or(0)
    }

    /// Whether the container of `task_id` ever ran, on any machine.
    pub fn ran(&self, task_id: &str) -> bool {
        self.containers.ran.lock().unwrap().contains(task_id)
    }

    /// Marks machine `i` up or down; what `running` counts changes with it.
    fn set_up(&mut self, i: usize, up: bool) {
        self.nodes[i].up = up;
        self.containers.changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// What the ground-truth checkers read, summed up in numbers that move whenever it may
    /// have changed: container changes on any machine or machines going up or down, faults,
    /// and the most advanced store's applied index (and which manager holds it).
    pub fn ground_version(&self) -> (u64, u64, u64, usize) {
        let (applied, i) = self.best_manager().map(|(applied, i, _)| (applied, i)).unwrap_or_default();
        (self.containers.changes.load(std::sync::atomic::Ordering::Relaxed), self.faults, applied, i)
    }

    /// Failed containers of `service` still listed on live machines.
    pub fn failed_containers(&self, service: &str) -> usize {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .filter_map(|i| self.nodes[i].executor.lock().unwrap().as_ref().map(|e| e.failed(service)))
            .sum()
    }

    /// Whether messages from node `a` to node `b` are dropped (a partition or clog).
    fn cut(&self, a: usize, b: usize) -> bool {
        self.clogged.contains(&(self.nodes[a].sim_id(), self.nodes[b].sim_id()))
    }


    /// Containers of `service` running `image` on live machines.
    pub fn running_image(&self, service: &str, image: &str) -> usize {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].up)
            .filter_map(|i| self.nodes[i].executor.lock().unwrap().as_ref().map(|e| e.running_image(service, image)))
            .sum()
    }

    /// (node index, service, slot, task id) of every container running on a live machine.
    pub fn running_slots(&self) -> Vec<(usize, String, u64, String)> {
        let mut v = Vec::new();
        for i in (0..self.nodes.len()).filter(|i| self.nodes[*i].up) {
            if let Some(e) = self.nodes[i].executor.lock().unwrap().as_ref() {
                v.extend(e.running_slots().into_iter().map(|(s, slot, t)| (i, s, slot, t)));
            }
        }
        v
    }

    /// The store of the most advanced live node (the leader's, when it is up to date). Reads
    /// each node's applied index only: the runner calls this every few virtual milliseconds.
    pub fn with_best_store<R>(&self, f: impl FnOnce(&shoal_core::store::Store) -> R) -> Option<R> {
        self.best_manager().map(|(_, _, m)| m.state.with_store(f))
    }

    /// The live manager that applied the most (the first of equals): its applied index, its
    /// machine index, and itself.
    fn best_manager(&self) -> Option<(u64, usize, Arc<Manager>)> {
        (0..self.nodes.len())
            .filter_map(|i| self.manager(i).map(|m| (m.state.applied().0, i, m)))
            .max_by_key(|(applied, i, _)| (*applied, std::cmp::Reverse(*i)))
    }

    /// The run is over: every machine is killed and the cluster lets go of them. The
    /// simulator does not free a world whose tasks still hold it (a raft core, a node's init
    /// closure holding its disk): without this every run leaked its whole world, 7-10 MB.
    pub fn tear_down(&mut self) {
        let h = Handle::current();
        for n in &self.nodes {
            h.kill(n.sim_id());
            *n.slot.lock().unwrap() = None;
            *n.executor.lock().unwrap() = None;
        }
        self.nodes.clear();
    }

    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        self.note_leader_cut_off(&[i]);
        self.faults += 1;
        Handle::current().kill(self.nodes[i].sim_id());
        let lost = self.nodes[i].disk.crash();
        *self.nodes[i].slot.lock().unwrap() = None;
        *self.nodes[i].executor.lock().unwrap() = None;
        {
            // A crashed machine is not waiting for a key; an offer it never took is withdrawn.
            let mut l = self.nodes[i].opener.lock.lock().unwrap();
            (l.locked, l.offered) = (false, None);
        }
        self.mesh.crashed(i, now_ms());
        self.set_up(i, false);
        self.nodes[i].paused = false;
        self.last_crashed = Some(i);
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, unsynced_bytes_lost = lost, "crash");
    }

    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            // A restart of a running node is a crash followed by a restart.
            self.crash(i);
        }
        // A twin's machine that was down in the swarm is powered on by its first restart
        // (a `node add` machine only by its step).
        if !self.nodes[i].joins_later {
            self.nodes[i].joined.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Handle::current().restart(self.nodes[i].sim_id());
        // A node on a corrupted log refuses to start (its init checks that it does): it stays
        // down for every checker and predicate.
        self.set_up(i, self.nodes[i].disk.corrupted_at().is_none());
        if self.nodes[i].up {
            self.mesh.restarted(i, now_ms());
        }
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "restart");
    }

    /// `corrupt NODE`: the node crashes, one bit flips inside a durable `raft.log` record that
    /// is not its last, and the node restarts, which it must refuse. A node whose log holds
    /// fewer than two records just restarts.
    pub fn corrupt(&mut self, i: usize) {
        self.crash(i);
        match self.nodes[i].disk.corrupt_mid_log() {
            Some(at) => tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, byte = at, "corrupt raft.log"),
            None => tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "corrupt: fewer than two log records, nothing to corrupt"),
        }
        self.restart(i);
    }

    pub fn pause(&mut self, i: usize) {
        if !self.nodes[i].up || self.nodes[i].paused {
            return;
        }
        self.note_leader_cut_off(&[i]);
        self.faults += 1;
        Handle::current().pause(self.nodes[i].sim_id());
        self.nodes[i].paused = true;
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "pause");
    }

    pub fn resume(&mut self, i: usize) {
        if !self.nodes[i].paused {
            return;
        }
        Handle::current().resume(self.nodes[i].sim_id());
        self.nodes[i].paused = false;
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "resume");
    }

    /// Cuts every link from `from` to `to` (and back unless `one_way`). An empty side means
    /// every node not on the other side.
    /// Every manager's disk reports its durable votes on `tx` (the crash-after-vote point).
    pub fn listen_for_votes(&self, tx: tokio::sync::mpsc::Sender<usize>) {
        for (i, n) in self.nodes.iter().enumerate() {
            n.disk.listen_for_votes(Some((i, tx.clone())));
        }
    }

    pub fn stop_listening_for_votes(&self) {
        for n in &self.nodes {
            n.disk.listen_for_votes(None);
        }
    }

    /// Machine `i` is cut off from half or more of the other voters (a link either way
    /// clogged by a partition or a clog).
    pub fn cut_off(&self, i: usize, voters: &BTreeSet<NodeId>) -> bool {
        let id = self.nodes[i].sim_id();
        let others: Vec<madsim::task::NodeId> =
            (0..self.nodes.len()).filter(|j| *j != i && voters.contains(&self.nodes[*j].raft_id)).map(|j| self.nodes[j].sim_id()).collect();
        let cut = others.iter().filter(|o| self.clogged.contains(&(id, **o)) || self.clogged.contains(&(**o, id))).count();
        !others.is_empty() && cut * 2 >= others.len()
    }

    pub fn partition(&mut self, from: &[usize], to: &[usize], one_way: bool) {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let rest = |other: &[usize]| all.iter().copied().filter(|i| !other.contains(i)).collect::<Vec<_>>();
        let (from, to) = match (from.is_empty(), to.is_empty()) {
            (true, _) => (rest(to), to.to_vec()),
            (_, true) => (from.to_vec(), rest(from)),
            _ => (from.to_vec(), to.to_vec()),
        };
        // Is the leader left without a majority of voters it can send to?
        if let Some(l) = self.leader() {
            let voters = self.voters();
            let reach = |side: &[usize]| side.iter().filter(|i| voters.contains(&self.nodes[**i].raft_id)).count();
            let leader_side = if from.contains(&l) { reach(&from) } else if to.contains(&l) && !one_way { reach(&to) } else { voters.len() };
            if leader_side * 2 <= voters.len() {
                self.note_leader_cut_off(&[l]);
            }
        }
        self.faults += 1;
        let net = NetSim::current();
        for a in &from {
            for b in &to {
                let (x, y) = (self.nodes[*a].sim_id(), self.nodes[*b].sim_id());
                net.clog_link(x, y);
                self.clogged.insert((x, y));
                if !one_way {
                    net.clog_link(y, x);
                    self.clogged.insert((y, x));
                }
            }
        }
        let names = |v: &[usize]| v.iter().map(|i| self.nodes[*i].name.as_str()).collect::<Vec<_>>().join(",");
        tracing::info!(target: "shoal::fault", node = "net", "partition {} {} {}", names(&from), if one_way { "->" } else { "|" }, names(&to));
    }

    pub fn clog(&mut self, a: usize, b: usize) {
        self.partition(&[a], &[b], false);
    }

    /// Removes every clogged link touching node `i` (the end of an injected partition).
    pub fn heal_node(&mut self, i: usize) {
        let id = self.nodes[i].sim_id();
        let net = NetSim::current();
        let links: Vec<_> = self.clogged.iter().copied().filter(|(x, y)| *x == id || *y == id).collect();
        for (x, y) in links {
            net.unclog_link(x, y);
            self.clogged.remove(&(x, y));
        }
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "heal node");
    }

    pub fn heal(&mut self) {
        let net = NetSim::current();
        for (x, y) in std::mem::take(&mut self.clogged) {
            net.unclog_link(x, y);
        }
        net.update_config(|c| c.packet_loss_rate = 0.0);
        self.end_latency_spike();
        for n in &self.nodes {
            n.disk.set_slow(None);
        }
        tracing::info!(target: "shoal::fault", node = "net", "heal");
    }

    /// A network-wide latency spike: every message takes `latency`..2×`latency` until
    /// [`Cluster::end_latency_spike`].
    pub fn latency_spike(&mut self, latency: Duration) {
        self.faults += 1;
        let mut before = None;
        NetSim::current().update_config(|c| {
            before = Some(c.send_latency.clone());
            c.send_latency = latency..latency * 2 + Duration::from_millis(1);
        });
        if self.base_latency.is_none() {
            self.base_latency = before;
        }
        tracing::info!(target: "shoal::fault", node = "net", latency_ms = latency.as_millis() as u64, "latency spike");
    }

    pub fn end_latency_spike(&mut self) {
        if let Some(base) = self.base_latency.take() {
            NetSim::current().update_config(|c| c.send_latency = base);
            tracing::info!(target: "shoal::fault", node = "net", "latency back to normal");
        }
    }

    /// Machine `i`'s syncs take `latency` (None: back to normal).
    pub fn slow_disk(&mut self, i: usize, latency: Option<Duration>) {
        if latency.is_some() {
            self.faults += 1;
        }
        self.nodes[i].disk.set_slow(latency);
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, sync_ms = latency.map(|l| l.as_millis() as u64).unwrap_or(0), "slow disk");
    }

    pub fn packet_loss(&mut self, rate: f64) {
        if rate > 0.0 {
            self.faults += 1;
        }
        NetSim::current().update_config(|c| c.packet_loss_rate = rate);
        tracing::info!(target: "shoal::fault", node = "net", rate, "packet loss");
    }

    /// Addresses of the nodes that are (or were configured as) managers, for clients.
    pub fn manager_addrs(&self) -> Vec<String> {
        let voters = self.voters();
        let mut v: Vec<String> =
            self.nodes.iter().filter(|n| n.manager || voters.contains(&n.raft_id)).map(|n| n.addr.clone()).collect();
        v.dedup();
        v
    }
}

pub(crate) fn ip_of(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1))
}

fn addr_of(i: usize) -> String {
    format!("{}:{RAFT_PORT}", ip_of(i))
}

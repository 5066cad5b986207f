//! Cluster control in the simulated world: create nodes, crash, restart, pause, resume,
//! partition, clog, heal, packet loss — and the observations the runner's predicates need
//! (who leads, whether managers agree).
//!
//! Every node runs the production [`Manager`] shell over a [`SimDisk`]; madsim supplies the
//! network and time. A crash kills the node's tasks and drops its unsynced disk writes; a
//! restart re-runs the node's init, which reopens the same disk.

use crate::disk::SimDisk;
use crate::executor::{SimExecutor, SimExecutorHandle};
use crate::invariants::Checkers;
use crate::scenario::{Scenario, Selector};
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use openraft::ServerState;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shoal_core::model::{NodeDescription, Platform, Resources};
use shoal_core::node::agent::{run_agent, AgentConfig};
use shoal_core::node::{Manager, NodeConfig};
use shoal_core::node::raft::{NodeId, SharedObserver};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const RAFT_PORT: u16 = 4242;

pub struct SimNode {
    pub name: String,
    pub manager: bool,
    pub raft_id: NodeId,
    pub addr: String,
    handle: NodeHandle,
    disk: Arc<SimDisk>,
    slot: Arc<Mutex<Option<Arc<Manager>>>>,
    /// The machine's container runtime while it is up.
    executor: Arc<Mutex<Option<Arc<SimExecutor>>>>,
    /// The node id it registers with (swarm's 25-character ids, from the seed).
    pub node_id: String,
    pub up: bool,
    pub paused: bool,
    /// Powered on: false for a `node add` machine until its step runs.
    joined: Arc<std::sync::atomic::AtomicBool>,
}

impl SimNode {
    fn sim_id(&self) -> madsim::task::NodeId {
        self.handle.id()
    }
}

pub struct Cluster {
    pub nodes: Vec<SimNode>,
    checkers: Arc<Checkers>,
    clogged: BTreeSet<(madsim::task::NodeId, madsim::task::NodeId)>,
    pub last_crashed: Option<usize>,
    /// Highest term of a leader crashed, paused or cut off from its quorum so far.
    pub cut_off_term: u64,
    rng: ChaCha8Rng,
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
    /// Creates every node of the scenario; call inside the simulation.
    pub fn create(scenario: &Scenario, seed: u64, checkers: Arc<Checkers>, rng: ChaCha8Rng) -> Cluster {
        let handle = Handle::current();
        let images = Arc::new(scenario.images.clone());
        let managers: BTreeMap<NodeId, String> = scenario
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.manager)
            .map(|(i, _)| (i as NodeId + 1, addr_of(i)))
            .collect();
        let mut nodes = Vec::new();
        for (i, spec) in scenario.nodes.iter().enumerate() {
            let raft_id = i as NodeId + 1;
            let addr = addr_of(i);
            let disk = Arc::new(SimDisk::new(
                seed ^ raft_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                Duration::from_millis(scenario.sim.disk_sync_ms),
                scenario.sim.torn_writes,
            ));
            let slot: Arc<Mutex<Option<Arc<Manager>>>> = Arc::default();
            let executor: Arc<Mutex<Option<Arc<SimExecutor>>>> = Arc::default();
            let joined = Arc::new(std::sync::atomic::AtomicBool::new(!spec.joins_later));
            let node_id = shoal_core::orchestrator::IdGen::new(seed ^ (raft_id << 32) ^ 0x6e6f6465).next_id();
            let cfg = NodeConfig {
                id: raft_id,
                name: spec.name.clone(),
                addr: addr.clone(),
                raft: scenario.raft.clone(),
                // swarm init: the first manager bootstraps with every initial manager.
                bootstrap: (i == 0).then(|| managers.clone()),
            };
            let agent_cfg = AgentConfig {
                node_id: node_id.clone(),
                addr: addr.clone(),
                manager: spec.manager,
                description: NodeDescription {
                    hostname: spec.name.clone(),
                    platform: Platform { os: "linux".into(), architecture: "x86_64".into() },
                    resources: Resources { nano_cpus: spec.nano_cpus, memory_bytes: spec.memory_bytes, ..Default::default() },
                    engine_labels: Default::default(),
                },
                labels: spec.labels.clone(),
                managers: managers.values().cloned().collect(),
                raft_id,
            };
            let init = {
                let (disk, slot, checkers, executor, joined, images) =
                    (disk.clone(), slot.clone(), checkers.clone(), executor.clone(), joined.clone(), images.clone());
                move || {
                    let (cfg, disk, slot, checkers) = (cfg.clone(), disk.clone(), slot.clone(), checkers.clone());
                    let (executor, joined, images, agent_cfg) = (executor.clone(), joined.clone(), images.clone(), agent_cfg.clone());
                    async move {
                        if !joined.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let observer: SharedObserver = checkers.clone();
                        match Manager::start(cfg.clone(), disk, observer).await {
                            Ok(m) => {
                                *slot.lock().unwrap() = Some(m.clone());
                                tracing::info!(target: "shoal", node = %cfg.name, "started");
                                // A fresh machine: no containers survive a crash.
                                let exec = SimExecutor::new(&cfg.name, images);
                                *executor.lock().unwrap() = Some(exec.clone());
                                tokio::spawn(run_agent(agent_cfg, Arc::new(SimExecutorHandle(exec))));
                                if let Err(e) = m.serve().await {
                                    checkers.violate("node", format!("{}: gRPC server failed: {e}", cfg.name));
                                }
                            }
                            Err(e) => checkers.violate("node", format!("{} failed to start: {e}", cfg.name)),
                        }
                    }
                }
            };
            let ip: IpAddr = ip_of(i);
            let handle = handle.create_node().name(spec.name.clone()).ip(ip).init(init).build();
            nodes.push(SimNode {
                name: spec.name.clone(),
                manager: spec.manager,
                raft_id,
                addr,
                handle,
                disk,
                slot,
                executor,
                node_id,
                up: !spec.joins_later,
                paused: false,
                joined,
            });
        }
        Cluster { nodes, checkers, clogged: BTreeSet::new(), last_crashed: None, cut_off_term: 0, rng }
    }

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

    /// Powers on a `node add` machine: it registers with the current leader as a new node.
    pub fn join(&mut self, i: usize) -> Result<(), String> {
        if self.nodes[i].joined.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(format!("node {} already joined", self.nodes[i].name));
        }
        Handle::current().restart(self.nodes[i].sim_id());
        self.nodes[i].up = true;
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "node joins");
        Ok(())
    }

    /// The store of the most advanced live node (the leader's, when it is up to date). Reads
    /// each node's applied index only: the runner calls this every few virtual milliseconds.
    pub fn with_best_store<R>(&self, f: impl FnOnce(&shoal_core::store::Store) -> R) -> Option<R> {
        let best = (0..self.nodes.len())
            .filter_map(|i| self.manager(i).map(|m| (m.state.applied().0, i, m)))
            .max_by_key(|(applied, i, _)| (*applied, std::cmp::Reverse(*i)))?;
        Some(best.2.state.with_store(f))
    }

    pub fn crash(&mut self, i: usize) {
        if !self.nodes[i].up {
            return;
        }
        self.note_leader_cut_off(&[i]);
        Handle::current().kill(self.nodes[i].sim_id());
        let lost = self.nodes[i].disk.crash();
        *self.nodes[i].slot.lock().unwrap() = None;
        *self.nodes[i].executor.lock().unwrap() = None;
        self.nodes[i].up = false;
        self.nodes[i].paused = false;
        self.last_crashed = Some(i);
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, unsynced_bytes_lost = lost, "crash");
    }

    pub fn restart(&mut self, i: usize) {
        if self.nodes[i].up {
            // A restart of a running node is a crash followed by a restart.
            self.crash(i);
        }
        Handle::current().restart(self.nodes[i].sim_id());
        self.nodes[i].up = true;
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "restart");
    }

    pub fn pause(&mut self, i: usize) {
        if !self.nodes[i].up || self.nodes[i].paused {
            return;
        }
        self.note_leader_cut_off(&[i]);
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
        tracing::info!(target: "shoal::fault", node = "net", "heal");
    }

    pub fn packet_loss(&mut self, rate: f64) {
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

fn ip_of(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1))
}

fn addr_of(i: usize) -> String {
    format!("{}:{RAFT_PORT}", ip_of(i))
}

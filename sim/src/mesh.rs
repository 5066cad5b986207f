//! The routing-mesh model: swarm's ingress load balancing, as the simulator's world has it.
//!
//! What it models (Docker's facts, not its code): every node keeps its own table of the
//! backends behind each published port (IPVS fed by the overlay's gossip, networkdb). A node
//! adds a task to its own table when the task's container runs — once its healthcheck passed,
//! if it has one (Docker activates the service binding after `health_status: healthy`) — and
//! takes it out when the container stops or before the agent stops it. Other nodes learn each
//! change by gossip after a delay drawn from the seed, in order per pair of nodes, and not
//! while the two are cut off from each other (the change waits for the heal, as networkdb's
//! bulk sync does). A crashed machine's entries stay in the other tables until failure
//! detection removes them, after a delay drawn from the seed; a restarted machine gets the
//! whole table by a bulk sync after a gossip delay. A request entering a node goes to the next
//! backend of that node's table, round robin, and fails if that backend does not answer.
//!
//! Owns: the per-node tables and the gossip in flight. Inputs: binds and unbinds from the
//! simulated executors, crashes and restarts from the cluster, requests from the runner's
//! traffic client (with the cluster's view of links and machines). Output: which task a
//! request reaches. Invariant: changes from one node reach another in the order they were made.
//!
//! Written here rather than taken from a crate: no crate models an overlay's gossip; the
//! model is small and must be deterministic (a ChaCha RNG from the seed, BTreeMaps only).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// How long Docker's agent waits after taking a task out of the mesh before it stops the
/// container (moby's `defaultGossipConvergeDelay`), so every node's table forgets it first.
pub const GOSSIP_CONVERGE_DELAY_MS: u64 = 2_000;
/// How often a change held back by a cut link is tried again (the bulk sync period).
const RESYNC_MS: u64 = 1_000;

/// A task behind a published port, as one node's table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub node: usize,
    pub service: String,
    /// The machine's life it was bound in (bumped by every crash).
    pub incarnation: u64,
}

/// published port → task id → backend.
type Table = BTreeMap<u32, BTreeMap<String, Backend>>;

#[derive(Debug, Clone)]
enum Update {
    Add { ports: Vec<u32>, task: String, backend: Backend },
    Remove { ports: Vec<u32>, task: String },
    /// Failure detection: the entries a crashed machine bound in this life (or earlier) go.
    Gone { node: usize, incarnation: u64 },
    /// A restarted machine gets the whole table.
    FullSync,
}

#[derive(Debug, Clone)]
struct Delivery {
    /// The node that made the change (None: failure detection, which needs no link).
    origin: Option<usize>,
    target: usize,
    update: Update,
}

struct State {
    rng: ChaCha8Rng,
    gossip_ms: (u64, u64),
    detect_ms: (u64, u64),
    /// Each node's table.
    tables: Vec<Table>,
    /// The bindings as the nodes that own them hold them (what a bulk sync hands out).
    truth: Table,
    /// Changes on their way: (deliver at ms, sequence) → delivery.
    pending: BTreeMap<(u64, u64), Delivery>,
    /// Last delivery time per (origin, target): gossip between two nodes stays in order.
    last_at: BTreeMap<(usize, usize), u64>,
    seq: u64,
    /// Round-robin position per (node, port).
    rr: BTreeMap<(usize, u32), usize>,
    /// Each machine's current life.
    incarnation: Vec<u64>,
}

pub struct MeshModel {
    state: Mutex<State>,
}

/// At most this many changes wait in flight (bounded: a change beyond it is delivered at
/// once); far above what a scenario makes.
const MAX_PENDING: usize = 1_000_000;

impl MeshModel {
    /// A mesh over `nodes` machines; gossip and failure-detection delays are drawn from `rng`
    /// within the given ranges (ms, inclusive).
    pub fn new(nodes: usize, gossip_ms: (u64, u64), detect_ms: (u64, u64), rng: ChaCha8Rng) -> MeshModel {
        MeshModel {
            state: Mutex::new(State {
                rng,
                gossip_ms,
                detect_ms,
                tables: vec![Table::new(); nodes],
                truth: Table::new(),
                pending: BTreeMap::new(),
                last_at: BTreeMap::new(),
                seq: 0,
                rr: BTreeMap::new(),
                incarnation: vec![0; nodes],
            }),
        }
    }

    /// Node `node` binds `task` (of `service`) behind `ports`: its own table at once, the
    /// others by gossip.
    pub fn bind(&self, node: usize, task: &str, service: &str, ports: &[u32], now_ms: u64) {
        if ports.is_empty() {
            return;
        }
        let mut s = self.state.lock().unwrap();
        let backend = Backend { node, service: service.to_string(), incarnation: s.incarnation[node] };
        let update = Update::Add { ports: ports.to_vec(), task: task.to_string(), backend };
        apply(&mut s.truth, &update, &Table::new());
        let truth = s.truth.clone();
        apply(&mut s.tables[node], &update, &truth);
        s.gossip(node, update, now_ms);
    }

    /// Node `node` takes `task` out of the mesh (it stops, or it exited). Returns whether it
    /// was bound.
    pub fn unbind(&self, node: usize, task: &str, now_ms: u64) -> bool {
        let mut s = self.state.lock().unwrap();
        let ports: Vec<u32> = s.truth.iter().filter(|(_, ts)| ts.contains_key(task)).map(|(p, _)| *p).collect();
        if ports.is_empty() {
            return false;
        }
        let update = Update::Remove { ports, task: task.to_string() };
        apply(&mut s.truth, &update, &Table::new());
        let truth = s.truth.clone();
        apply(&mut s.tables[node], &update, &truth);
        s.gossip(node, update, now_ms);
        true
    }

    /// Machine `node` crashed: its bindings, its own table and the gossip it had not sent yet
    /// are gone; the other nodes drop its entries once failure detection notices.
    pub fn crashed(&self, node: usize, now_ms: u64) {
        let mut s = self.state.lock().unwrap();
        for ts in s.truth.values_mut() {
            ts.retain(|_, b| b.node != node);
        }
        s.tables[node].clear();
        s.pending.retain(|_, d| d.origin != Some(node));
        let incarnation = s.incarnation[node];
        s.incarnation[node] += 1;
        for target in 0..s.tables.len() {
            if target != node {
                let detect = s.detect_ms;
                let at = now_ms + s.draw(detect);
                s.push(at, Delivery { origin: None, target, update: Update::Gone { node, incarnation } });
            }
        }
    }

    /// Machine `node` restarted: its table comes back by a bulk sync after a gossip delay.
    pub fn restarted(&self, node: usize, now_ms: u64) {
        let mut s = self.state.lock().unwrap();
        let gossip = s.gossip_ms;
        let at = now_ms + s.draw(gossip);
        s.push(at, Delivery { origin: None, target: node, update: Update::FullSync });
    }

    /// Delivers every change due by `now_ms`; `cut(a, b)` says whether a's messages to b are
    /// dropped (a held-back change is tried again a bulk-sync period later).
    pub fn settle(&self, now_ms: u64, cut: impl Fn(usize, usize) -> bool) {
        let mut s = self.state.lock().unwrap();
        // Bounded: each pass delivers or postpones every due change once.
        let due: Vec<((u64, u64), Delivery)> = {
            let later = s.pending.split_off(&(now_ms + 1, 0));
            std::mem::replace(&mut s.pending, later).into_iter().collect()
        };
        for (_, d) in due {
            if d.origin.is_some_and(|o| cut(o, d.target)) {
                let at = now_ms + RESYNC_MS;
                s.push(at, d);
                continue;
            }
            let truth = s.truth.clone();
            apply(&mut s.tables[d.target], &d.update, &truth);
        }
    }

    /// The backend node `entry` sends the next request for `port` to (round robin over its
    /// table). None: the node's table has no entry for the port; Some(None): an entry with no
    /// backend left.
    pub fn pick(&self, entry: usize, port: u32) -> Option<Option<(String, Backend)>> {
        let mut s = self.state.lock().unwrap();
        let n = s.tables[entry].get(&port)?.len();
        if n == 0 {
            return Some(None);
        }
        let rr = s.rr.entry((entry, port)).or_insert(0);
        let k = *rr % n;
        *rr = rr.wrapping_add(1);
        Some(s.tables[entry][&port].iter().nth(k).map(|(t, b)| (t.clone(), b.clone())))
    }
}

impl State {
    fn draw(&mut self, (lo, hi): (u64, u64)) -> u64 {
        self.rng.gen_range(lo..=hi.max(lo))
    }

    fn push(&mut self, at: u64, d: Delivery) {
        if self.pending.len() >= MAX_PENDING {
            let truth = self.truth.clone();
            apply(&mut self.tables[d.target], &d.update, &truth);
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        self.pending.insert((at, seq), d);
    }

    /// Sends `update` from `origin` to every other node, each after its own gossip delay and
    /// never before an earlier change between the same two nodes.
    fn gossip(&mut self, origin: usize, update: Update, now_ms: u64) {
        for target in 0..self.tables.len() {
            if target == origin {
                continue;
            }
            let gossip = self.gossip_ms;
            let delay = self.draw(gossip);
            let last = self.last_at.get(&(origin, target)).copied().unwrap_or(0);
            let at = (now_ms + delay).max(last);
            self.last_at.insert((origin, target), at);
            self.push(at, Delivery { origin: Some(origin), target, update: update.clone() });
        }
    }
}

fn apply(table: &mut Table, update: &Update, truth: &Table) {
    match update {
        Update::Add { ports, task, backend } => {
            for p in ports {
                table.entry(*p).or_default().insert(task.clone(), backend.clone());
            }
        }
        Update::Remove { ports, task } => {
            for p in ports {
                if let Some(ts) = table.get_mut(p) {
                    ts.remove(task);
                }
            }
        }
        Update::Gone { node, incarnation } => {
            for ts in table.values_mut() {
                ts.retain(|_, b| !(b.node == *node && b.incarnation <= *incarnation));
            }
        }
        Update::FullSync => {
            // A port's entry stays once known (IPVS keeps the service with no backend).
            for ts in table.values_mut() {
                ts.clear();
            }
            for (p, ts) in truth {
                table.entry(*p).or_default().extend(ts.iter().map(|(t, b)| (t.clone(), b.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mesh() -> MeshModel {
        MeshModel::new(3, (100, 100), (3_000, 3_000), ChaCha8Rng::seed_from_u64(1))
    }

    fn picks(m: &MeshModel, entry: usize, n: usize) -> Vec<Option<String>> {
        (0..n).map(|_| m.pick(entry, 80).flatten().map(|(t, _)| t)).collect()
    }

    // A bind reaches its own node at once and the others after the gossip delay.
    #[test]
    fn gossip_reaches_other_nodes_after_the_delay() {
        let m = mesh();
        m.bind(0, "t1", "web", &[80], 0);
        assert_eq!(picks(&m, 0, 1), vec![Some("t1".into())]);
        m.settle(99, |_, _| false);
        assert!(m.pick(1, 80).is_none(), "not yet at node 1");
        m.settle(100, |_, _| false);
        assert_eq!(picks(&m, 1, 1), vec![Some("t1".into())]);
    }

    // Requests go round robin over a node's backends.
    #[test]
    fn round_robin_over_the_table() {
        let m = mesh();
        m.bind(0, "a", "web", &[80], 0);
        m.bind(0, "b", "web", &[80], 0);
        assert_eq!(picks(&m, 0, 4), vec![Some("a".into()), Some("b".into()), Some("a".into()), Some("b".into())]);
    }

    // A change held back by a cut link arrives after the heal, in order with later ones.
    #[test]
    fn a_cut_link_holds_changes_until_the_heal() {
        let m = mesh();
        m.bind(0, "t1", "web", &[80], 0);
        m.unbind(0, "t1", 50);
        m.settle(500, |a, b| (a, b) == (0, 1));
        assert!(m.pick(1, 80).is_none(), "held back");
        assert_eq!(m.pick(2, 80), Some(None), "node 2 saw the add then the remove");
        m.settle(1_500, |_, _| false);
        assert_eq!(m.pick(1, 80), Some(None), "after the heal: added then removed, in order");
    }

    // A crashed machine's backends stay in other tables until failure detection.
    #[test]
    fn crashed_backends_linger_until_detection() {
        let m = mesh();
        m.bind(0, "t1", "web", &[80], 0);
        m.settle(200, |_, _| false);
        m.crashed(0, 1_000);
        m.settle(3_999, |_, _| false);
        assert_eq!(picks(&m, 1, 1), vec![Some("t1".into())], "stale until detected");
        m.settle(4_000, |_, _| false);
        assert_eq!(m.pick(1, 80), Some(None));
        m.restarted(0, 5_000);
        m.bind(1, "t2", "web", &[80], 5_000);
        m.settle(5_100, |_, _| false);
        assert_eq!(picks(&m, 0, 1), vec![Some("t2".into())], "the restarted node synced");
    }
}

//! Invariant checkers, one file per property. Each says what it guards and records a
//! [`Violation`] the moment the property breaks; the runner fails the run on the first one.
//!
//! They observe nodes through [`shoal_core::node::raft::Observer`] callbacks (made synchronously
//! inside each node's apply path) and through the client oracle, never through the trace.

mod acked_writes;
mod addresses;
mod autoscale;
mod election_safety;
mod log_matching;
mod placement;
pub mod secrets;
pub mod slots;
mod state_machine_safety;
pub mod updates;

pub use acked_writes::AckedWrites;
pub use addresses::Addresses;
pub use autoscale::AutoscaleRules;
pub use election_safety::ElectionSafety;
pub use log_matching::LogMatching;
pub use placement::Placement;
pub use state_machine_safety::StateMachineSafety;

use shoal_core::node::raft::{NodeId, Observer};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The shape every agreement property here shares: the first report for a key (a term, an
/// index) sets what every later report for that key must equal.
pub struct FirstSeen<K, V> {
    first: BTreeMap<K, (V, String)>,
}

impl<K, V> Default for FirstSeen<K, V> {
    fn default() -> Self {
        FirstSeen { first: BTreeMap::new() }
    }
}

impl<K: Ord, V: PartialEq> FirstSeen<K, V> {
    /// Records `node`'s `value` for `key`; on disagreement returns the first value and who
    /// reported it.
    pub fn observe(&mut self, key: K, value: V, node: &str) -> Result<(), (&V, &str)> {
        match self.first.entry(key) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((value, node.to_string()));
                Ok(())
            }
            std::collections::btree_map::Entry::Occupied(e) => {
                let (v, who) = e.into_mut();
                if *v == value {
                    Ok(())
                } else {
                    Err((v, who.as_str()))
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// Virtual seconds.
    pub at: f64,
    pub checker: &'static str,
    pub message: String,
}

#[derive(Default)]
struct Inner {
    election: ElectionSafety,
    sm: StateMachineSafety,
    log: LogMatching,
    acked: AckedWrites,
    placement: Placement,
    addresses: Addresses,
    autoscale: AutoscaleRules,
    violations: Vec<Violation>,
    snapshots_installed: u64,
    /// Every node some committed entry took out of ready and active (down, drained, paused),
    /// however briefly: a node down and back between two polls of the rolling-update
    /// rules still counts as lost there (twin explorer seed 1479).
    nodes_ever_out: std::collections::BTreeSet<String>,
    names: BTreeMap<NodeId, String>,
    /// The run's control-API history (`load control`), in Shoal's history format.
    history: String,
}

/// All checkers of a run behind one lock; the simulated nodes report into it.
#[derive(Default)]
pub struct Checkers {
    inner: Mutex<Inner>,
}

impl Checkers {
    pub fn new(names: BTreeMap<NodeId, String>) -> Checkers {
        Checkers { inner: Mutex::new(Inner { names, ..Default::default() }) }
    }

    /// Nodes any committed entry showed not ready or not active.
    pub fn nodes_ever_out(&self) -> std::collections::BTreeSet<String> {
        self.inner.lock().unwrap().nodes_ever_out.clone()
    }

    pub fn violations(&self) -> Vec<Violation> {
        self.inner.lock().unwrap().violations.clone()
    }

    pub fn violate(&self, checker: &'static str, message: String) {
        let v = Violation { at: crate::trace::now_secs(), checker, message };
        tracing::info!(target: "shoal::check", node = "checker", "VIOLATION {}: {}", v.checker, v.message);
        self.inner.lock().unwrap().violations.push(v);
    }

    /// Keeps the run's control-API history for the report.
    pub fn set_history(&self, edn: String) {
        self.inner.lock().unwrap().history = edn;
    }

    pub fn history(&self) -> String {
        self.inner.lock().unwrap().history.clone()
    }

    /// Member `node`'s storage saved a vote of `term` for `voted_for` (durable).
    pub fn vote_saved(&self, node: NodeId, term: u64, voted_for: Option<u64>) {
        let mut i = self.inner.lock().unwrap();
        let name = Self::name(&i, node);
        let r = i.election.vote_saved(node, &name, term, voted_for);
        drop(i);
        if let Err(m) = r {
            self.violate("election-safety", m);
        }
    }

    /// Records a violation found outside the simulation (a panic that ended it).
    pub fn push_violation(&self, v: Violation) {
        self.inner.lock().unwrap().violations.push(v);
    }

    pub fn snapshots_installed(&self) -> u64 {
        self.inner.lock().unwrap().snapshots_installed
    }

    pub fn with_acked<R>(&self, f: impl FnOnce(&mut AckedWrites) -> R) -> R {
        f(&mut self.inner.lock().unwrap().acked)
    }

    /// Runs the acknowledged-writes check against one replica's store (called when managers
    /// agree, and at the end of a run).
    pub fn check_acked(&self, node: &str, applied: u64, store: &shoal_core::store::Store) {
        let missing = self.inner.lock().unwrap().acked.missing(applied, store);
        if let Some(m) = missing {
            self.violate("acked-writes", format!("{node}: {m}"));
        }
    }

    fn name(inner: &Inner, id: NodeId) -> String {
        inner.names.get(&id).cloned().unwrap_or_else(|| format!("node-{id}"))
    }
}

impl Observer for Checkers {
    fn applied(&self, node: NodeId, index: u64, term: u64, entry_hash: u64, state_hash: u64) {
        let mut i = self.inner.lock().unwrap();
        let name = Self::name(&i, node);
        let mut found = Vec::new();
        if let Err(m) = i.log.applied(&name, index, term, entry_hash) {
            found.push(("log-matching", m));
        }
        if let Err(m) = i.sm.applied(&name, index, state_hash) {
            found.push(("state-machine-safety", m));
        }
        drop(i);
        for (c, m) in found {
            self.violate(c, m);
        }
    }

    fn snapshot_installed(&self, node: NodeId, index: u64, _term: u64, state_hash: u64) {
        let mut i = self.inner.lock().unwrap();
        i.snapshots_installed += 1;
        let name = Self::name(&i, node);
        let r = i.sm.applied(&name, index, state_hash);
        drop(i);
        if let Err(m) = r {
            self.violate("state-machine-safety", m);
        }
    }

    fn committed(&self, _node: NodeId, index: u64, events: &[shoal_core::store::Event], store: &shoal_core::store::Store) {
        let (placed, addressed, autoscaled) = {
            let mut i = self.inner.lock().unwrap();
            // A node that goes out (from ready and active): joining nodes start UNKNOWN and
            // become ready, which is not leaving.
            use shoal_core::model::{NodeAvailability, NodeState, Object};
            let serving = |n: &shoal_core::model::Node| n.status.state == NodeState::Ready && n.spec.availability == NodeAvailability::Active;
            for e in events {
                if let shoal_core::store::Event::Updated { old: Object::Node(old), new: Object::Node(new) } = e {
                    if serving(old) && !serving(new) {
                        i.nodes_ever_out.insert(new.id.clone());
                    }
                }
            }
            (i.placement.committed(index, events, store), i.addresses.committed(index, events, store), i.autoscale.committed(index, events))
        };
        if let Err(m) = placed {
            self.violate("placement", m);
        }
        if let Err(m) = autoscaled {
            self.violate("autoscale", m);
        }
        if let Err(m) = addressed {
            self.violate("addresses", m);
        }
    }

    fn role_changed(&self, node: NodeId, term: u64, _leader: bool) {
        let i = self.inner.lock().unwrap();
        // Raft §5.1: currentTerm and votedFor are persisted before any reply, so a node never
        // comes back at a term below the greatest vote its storage called durable.
        let promised = i.election.durable_term(node);
        // Term 0 is openraft's metrics before the node read its storage (the first report
        // after a start), not a term it acts in.
        if term > 0 && term < promised {
            let name = Self::name(&i, node);
            drop(i);
            self.violate(
                "term-durability",
                format!("{name} is at term {term}, but its storage said a vote of term {promised} was durable: the vote was lost (a restart went back in time)"),
            );
            return;
        }
    }
}

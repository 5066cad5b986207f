//! Election safety, in openraft's terms. Raft (§5.2) allows one leader per term; openraft 0.9
//! by default identifies a leader by (term, node id), totally ordered, and a voter may grant a
//! vote to a greater (term, node id) in the same term — so a term can see several leaders, each
//! superseding the previous (seed 27 of scenarios/raft/chaos.toml shows it; standard-Raft mode,
//! openraft's `single-term-leader` feature, livelocked split votes in our scenarios). The
//! property kept: within a term, leaders only ever appear in increasing node-id order, and one
//! leader id is never elected twice after being superseded. Guards against: vote not persisted
//! before replying, double voting after a crash (a voter going back to a smaller vote lets a
//! smaller leader id win after a greater one).
//!
//! Two sources report leaders: the moment a node saves its own committed vote (the election
//! itself, [`ElectionSafety::elected`]) and its metrics saying Leader ([`ElectionSafety::leader`]),
//! which may come later — a node that won a term and crashed before its metrics said so
//! reports Leader of that term after its restart, possibly after a greater leader id of the
//! same term was elected (explorer seed 3272, crash-after-vote). That report is of an election
//! already seen, not a new one, so only elections not seen before must rise.

use shoal_core::node::raft::NodeId;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct ElectionSafety {
    /// term → (greatest leader node id seen, its name)
    leaders: BTreeMap<u64, (NodeId, String)>,
    /// Every (term, leader id) seen elected.
    seen: BTreeSet<(u64, NodeId)>,
}

impl ElectionSafety {
    /// `node` saved its own committed vote of `term`: it won the election of `term`.
    pub fn elected(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        self.observe(node, name, term)
    }

    /// `node`'s metrics report it leads `term` (a win seen before, or one seen only now).
    pub fn leader(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        if self.seen.contains(&(term, node)) {
            return Ok(());
        }
        self.observe(node, name, term)
    }

    fn observe(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        match self.leaders.get(&term) {
            Some((max, first)) if node < *max => Err(format!(
                "leader {name} (node {node}) elected in term {term} after leader {first} (node {max}): \
                 leader ids went backwards, so some voter went back on its vote"
            )),
            _ => {
                self.seen.insert((term, node));
                if self.leaders.get(&term).is_none_or(|(max, _)| node > *max) {
                    self.leaders.insert(term, (node, name.to_string()));
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaders_of_a_term_may_only_rise_in_node_id() {
        let mut e = ElectionSafety::default();
        e.leader(1, "m1", 3).unwrap();
        e.leader(1, "m1", 3).unwrap();
        e.leader(3, "m3", 3).unwrap();
        e.leader(2, "m2", 4).unwrap();
        assert!(e.leader(2, "m2", 3).unwrap_err().contains("went backwards"));
    }

    #[test]
    fn a_late_report_of_an_earlier_win_is_not_a_new_election() {
        // m3 wins term 6 and crashes before its metrics say so; m4 wins term 6 after it; m3
        // restarts and reports Leader of term 6 from its saved vote (explorer seed 3272).
        let mut e = ElectionSafety::default();
        e.elected(3, "m3", 6).unwrap();
        e.elected(4, "m4", 6).unwrap();
        e.leader(4, "m4", 6).unwrap();
        e.leader(3, "m3", 6).unwrap();
        // But a win of a smaller id after a greater one is still caught, from either source.
        assert!(e.elected(2, "m2", 6).unwrap_err().contains("went backwards"));
        assert!(e.leader(1, "m1", 6).unwrap_err().contains("went backwards"));
    }
}

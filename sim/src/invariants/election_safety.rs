//! Election safety, in openraft's terms. Raft (§5.2) allows one leader per term; openraft 0.9
//! by default identifies a leader by (term, node id), totally ordered, and a voter may grant a
//! vote to a greater (term, node id) in the same term — so a term can see several leaders, each
//! superseding the previous (seed 27 of scenarios/raft/chaos.toml shows it; standard-Raft mode,
//! openraft's `single-term-leader` feature, livelocked split votes in our scenarios). The
//! property kept: within a term, leaders only ever appear in increasing node-id order, and one
//! leader id is never elected twice after being superseded. Guards against: vote not persisted
//! before replying, double voting after a crash (a voter going back to a smaller vote lets a
//! smaller leader id win after a greater one).

use shoal_core::node::raft::NodeId;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct ElectionSafety {
    /// term → (greatest leader node id seen, its name)
    leaders: BTreeMap<u64, (NodeId, String)>,
}

impl ElectionSafety {
    /// `node` reports it leads `term`.
    pub fn leader(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        match self.leaders.get(&term) {
            Some((max, first)) if node < *max => Err(format!(
                "leader {name} (node {node}) elected in term {term} after leader {first} (node {max}): \
                 leader ids went backwards, so some voter went back on its vote"
            )),
            _ => {
                self.leaders.insert(term, (node, name.to_string()));
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
}

//! Election safety (Raft §5.2, Figure 3): at most one leader can be elected in a given term.
//! Guards against: vote not persisted before replying, double voting after a crash, split
//! votes counted twice.

use super::FirstSeen;
use shoal_core::node::raft::NodeId;

#[derive(Default)]
pub struct ElectionSafety {
    /// term → the node that led it
    leaders: FirstSeen<u64, NodeId>,
}

impl ElectionSafety {
    /// `node` reports it leads `term`.
    pub fn leader(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        self.leaders
            .observe(term, node, name)
            .map_err(|(_, first)| format!("two leaders in term {term}: {first} and {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_leader_in_a_term_is_a_violation() {
        let mut e = ElectionSafety::default();
        e.leader(1, "m1", 3).unwrap();
        e.leader(1, "m1", 3).unwrap();
        e.leader(2, "m2", 4).unwrap();
        assert!(e.leader(2, "m2", 3).unwrap_err().contains("two leaders in term 3"));
    }
}

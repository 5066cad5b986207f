//! Election safety (Raft §5.2, Figure 3): at most one leader can be elected in a given term.
//! Guards against: vote not persisted before replying, double voting after a crash, split
//! votes counted twice.

use shoal_core::node::raft::NodeId;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct ElectionSafety {
    leaders: BTreeMap<u64, (NodeId, String)>,
}

impl ElectionSafety {
    /// `node` reports it leads `term`.
    pub fn leader(&mut self, node: NodeId, name: &str, term: u64) -> Result<(), String> {
        match self.leaders.get(&term) {
            Some((other, other_name)) if *other != node => {
                Err(format!("two leaders in term {term}: {other_name} and {name}"))
            }
            Some(_) => Ok(()),
            None => {
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
    fn second_leader_in_a_term_is_a_violation() {
        let mut e = ElectionSafety::default();
        e.leader(1, "m1", 3).unwrap();
        e.leader(1, "m1", 3).unwrap();
        e.leader(2, "m2", 4).unwrap();
        assert!(e.leader(2, "m2", 3).unwrap_err().contains("two leaders in term 3"));
    }
}

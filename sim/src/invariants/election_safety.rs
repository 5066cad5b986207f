//! Election safety, in openraft's terms. Raft (§5.2) allows one leader per term because each
//! server votes at most once per term. openraft 0.9 identifies a leader by (term, node id),
//! totally ordered, and a voter may grant a vote to a greater (term, node id) of the same term,
//! so a term can see several leaders, each superseding the previous (seed 27 of
//! scenarios/raft/chaos.toml shows it; standard-Raft mode, openraft's `single-term-leader`
//! feature, livelocked split votes in our scenarios). What makes that safe is the voter's side:
//! **the votes a server saves never go back** — neither to an earlier term nor, within a
//! term, to a smaller leader id — across restarts too. Two leaders' quorums share a voter, and
//! that voter granted the smaller one first, so the smaller leader is superseded, never the
//! other way round.
//!
//! Checked on every vote a node's storage saves (the `VoteSaved` crash point: the vote is
//! durable and openraft has been told so). Guards against: a vote not persisted before the
//! reply, double voting after a crash (a voter back at a smaller vote lets a smaller leader
//! id win after a greater one).
//!
//! Not checked on leaders' reports: the order in which leaders of one term come to lead
//! follows when their vote answers arrive, not the order of the grants (explorer seed 1424:
//! (8,2) granted first, (8,3) established first), and a restarted node reports Leader of a
//! term it won before its crash after a greater leader of that term (seed 3272).

use shoal_core::node::raft::NodeId;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct ElectionSafety {
    /// member id → the greatest vote (term, leader id) its storage saved.
    votes: BTreeMap<NodeId, (u64, u64)>,
}

impl ElectionSafety {
    /// The term of the greatest vote `node`'s storage saved (0: none): the term-durability
    /// checker holds the node to it across restarts.
    pub fn durable_term(&self, node: NodeId) -> u64 {
        self.votes.get(&node).map(|v| v.0).unwrap_or(0)
    }

    /// `node`'s storage saved a vote of `term` for `voted_for`.
    pub fn vote_saved(&mut self, node: NodeId, name: &str, term: u64, voted_for: Option<u64>) -> Result<(), String> {
        let vote = (term, voted_for.unwrap_or(0));
        match self.votes.get(&node) {
            Some(before) if vote < *before => Err(format!(
                "{name} saved a vote for node {} in term {term} after its vote for node {} in term {}: \
                 a voter went back on its vote (lost across a restart?)",
                vote.1, before.1, before.0
            )),
            _ => {
                self.votes.insert(node, vote);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Raft §5.2: a server votes at most once per term; in openraft's ordering, its votes only
    // ever rise in (term, leader id).
    #[test]
    fn a_voter_never_goes_back_on_its_vote() {
        let mut e = ElectionSafety::default();
        e.vote_saved(1, "m1", 3, Some(2)).unwrap();
        e.vote_saved(1, "m1", 3, Some(2)).unwrap();
        // A greater leader id of the same term, then a later term: allowed.
        e.vote_saved(1, "m1", 3, Some(3)).unwrap();
        e.vote_saved(1, "m1", 4, Some(1)).unwrap();
        // Back to a smaller leader id of term 4, or to term 3: a lost vote.
        assert!(e.vote_saved(1, "m1", 4, Some(0)).unwrap_err().contains("went back on its vote"));
        assert!(e.vote_saved(1, "m1", 3, Some(3)).unwrap_err().contains("went back on its vote"));
        // Each voter on its own.
        e.vote_saved(2, "m2", 1, Some(1)).unwrap();
    }
}

//! Raft membership on the leader (shell): a manager added (a learner first, a voter once it
//! caught up) or removed (refused when the swarm would lose its quorum or its last manager).
//! Inputs: `node promote|demote`, joins with a manager token. Output: committed membership
//! changes, or the request forwarded to the leader.

use super::*;

impl Manager {
    /// Adds (`add = true`) or removes a voter. Adding first syncs the node as a learner.
    pub async fn change_manager(&self, id: NodeId, addr: &str, add: bool, hops: u32) -> Result<u64, RequestError> {
        if !add && self.is_leader() {
            self.check_demote(id)?;
        }
        let work = async {
            if add {
                let added = self.raft.add_learner(id, BasicNode { addr: addr.to_string() }, false).await?;
                self.learner_caught_up(id, added.log_id.index).await;
                self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false).await
            } else {
                self.raft.change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false).await
            }
        };
        let leader = match tokio::time::timeout(REQUEST_TIMEOUT, work).await {
            Err(_) => return Err(RequestError::Timeout(REQUEST_TIMEOUT)),
            Ok(Ok(resp)) => return Ok(resp.log_id.index),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                self.forward_target(f.leader_node, hops)?
            }
            // A change still under way (an earlier attempt whose answer was lost) passes:
            // try again once it committed. The others are the request's fault.
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e @ openraft::error::ChangeMembershipError::InProgress(_))))) => {
                return Err(RequestError::Unavailable(e.to_string()))
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e)))) => {
                return Err(RequestError::Invalid(e.to_string()))
            }
            Ok(Err(e)) => return Err(RequestError::Unavailable(e.to_string())),
        };
        let mut c = self.peer(&leader)?;
        let req = MembershipRequest { node_id: id, addr: addr.to_string(), hops: hops + 1 };
        let resp = if add {
            self.forwarded(&leader, c.add_manager(req)).await?
        } else {
            self.forwarded(&leader, c.remove_manager(req)).await?
        };
        Ok(resp.index)
    }

    /// Returns once learner `id` (added at log index `added`) holds the leader's log but for
    /// at most [`raft::LEARNER_CAUGHT_UP_ENTRIES`], or once this node no longer leads (the
    /// membership change then says so); never otherwise: the caller's deadline ends a learner
    /// that cannot catch up, before it became a voter the quorum would wait for. openraft's
    /// own blocking `add_learner` counts 5,000 entries as caught up and waits on its metrics
    /// watch, which is not deterministic under madsim; this polls on the (virtual) clock.
    async fn learner_caught_up(&self, id: NodeId, added: u64) {
        const POLL: Duration = Duration::from_millis(20);
        loop {
            let caught_up = {
                let m = self.raft.metrics().borrow().clone();
                match &m.replication {
                    None => true,
                    Some(r) => {
                        let matched = r.get(&id).cloned().flatten().map_or(0, |l| l.index);
                        let last = m.last_log_index.unwrap_or(0);
                        m.membership_config.log_id().as_ref().map_or(0, |l| l.index) >= added
                            && matched >= added
                            && last.saturating_sub(matched) <= raft::LEARNER_CAUGHT_UP_ENTRIES
                    }
                }
            };
            if caught_up {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Refuses a demotion that would leave no manager or lose quorum (swarm refuses both),
    /// judged on the leader: a manager counts as reachable as `node ls` shows it
    /// ([`raft::network::unreachable_peers`]).
    fn check_demote(&self, id: NodeId) -> Result<(), RequestError> {
        let m = self.raft.metrics().borrow().clone();
        let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        if !voters.contains(&id) {
            return Err(RequestError::Invalid(format!("node {id} is not a manager: nothing to demote")));
        }
        if voters.len() == 1 {
            return Err(RequestError::Invalid(
                "cannot demote the last manager of the swarm: promote another node first".into(),
            ));
        }
        let remaining: Vec<NodeId> = voters.iter().copied().filter(|v| *v != id).collect();
        let now = tokio::time::Instant::now();
        let (unreachable, _) = raft::network::unreachable_peers(&self.health, remaining.iter().copied(), self.id, now);
        let reachable = remaining.len() - unreachable.len();
        if reachable < crate::control::quorum(remaining.len()) {
            return Err(RequestError::Invalid(format!(
                "demoting node {id} would leave {reachable} of {} managers reachable: the swarm would lose quorum; \
                 bring the unreachable managers back first",
                remaining.len()
            )));
        }
        Ok(())
    }
}

//! The `Local` gRPC service (shell): what the CLI on a machine asks its own daemon:
//! `swarm leave [--force]`, and `swarm unlock` (which only a locked node, served by its
//! runtime before the manager starts, accepts).
//!
//! The shell asks the pure rule ([`leave_refusal`]) whether the node may leave (a manager
//! only with `--force`, as docker refuses it with the same explanation) and hands the leave to the runtime, which owns what
//! leaving means on its machine (stop the node's containers, forget the swarm state, stop the
//! daemon) and answers when it is done. A runtime that registered no handler (the simulator,
//! which leaves through its cluster model) answers that the node cannot leave from here.
//!
//! Invariants: nothing is touched before the refusal check passed; at most one leave is
//! handed over at a time (a bounded queue of one).

use super::Manager;
use crate::control::leave_refusal;
use crate::proto::{local_server, LeaveRequest, LeaveResponse, UnlockRequest, UnlockResponse};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

/// A leave handed to the runtime: it answers on the sender once it left (or why not).
pub type LeaveReply = oneshot::Sender<Result<(), String>>;

impl Manager {
    /// The runtime's end of `swarm leave`: each request arrives with the sender to answer on.
    pub fn on_leave(&self) -> mpsc::Receiver<LeaveReply> {
        let (tx, rx) = mpsc::channel(1);
        *self.leave_requests.lock().unwrap() = Some(tx);
        rx
    }

    /// `swarm leave [--force]` on this node, from its own CLI (`Local.Leave`) or the Engine
    /// API (`POST /swarm/leave`): the refusal check, then the hand-over to the runtime's
    /// handler; answers once the node left.
    pub async fn leave_swarm(&self, force: bool) -> Result<(), Status> {
        let (voter, voters) = {
            let m = self.state.membership();
            let voters: Vec<u64> = m.membership().voter_ids().collect();
            (voters.contains(&self.id), voters.len())
        };
        if let Some(msg) = leave_refusal(voter, voters, force) {
            return Err(Status::failed_precondition(msg));
        }
        let tx = self.leave_requests.lock().unwrap().clone();
        let tx = tx.ok_or_else(|| Status::unimplemented("this node cannot leave through its API: stop its daemon instead"))?;
        let (reply, answer) = oneshot::channel();
        tx.try_send(reply).map_err(|_| Status::unavailable("this node is already leaving the swarm"))?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Status::internal(format!("leaving the swarm failed: {e}"))),
            Err(_) => Err(Status::internal("the daemon stopped before it finished leaving")),
        }
    }
}

pub struct LocalService {
    pub node: Arc<Manager>,
}

#[tonic::async_trait]
impl local_server::Local for LocalService {
    async fn leave(&self, request: Request<LeaveRequest>) -> Result<Response<LeaveResponse>, Status> {
        self.node.leave_swarm(request.into_inner().force).await.map(|()| Response::new(LeaveResponse {}))
    }

    /// A running node is not locked (a locked one serves its own `Local`, in the runtime).
    async fn unlock(&self, _request: Request<UnlockRequest>) -> Result<Response<UnlockResponse>, Status> {
        Err(Status::failed_precondition(NOT_LOCKED))
    }
}

/// dockerd's answer to `swarm unlock` on a node that is not locked.
pub const NOT_LOCKED: &str = "swarm is not locked";

#[cfg(test)]
mod tests {
    use super::*;

    // Docker refuses `swarm leave` on a manager without --force, and says what the swarm
    // would lose; a worker, or --force, may always leave.
    #[test]
    fn a_manager_leaves_only_with_force() {
        assert_eq!(leave_refusal(false, 3, false), None);
        assert_eq!(leave_refusal(true, 3, true), None);
        assert!(leave_refusal(true, 1, false).unwrap().contains("Removing the last manager erases all current state"));
        let two = leave_refusal(true, 2, false).unwrap();
        assert!(two.contains("leaves 1 managers out of 2") && two.contains("Demote it first"), "{two}");
        let three = leave_refusal(true, 3, false).unwrap();
        assert!(!three.contains("quorum") && three.contains("Demote it first"), "{three}");
    }
}

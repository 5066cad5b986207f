//! A machine's membership in the simulated swarm, as an operator changes it: `swarm join`
//! (powering on a `node add` machine), `swarm leave [--force]` (its swarm state deleted, a new
//! raft member id for a later join) and `swarm init --force-new-cluster` (its raft state
//! rewritten as a one-manager swarm).

use super::{Cluster, IdentityState};
use crate::trace::now_ms;
use madsim::runtime::Handle;

impl Cluster {
    /// Asks machine `i` to join with `token` (powering on a `node add` machine first). The
    /// outcome shows in its identity's join result.
    pub fn join(&mut self, i: usize, token: String) -> Result<(), String> {
        let n = &self.nodes[i];
        if n.identity.node_id().is_some() {
            return Err(format!("node {} is already part of a swarm: `swarm leave` it first", n.name));
        }
        let managers = self.manager_addrs();
        self.nodes[i].identity.request_join(token, managers);
        if !self.nodes[i].joined.swap(true, std::sync::atomic::Ordering::SeqCst) {
            Handle::current().restart(self.nodes[i].sim_id());
            self.set_up(i, true);
            tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, "machine powered on");
        } else if !self.nodes[i].up {
            return Err(format!("node {} is down: restart it before it can join", self.nodes[i].name));
        }
        Ok(())
    }

    /// `swarm leave [--force]` on machine `i`: refused for a manager without `--force` (as
    /// docker refuses it); otherwise the machine stops its containers, deletes its swarm state
    /// and comes back as a machine outside the swarm (a new raft member id for a later join).
    /// The swarm keeps the node, DOWN once its heartbeats stop, until `node rm`.
    pub fn leave(&mut self, i: usize, force: bool) -> Result<(), String> {
        let name = self.nodes[i].name.clone();
        if !self.nodes[i].up {
            return Err(format!("node {name} is down: restart it before it can leave"));
        }
        if self.nodes[i].identity.node_id().is_none() {
            return Err(format!("node {name} is not part of a swarm"));
        }
        let voters = self.voters();
        if let Some(msg) = shoal_core::control::leave_refusal(voters.contains(&self.nodes[i].raft_id), voters.len(), force) {
            return Err(msg);
        }
        let last_crashed = self.last_crashed;
        self.crash(i);
        self.last_crashed = last_crashed;
        self.nodes[i].disk.wipe();
        // Its certificates go with its swarm state, as production's leave deletes them.
        if let Some(p) = &self.pki {
            p.forget(super::ip_of(i));
        }
        let raft_id = self.nodes[i].raft_id + (1 << 32);
        // A new member from now on: its votes are that member's, not the old one's (the
        // old member may have voted in the term the new one first votes in: force-new-cluster
        // seed 140).
        self.nodes[i].disk.report_terms_to(self.checkers.clone(), raft_id);
        {
            let mut st = self.nodes[i].identity.inner.lock().unwrap();
            *st = IdentityState { raft_id, last_node_id: st.node_id.take(), ..Default::default() };
        }
        self.nodes[i].raft_id = raft_id;
        Handle::current().restart(self.nodes[i].sim_id());
        self.set_up(i, true);
        self.mesh.restarted(i, now_ms());
        tracing::info!(target: "shoal::fault", node = %name, raft_id, "left the swarm");
        Ok(())
    }

    /// `swarm init --force-new-cluster` on machine `i`: its process stops (a crash: what it had
    /// not synced is lost, as with a stopped daemon), its raft state becomes a one-manager
    /// swarm of everything its disk holds (core/src/node/raft/seed.rs), and it starts again.
    pub fn force_new_cluster(&mut self, i: usize) -> Result<(), String> {
        if !self.voters().contains(&self.nodes[i].raft_id) {
            return Err(format!("{} is not a manager: only a manager holds the swarm's state", self.nodes[i].name));
        }
        self.crash(i);
        let (raft_id, addr) = (self.nodes[i].raft_id, self.nodes[i].addr.clone());
        let disk = self.nodes[i].opener.open().map_err(|e| format!("{}: force-new-cluster: {e}", self.nodes[i].name))?;
        let index = shoal_core::node::raft::force_new_cluster(disk, raft_id, &addr)
            .map_err(|e| format!("{}: force-new-cluster: {e}", self.nodes[i].name))?;
        tracing::info!(target: "shoal::fault", node = %self.nodes[i].name, index, "force-new-cluster: a one-manager swarm from its own state");
        self.restart(i);
        Ok(())
    }
}

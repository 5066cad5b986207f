//! Rebalance: starts moving a service's tasks toward the spread the scheduler would choose
//! now. Input: an [`Overlay`] pass (the leader's, or a `service rebalance` write's over the
//! committed store), the services to look at, `now`. Output: those services with the tasks to
//! move in [`Service::rebalancing`] (chosen by core/src/scheduler/rebalance.rs); the update
//! controller (update.rs) then replaces them under each service's update config.
//!
//! [`auto`] is the leader's part: in a pass where nodes registered (joined, came back, or
//! moved their session to a new leader), services with `--rebalance auto` start one when it
//! would improve their spread.
//!
//! Invariant: a service being updated, rolled back or paused, or already rebalancing, is left
//! alone ([`busy`]); a balanced service is not touched.

use crate::model::{Object, RebalanceMode, SchedulerStrategy, Service, UpdateState};
use crate::store::Overlay;

/// An update, rollback or rebalance of the service is under way or paused.
pub fn busy(s: &Service) -> bool {
    !s.rebalancing.is_empty()
        || s.update_status.as_ref().is_some_and(|u| {
            matches!(u.state, UpdateState::Updating | UpdateState::RollbackStarted | UpdateState::Paused | UpdateState::RollbackPaused)
        })
}

/// Starts a rebalance of each of `services` that is not [`busy`] and has tasks to move.
pub fn start(o: &mut Overlay, services: &[Service], now_ms: u64, strategy: SchedulerStrategy) {
    let next: Vec<Service> = {
        let nodes = o.nodes();
        let tasks = o.tasks();
        let by_id = super::services_by_id(o);
        services
            .iter()
            .filter(|s| !busy(s))
            .filter_map(|s| {
                let moves = crate::scheduler::rebalance::moves(&nodes, &tasks, s, &by_id, now_ms, strategy);
                (!moves.is_empty()).then(|| Service {
                    rebalancing: moves,
                    // The update controller starts it (its status says "rebalance in progress").
                    update_status: None,
                    ..s.clone()
                })
            })
            .collect()
    };
    for s in next {
        o.put(Object::Service(s));
    }
}

/// `--rebalance auto`: call in a pass where nodes registered.
pub fn auto(o: &mut Overlay, now_ms: u64, strategy: SchedulerStrategy) {
    let auto: Vec<Service> = o.services().into_iter().filter(|s| s.spec.rebalance == RebalanceMode::Auto).cloned().collect();
    if !auto.is_empty() {
        start(o, &auto, now_ms, strategy);
    }
}

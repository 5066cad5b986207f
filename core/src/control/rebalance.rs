//! `service rebalance NAME…|--all`: the running tasks the scheduler would place elsewhere now
//! are marked to move ([`Service::rebalancing`], chosen by core/src/scheduler/rebalance.rs);
//! the update controller then replaces them under the service's update config, as it replaces
//! tasks of an older spec. A balanced service is left as it is; the leader does the same by
//! itself for services with `--rebalance auto` when a node joins or comes back
//! ([`auto`]).

use super::{find_service, ControlError};
use crate::model::{Kind, Object, SchedulerStrategy, Service, ServiceMode, UpdateState};
use crate::store::{Action, Overlay, Store};
use std::collections::BTreeMap;
use ControlError::*;

/// The actions of `service rebalance` over `keys` (or every replicated service with `all`).
pub fn rebalance_services(store: &Store, keys: &[String], all: bool) -> Result<Vec<Action>, ControlError> {
    let services: Vec<&Service> = if all {
        store.list_services().filter(|s| matches!(s.spec.mode, ServiceMode::Replicated { .. })).collect()
    } else {
        if keys.is_empty() {
            return Err(InvalidArgument("service rebalance: name a service, or give --all".into()));
        }
        keys.iter().map(|k| find_service(store, k)).collect::<Result<_, _>>()?
    };
    for s in &services {
        let name = &s.spec.annotations.name;
        if !matches!(s.spec.mode, ServiceMode::Replicated { .. }) {
            return Err(FailedPrecondition(format!(
                "service {name} is not a replicated service: only those rebalance (a global service runs one task per node, a job's tasks finish)"
            )));
        }
        let state = s.update_status.as_ref().map(|u| u.state);
        if matches!(state, Some(UpdateState::Updating | UpdateState::RollbackStarted)) && s.rebalancing.is_empty() && !all {
            return Err(FailedPrecondition(format!("service {name} is being updated: rebalance it once the update completed")));
        }
        if matches!(state, Some(UpdateState::Paused | UpdateState::RollbackPaused)) && !all {
            return Err(FailedPrecondition(format!(
                "service {name}'s update is paused: resume it (`service update {name}`) or roll it back before a rebalance"
            )));
        }
    }
    let nodes: Vec<&crate::model::Node> = store.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect();
    let tasks: Vec<&crate::model::Task> = store.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).collect();
    let by_id: BTreeMap<String, &Service> = store.list_services().map(|s| (s.id.clone(), s)).collect();
    // The scheduler dates recent failures by `now`: the store's latest time stands in for the
    // clock a control write does not read.
    let now_ms = crate::plan::snapshot::latest_time_ms(store);
    let strategy = crate::leader::cluster_spec(store).orchestration.scheduler_strategy;
    let mut out = Vec::new();
    for s in services {
        let busy = s.update_status.as_ref().is_some_and(|u| {
            matches!(u.state, UpdateState::Updating | UpdateState::RollbackStarted | UpdateState::Paused | UpdateState::RollbackPaused)
        });
        if busy {
            continue;
        }
        if let Some(next) = with_moves(s, crate::scheduler::rebalance::moves(&nodes, &tasks, s, &by_id, now_ms, strategy)) {
            out.push(Action::Update { object: Object::Service(next), expected_version: s.meta.version });
        }
    }
    Ok(out)
}

/// The service moving `moves`, or None when nothing moves.
fn with_moves(s: &Service, moves: Vec<String>) -> Option<Service> {
    if moves.is_empty() {
        return None;
    }
    let mut next = s.clone();
    next.rebalancing = moves;
    // The update controller starts it (its status says "rebalance in progress").
    next.update_status = None;
    Some(next)
}

/// `--rebalance auto`, in a leader pass where nodes registered (joined, came back, or moved
/// to a new leader): each such service that is not being updated starts a rebalance when
/// one would improve its spread.
pub fn auto(o: &mut Overlay, now_ms: u64, strategy: SchedulerStrategy) {
    let candidates: Vec<Service> = o
        .services()
        .into_iter()
        .filter(|s| s.spec.rebalance == crate::model::RebalanceMode::Auto && s.rebalancing.is_empty())
        .filter(|s| !s.update_status.as_ref().is_some_and(|u| matches!(u.state, UpdateState::Updating | UpdateState::RollbackStarted | UpdateState::Paused | UpdateState::RollbackPaused)))
        .cloned()
        .collect();
    if candidates.is_empty() {
        return;
    }
    let next: Vec<Service> = {
        let nodes = o.nodes();
        let tasks = o.tasks();
        let services = crate::orchestrator::services_by_id(o);
        candidates.iter().filter_map(|s| with_moves(s, crate::scheduler::rebalance::moves(&nodes, &tasks, s, &services, now_ms, strategy))).collect()
    };
    for s in next {
        o.put(Object::Service(s));
    }
}

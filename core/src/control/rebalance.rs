//! `service rebalance NAME…|--all`: which services the request names and whether each may
//! rebalance now; the tasks to move are the orchestrator's choice
//! (core/src/orchestrator/rebalance.rs), the same as the leader's for `--rebalance auto`.

use super::{find_service, ControlError};
use crate::model::{Service, ServiceMode, UpdateState};
use crate::orchestrator::rebalance;
use crate::store::{Action, Overlay, Store};
use ControlError::*;

/// The actions of `service rebalance` over `keys` (or every replicated service not busy,
/// with `all`). Nothing to move leaves a service as it is.
pub fn rebalance_services(store: &Store, keys: &[String], all: bool) -> Result<Vec<Action>, ControlError> {
    let services: Vec<Service> = if all {
        store.list_services().filter(|s| matches!(s.spec.mode, ServiceMode::Replicated { .. })).cloned().collect()
    } else {
        if keys.is_empty() {
            return Err(InvalidArgument("service rebalance: name a service, or give --all".into()));
        }
        let named = keys.iter().map(|k| find_service(store, k).cloned()).collect::<Result<Vec<_>, _>>()?;
        for s in &named {
            refusal(s)?;
        }
        named
    };
    // The scheduler dates recent failures by `now`: the store's latest time stands in for the
    // clock a control write does not read.
    let now_ms = crate::plan::snapshot::latest_time_ms(store);
    let mut o = Overlay::new(store);
    rebalance::start(&mut o, &services, now_ms, crate::leader::cluster_spec(store).orchestration.scheduler_strategy);
    Ok(o.into_actions())
}

/// Why a named service cannot rebalance now (`--all` skips such services instead).
fn refusal(s: &Service) -> Result<(), ControlError> {
    let name = &s.spec.annotations.name;
    if !matches!(s.spec.mode, ServiceMode::Replicated { .. }) {
        return Err(FailedPrecondition(format!(
            "service {name} is not a replicated service: only those rebalance (a global service runs one task per node, a job's tasks finish)"
        )));
    }
    match s.update_status.as_ref().map(|u| u.state) {
        Some(UpdateState::Paused | UpdateState::RollbackPaused) => Err(FailedPrecondition(format!(
            "service {name}'s update is paused: resume it (`service update {name}`) or roll it back before a rebalance"
        ))),
        Some(UpdateState::Updating | UpdateState::RollbackStarted) if s.rebalancing.is_empty() => {
            Err(FailedPrecondition(format!("service {name} is being updated: rebalance it once the update completed")))
        }
        _ => Ok(()),
    }
}

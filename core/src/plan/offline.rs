//! Plans of a command against a store held here (a `shoal snapshot` file) rather than a live
//! swarm: the CLI's [`DryRun`] machine driven by a local responder — the reads a dry run makes
//! answered from the store, each write's actions made by [`control::write_actions`] and
//! planned — so a change can be planned on a copy of a live swarm, away from it, with the
//! same code the leader would run. The plan's clock starts at the store's last write.

use super::Plan;
use crate::cli::{is_read, CallError, CallFailure, ControlCommand, DryRun};
use crate::control::{self, ControlError};
use crate::model::Object;
use crate::orchestrator::IdGen;
use crate::proto::{control_request::Op, ControlReply};
use crate::store::Store;

/// The most requests one command's dry run makes here (a service update reads, then writes,
/// and re-reads at most a few times).
const REQUESTS_MAX: usize = 1_000;

/// Each write's plan of `cmd` over `store` (what it is of, the plan); Err says why not.
pub fn plan_command(store: &Store, cmd: &ControlCommand, seed: u64) -> Result<Vec<(String, Plan)>, String> {
    let now_ms = super::snapshot::latest_time_ms(store);
    let mut m = DryRun::new(cmd)?;
    let mut ids = IdGen::new(seed);
    for _ in 0..REQUESTS_MAX {
        let Some(op) = m.poll_request() else { break };
        let reply = answer(store, op, &mut ids, now_ms, seed);
        m.handle_reply(reply);
    }
    m.outcome().unwrap_or_else(|| Err("the dry run did not end".into())).map(<[_]>::to_vec)
}

fn answer(store: &Store, op: Op, ids: &mut IdGen, now_ms: u64, seed: u64) -> Result<ControlReply, CallError> {
    let objects = |o: Object| ControlReply { objects: serde_json::to_vec(&vec![o]).expect("objects serialise"), ..Default::default() };
    match op {
        Op::GetService(k) => control::find_service(store, &k.key).map(|s| objects(Object::Service(s.clone()))).map_err(CallError::from),
        Op::GetNetwork(k) => control::find_network(store, &k.key).map(|n| objects(Object::Network(n.clone()))).map_err(CallError::from),
        op if is_read(&op) => Err(CallError::other(format!("a plan from a snapshot answers a dry run's reads only, not {op:?}"))),
        write => {
            let (actions, _) = control::write_actions(store, &write, ids, seed)?.ok_or_else(|| CallError::other("not a write"))?;
            let p = super::plan(store, actions, now_ms, seed).map_err(|e| CallError::other(e.to_string()))?;
            Ok(ControlReply { plan: Some(p.into()), ..Default::default() })
        }
    }
}

impl From<ControlError> for CallError {
    fn from(e: ControlError) -> CallError {
        let kind = match e {
            ControlError::NotFound(_) => CallFailure::NotFound,
            ControlError::AlreadyExists(_) => CallFailure::AlreadyExists,
            ControlError::OutOfSequence(_) => CallFailure::Raced,
            ControlError::InvalidArgument(_) | ControlError::FailedPrecondition(_) => CallFailure::Other,
        };
        CallError { kind, message: e.to_string() }
    }
}

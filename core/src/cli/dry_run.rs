//! `--dry-run`: the flags, the plan requests of the writes that can be planned, and
//! [`DryRun`], the machine both shells (the `shoal` CLI, the simulator's steps) drive to get
//! them planned. `service update` is planned through [`super::ServiceUpdater`], whose write is
//! the update's request; `stack deploy` through the stack deployer's dry run
//! (`crate::stack::deploy::Deployer::dry_run`), which plans all its writes as one.
//!
//! A write is always sent for planning inside a `PlanWrites` request ([`dry_run_request`]),
//! never as the write itself with `dry_run` set: a manager that predates plans does not know
//! the flag and would make the write, but it refuses an operation it does not know.

use super::{CallError, ControlCommand, NodeCommand, ServiceCommand};
use crate::plan::Plan;
use crate::proto::{self, control_request::Op, ControlReply, ControlRequest};
use std::collections::VecDeque;

/// Whether `op` only reads. Every operation is listed (no wildcard), so a new one must be
/// classified here and in the control service's `write_actions`.
pub fn is_read(op: &Op) -> bool {
    match op {
        Op::GetSecret(_)
        | Op::GetConfig(_)
        | Op::ListSecrets(_)
        | Op::ListConfigs(_)
        | Op::GetNetwork(_)
        | Op::ListNetworks(_)
        | Op::GetService(_)
        | Op::GetNode(_)
        | Op::GetTask(_)
        | Op::ReadTables(_)
        | Op::ListServices(_)
        | Op::ListNodes(_)
        | Op::GetCluster(_)
        | Op::ListTasks(_) => true,
        Op::CreateService(_)
        | Op::UpdateService(_)
        | Op::ScaleService(_)
        | Op::RemoveService(_)
        | Op::RollbackService(_)
        | Op::RebalanceService(_)
        | Op::UpdateNode(_)
        | Op::RotateJoinToken(_)
        | Op::RemoveNode(_)
        | Op::UpdateCluster(_)
        | Op::CreateSecret(_)
        | Op::CreateConfig(_)
        | Op::RemoveSecret(_)
        | Op::RemoveConfig(_)
        | Op::UpdateSecret(_)
        | Op::UpdateConfig(_)
        | Op::CreateNetwork(_)
        | Op::RemoveNetwork(_)
        | Op::PlanWrites(_) => false,
    }
}

/// The request a dry run sends for `op`: a read as it is; a write wrapped in a one-write
/// `PlanWrites` with `dry_run` set (see the module doc); a `PlanWrites` with `dry_run` set.
pub fn dry_run_request(op: Op) -> ControlRequest {
    if is_read(&op) {
        return ControlRequest { hops: 0, op: Some(op), dry_run: false };
    }
    let op = match op {
        Op::PlanWrites(p) => Op::PlanWrites(p),
        write => Op::PlanWrites(proto::PlanWrites { writes: vec![ControlRequest { hops: 0, op: Some(write), dry_run: false }] }),
    };
    ControlRequest { hops: 0, op: Some(op), dry_run: true }
}

/// What a dry run says when a manager answered without a plan.
const NO_PLAN: &str = "the manager answered the dry run without a plan: it predates plans; upgrade it";

/// What the manager answered a planning request with: its plan, or the error a manager that
/// predates plans gives.
pub fn plan_of(reply: ControlReply) -> Result<Plan, String> {
    reply.plan.map(Plan::from).ok_or_else(|| NO_PLAN.into())
}

/// `--dry-run` of `service create|update|scale|rm|rollback` and `node update` as a machine
/// over control requests (`stack deploy --dry-run` is the stack deployer's): each write's
/// plan, in the order of the command's writes.
#[derive(Debug)]
pub struct DryRun {
    state: State,
    plans: Vec<(String, Plan)>,
    outcome: Option<Result<(), String>>,
}

#[derive(Debug)]
enum State {
    /// `service update`: its read-modify-write, the write planned.
    Update { what: String, updater: super::ServiceUpdater },
    /// The other writes, one request each.
    Writes(VecDeque<(String, Op)>),
}

impl DryRun {
    /// The machine for `cmd`; Err when `cmd` cannot be planned or its flags are wrong.
    pub fn new(cmd: &ControlCommand) -> Result<DryRun, String> {
        let state = match cmd {
            ControlCommand::Service(ServiceCommand::Update(u)) => {
                State::Update { what: format!("service update {}", u.service), updater: super::ServiceUpdater::new(u.clone()) }
            }
            _ => State::Writes(plan_requests(cmd).unwrap_or_else(|| Err("this command cannot be planned with --dry-run".into()))?.into()),
        };
        let nothing = matches!(&state, State::Writes(q) if q.is_empty());
        Ok(DryRun { state, plans: Vec::new(), outcome: nothing.then(|| Err("nothing to plan".to_string())) })
    }

    /// The operation to send now, as a dry run (the shell sends [`dry_run_request`] of it);
    /// None once done.
    pub fn poll_request(&self) -> Option<Op> {
        if self.outcome.is_some() {
            return None;
        }
        match &self.state {
            State::Update { updater, .. } => updater.poll_request(),
            State::Writes(q) => q.front().map(|(_, op)| op.clone()),
        }
    }

    /// The answer to the request [`DryRun::poll_request`] gave.
    pub fn handle_reply(&mut self, reply: Result<ControlReply, CallError>) {
        match &mut self.state {
            State::Update { what, updater } => {
                // The updater's reads come back without a plan, its write with one.
                if let Some(p) = reply.as_ref().ok().and_then(|r| r.plan.clone()) {
                    self.plans.push((what.clone(), p.into()));
                }
                updater.handle_reply(reply);
                match updater.outcome() {
                    Some(Err(e)) => self.outcome = Some(Err(e.clone())),
                    Some(Ok(())) if self.plans.is_empty() => self.outcome = Some(Err(NO_PLAN.into())),
                    Some(Ok(())) => self.outcome = Some(Ok(())),
                    None => {}
                }
            }
            State::Writes(q) => {
                let Some((what, _)) = q.pop_front() else { return };
                match reply.map_err(|e| e.message).and_then(plan_of) {
                    Ok(p) => self.plans.push((what, p)),
                    Err(e) => {
                        self.outcome = Some(Err(e));
                        return;
                    }
                }
                if q.is_empty() {
                    self.outcome = Some(Ok(()));
                }
            }
        }
    }

    /// Some once done: Ok with every write's plan (what it is of, the plan), or the error.
    pub fn outcome(&self) -> Option<Result<&[(String, Plan)], String>> {
        self.outcome.as_ref().map(|r| r.clone().map(|()| self.plans.as_slice()))
    }
}

/// `--dry-run` on the writes that can be planned (core/src/plan): the manager prints what
/// the write would do and changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct PlanFlags {
    /// Print what would happen (tasks stopped, started and left pending, the update's batches) and change nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// With --dry-run: json prints the plan as one JSON object
    #[arg(long, value_parser = ["json"], requires = "dry_run")]
    pub format: Option<String>,
}

impl ControlCommand {
    /// The `--dry-run` flags of a write that can be planned; None for the other commands.
    pub fn plan_flags(&self) -> Option<&PlanFlags> {
        match self {
            ControlCommand::Service(ServiceCommand::Create(c)) => Some(&c.plan),
            ControlCommand::Service(ServiceCommand::Update(u)) => Some(&u.plan),
            ControlCommand::Service(
                ServiceCommand::Scale { plan, .. } | ServiceCommand::Rm { plan, .. } | ServiceCommand::Rollback { plan, .. } | ServiceCommand::Rebalance { plan, .. },
            ) => Some(plan),
            ControlCommand::Node(NodeCommand::Update { plan, .. }) => Some(plan),
            ControlCommand::Stack(super::StackCommand::Deploy { plan, .. }) => Some(plan),
            _ => None,
        }
    }

    /// Whether the command asks for a plan instead of the write.
    pub fn dry_run(&self) -> bool {
        self.plan_flags().is_some_and(|p| p.dry_run)
    }
}

/// The requests a plannable write sends, each with what the plan is of (`service web scaled
/// to 6`); None for `service update` (a read-modify-write: [`super::ServiceUpdater`] makes
/// its request) and for commands that are not plannable writes.
pub fn plan_requests(cmd: &ControlCommand) -> Option<Result<Vec<(String, Op)>, String>> {
    let ops = match cmd {
        ControlCommand::Service(ServiceCommand::Create(c)) => c.to_spec().map(|spec| {
            let what = format!("service create {}", spec.annotations.name);
            vec![(what, Op::CreateService(proto::CreateService { spec: serde_json::to_vec(&spec).expect("spec serialises") }))]
        }),
        ControlCommand::Service(ServiceCommand::Scale { pairs, .. }) => super::parse_scale_pairs(pairs).map(|pairs| {
            pairs
                .into_iter()
                .map(|(service, replicas)| (format!("service scale {service}={replicas}"), Op::ScaleService(proto::ScaleService { service, replicas })))
                .collect()
        }),
        ControlCommand::Service(ServiceCommand::Rm { services, .. }) => {
            Ok(services.iter().map(|s| (format!("service rm {s}"), Op::RemoveService(proto::ObjectKey { key: s.clone() }))).collect())
        }
        ControlCommand::Service(ServiceCommand::Rollback { service, .. }) => {
            Ok(vec![(format!("service rollback {service}"), Op::RollbackService(proto::ObjectKey { key: service.clone() }))])
        }
        ControlCommand::Service(ServiceCommand::Rebalance { all, services, .. }) => {
            let what = if *all { "service rebalance --all".to_string() } else { format!("service rebalance {}", services.join(" ")) };
            Ok(vec![(what, Op::RebalanceService(proto::RebalanceService { services: services.clone(), all: *all }))])
        }
        ControlCommand::Node(NodeCommand::Update { role: Some(_), .. }) => {
            Err("--dry-run plans a node's availability and labels; a role change (--role, promote, demote) is not planned: leave out --role".into())
        }
        ControlCommand::Node(NodeCommand::Update { availability, label_add, label_rm, node, .. }) => {
            let label_add = label_add.iter().map(|l| super::label_pair(l)).collect();
            let op = Op::UpdateNode(proto::UpdateNode {
                node: node.clone(),
                availability: availability.clone().unwrap_or_default(),
                label_add,
                label_rm: label_rm.clone(),
                ..Default::default()
            });
            Ok(vec![(format!("node update {node}"), op)])
        }
        _ => return None,
    };
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(n: u64) -> Result<ControlReply, CallError> {
        let plan = Plan { started_total: n, complete: true, ..Default::default() };
        Ok(ControlReply { plan: Some(plan.into()), ..Default::default() })
    }

    // A dry run never sends a write as itself: a manager that predates plans would ignore
    // the flag and make it. Reads go as they are.
    #[test]
    fn writes_go_inside_a_plan_request_and_reads_as_they_are() {
        let w = dry_run_request(Op::ScaleService(proto::ScaleService { service: "web".into(), replicas: 3 }));
        assert!(w.dry_run && matches!(&w.op, Some(Op::PlanWrites(p)) if p.writes.len() == 1 && !p.writes[0].dry_run));
        let r = dry_run_request(Op::GetService(proto::ObjectKey { key: "web".into() }));
        assert!(!r.dry_run && matches!(r.op, Some(Op::GetService(_))));
    }

    #[test]
    fn each_write_of_a_command_is_planned_in_turn() {
        let cmd = super::super::parse_control(["service", "scale", "a=3", "b=5", "--dry-run"]).unwrap();
        let mut m = DryRun::new(&cmd).unwrap();
        assert!(matches!(m.poll_request(), Some(Op::ScaleService(s)) if s.service == "a"));
        m.handle_reply(planned(1));
        assert!(matches!(m.poll_request(), Some(Op::ScaleService(s)) if s.service == "b"));
        m.handle_reply(planned(2));
        assert!(m.poll_request().is_none());
        let plans = m.outcome().unwrap().unwrap();
        assert_eq!(plans.iter().map(|(w, p)| (w.as_str(), p.started_total)).collect::<Vec<_>>(), vec![("service scale a=3", 1), ("service scale b=5", 2)]);
    }

    #[test]
    fn a_manager_without_plans_is_an_error_not_a_success() {
        let cmd = super::super::parse_control(["service", "rm", "web", "--dry-run"]).unwrap();
        let mut m = DryRun::new(&cmd).unwrap();
        m.handle_reply(Ok(ControlReply::default()));
        let e = m.outcome().unwrap().unwrap_err();
        assert!(e.contains("predates plans"), "{e}");
        let e = DryRun::new(&super::super::parse_control(["node", "update", "--role", "manager", "--dry-run", "w1"]).unwrap()).unwrap_err();
        assert!(e.contains("role change"), "{e}");
    }
}

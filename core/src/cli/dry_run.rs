//! `--dry-run`: the flags, and the plan requests of the writes that can be planned (the
//! manager answers a request sent with `dry_run` with a plan, core/src/plan, and writes
//! nothing). `service update` is planned through [`super::ServiceUpdater`], whose write is
//! the update's request; `stack deploy` through the stack deployer's dry run
//! (`crate::stack::deploy::Deployer::dry_run`), which plans all its writes as one.

use super::{ControlCommand, NodeCommand, ServiceCommand};
use crate::proto::{self, control_request::Op};

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
            ControlCommand::Service(ServiceCommand::Scale { plan, .. } | ServiceCommand::Rm { plan, .. } | ServiceCommand::Rollback { plan, .. }) => Some(plan),
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

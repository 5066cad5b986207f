//! `--dry-run` steps and the `plan holds` predicate: a scenario asks the managers for a
//! write's plan (core/src/plan), traces it, and can then make the write and expect the
//! containers to end where the plan said (issue 24's check that a plan is what happens).

use super::Run;
use crate::cluster::Cluster;
use shoal_core::cli::{ControlCommand, DryRun};
use shoal_core::plan::{render, Plan};
use shoal_core::proto::control_request::Op;
use std::collections::{BTreeMap, BTreeSet};

impl Run {
    /// A `do` step whose command has `--dry-run`: the plan of each of its writes, traced line
    /// by line; the last one is what `plan holds` checks.
    pub(super) async fn plan_step(&mut self, cmd: &ControlCommand) -> Result<(), String> {
        if let ControlCommand::Stack(s) = cmd {
            // The deployer's own dry run (all its writes planned as one).
            return self.stack_step(s).await;
        }
        let mut m = DryRun::new(cmd)?;
        while let Some(mut op) = m.poll_request() {
            if let Op::UpdateNode(u) = &mut op {
                u.node = self.node_key(&u.node);
            }
            let (reply, _) = self.control_retried_as(op, true).await;
            m.handle_reply(reply);
        }
        let plans = m.outcome().unwrap_or_else(|| Err("the dry run ended without an answer".into()))?;
        plans.iter().for_each(|(_, p)| trace(p));
        self.plan = Some(plans.last().ok_or("the dry run planned nothing")?.1.clone());
        Ok(())
    }
}

/// Traces a plan line by line, as the CLI prints it.
pub(super) fn trace(p: &Plan) {
    for line in render::text(p).lines() {
        tracing::info!(target: "shoal::step", node = "runner", "plan: {line}");
    }
}

/// Whether the containers of the services `plan` touched run where it said they would end
/// (ground truth, by node name), and their updates ended as it said (the most advanced
/// store); Err says where they differ.
pub(super) fn holds(c: &Cluster, plan: &Plan) -> Result<(), String> {
    for u in &plan.updates {
        let state = c
            .with_best_store(|s| {
                let svc = shoal_core::control::find_service(s, &u.service).ok()?;
                svc.update_status.as_ref().map(|x| shoal_core::cli::wire_name(&x.state))
            })
            .flatten()
            .unwrap_or_default();
        if state != u.state {
            return Err(format!("{}'s update is {state:?}, the plan said it would end {:?}", u.service, u.state));
        }
    }
    let services: BTreeSet<&str> = plan
        .placement
        .iter()
        .map(|x| x.service.as_str())
        .chain(plan.started.iter().chain(&plan.stopped).map(|t| t.service.as_str()))
        .collect();
    for s in services {
        let want: BTreeMap<&str, u64> = plan.placement.iter().filter(|x| x.service == s).map(|x| (x.node.as_str(), x.tasks)).collect();
        let have: BTreeMap<&str, u64> = (0..c.nodes.len())
            .map(|i| (c.nodes[i].name.as_str(), c.running(i, Some(s)) as u64))
            .filter(|(_, n)| *n > 0)
            .collect();
        if want != have {
            return Err(format!("{s} runs {have:?}, the plan said {want:?}"));
        }
    }
    Ok(())
}

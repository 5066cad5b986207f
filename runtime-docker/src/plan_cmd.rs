//! `--dry-run` on `service create|update|scale|rm|rollback` and `node update`: each write is
//! sent with `dry_run`, the manager answers with its plan (core/src/plan) and changes
//! nothing; the plans are printed as text, or with `--format json` one JSON object per line.

use crate::{try_call_as, CallError};
use shoal_core::cli::{plan_requests, ControlCommand, ServiceCommand};
use shoal_core::plan::{render, Plan};
use shoal_core::proto;

/// Plans `cmd` (a command whose `--dry-run` is set) at the manager at `host`.
pub async fn run(host: &str, cmd: &ControlCommand) -> Result<(), String> {
    if let ControlCommand::Stack(s) = cmd {
        // The compose files are read on the client: stack_cmd runs the deployer's dry run.
        return crate::stack_cmd::run(host, s.clone()).await;
    }
    let json = cmd.plan_flags().and_then(|p| p.format.as_deref()) == Some("json");
    let mut plans: Vec<(String, Plan)> = Vec::new();
    if let ControlCommand::Service(ServiceCommand::Update(u)) = cmd {
        let mut m = shoal_core::cli::ServiceUpdater::new(u.clone());
        let mut plan = None;
        while let Some(op) = m.poll_request() {
            let reply = try_call_as(host, op, true).await;
            if let Ok(proto::ControlReply { plan: Some(p), .. }) = &reply {
                plan = Some(Plan::from(p.clone()));
            }
            m.handle_reply(reply);
        }
        if let Some(Err(e)) = m.outcome() {
            return Err(e.clone());
        }
        let plan = plan.ok_or_else(|| format!("Error: the manager at {host} answered the dry run without a plan; is it an older Shoal?"))?;
        plans.push((format!("service update {}", u.service), plan));
    } else {
        let requests = plan_requests(cmd).unwrap_or_else(|| Err("this command cannot be planned with --dry-run".into()))?;
        for (what, op) in requests {
            let reply = try_call_as(host, op, true).await.map_err(|e: CallError| e.message)?;
            let plan = reply.plan.ok_or_else(|| format!("Error: the manager at {host} answered the dry run without a plan; is it an older Shoal?"))?;
            plans.push((what, Plan::from(plan)));
        }
    }
    let several = plans.len() > 1;
    for (what, plan) in &plans {
        if json {
            println!("{}", serde_json::to_string(plan).expect("a plan serialises"));
        } else {
            if several {
                // Each write is planned from the swarm as it is now, not after the others.
                println!("== {what} ==");
            }
            print!("{}", render::text(plan));
        }
    }
    Ok(())
}

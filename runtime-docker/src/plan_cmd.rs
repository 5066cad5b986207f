//! `--dry-run` on `service create|update|scale|rm|rollback` and `node update`: the core's
//! [`DryRun`] machine makes the requests (each write inside a `PlanWrites`), the manager
//! answers with its plan (core/src/plan) and changes nothing; the plans are printed as text,
//! or with `--format json` one JSON object per line. `stack deploy --dry-run` is stack_cmd's.

use crate::try_call_as;
use shoal_core::cli::{ControlCommand, DryRun};
use shoal_core::plan::render;

/// Plans `cmd` (a command whose `--dry-run` is set) at the manager at `host`.
pub async fn run(host: &str, cmd: &ControlCommand) -> Result<(), String> {
    if let ControlCommand::Stack(s) = cmd {
        // The compose files are read on the client: stack_cmd runs the deployer's dry run.
        return crate::stack_cmd::run(host, s.clone()).await;
    }
    let json = cmd.plan_flags().and_then(|p| p.format.as_deref()) == Some("json");
    let mut m = DryRun::new(cmd)?;
    while let Some(op) = m.poll_request() {
        let reply = try_call_as(host, op, true).await;
        m.handle_reply(reply);
    }
    let plans = m.outcome().unwrap_or_else(|| Err("the dry run ended without an answer".into())).map_err(|e| format!("Error: {e}"))?;
    print!("{}", render::many(plans, json));
    Ok(())
}

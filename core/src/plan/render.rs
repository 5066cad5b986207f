//! A [`Plan`] as the CLI prints it: one aligned table of stops and starts in time order, the
//! tasks left pending with the scheduler's reason, where each touched service ends up, and
//! the updates' end states. Shared by `shoal … --dry-run` and the simulator's trace.

use super::Plan;
use crate::cli::format::align_tabs;
use crate::cli::go_duration;

/// The plans of a command's writes as the CLI prints them: text, with a header per write
/// when there are several (each is planned from the swarm as it is now, not after the
/// others), or with `json` one JSON object per line.
pub fn many(plans: &[(String, Plan)], json: bool) -> String {
    let mut out = String::new();
    for (what, plan) in plans {
        if json {
            out.push_str(&serde_json::to_string(plan).expect("a plan serialises"));
            out.push('\n');
        } else {
            if plans.len() > 1 {
                out.push_str(&format!("== {what} ==\n"));
            }
            out.push_str(&text(plan));
        }
    }
    out
}

/// The plan as text, ending in a newline.
pub fn text(p: &Plan) -> String {
    let mut out = String::from("Dry run: nothing was changed. The plan assumes every task starts at once and none fails.\n\n");
    if p.stopped.is_empty() && p.started.is_empty() && p.pending.is_empty() && p.updates.is_empty() {
        out.push_str("Nothing would change.\n");
        return out;
    }
    if !p.stopped.is_empty() || !p.started.is_empty() {
        let mut rows = vec!["AT\tACTION\tTASK\tNODE\tIMAGE".to_string()];
        // In time order; at one moment stops first, as the work happens.
        let mut events: Vec<(u64, u8, &super::PlannedTask)> = p.stopped.iter().map(|t| (t.at_ms, 0, t)).collect();
        events.extend(p.started.iter().map(|t| (t.at_ms, 1, t)));
        events.sort();
        for (at, kind, t) in events {
            let action = if kind == 0 { "stop" } else { "start" };
            rows.push(format!("{}\t{action}\t{}\t{}\t{}", go_duration(at), t.task, t.node, t.image));
        }
        out.push_str(&align_tabs(&rows));
        out.push('\n');
    }
    if !p.pending.is_empty() {
        let mut rows = vec!["PENDING\tREASON".to_string()];
        rows.extend(p.pending.iter().map(|t| format!("{}\t{}", t.task, t.reason)));
        out.push_str(&align_tabs(&rows));
        out.push('\n');
    }
    let mut services: Vec<&str> = p.placement.iter().map(|x| x.service.as_str()).collect();
    services.dedup();
    for s in services {
        let on: Vec<String> = p
            .placement
            .iter()
            .filter(|x| x.service == s)
            .map(|x| format!("{} on {}", x.tasks, x.node))
            .collect();
        out.push_str(&format!("{s} would run {}.\n", on.join(", ")));
    }
    for u in &p.updates {
        // "update completed" only restates the state.
        let message = if u.message.is_empty() || u.message.contains(u.state.as_str()) { String::new() } else { format!(" ({})", u.message) };
        out.push_str(&format!("{} update would end {}{message}.\n", u.service, u.state));
    }
    if p.omitted > 0 {
        out.push_str(&format!("{} more tasks are not listed.\n", p.omitted));
    }
    if p.complete {
        out.push_str(&format!("Done after {} on the plan's clock ({} stopped, {} started).\n", go_duration(p.duration_ms), p.stopped_total, p.started_total));
    } else {
        out.push_str(&format!(
            "The plan stopped after {} of its clock and {} passes, before the swarm would settle: what is listed comes first.\n",
            go_duration(p.duration_ms),
            p.passes
        ));
    }
    out
}

//! Docker-style convergence progress for `service create|update|scale|rollback` on a terminal:
//!
//! ```text
//! overall progress: 2 out of 3 tasks
//! 1/3: running   [==================================================>]
//! 2/3: starting  [============================================>      ]
//! 3/3: No such image: nosuch:1
//! verify: Waiting 5 seconds to verify that tasks are stable...
//! ```
//!
//! The CLI polls the control API (`GetService` + `ListTasks`) every [`POLL_MS`]; a slot counts
//! as done when its newest live task runs with the service's current spec. Converged means
//! every slot done (and a rolling update no longer in progress) for [`VERIFY_MS`] in a row,
//! as docker's CLI waits for the update monitor before it says "Service converged". A paused
//! update or rollback ends the follow with docker's error ("service update paused: …", exit
//! status 1); a task of the current spec that failed is shown as it comes (docker's CLI keeps
//! waiting too; Ctrl-C leaves the service as it is).
//!
//! Written here rather than with `indicatif`: the output is docker's fixed layout of one line
//! per slot redrawn in place, which is a dozen lines of ANSI cursor movement.

use shoal_core::model::{Object, Service, ServiceMode, Task, TaskState, UpdateState};
use shoal_core::proto::{self, control_request::Op};
use std::io::Write;
use std::time::Duration;

/// How often the CLI polls the manager.
const POLL_MS: u64 = 250;
/// How long every slot must stay done before "Service converged" (docker's default monitor).
const VERIFY_MS: u64 = 5_000;
/// Width of a progress bar, as docker draws it.
const BAR_WIDTH: usize = 50;
/// Slots drawn at most (docker draws every one; beyond this the overall line says enough).
const MAX_SLOT_LINES: usize = 100;

/// A slot's line: its newest live task's state, or the error of its newest failed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotLine {
    pub state: Option<TaskState>,
    pub err: String,
    pub done: bool,
}

/// How far along a state is, out of [`BAR_WIDTH`] (docker's `numberedStates`).
fn progress_of(state: TaskState) -> usize {
    let step = match state {
        TaskState::New => 1,
        TaskState::Pending => 2,
        TaskState::Assigned => 3,
        TaskState::Accepted => 4,
        TaskState::Preparing => 5,
        TaskState::Ready => 6,
        TaskState::Starting => 7,
        TaskState::Running => 8,
        _ => 0,
    };
    BAR_WIDTH * step / 8
}

/// The slots of `svc` and how far each is (pure: unit-tested).
pub fn slot_lines(svc: &Service, tasks: &[Task]) -> Vec<(String, SlotLine)> {
    let mine: Vec<&Task> = tasks.iter().filter(|t| t.service_id == svc.id).collect();
    let keys: Vec<(u64, String)> = match svc.spec.mode {
        ServiceMode::Replicated { replicas } => (1..=replicas).map(|s| (s, String::new())).collect(),
        ServiceMode::Global => {
            let mut nodes: Vec<String> = mine.iter().filter(|t| t.is_live()).map(|t| t.node_id.clone()).collect();
            nodes.sort();
            nodes.dedup();
            nodes.into_iter().map(|n| (0, n)).collect()
        }
        ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob => Vec::new(),
    };
    let total = keys.len();
    keys.into_iter()
        .enumerate()
        .map(|(i, (slot, node))| {
            let of_slot: Vec<&&Task> = mine.iter().filter(|t| t.slot == slot && (slot != 0 || t.node_id == node)).collect();
            let live = of_slot.iter().filter(|t| t.is_live()).max_by_key(|t| (t.meta.created_at_ms, t.id.clone()));
            let failed = of_slot
                .iter()
                .filter(|t| t.spec_version == svc.spec_version && matches!(t.status.state, TaskState::Failed | TaskState::Rejected))
                .max_by_key(|t| (t.meta.created_at_ms, t.id.clone()));
            let done = live.is_some_and(|t| t.spec_version == svc.spec_version && t.status.state == TaskState::Running);
            let state = live.map(|t| t.status.state);
            // A failure shows until a newer task of the slot is on its way up.
            let err = match (failed, live) {
                (Some(f), Some(l)) if !done && f.meta.created_at_ms >= l.meta.created_at_ms => f.status.err.clone(),
                (Some(f), None) => f.status.err.clone(),
                _ => String::new(),
            };
            let label = if slot == 0 { node } else { format!("{}/{total}", i + 1) };
            (label, SlotLine { state, err, done })
        })
        .collect()
}

/// Docker's progress bar, `filled` out of [`BAR_WIDTH`].
pub(crate) fn bar(filled: usize) -> String {
    let filled = filled.min(BAR_WIDTH);
    format!("[{}>{}]", "=".repeat(filled), " ".repeat(BAR_WIDTH - filled))
}

/// How much of [`BAR_WIDTH`] `done` of `total` fills.
pub(crate) fn filled(done: usize, total: usize) -> usize {
    (BAR_WIDTH * done).checked_div(total).unwrap_or(0)
}

/// The lines drawn for one poll.
pub fn render(lines: &[(String, SlotLine)]) -> Vec<String> {
    let done = lines.iter().filter(|(_, l)| l.done).count();
    let mut out = vec![format!("overall progress: {done} out of {} tasks", lines.len())];
    for (label, l) in lines.iter().take(MAX_SLOT_LINES) {
        if !l.err.is_empty() {
            out.push(format!("{label}: {}", l.err));
            continue;
        }
        let (name, filled) = match l.state {
            Some(s) => (format!("{s:?}").to_lowercase(), progress_of(s)),
            None => ("new".to_string(), 0),
        };
        out.push(format!("{label}: {name:<9} {}", bar(filled)));
    }
    out
}

async fn poll(host: &str, service: &str) -> Result<(Service, Vec<Task>), String> {
    let r = crate::call(host, Op::GetService(proto::ObjectKey { key: service.to_string() })).await?;
    let Some(Object::Service(svc)) = crate::objects(&r).into_iter().next() else {
        return Err(format!("Error: no such service: {service}"));
    };
    let r = crate::call(host, Op::ListTasks(proto::ListTasks { service: svc.id.clone(), node: String::new() })).await?;
    Ok((svc, crate::read_cmd::tasks_of(crate::objects(&r))))
}

/// Follows `service` until it converged, redrawing docker's progress lines in place.
pub async fn follow(host: &str, service: &str) -> Result<(), String> {
    follow_drawing(host, service, true).await
}

/// [`follow`]; with `draw` false (not a terminal) the lines are not redrawn as they change:
/// the wait is silent and only the last frame is printed, once converged (or paused).
pub async fn follow_drawing(host: &str, service: &str, draw: bool) -> Result<(), String> {
    let mut drawn = 0usize;
    let mut stable_since: Option<tokio::time::Instant> = None;
    let mut out = std::io::stdout();
    loop {
        let (svc, tasks) = poll(host, service).await?;
        if matches!(svc.spec.mode, ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob) {
            return Ok(());
        }
        let lines = slot_lines(&svc, &tasks);
        let updating = svc.update_status.as_ref().is_some_and(|u| matches!(u.state, UpdateState::Updating | UpdateState::RollbackStarted));
        let converged = !updating && lines.iter().all(|(_, l)| l.done);
        let mut text = render(&lines);
        let now = tokio::time::Instant::now();
        match (converged, stable_since) {
            (true, None) => stable_since = Some(now),
            (false, _) => stable_since = None,
            _ => {}
        }
        let verified = stable_since.is_some_and(|s| now.duration_since(s) >= Duration::from_millis(VERIFY_MS));
        // A paused update or rollback ends the follow with docker's error (exit status 1).
        let paused = svc.update_status.as_ref().and_then(|u| match u.state {
            UpdateState::Paused => Some(format!("service update paused: {}", u.message)),
            UpdateState::RollbackPaused => Some(format!("service rollback paused: {}", u.message)),
            _ => None,
        });
        if let Some(p) = &paused {
            text.push(p.clone());
        } else if verified {
            text.push("verify: Service converged".into());
        } else if stable_since.is_some() {
            text.push(format!("verify: Waiting {} seconds to verify that tasks are stable...", VERIFY_MS / 1000));
        }
        let last = paused.is_some() || verified;
        if !draw {
            if last {
                let _ = out.write_all(text.iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes());
                let _ = out.flush();
            }
        } else {
            draw_frame(&mut out, &text, &mut drawn);
        }
        if let Some(p) = paused {
            return Err(p);
        }
        if verified {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

/// Redraws `text` over the `drawn` lines of the previous frame.
pub(crate) fn draw_frame(out: &mut std::io::Stdout, text: &[String], drawn: &mut usize) {
    // Back to the first line drawn, then each line cleared and rewritten.
    let mut frame = String::new();
    if *drawn > 0 {
        frame.push_str(&format!("\x1b[{}A", *drawn));
    }
    for l in text {
        frame.push_str("\x1b[2K");
        frame.push_str(l);
        frame.push('\n');
    }
    // Lines left over from a longer frame (a scale down) are cleared.
    for _ in text.len()..*drawn {
        frame.push_str("\x1b[2K\n");
    }
    let _ = out.write_all(frame.as_bytes());
    let _ = out.flush();
    *drawn = text.len().max(*drawn);
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::model::Meta;

    fn task(id: &str, slot: u64, version: u64, state: TaskState, desired: TaskState, at: u64, err: &str) -> Task {
        let mut t = Task { id: id.into(), service_id: "s".into(), slot, spec_version: version, desired_state: desired, ..Default::default() };
        t.meta = Meta { created_at_ms: at, ..Default::default() };
        t.status.state = state;
        t.status.err = err.into();
        t
    }

    // docker's progress: one line per slot, done when its newest live task runs the current
    // spec; a failed task's error shows until its replacement is on its way.
    #[test]
    fn slots_show_the_newest_task_and_errors() {
        let mut svc = Service { id: "s".into(), spec_version: 2, ..Default::default() };
        svc.spec.mode = ServiceMode::Replicated { replicas: 3 };
        let tasks = vec![
            task("a", 1, 2, TaskState::Running, TaskState::Running, 10, ""),
            task("b", 2, 1, TaskState::Running, TaskState::Running, 5, ""),
            task("c", 3, 2, TaskState::Rejected, TaskState::Shutdown, 10, "No such image: x:1"),
        ];
        let lines = slot_lines(&svc, &tasks);
        assert_eq!(lines.iter().map(|(_, l)| l.done).collect::<Vec<_>>(), vec![true, false, false], "slot 2 runs the old spec");
        let text = render(&lines);
        assert_eq!(text[0], "overall progress: 1 out of 3 tasks");
        assert_eq!(text[1], format!("1/3: running   [{}>]", "=".repeat(BAR_WIDTH)));
        assert!(text[2].starts_with("2/3: running"), "{}", text[2]);
        assert_eq!(text[3], "3/3: No such image: x:1");
        // Its replacement on its way hides the old error.
        let mut more = tasks.clone();
        more.push(task("d", 3, 2, TaskState::Starting, TaskState::Running, 20, ""));
        let text = render(&slot_lines(&svc, &more));
        assert!(text[3].starts_with("3/3: starting  [="), "{}", text[3]);
    }
}

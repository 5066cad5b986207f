//! A picture of one simulated run (`shoal-sim run FILE --seed N --report run.html`): one
//! self-contained HTML file with a timeline over virtual time — each machine's state (up,
//! down, paused, locked), the raft leader, its running containers, the network faults as
//! bands, the steps and the expectations met — and, for a failing run, the violation marked
//! where it happened with the command that replays it.
//!
//! Built from the run's trace lines alone (`<secs> <node> <message>`), never from extra
//! sampling during the run: a run with a report is the same run, event for event, as one
//! without (an extra task would change madsim's scheduling and the trace hash). Owns: reading
//! the trace into a [`Timeline`] (this file) and drawing it (html.rs). Pure; deterministic.
//!
//! Invariants: every band ends at or before the run's end; container counts never go below
//! zero (a stop without a start is ignored).

mod html;

pub use html::render;
use std::collections::BTreeMap;

/// What a machine is doing over an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Up,
    Down,
    Paused,
    Locked,
}

/// One machine's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    /// (from, to, state), in time order, covering what the trace says of it.
    pub states: Vec<(f64, f64, State)>,
    /// Intervals it led the raft group.
    pub leader: Vec<(f64, f64)>,
    /// Running containers after each change: (time, count).
    pub tasks: Vec<(f64, u32)>,
    /// Machine events worth a tick: (time, text).
    pub events: Vec<(f64, String)>,
}

/// A run read from its trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub end_secs: f64,
    pub rows: Vec<Row>,
    /// Network faults: (from, to, what).
    pub net: Vec<(f64, f64, String)>,
    /// Steps as the runner started them: (time, text).
    pub steps: Vec<(f64, String)>,
    /// Expectations met: (time, text).
    pub met: Vec<(f64, String)>,
}

/// Where a run ended and why (the first violation of a failing run).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub title: String,
    pub passed: bool,
    /// (virtual s, checker, message) of the first violation.
    pub violation: Option<(f64, String, String)>,
    /// The one command that replays the run.
    pub replay: String,
}

#[derive(Default)]
struct Building {
    state: Option<(f64, State)>,
    leader_since: Option<f64>,
    running: u32,
    row: Option<Row>,
}

impl Building {
    fn row(&mut self, name: &str) -> &mut Row {
        self.row.get_or_insert_with(|| Row { name: name.to_string(), states: vec![], leader: vec![], tasks: vec![], events: vec![] })
    }

    fn set_state(&mut self, name: &str, t: f64, s: State) {
        if let Some((from, cur)) = self.state {
            if cur == s {
                return;
            }
            if t > from {
                self.row(name).states.push((from, t, cur));
            }
        }
        self.state = Some((t, s));
    }

    fn end_leader(&mut self, name: &str, t: f64) {
        if let Some(from) = self.leader_since.take() {
            self.row(name).leader.push((from, t));
        }
    }

    fn set_running(&mut self, name: &str, t: f64, n: u32) {
        if n != self.running || self.row(name).tasks.is_empty() {
            self.running = n;
            self.row(name).tasks.push((t, n));
        }
    }
}

/// Sorts `manager-2` before `manager-10` and managers before workers.
fn row_key(name: &str) -> (u8, String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    let rank = if stem.starts_with("manager") { 0 } else if stem.starts_with("worker") { 1 } else { 2 };
    (rank, stem.to_string(), num.parse().unwrap_or(0))
}

/// A container id as the simulator's tasks have them (25 base-36 characters).
fn is_task_id(s: &str) -> bool {
    s.len() == 25 && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// The page of a finished run (its trace lines must have been kept: `RunOptions::keep_trace`);
/// `replay` is the command that replays it (none: the run's own `scripts/sim run …`).
pub fn of_run(r: &crate::runner::RunReport, replay: Option<&str>) -> String {
    let own = || r.failure_text().and_then(|t| t.lines().nth(1).map(|l| l.trim_start_matches("reproduce: ").to_string()));
    let outcome = Outcome {
        title: format!("scenario={} seed={}", r.scenario, r.seed),
        passed: r.passed(),
        violation: r.violations.first().map(|v| (v.at, v.checker.to_string(), v.message.clone())),
        replay: replay.map(str::to_string).or_else(own).unwrap_or_default(),
    };
    render(&timeline(&r.trace_lines, r.virtual_secs), &outcome)
}

/// Writes the page of `r` to `path` ([`of_run`]); Err says why not.
pub fn write(path: &str, r: &crate::runner::RunReport, replay: Option<&str>) -> Result<(), String> {
    std::fs::write(path, of_run(r, replay)).map_err(|e| format!("cannot write the report {path}: {e}"))
}

/// Reads the trace lines of a run that lasted `end_secs`.
pub fn timeline(lines: &[String], end_secs: f64) -> Timeline {
    let mut machines: BTreeMap<String, Building> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    // Which machine runs each container, to count stops and crashes right.
    let mut where_runs: BTreeMap<String, String> = BTreeMap::new();
    let mut open_net: Vec<(f64, String)> = Vec::new();
    let mut tl = Timeline { end_secs, ..Default::default() };
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        let (Some(t), Some(node), msg) = (parts.next().and_then(|t| t.parse::<f64>().ok()), parts.next(), parts.next().unwrap_or("")) else {
            continue;
        };
        match node {
            "runner" => {
                if let Some(rest) = msg.strip_prefix("expectation met: ") {
                    tl.met.push((t, rest.to_string()));
                } else if msg.starts_with("step ") {
                    tl.steps.push((t, msg.to_string()));
                }
                continue;
            }
            "net" => {
                if msg == "heal" {
                    for (from, what) in open_net.drain(..) {
                        tl.net.push((from, t, what));
                    }
                } else if msg.starts_with("latency back to normal") {
                    let (ended, kept): (Vec<_>, Vec<_>) = open_net.drain(..).partition(|(_, w)| w.starts_with("latency"));
                    tl.net.extend(ended.into_iter().map(|(from, what)| (from, t, what)));
                    open_net = kept;
                } else {
                    open_net.push((t, msg.to_string()));
                }
                continue;
            }
            "checker" | "operator" | "client" => continue,
            _ => {}
        }
        if !machines.contains_key(node) {
            order.push(node.to_string());
        }
        let b = machines.entry(node.to_string()).or_default();
        let words: Vec<&str> = msg.split(' ').collect();
        match words.as_slice() {
            [_, id, "started", ..] if is_task_id(id) => {
                where_runs.insert(id.to_string(), node.to_string());
                let n = b.running + 1;
                b.set_running(node, t, n);
            }
            [_, id, "stopped" | "->", ..] if is_task_id(id) => {
                if where_runs.remove(*id).is_some() {
                    let n = b.running.saturating_sub(1);
                    b.set_running(node, t, n);
                }
            }
            ["started"] => b.set_state(node, t, State::Up),
            ["crash", ..] | ["refused", "to", "start:", ..] => {
                b.set_state(node, t, State::Down);
                b.end_leader(node, t);
                where_runs.retain(|_, n| n != node);
                b.set_running(node, t, 0);
                b.row(node).events.push((t, msg.to_string()));
            }
            ["pause", ..] => {
                b.set_state(node, t, State::Paused);
                b.row(node).events.push((t, msg.to_string()));
            }
            ["resume", ..] => {
                b.set_state(node, t, State::Up);
                b.row(node).events.push((t, msg.to_string()));
            }
            ["locked", ..] => {
                b.set_state(node, t, State::Locked);
                b.row(node).events.push((t, msg.to_string()));
            }
            ["role", "Leader", ..] => {
                if b.leader_since.is_none() {
                    b.leader_since = Some(t);
                }
            }
            ["role", ..] => b.end_leader(node, t),
            ["restart" | "unlocked" | "left" | "heal" | "corrupt" | "force-new-cluster:" | "machine", ..] => {
                b.row(node).events.push((t, msg.to_string()));
            }
            _ => {}
        }
    }
    for (from, what) in open_net {
        tl.net.push((from, end_secs, what));
    }
    // Managers, then workers, then the rest, each by number (first appearance is scheduling's).
    order.sort_by_key(|n| row_key(n));
    for name in order {
        let mut b = machines.remove(&name).expect("every name in order was built");
        if let Some((from, s)) = b.state.take() {
            if end_secs > from {
                b.row(&name).states.push((from, end_secs, s));
            }
        }
        b.end_leader(&name, end_secs);
        if let Some(row) = b.row.take() {
            tl.rows.push(row);
        }
    }
    tl
}

#[cfg(test)]
mod tests;

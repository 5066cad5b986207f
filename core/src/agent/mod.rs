//! Agent (pure part): reconciles the tasks a node is assigned with the containers its executor
//! reports, and decides the status updates to send.
//!
//! Owns: which executor commands to issue and which task states to report. Input: the node's
//! assignment set (tasks from the dispatcher, with the store's desired and observed state), the
//! containers the executor lists (by task label), start failures the shell recorded. Output:
//! [`Command`]s (start, stop, remove) and [`StatusUpdate`]s.
//!
//! Rules: a task desired RUNNING without a container is started (once: a start that failed is
//! reported FAILED, not retried — the restart supervisor makes a new task); a container that
//! runs is RUNNING (with a healthcheck: once a probe passed; the executor reports Starting
//! until then); one whose healthcheck failed is stopped and FAILED (`dockerexec: unhealthy
//! container`); one that exited is COMPLETE (code 0) or FAILED (`task: non-zero exit (N)`);
//! a task whose desired state moved past RUNNING is stopped (once) and reported SHUTDOWN when its
//! container no longer runs (swarmkit's agent reports SHUTDOWN after the controller's Shutdown
//! returned: a stop may take a while, e.g. the routing mesh's drain before the signal); a
//! container no assigned task owns is stopped, and removed once it stopped (after an agent
//! restart this is how leftovers go: swarmkit#562); a finished task stays assigned until the
//! reaper deletes it, so its stopped container stays as history (`service logs` of a crashed
//! task) and goes when the task does; a task the store believes started but whose container is gone (the
//! machine crashed) is reported FAILED. After a restart the agent adopts running containers of
//! its tasks instead of starting duplicates, because it keys everything by task id.
//!
//! Invariants: at most one container per task (never a start while one exists); one stop per
//! container until it stopped; reported states only rise.

use crate::dispatcher::StatusUpdate;
use crate::model::{IngressBinding, Task, TaskState, TaskStatus};
use std::collections::{BTreeMap, BTreeSet};

/// A container as the executor sees it, found by its task label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub task_id: String,
    pub state: ContainerState,
    /// Where the routing mesh reaches its ingress ports (the Docker executor binds each on the
    /// node's data-path address); reported with RUNNING. Empty in the simulator.
    pub ingress: Vec<IngressBinding>,
    /// The runtime's id of the container (empty in the simulator); reported with RUNNING.
    pub id: String,
}

impl Container {
    pub fn new(task_id: impl Into<String>, state: ContainerState) -> Container {
        Container { task_id: task_id.into(), state, ingress: Vec::new(), id: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// The agent's start of it is still under way (the shell runs starts beside its loop):
    /// there is no container to stop yet. A stop waits until it exists.
    Creating,
    /// Created or starting, not yet running (e.g. a slow start).
    Starting,
    Running,
    Exited(i32),
    /// The executor could not run it (e.g. the image could not be pulled), with its error.
    Failed(String),
    /// Its healthcheck failed `retries` times in a row (it is being killed).
    Unhealthy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Task),
    Stop(String),
    Remove(String),
}

/// A status to report.
fn st(state: TaskState, message: &str, err: &str, exit_code: Option<i32>, timestamp_ms: u64) -> TaskStatus {
    TaskStatus { timestamp_ms, state, message: message.into(), err: err.into(), exit_code, ingress: Vec::new(), container_id: String::new() }
}

#[derive(Debug, Default)]
pub struct Agent {
    node_id: String,
    /// Highest state reported per task (reports are at-least-once; the dispatcher ignores
    /// states that do not rise).
    reported: BTreeMap<String, TaskState>,
    /// Tasks a start was issued for (so it is issued once).
    started: BTreeSet<String>,
    /// Containers a stop was issued for and that still ran at the last look (so a stop that
    /// takes a while is issued once).
    stopping: BTreeSet<String>,
    /// Start errors the shell recorded, by task.
    start_errors: BTreeMap<String, String>,
}

impl Agent {
    pub fn new(node_id: &str) -> Agent {
        Agent { node_id: node_id.to_string(), ..Default::default() }
    }

    /// A new session with a (possibly new) leader: forget what was reported, so every state
    /// the store has not caught up with is reported again (the old leader may have lost it).
    /// What was started and what failed to start is kept.
    pub fn new_session(mut self) -> Agent {
        self.reported.clear();
        self
    }

    /// The executor failed to start `task_id`.
    pub fn start_failed(&mut self, task_id: &str, err: String) {
        self.start_errors.insert(task_id.to_string(), err);
    }

    /// Stops a container once: a stop may take a while (the shell runs it in the background).
    fn stop(&mut self, cmds: &mut Vec<Command>, task_id: &str) {
        if self.stopping.insert(task_id.to_string()) {
            cmds.push(Command::Stop(task_id.to_string()));
        }
    }

    fn report(&mut self, out: &mut Vec<StatusUpdate>, t: &Task, status: TaskStatus) {
        let state = status.state;
        let known = self.reported.get(&t.id).copied().unwrap_or(t.status.state).max(t.status.state);
        if state <= known {
            return;
        }
        self.reported.insert(t.id.clone(), state);
        out.push(StatusUpdate {
            node_id: self.node_id.clone(),
            task_id: t.id.clone(),
            status,
        });
    }

    /// One reconciliation: assigned tasks against listed containers.
    pub fn reconcile(&mut self, assigned: &[Task], containers: &[Container], now_ms: u64) -> (Vec<Command>, Vec<StatusUpdate>) {
        let mut cmds = Vec::new();
        let mut ups = Vec::new();
        let by_task: BTreeMap<&str, &Container> = containers.iter().map(|c| (c.task_id.as_str(), c)).collect();
        let mut owned: BTreeMap<&str, ()> = BTreeMap::new();
        for t in assigned {
            owned.insert(t.id.as_str(), ());
            let c = by_task.get(t.id.as_str()).copied();
            if t.desired_state > TaskState::Running {
                match c.map(|c| &c.state) {
                    Some(ContainerState::Running) | Some(ContainerState::Starting) => self.stop(&mut cmds, &t.id),
                    // A stop now would find nothing and the start would then run it anyway:
                    // stop it once it exists.
                    Some(ContainerState::Creating) => {}
                    _ => {
                        if t.status.state <= TaskState::Running {
                            self.report(&mut ups, t, st(TaskState::Shutdown, "shutdown", "", None, now_ms));
                        }
                    }
                }
                continue;
            }
            if t.desired_state < TaskState::Running {
                // Restart delay: accept now, start when the orchestrator raises it.
                self.report(&mut ups, t, st(TaskState::Accepted, "accepted", "", None, now_ms));
                continue;
            }
            match c.map(|c| &c.state) {
                None => {
                    if let Some(e) = self.start_errors.get(&t.id).cloned() {
                        self.report(&mut ups, t, st(TaskState::Rejected, "preparing", &e, None, now_ms));
                    } else if t.status.state >= TaskState::Starting {
                        // The store says it started and its container is gone (the machine
                        // restarted): it failed.
                        if t.status.state <= TaskState::Running {
                            self.report(&mut ups, t, st(TaskState::Failed, "started", "task: container no longer exists (node restarted?)", None, now_ms));
                        }
                    } else if self.started.insert(t.id.clone()) {
                        cmds.push(Command::Start(t.clone()));
                        self.report(&mut ups, t, st(TaskState::Starting, "starting", "", None, now_ms));
                    }
                }
                Some(ContainerState::Starting) | Some(ContainerState::Creating) => {
                    self.report(&mut ups, t, st(TaskState::Starting, "starting", "", None, now_ms))
                }
                Some(ContainerState::Running) => {
                    let ingress = c.map(|c| c.ingress.clone()).unwrap_or_default();
                    let container_id = c.map(|c| c.id.clone()).unwrap_or_default();
                    self.report(&mut ups, t, TaskStatus { ingress, container_id, ..st(TaskState::Running, "started", "", None, now_ms) })
                }
                Some(ContainerState::Exited(0)) => self.report(&mut ups, t, st(TaskState::Complete, "finished", "", Some(0), now_ms)),
                Some(ContainerState::Exited(code)) => {
                    let err = format!("task: non-zero exit ({code})");
                    self.report(&mut ups, t, st(TaskState::Failed, "started", &err, Some(*code), now_ms))
                }
                Some(ContainerState::Failed(e)) => {
                    let e = e.clone();
                    self.report(&mut ups, t, st(TaskState::Rejected, "preparing", &e, None, now_ms))
                }
                Some(ContainerState::Unhealthy) => {
                    // swarmkit's executor reports the same error when Docker marks it unhealthy.
                    self.stop(&mut cmds, &t.id);
                    self.report(&mut ups, t, st(TaskState::Failed, "started", "dockerexec: unhealthy container", None, now_ms))
                }
            }
        }
        for c in containers {
            if owned.contains_key(c.task_id.as_str()) {
                continue;
            }
            if c.state == ContainerState::Creating {
                // Wait until the start finished, then stop it.
            } else if is_up(&c.state) {
                self.stop(&mut cmds, &c.task_id);
            } else {
                cmds.push(Command::Remove(c.task_id.clone()));
            }
        }
        // Forget tasks that left the assignment set, and stops that finished (bounded memory).
        self.reported.retain(|k, _| owned.contains_key(k.as_str()));
        self.started.retain(|k| owned.contains_key(k.as_str()));
        self.start_errors.retain(|k, _| owned.contains_key(k.as_str()));
        self.stopping.retain(|k| by_task.get(k.as_str()).is_some_and(|c| is_up(&c.state)));
        debug_assert!(
            cmds.iter().all(|c| !matches!(c, Command::Stop(id) if by_task.get(id.as_str()).is_some_and(|c| c.state == ContainerState::Creating))),
            "never a stop while a start is still under way"
        );
        (cmds, ups)
    }
}

/// The container's process is (still) up.
fn is_up(s: &ContainerState) -> bool {
    matches!(s, ContainerState::Running | ContainerState::Starting | ContainerState::Unhealthy)
}

#[cfg(test)]
mod tests;

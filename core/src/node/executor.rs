//! The [`Executor`] trait: what the agent asks of a container runtime (the simulator's
//! scripted one, Docker through bollard in production), and the wire form of the tasks' CPU
//! samples it measures for the autoscaler.

use crate::agent::Container;
use crate::dispatcher::Dependencies;
use crate::model::{Task, TaskUsage};

/// Runs containers for tasks: the simulator's scripted runtime or Docker through bollard.
#[tonic::async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Every container this node's agent owns (found by its task label).
    async fn list(&self) -> Vec<Container>;
    /// Creates and starts the task's container with the secrets and configs it uses (a
    /// secret as the file `/run/secrets/<target>`, a config at its path); Err is the reason
    /// it cannot run.
    async fn start(&self, task: &Task, deps: &Dependencies) -> Result<(), String>;
    /// Stops the task's container (taking it out of the routing mesh first) and returns once
    /// it stopped; `changed()` then fires.
    async fn stop(&self, task_id: &str);
    async fn remove(&self, task_id: &str);
    /// Resolves when a container changed state on its own (exited, finished starting).
    async fn changed(&self);
    /// The node's assignment set changed: its tasks and every secret and config the
    /// dispatcher sent with them (the simulator checks that no other reached the node).
    fn assignments(&self, _tasks: &[Task], _deps: &Dependencies) {}
    /// The CPU each running task used since the previous call (the autoscaler's signal);
    /// empty where nothing is measured.
    async fn usage(&self) -> Vec<TaskUsage> {
        Vec::new()
    }
}

// The wire form of the tasks' CPU samples (heartbeats).
impl From<crate::proto::TaskUsage> for TaskUsage {
    fn from(u: crate::proto::TaskUsage) -> Self {
        TaskUsage { task_id: u.task_id, cpu_millicores: u.cpu_millicores }
    }
}

impl From<TaskUsage> for crate::proto::TaskUsage {
    fn from(u: TaskUsage) -> Self {
        crate::proto::TaskUsage { task_id: u.task_id, cpu_millicores: u.cpu_millicores }
    }
}

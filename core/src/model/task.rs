use super::{Meta, TaskSpec};
use serde::{Deserialize, Serialize};

/// Task states in swarmkit's order. Values only rise: managers raise `desired_state`, agents
/// raise the observed `status.state`; a transition backwards is a bug.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    #[default]
    New,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    /// Desired state only: the task should be removed once it stopped.
    Remove,
    Orphaned,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    pub timestamp_ms: u64,
    pub state: TaskState,
    pub message: String,
    pub err: String,
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub meta: Meta,
    pub service_id: String,
    /// Replicated services: the slot this task fills (1-based). Global: 0.
    pub slot: u64,
    /// Empty until the scheduler assigns it.
    pub node_id: String,
    pub spec: TaskSpec,
    pub spec_version: u64,
    pub desired_state: TaskState,
    pub status: TaskStatus,
}

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
    /// Where the routing mesh reaches the task's ingress ports on its node (the Docker
    /// runtime's: an address the engine bound for each; swarmkit has the task's address on
    /// the ingress overlay). Reported with RUNNING; empty in the simulator, whose mesh is a
    /// model. Skipped when empty so objects without it encode as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IngressBinding>,
    /// The runtime's id of the task's container, reported from RUNNING on and kept once known
    /// (docker's `ContainerStatus.ContainerID`). Empty in the simulator.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_id: String,
}

/// One ingress port of a running task, as the routing mesh reaches it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IngressBinding {
    /// "tcp" or "udp" ("" = tcp).
    pub protocol: String,
    /// The port inside the container.
    pub target_port: u32,
    /// `ip:port` where another node's mesh reaches it.
    pub addr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub meta: Meta,
    pub service_id: String,
    /// The service's name when the task was made (swarmkit's `ServiceAnnotations`): agents
    /// label containers with it.
    #[serde(default)]
    pub service_name: String,
    /// Replicated services: the slot this task fills (1-based). Global: 0.
    pub slot: u64,
    /// Empty until the scheduler assigns it.
    pub node_id: String,
    pub spec: TaskSpec,
    /// The service's published ports as allocated when the task left NEW (swarmkit's
    /// `Task.Endpoint`): the agent's executor binds the task into the routing mesh with them.
    #[serde(default)]
    pub endpoint_ports: Vec<super::PortConfig>,
    /// The task's address on each network of its spec, given by the allocator when it left
    /// NEW (swarmkit's `Task.Networks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<super::NetworkAttachment>,
    pub spec_version: u64,
    pub desired_state: TaskState,
    pub status: TaskStatus,
    /// Times (ms) of the restarts that led to this task in its slot, oldest first, trimmed to
    /// the restart policy's window: the restart supervisor counts attempts from it, so the count
    /// survives a leader change.
    #[serde(default)]
    pub restart_history_ms: Vec<u64>,
    /// A replacement created with desired READY starts (desired RUNNING) no earlier than this
    /// (the restart delay; 0 = no delay), and only once the task it replaces stopped.
    #[serde(default)]
    pub start_after_ms: u64,
}

impl Task {
    /// The ingress ports the task publishes through the routing mesh (allocated, non-zero).
    pub fn ingress_ports(&self) -> impl Iterator<Item = u32> + '_ {
        self.endpoint_ports
            .iter()
            .filter(|p| p.publish_mode == super::PublishMode::Ingress && p.published_port != 0)
            .map(|p| p.published_port)
    }

    /// The task still counts for its slot: the orchestrator wants it to run (or to be ready).
    pub fn is_live(&self) -> bool {
        self.desired_state <= TaskState::Running
    }

    /// The task's process is gone for good (or never came).
    pub fn is_terminal(&self) -> bool {
        self.status.state > TaskState::Running
    }

    /// The task holds resources on its node: assigned and not yet stopped.
    pub fn holds_resources(&self) -> bool {
        !self.node_id.is_empty() && self.status.state <= TaskState::Running && self.desired_state <= TaskState::Running
    }
}

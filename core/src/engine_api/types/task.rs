//! Tasks: status (with container and port status) and the task object.

use super::*;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerStatus {
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "PID")]
    pub pid: i64,
    pub exit_code: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    pub timestamp: String,
    pub state: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub err: String,
    /// Always written (the visualizer reads `ContainerStatus.ContainerID` unchecked).
    pub container_status: ContainerStatus,
    pub port_status: PortStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    #[serde(rename = "ID")]
    pub id: String,
    pub version: Version,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub spec: TaskSpec,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub slot: u64,
    #[serde(default, rename = "NodeID", skip_serializing_if = "String::is_empty")]
    pub node_id: String,
    pub status: TaskStatus,
    pub desired_state: String,
    /// Jobs only: the run of the job the task belongs to (the service's `JobStatus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_iteration: Option<Version>,
    /// The task's addresses on its networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks_attachments: Vec<super::NetworkAttachment>,
}

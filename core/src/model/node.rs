use super::{Annotations, Meta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    #[default]
    Worker,
    Manager,
}

impl NodeRole {
    /// The name operators write (`node.role==manager`, `swarm join-token worker`).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Worker => "worker",
            NodeRole::Manager => "manager",
        }
    }

    pub fn parse(s: &str) -> Option<NodeRole> {
        match s {
            "worker" => Some(NodeRole::Worker),
            "manager" => Some(NodeRole::Manager),
            _ => None,
        }
    }
}

/// Whether the scheduler may place tasks on the node (swarm's `--availability`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeAvailability {
    #[default]
    Active,
    Pause,
    Drain,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    #[default]
    Unknown,
    Down,
    Ready,
    Disconnected,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub annotations: Annotations,
    /// The role the operator wants; `Node::role` is the role the node has now.
    pub desired_role: NodeRole,
    pub availability: NodeAvailability,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

/// Resources in swarmkit's units: CPUs in billionths, memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    #[serde(default)]
    pub generic: BTreeMap<String, i64>,
}

/// What the node reports about itself when it registers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescription {
    pub hostname: String,
    pub platform: Platform,
    pub resources: Resources,
    #[serde(default)]
    pub engine_labels: BTreeMap<String, String>,
    /// The IP other nodes reach this node's tasks at (`--data-path-addr`, the overlay's VXLAN
    /// tunnel endpoint); empty: the IP of the node's address.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_path_addr: String,
    /// The certificates the node holds (production; empty in the simulator).
    #[serde(default, skip_serializing_if = "super::TlsInfo::is_empty")]
    pub tls_info: super::TlsInfo,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub state: NodeState,
    pub message: String,
    pub addr: String,
    /// When the node was marked down (ms); 0 while it is not down.
    #[serde(default)]
    pub down_since_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerStatus {
    pub raft_id: u64,
    pub addr: String,
    pub leader: bool,
    /// The leader's raft has not heard from this manager lately (swarm's raft reachability);
    /// written by the leader when it changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreachable: bool,
}

impl Node {
    /// A manager's raft reachability as swarm shows it (`reachable` / `unreachable`): a
    /// manager the leader's raft cannot reach, or whose heartbeats stopped (DOWN), is
    /// unreachable; none for a worker.
    pub fn reachability(&self) -> Option<&'static str> {
        self.manager_status
            .as_ref()
            .map(|m| if m.unreachable || self.status.state == NodeState::Down { "unreachable" } else { "reachable" })
    }

    /// `node ls`'s MANAGER STATUS column: `Leader`, `Reachable`, `Unreachable`, or empty.
    pub fn manager_status_text(&self) -> &'static str {
        match (&self.manager_status, self.reachability()) {
            (Some(m), _) if m.leader => "Leader",
            (_, Some("unreachable")) => "Unreachable",
            (_, Some(_)) => "Reachable",
            _ => "",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: String,
    pub meta: Meta,
    pub spec: NodeSpec,
    pub role: NodeRole,
    pub description: Option<NodeDescription>,
    pub status: NodeStatus,
    pub manager_status: Option<ManagerStatus>,
    /// The raft member id the node uses when it is (or becomes) a manager; 0 = unknown. The
    /// leader derives `role` and `manager_status` from the raft membership through it.
    #[serde(default)]
    pub raft_id: u64,
}

#[cfg(test)]
mod manager_status_tests {
    use super::*;

    #[test]
    fn a_down_manager_is_unreachable_and_a_worker_has_no_status() {
        let mut n = Node { manager_status: Some(ManagerStatus { raft_id: 1, addr: "a:1".into(), ..Default::default() }), ..Default::default() };
        n.status.state = NodeState::Ready;
        assert_eq!((n.reachability(), n.manager_status_text()), (Some("reachable"), "Reachable"));
        n.status.state = NodeState::Down;
        assert_eq!((n.reachability(), n.manager_status_text()), (Some("unreachable"), "Unreachable"));
        n.status.state = NodeState::Ready;
        n.manager_status.as_mut().unwrap().unreachable = true;
        assert_eq!((n.reachability(), n.manager_status_text()), (Some("unreachable"), "Unreachable"), "raft cannot reach it");
        n.manager_status.as_mut().unwrap().leader = true;
        assert_eq!(n.manager_status_text(), "Leader");
        n.manager_status = None;
        assert_eq!((n.reachability(), n.manager_status_text()), (None, ""));
    }
}

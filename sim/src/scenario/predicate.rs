//! The `expect` predicates of scenario steps: what each means (evaluated by the runner,
//! sim/src/runner/expect.rs) and how `expect = "…"` reads.

use super::grammar::{count, known_node, one_of, requests};
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// A leader newer than every leader crashed or cut off so far committed in its term.
    LeaderElected,
    /// All live managers applied the same index with the same state hash.
    ManagersAgree,
    /// N writes acknowledged since the current load started.
    WritesCommitted(u64),
    /// No write acknowledged for this long (quorum lost).
    NoWritesFor(Duration),
    /// Some node installed a snapshot sent by the leader.
    SnapshotInstalled,
    /// `service NAME running N`: exactly N containers of the service run on live nodes.
    ServiceRunning { service: String, n: usize },
    /// `service NAME tasks-on NODE N`: N containers of the service run on NODE.
    ServiceTasksOn { service: String, node: String, n: usize },
    /// `service NAME completed N`: N tasks of the (job) service completed with exit 0.
    ServiceCompleted { service: String, n: usize },
    /// `service NAME tasks N`: the store holds N tasks of the service, finished ones kept as
    /// history included (a restart or a replacement adds one).
    ServiceTasks { service: String, n: usize },
    /// `node NAME tasks N`: N containers (of any service) run on the node.
    NodeTasks { node: String, n: usize },
    /// `task of NAME pending with "TEXT"`: a live task of the service is pending and its
    /// status says TEXT.
    TaskPendingWith { service: String, text: String },
    /// `node NAME status down|ready` (as the leader's store says).
    NodeStatus { node: String, ready: bool },
    /// `service NAME update-state STATE`: the service's update status (updating, paused,
    /// completed, rollback_started, rollback_paused, rollback_completed) as the store says.
    ServiceUpdateState { service: String, state: String },
    /// `service NAME update-message "TEXT"`: the service's update status message (as the
    /// store says) contains TEXT, e.g. `update paused due to failure or early termination`.
    ServiceUpdateMessage { service: String, text: String },
    /// `service NAME running N image IMG`: exactly N containers of the service run IMG.
    ServiceRunningImage { service: String, n: usize, image: String },
    /// `stack NAME running`: the stack has services and each runs what `services converged`
    /// asks of it.
    StackRunning { stack: String },
    /// `plan holds`: the services the last `--dry-run` step's plan touched run their
    /// containers where the plan said they would end (ground truth, per node).
    PlanHolds,
    /// `services converged`: every replicated service runs exactly its replicas and every
    /// global service one container per ready, active node that matches its constraints
    /// (ground truth), i.e. the liveness bound after faults heal.
    ServicesConverged,
    /// `node NAME role manager|worker` (as the leader's store says).
    NodeRole { node: String, manager: bool },
    /// `node ls`'s MANAGER STATUS column for the node: `Leader`, `Reachable`, `Unreachable`.
    NodeManagerStatus { node: String, status: String },
    /// `node NAME locked|unlocked`: the machine's manager waits for `swarm unlock`, or has
    /// opened its disk and started.
    NodeLocked { node: String, locked: bool },
    /// `certificates converged` (where the scenario models certificates): no root rotation
    /// under way, and every live node of the swarm holds a certificate of the swarm's root, in
    /// the role the store gives it, and trusts that root alone.
    CertificatesConverged,
    /// `nodes with hostname NAME N`: the store lists N nodes of that machine (a machine that
    /// left and joined again is a second node until the first is removed).
    NodesWithHostname { host: String, n: usize },
    /// `service NAME resolves N`: `tasks.NAME` answers N addresses on every live machine whose
    /// networks table has the name (the machines' own copies of the leader's table).
    ServiceResolves { service: String, n: usize },
    /// `requests failed N` (exactly), `requests failed <= N` (or `≤`), `requests failed >= N`
    /// (or `≥`): requests through the mesh that failed since the last `load service` started.
    RequestsFailed { n: u64, cmp: Cmp },
    /// `requests succeeded >= N` (or `≥`): at least N requests through the mesh succeeded since
    /// the last `load service` started.
    RequestsSucceeded(u64),
    /// `logs contain N "TEXT"`: at least N lines that `service logs` steps received (so far,
    /// with `-f` still streaming) contain TEXT.
    LogsContain { n: usize, text: String },
}

impl Predicate {
    /// Whether the predicate reads nothing but the containers, the machines' up/down state
    /// and the most advanced store, all of which `Cluster::ground_version` follows (the runner
    /// looks again only when it moved). Leadership, checkers, loads, logs and time are not.
    pub fn reads_world_only(&self) -> bool {
        match self {
            Predicate::ServiceRunning { .. }
            | Predicate::ServiceTasksOn { .. }
            | Predicate::ServiceCompleted { .. }
            | Predicate::ServiceTasks { .. }
            | Predicate::NodeTasks { .. }
            | Predicate::TaskPendingWith { .. }
            | Predicate::ServiceUpdateState { .. }
            | Predicate::ServiceUpdateMessage { .. }
            | Predicate::ServiceRunningImage { .. }
            | Predicate::StackRunning { .. }
            | Predicate::ServicesConverged
            | Predicate::PlanHolds
            | Predicate::NodesWithHostname { .. } => true,
            // A node's id is known to the runner only once its join answer arrived, which
            // may be after the store changed.
            Predicate::NodeStatus { .. } | Predicate::NodeRole { .. } | Predicate::NodeManagerStatus { .. } => false,
            // The lock is the machine's, not the store's or the containers'.
            Predicate::NodeLocked { .. } => false,
            // Certificates are the machines' and change by their renewals.
            Predicate::CertificatesConverged => false,
            // The machines' tables change by the agents' polls, not with the containers.
            Predicate::ServiceResolves { .. } => false,
            Predicate::LeaderElected
            | Predicate::ManagersAgree
            | Predicate::WritesCommitted(_)
            | Predicate::NoWritesFor(_)
            | Predicate::SnapshotInstalled
            | Predicate::RequestsFailed { .. }
            | Predicate::RequestsSucceeded(_)
            | Predicate::LogsContain { .. } => false,
        }
    }
}

/// How a count compares with the predicate's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    AtMost,
    AtLeast,
}

impl Cmp {
    pub fn holds(self, have: u64, want: u64) -> bool {
        match self {
            Cmp::Eq => have == want,
            Cmp::AtMost => have <= want,
            Cmp::AtLeast => have >= want,
        }
    }
}

pub(super) fn parse_predicate(words: &[&str], names: &BTreeSet<String>) -> Result<Predicate, String> {
    match words {
        ["leader", "elected"] => Ok(Predicate::LeaderElected),
        ["managers", "agree"] => Ok(Predicate::ManagersAgree),
        ["snapshot", "installed"] => Ok(Predicate::SnapshotInstalled),
        ["writes", "committed", n] => {
            n.parse().map(Predicate::WritesCommitted).map_err(|_| format!("{n:?} is not a count of writes"))
        }
        ["no", "writes", "for", d] => humantime::parse_duration(d)
            .map(Predicate::NoWritesFor)
            .map_err(|e| format!("{d:?} is not a duration ({e})")),
        ["service", svc, "completed", n] => Ok(Predicate::ServiceCompleted { service: svc.to_string(), n: count(n)? }),
        ["service", svc, "running", n] => Ok(Predicate::ServiceRunning { service: svc.to_string(), n: count(n)? }),
        ["service", svc, "resolves", n] => Ok(Predicate::ServiceResolves { service: svc.to_string(), n: count(n)? }),
        ["service", svc, "running", n, "image", image] => {
            Ok(Predicate::ServiceRunningImage { service: svc.to_string(), n: count(n)?, image: image.to_string() })
        }
        ["service", svc, "update-state", st] => {
            const STATES: [&str; 6] = ["updating", "paused", "completed", "rollback_started", "rollback_paused", "rollback_completed"];
            if !STATES.contains(st) {
                return Err(format!("update state {st:?}: use one of {}", STATES.join(", ")));
            }
            Ok(Predicate::ServiceUpdateState { service: svc.to_string(), state: st.to_string() })
        }
        ["service", svc, "update-message", rest @ ..] if !rest.is_empty() => {
            Ok(Predicate::ServiceUpdateMessage { service: svc.to_string(), text: rest.join(" ") })
        }
        ["service", svc, "tasks", n] => Ok(Predicate::ServiceTasks { service: svc.to_string(), n: count(n)? }),
        ["service", svc, "tasks-on", node, n] => {
            known_node(node, names)?;
            Ok(Predicate::ServiceTasksOn { service: svc.to_string(), node: node.to_string(), n: count(n)? })
        }
        ["node", node, "tasks", n] => {
            known_node(node, names)?;
            Ok(Predicate::NodeTasks { node: node.to_string(), n: count(n)? })
        }
        ["node", node, "status", st] => {
            known_node(node, names)?;
            Ok(Predicate::NodeStatus { node: node.to_string(), ready: one_of(st, "ready", "down", "node status")? })
        }
        ["services", "converged"] => Ok(Predicate::ServicesConverged),
        ["certificates", "converged"] => Ok(Predicate::CertificatesConverged),
        ["plan", "holds"] => Ok(Predicate::PlanHolds),
        ["stack", name, "running"] => Ok(Predicate::StackRunning { stack: name.to_string() }),
        ["nodes", "with", "hostname", host, n] => {
            known_node(host, names)?;
            Ok(Predicate::NodesWithHostname { host: host.to_string(), n: count(n)? })
        }
        ["node", node, st @ ("locked" | "unlocked")] => {
            known_node(node, names)?;
            Ok(Predicate::NodeLocked { node: node.to_string(), locked: *st == "locked" })
        }
        ["node", node, "manager-status", st] => {
            known_node(node, names)?;
            const STATUSES: [&str; 3] = ["Leader", "Reachable", "Unreachable"];
            if !STATUSES.contains(st) {
                return Err(format!("manager status {st:?}: use one of {}, as `node ls` shows them", STATUSES.join(", ")));
            }
            Ok(Predicate::NodeManagerStatus { node: node.to_string(), status: st.to_string() })
        }
        ["node", node, "role", r] => {
            known_node(node, names)?;
            Ok(Predicate::NodeRole { node: node.to_string(), manager: one_of(r, "manager", "worker", "node role")? })
        }
        ["task", "of", svc, "pending", "with", rest @ ..] if !rest.is_empty() => {
            let text = rest.join(" ");
            let text = text.trim_matches('"').to_string();
            Ok(Predicate::TaskPendingWith { service: svc.to_string(), text })
        }
        ["logs", "contain", n, rest @ ..] if !rest.is_empty() => {
            let text = rest.join(" ").trim_matches('"').to_string();
            Ok(Predicate::LogsContain { n: count(n)?, text })
        }
        ["requests", "failed", n] => Ok(Predicate::RequestsFailed { n: requests(n)?, cmp: Cmp::Eq }),
        ["requests", "failed", "<=" | "≤", n] => Ok(Predicate::RequestsFailed { n: requests(n)?, cmp: Cmp::AtMost }),
        ["requests", "failed", ">=" | "≥", n] => Ok(Predicate::RequestsFailed { n: requests(n)?, cmp: Cmp::AtLeast }),
        ["requests", "succeeded", ">=" | "≥", n] => Ok(Predicate::RequestsSucceeded(requests(n)?)),
        ["requests", ..] => {
            Err("use `requests failed N`, `requests failed <= N`, `requests failed >= N` or `requests succeeded >= N`".into())
        }
        _ => Err(format!(
            "unknown predicate {:?}: use `leader elected`, `managers agree`, `writes committed N`, \
             `no writes for D`, `snapshot installed`, `service NAME running N [image IMG]`, `service NAME update-state STATE`, `service NAME update-message \"TEXT\"`, `service NAME completed N`, `service NAME tasks N`, `service NAME tasks-on NODE N`, \
             `node NAME tasks N`, `node NAME status ready|down`, `node NAME role manager|worker`, `nodes with hostname NAME N`, `services converged`, `plan holds`, `requests failed [<=|>=] N`, `requests succeeded >= N`, `logs contain N \"TEXT\"` or `task of NAME pending with \"TEXT\"`",
            words.join(" ")
        )),
    }
}

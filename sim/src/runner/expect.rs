//! Expectations (`expect = "…"` steps): a predicate looked at until it holds or its bound
//! passes, over the ground truth (containers, machines, the most advanced store), the
//! checkers, the loads and the logs; on a miss, what the world looked like.

use super::{plan, Run, POLL};
use crate::cluster::Cluster;
use crate::scenario::Predicate;
use crate::trace::now_secs;
use shoal_core::model::{Kind, NodeState, Object, TaskState};
use std::collections::BTreeMap;
use std::time::Duration;

impl Run {
    /// Polls `p` until it holds or `within` passes. Err carries extra context for the message.
    pub(super) async fn expect(&self, p: &Predicate, within: Duration) -> Result<(), String> {
        let start = tokio::time::Instant::now();
        let start_secs = now_secs();
        let end = start + within;
        // A predicate of the store and the containers alone is looked at again only when
        // they may have changed (`ground_version`): polled every 10 ms over 5,000 containers,
        // it was a sixth of a large cluster's wall time.
        let world_only = p.reads_world_only();
        let mut looked_at = None;
        loop {
            if !self.checkers.violations().is_empty() {
                return Err(" (a violation stopped the run)".into());
            }
            let holds = {
                let c = self.cluster.lock().unwrap();
                let version = world_only.then(|| c.ground_version());
                let unchanged = version.is_some() && version == looked_at;
                looked_at = version;
                !unchanged && match p {
                    Predicate::LeaderElected => c.leader_elected(),
                    Predicate::ManagersAgree => c.managers_agree().is_some(),
                    Predicate::WritesCommitted(n) => self.checkers.with_acked(|a| a.since_load() >= *n),
                    Predicate::NoWritesFor(d) => {
                        // Quiet since the last ack or since this step started, whichever is later.
                        let quiet_since = self.checkers.with_acked(|a| a.last_ack_secs()).max(start_secs);
                        now_secs() - quiet_since >= d.as_secs_f64()
                    }
                    Predicate::SnapshotInstalled => self.checkers.snapshots_installed() > 0,
                    Predicate::ServiceRunning { service, n } => running(&c, Some(service), None) == *n,
                    Predicate::ServiceTasksOn { service, node, n } => {
                        c.index_of(node).is_some_and(|i| running(&c, Some(service), Some(i)) == *n)
                    }
                    Predicate::NodeTasks { node, n } => c.index_of(node).is_some_and(|i| running(&c, None, Some(i)) == *n),
                    Predicate::NodeStatus { node, ready } => {
                        let want = if *ready { NodeState::Ready } else { NodeState::Down };
                        node_in_store(&c, node, |n| n.status.state == want)
                    }
                    Predicate::ServicesConverged => converged(&c).is_ok(),
                    Predicate::CertificatesConverged => c.pki.is_some() && certificates_converged(&c).is_ok(),
                    Predicate::PlanHolds => self.plan.as_ref().is_some_and(|p| plan::holds(&c, p).is_ok()),
                    Predicate::ServiceResolves { service, n } => c.resolves(service) == Some(*n),
                    Predicate::StackRunning { stack } => converged_where(&c, |svc| shoal_core::stack::deploy::service_in_stack(svc, stack)).is_ok_and(|n| n > 0),
                    Predicate::ServiceUpdateState { service, state } => c
                        .with_best_store(|s| {
                            shoal_core::control::find_service(s, service).ok().and_then(|x| x.update_status.as_ref()).is_some_and(|u| {
                                serde_json::to_value(u.state).ok().and_then(|v| v.as_str().map(|v| v == state)).unwrap_or(false)
                            })
                        })
                        .unwrap_or(false),
                    Predicate::ServiceRunningImage { service, n, image } => c.running_image(service, image) == *n,
                    Predicate::ServiceUpdateMessage { service, text } => c
                        .with_best_store(|s| {
                            shoal_core::control::find_service(s, service)
                                .ok()
                                .and_then(|x| x.update_status.as_ref())
                                .is_some_and(|u| u.message.contains(text.as_str()))
                        })
                        .unwrap_or(false),
                    Predicate::NodesWithHostname { host, n } => c
                        .with_best_store(|s| {
                            s.list(Kind::Node)
                                .filter(|o| matches!(o, Object::Node(x) if x.description.as_ref().is_some_and(|d| d.hostname == *host)))
                                .count()
                                == *n
                        })
                        .unwrap_or(false),
                    Predicate::ServiceCompleted { service, n } => c
                        .with_best_store(|s| {
                            s.list(Kind::Task)
                                .filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None })
                                .filter(|t| t.service_name == *service && t.status.state == TaskState::Complete)
                                .filter(|t| t.status.exit_code.unwrap_or(0) == 0)
                                .count()
                                == *n
                        })
                        .unwrap_or(false),
                    Predicate::ServiceTasks { service, n } => c
                        .with_best_store(|s| {
                            s.list(Kind::Task).filter(|o| matches!(o, Object::Task(t) if t.service_name == *service)).count() == *n
                        })
                        .unwrap_or(false),
                    Predicate::RequestsFailed { n, cmp } => cmp.holds(self.requests.lock().unwrap().load.failed, *n),
                    Predicate::RequestsSucceeded(n) => self.requests.lock().unwrap().load.succeeded >= *n,
                    Predicate::LogsContain { n, text } => self.logs.lock().unwrap().iter().filter(|l| l.contains(text.as_str())).count() >= *n,
                    Predicate::NodeLocked { node, locked } => {
                        // Unlocked means started: a machine that has not opened its disk yet
                        // is neither.
                        c.index_of(node).is_some_and(|i| {
                            let is_locked = c.nodes[i].lock_state().lock().unwrap().locked;
                            c.nodes[i].up && if *locked { is_locked } else { !is_locked && c.manager(i).is_some() }
                        })
                    }
                    Predicate::NodeManagerStatus { node, status } => node_in_store(&c, node, |n| n.manager_status_text() == status),
                    Predicate::NodeRole { node, manager } => {
                        let want = if *manager { shoal_core::model::NodeRole::Manager } else { shoal_core::model::NodeRole::Worker };
                        node_in_store(&c, node, |n| n.role == want)
                    }
                    Predicate::TaskPendingWith { service, text } => c
                        .with_best_store(|s| {
                            s.list(Kind::Task).any(|o| match o {
                                Object::Task(t) => {
                                    t.service_name == *service
                                        && t.is_live()
                                        && t.status.state == TaskState::Pending
                                        && (t.status.err.contains(text.as_str()) || t.status.message.contains(text.as_str())) // error text: the scenario's own words
                                }
                                _ => false,
                            })
                        })
                        .unwrap_or(false),
                }
            };
            if holds {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                let c = self.cluster.lock().unwrap();
                let voters = c.voters();
                let views: Vec<String> = (0..c.nodes.len())
                    .filter(|i| c.nodes[*i].manager || voters.contains(&c.nodes[*i].raft_id))
                    .filter_map(|i| c.view(i).map(|v| format!("{}:{:?}/t{}/i{}", c.nodes[i].name, v.state, v.term, v.applied)))
                    .collect();
                let world = match p {
                    Predicate::ServiceRunning { service, .. }
                    | Predicate::ServiceRunningImage { service, .. }
                    | Predicate::ServiceUpdateState { service, .. }
                    | Predicate::ServiceUpdateMessage { service, .. }
                    | Predicate::ServiceCompleted { service, .. }
                    | Predicate::ServiceTasks { service, .. }
                    | Predicate::ServiceTasksOn { service, .. }
                    | Predicate::TaskPendingWith { service, .. } => {
                        format!("; {service} runs {} containers; tasks: {}", running(&c, Some(service), None), task_summary(&c, service))
                    }
                    Predicate::ServicesConverged => format!("; {}", converged(&c).err().unwrap_or_default()),
                    Predicate::PlanHolds => match &self.plan {
                        None => "; no `--dry-run` step ran before".into(),
                        Some(p) => format!("; {}", plan::holds(&c, p).err().unwrap_or_default()),
                    },
                    Predicate::StackRunning { stack } => match converged_where(&c, |svc| shoal_core::stack::deploy::service_in_stack(svc, stack)) {
                        Ok(0) => format!("; the stack {stack} has no service"),
                        Ok(_) => String::new(),
                        Err(e) => format!("; {e}"),
                    },
                    Predicate::RequestsFailed { .. } | Predicate::RequestsSucceeded(_) => {
                        let r = &self.requests.lock().unwrap().load;
                        format!("; requests since the load started: sent {} succeeded {} failed {} {:?}", r.sent, r.succeeded, r.failed, r.failed_by)
                    }
                    Predicate::LogsContain { .. } => {
                        let logs = self.logs.lock().unwrap();
                        format!("; {} log lines received, the last: {:?}", logs.len(), logs.iter().rev().take(5).collect::<Vec<_>>())
                    }
                    Predicate::NodeTasks { .. } => {
                        let per: Vec<String> = (0..c.nodes.len().min(20))
                            .map(|i| format!("{}={}", c.nodes[i].name, running(&c, None, Some(i))))
                            .collect();
                        format!("; running containers per node: {}", per.join(" "))
                    }
                    _ => String::new(),
                };
                return Err(format!(" (nodes: {}{world})", views.join(" ")));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Whether the most advanced store's Node object of the simulated machine `name` satisfies `p`.
fn node_in_store(c: &Cluster, name: &str, p: impl FnOnce(&shoal_core::model::Node) -> bool) -> bool {
    let Some(i) = c.index_of(name) else { return false };
    let Some(id) = c.nodes[i].identity.known_id() else { return false };
    c.with_best_store(|s| match s.get(Kind::Node, &id) {
        Some(Object::Node(n)) => p(n),
        _ => false,
    })
    .unwrap_or(false)
}

/// Containers that really run (ground truth), of one service and/or on one node.
pub(super) fn running(c: &Cluster, service: Option<&String>, node: Option<usize>) -> usize {
    let nodes: Vec<usize> = match node {
        Some(i) => vec![i],
        None => (0..c.nodes.len()).collect(),
    };
    nodes.into_iter().map(|i| c.running(i, service.map(String::as_str))).sum()
}

/// Every service as desired, every machine's names answering only running tasks, and where
/// the scenario models certificates, every live node holding one of the swarm's root alone.
fn converged(c: &Cluster) -> Result<(), String> {
    converged_where(c, |_| true)?;
    certificates_converged(c)?;
    match c.stale_name() {
        Some(stale) => Err(format!("DNS not converged: {stale}")),
        None => Ok(()),
    }
}

/// No rotation under way, and every live node of the swarm (in the most advanced store)
/// holding a certificate of the swarm's root and trusting it alone.
fn certificates_converged(c: &Cluster) -> Result<(), String> {
    let Some(pki) = &c.pki else { return Ok(()) };
    let (root, known, lagging) = c
        .with_best_store(|s| {
            let root = shoal_core::control::cluster(s).ok().map(|cl| cl.root_ca.clone());
            // During a rotation, the nodes whose reports hold it up.
            let nodes = s.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None });
            let lagging: Vec<String> = root
                .as_ref()
                .map(|r| shoal_core::ca::rotation::holding_up(r, nodes))
                .unwrap_or_default()
                .into_iter()
                .map(|n| format!("{} ({:?})", n.description.as_ref().map_or(n.id.as_str(), |d| d.hostname.as_str()), n.status.state))
                .collect();
            let known: BTreeMap<String, shoal_core::model::NodeRole> =
                s.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some((n.id.clone(), n.spec.desired_role)) } else { None }).collect();
            (root, known, lagging)
        })
        .ok_or("no manager is up")?;
    let root = root.ok_or("the store has no cluster object")?;
    if !lagging.is_empty() {
        let more = if lagging.len() > 3 { format!(" and {} more", lagging.len() - 3) } else { String::new() };
        return Err(format!("certificates not converged: the root CA rotation waits for {}{more}", lagging[..lagging.len().min(3)].join(", ")));
    }
    let members: Vec<_> = c
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, m)| m.up)
        .filter_map(|(i, m)| {
            let id = m.identity.node_id()?;
            known.get(&id).map(|role| crate::pki::Member { ip: crate::cluster::ip_of(i), name: m.name.clone(), node_id: id.clone(), role: *role })
        })
        .collect();
    match pki.unconverged(&root, &members) {
        Some(why) => Err(format!("certificates not converged: {why}")),
        None => Ok(()),
    }
}

/// [`converged`] over the services `keep` keeps; how many there are.
fn converged_where(c: &Cluster, keep: impl Fn(&shoal_core::model::Service) -> bool) -> Result<usize, String> {
    use shoal_core::model::ServiceMode;
    let wants: Vec<(String, usize)> = c
        .with_best_store(|s| {
            let nodes: Vec<&shoal_core::model::Node> =
                s.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect();
            s.list_services()
                // Jobs run to completion: `service NAME completed N` checks them.
                .filter(|svc| matches!(svc.spec.mode, ServiceMode::Replicated { .. } | ServiceMode::Global) && keep(svc))
                .map(|svc| {
                    let want = match svc.spec.mode {
                        ServiceMode::Replicated { replicas } => replicas as usize,
                        _ => {
                            let cs = shoal_core::constraint::Constraint::parse_all(&svc.spec.task.placement.constraints)
                                .unwrap_or_default();
                            nodes.iter().filter(|n| shoal_core::orchestrator::takes_global_task(n, &cs)).count()
                        }
                    };
                    (svc.spec.annotations.name.clone(), want)
                })
                .collect()
        })
        .ok_or("no manager is up")?;
    for (name, want) in &wants {
        let have = running(c, Some(name), None);
        if have != *want {
            return Err(format!("service {name} runs {have} of {want}: {}", task_summary(c, name)));
        }
    }
    Ok(wants.len())
}

/// The live tasks of a service for failure messages: counts per state, then up to 10 tasks
/// that do not run, as "slot/state@node (error)".
fn task_summary(c: &Cluster, service: &str) -> String {
    let hosts: BTreeMap<String, String> =
        c.nodes.iter().filter_map(|n| Some((n.identity.known_id()?, n.name.clone()))).collect();
    c.with_best_store(|s| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut odd = Vec::new();
        let svc = shoal_core::control::find_service(s, service).ok();
        let mut older = Vec::new();
        for t in s.list(Kind::Task).filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }) {
            if t.service_name != service || !t.is_live() {
                continue;
            }
            if svc.is_some_and(|v| t.spec_version < v.spec_version) && older.len() < 10 {
                older.push(format!("{}/v{}/{:?}", t.slot, t.spec_version, t.status.state));
            }
            *counts.entry(format!("{:?}", t.status.state)).or_default() += 1;
            if t.status.state != TaskState::Running && odd.len() < 10 {
                let host = hosts.get(&t.node_id).cloned().unwrap_or_else(|| "-".into());
                // Why it waits: its error, or (not placed yet) the allocator's or scheduler's word.
                let why = match (t.status.err.as_str(), t.status.state < TaskState::Assigned) {
                    ("", true) if !t.status.message.is_empty() => format!(" ({})", t.status.message),
                    ("", _) => String::new(),
                    (err, _) => format!(" ({err})"),
                };
                // What may hold the slot (a global service's: its node): its other tasks that
                // have not ended, the first few.
                let same_slot = |x: &shoal_core::model::Task| if t.slot == 0 { x.node_id == t.node_id } else { x.slot == t.slot };
                let mut held: Vec<String> = s
                    .list(Kind::Task)
                    .filter_map(|o| if let Object::Task(x) = o { Some(x) } else { None })
                    .filter(|x| x.service_id == t.service_id && same_slot(x) && x.id != t.id && x.status.state <= TaskState::Running)
                    .map(|x| format!("{}:{:?}->{:?}@{}", x.spec_version, x.status.state, x.desired_state, hosts.get(&x.node_id).map(String::as_str).unwrap_or("-")))
                    .collect();
                if held.len() > 5 {
                    let more = held.len() - 5;
                    held.truncate(5);
                    held.push(format!("and {more} more"));
                }
                let held = if held.is_empty() { String::new() } else { format!(" [slot also: {}]", held.join(" ")) };
                odd.push(format!("{}/{:?}->{:?}@{host}{why}{held}", t.slot, t.status.state, t.desired_state));
            }
        }
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let update = svc
            .and_then(|v| v.update_status.as_ref().map(|u| format!("; update {:?} {:?} spec v{}", u.state, u.message, v.spec_version)))
            .unwrap_or_default();
        let older = if older.is_empty() { String::new() } else { format!("; of an older spec: {}", older.join(", ")) };
        format!("{}; not running: {}{update}{older}", counts.join(" "), odd.join(", "))
    })
    .unwrap_or_default()
}

//! Scenario files: a cluster, timed steps (actions, faults, expectations) and background fault
//! injectors, in TOML. The format is documented in docs/scenarios.md.
//!
//! Parsing validates everything that can be checked before a run — keys, types, durations,
//! verbs, node names, partition sides — and reports the file, line and key of the first
//! problem. Nothing runs from a file that did not validate.

mod grammar;
mod images;
mod predicate;
mod raw;
mod sim_params;

use raw::{raft_config, RawNode, RawScenario};

pub use sim_params::SimParams;
pub use grammar::{parse_action, Action, DoCmd, Fault, JoinOptions, Selector, RESERVED};
pub use predicate::{Cmp, Predicate};
pub use images::{Behaviour, ImageSpec};



use shoal_core::model::RaftConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// A problem in a scenario file: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}:{}: key `{}`: {}", self.file, self.line, self.key, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub manager: bool,
    pub labels: BTreeMap<String, String>,
    pub nano_cpus: i64,
    pub memory_bytes: i64,
    /// Powered off until a `node add NAME` step (a new machine joining).
    pub joins_later: bool,
    /// A twin's machine: the node of the snapshot it stands for.
    pub twin: Option<crate::twin::TwinMachine>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    /// Right after the previous step.
    Next,
    /// At this absolute virtual time (or at once if already past).
    At(Duration),
    /// This long after the previous step finished.
    After(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: usize,
    /// The step as written, for the trace.
    pub text: String,
    pub when: When,
    pub action: Action,
    pub name: Option<String>,
    /// `do` steps only: the command must fail, with an error containing this text (bad input
    /// is refused with a clear message and changes nothing).
    pub error: Option<String>,
    /// `do` steps only: the command's control calls leave from this machine, with what it
    /// holds (its certificate, where the scenario models them), instead of the operator's
    /// client machine.
    pub from: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InjectorKind {
    /// Crash a random manager (`crash`), or the leader (`crash-leader`), restart it `down`
    /// later; never more than a minority at once. A leader back within an election timeout
    /// still leads its term (its vote is durable, nobody campaigned): its state machine
    /// restarts from its snapshot, where a read served too early is stale.
    Crash { down: Duration, leader: bool },
    /// Cut a random manager off from all others for `duration`; one-way: only what it sends
    /// is lost (it still hears the others), the case that makes a node campaign forever.
    Partition { duration: Duration, one_way: bool },
    /// A crash point: a manager that just made its vote durable crashes 1 ms later (after its
    /// answer left, before the winner's first append arrives) with probability `rate`, and
    /// restarts after `down` — the window where a vote that was not really durable is lost.
    /// Never more than a minority down at once.
    CrashAfterVote { rate: f64, down: Duration },
    /// Drop this fraction of messages during the window.
    PacketLoss { rate: f64 },
    /// A network-wide latency spike: for `duration`, every message takes `latency` to
    /// 2 × `latency` instead of the run's latency.
    LatencySpike { latency: Duration, duration: Duration },
    /// A slow disk (FoundationDB's buggify of a sync): for `duration`, a random manager's
    /// fsyncs take `latency`.
    SlowDisk { latency: Duration, duration: Duration },
    /// Freeze a random manager (all its tasks: a stopped process, a VM stall) for `duration`,
    /// then thaw it; it wakes up believing what it believed, e.g. that it leads. Never more
    /// than a minority down or frozen at once.
    Pause { duration: Duration },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Injector {
    pub line: usize,
    pub kind: InjectorKind,
    /// Mean time between faults (crash, partition).
    pub every: Duration,
    pub from: Duration,
    pub until: Duration,
}

/// A twin's snapshot given from outside the scenario text.
pub enum SnapshotArg<'a> {
    /// A file `shoal snapshot -o` wrote (`--from-snapshot FILE`).
    File(&'a str),
    /// One already loaded (the explorer's, for every seed of a range).
    Loaded(Arc<crate::twin::Twin>),
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// The file it came from, for the reproduce command.
    pub path: String,
    /// The seed a regression was found (and shrunk) under: its tests always run it.
    pub seed: Option<u64>,
    pub nodes: Vec<NodeSpec>,
    pub raft: RaftConfig,
    pub sim: SimParams,
    pub steps: Vec<Step>,
    pub injectors: Vec<Injector>,
    /// Image name → behaviour; an image not listed serves.
    pub images: BTreeMap<String, ImageSpec>,
    /// A twin: the snapshot the swarm starts from (`from_snapshot`, `--from-snapshot`).
    pub twin: Option<Arc<crate::twin::Twin>>,
    /// The snapshot given on the command line (`--from-snapshot`), for the reproduce command.
    pub from_snapshot_arg: Option<String>,
}

impl Scenario {
    /// Whether any step makes or uses overlay networks (a network, a stack, a load by name):
    /// only then do the simulated agents poll the networks' table.
    pub fn uses_networks(&self) -> bool {
        use shoal_core::cli::ControlCommand;
        self.twin.as_ref().is_some_and(|t| t.uses_networks())
            || self.steps.iter().any(|s| {
            matches!(
                &s.action,
                Action::Do(DoCmd::Control(ControlCommand::Network(_) | ControlCommand::Stack(_)) | DoCmd::LoadByName { .. })
            )
        })
    }
}

/// A `stack deploy|config -c FILE` step names FILE relative to the scenario file: made a path
/// that works from anywhere, and checked to exist.
fn stack_files_from(scenario: &str, action: Action) -> Result<Action, String> {
    use shoal_core::cli::{ControlCommand, StackCommand};
    let Action::Do(DoCmd::Control(ControlCommand::Stack(mut cmd))) = action else { return Ok(action) };
    if let StackCommand::Deploy { compose_files, .. } | StackCommand::Config { compose_files, .. } = &mut cmd {
        let dir = std::path::Path::new(scenario).parent().unwrap_or(std::path::Path::new(""));
        for f in compose_files.iter_mut() {
            let p = dir.join(&*f);
            if !p.is_file() {
                return Err(format!("compose file {f:?} not found (looked at {}): paths are relative to the scenario file", p.display()));
            }
            *f = std::path::absolute(&p).unwrap_or(p).to_string_lossy().into_owned();
        }
    }
    Ok(Action::Do(DoCmd::Control(ControlCommand::Stack(cmd))))
}

impl Scenario {
    /// The raft member id of machine `i`: the id a twin's node had in the swarm, else its
    /// position + 1 (in a twin, above 2^40: clear of the swarm's ids and of the ones a twin
    /// gives nodes that had none).
    pub fn raft_id(&self, i: usize) -> u64 {
        match (&self.nodes[i].twin, &self.twin) {
            (Some(m), _) => m.raft_id,
            (None, Some(_)) => (1 << 40) + i as u64 + 1,
            (None, None) => i as u64 + 1,
        }
    }

    pub fn managers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.manager)
    }

    pub fn workers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| !n.manager)
    }

    /// Reads and validates a scenario file.
    pub fn load(path: &str) -> Result<Scenario, ScenarioError> {
        Scenario::load_with(path, None)
    }

    /// [`Scenario::load`], with the swarm the twin of `snapshot` when given.
    pub fn load_with(path: &str, snapshot: Option<SnapshotArg>) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.into(),
            line: 0,
            key: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse_with(path, &text, snapshot)
    }

    /// Validates scenario text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(file, text, None)
    }

    /// [`Scenario::parse`], with the swarm the twin of `snapshot` when given (instead of the
    /// text's `[cluster]` or `from_snapshot`).
    pub fn parse_with(file: &str, text: &str, snapshot: Option<SnapshotArg>) -> Result<Scenario, ScenarioError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1;
        let err = |offset: usize, key: &str, message: String| ScenarioError {
            file: file.into(),
            line: line_of(offset),
            key: key.into(),
            message,
        };
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            let off = e.span().map(|s| s.start).unwrap_or(0);
            err(off, "", e.message().trim().to_string())
        })?;

        let duration = |s: &Spanned<String>, key: &str| -> Result<Duration, ScenarioError> {
            humantime::parse_duration(s.get_ref().trim()).map_err(|e| {
                err(s.span().start, key, format!("{:?} is not a duration ({e}); write e.g. \"500ms\", \"10s\", \"2m\"", s.get_ref()))
            })
        };

        // Cluster: the machines of a snapshot (given on the command line, else the file's
        // `from_snapshot`, relative to the file), or the `[cluster]` section.
        let from_snapshot_arg = snapshot.as_ref().map(|s| match s {
            SnapshotArg::File(f) => f.to_string(),
            SnapshotArg::Loaded(t) => t.file.clone(),
        });
        let twin = match (snapshot, &raw.from_snapshot) {
            (Some(SnapshotArg::Loaded(t)), _) => Some(t),
            (Some(SnapshotArg::File(s)), _) => Some(Arc::new(crate::twin::Twin::load(s).map_err(|e| err(0, "from_snapshot", e.to_string()))?)),
            (None, Some(s)) => {
                if let Some(c) = &raw.cluster {
                    return Err(err(
                        c.span().start,
                        "cluster",
                        "`from_snapshot` gives the machines: remove [cluster] (or drop `from_snapshot` to describe the machines here)".into(),
                    ));
                }
                let dir = std::path::Path::new(file).parent().unwrap_or(std::path::Path::new(""));
                let path = dir.join(s.get_ref()).to_string_lossy().into_owned();
                Some(Arc::new(crate::twin::Twin::load(&path).map_err(|e| err(s.span().start, "from_snapshot", format!("{e} (paths are relative to the scenario file)")))?))
            }
            (None, None) => None,
        };
        let mut nodes: Vec<NodeSpec> = Vec::new();
        if let Some(t) = &twin {
            nodes.extend(t.machines.iter().map(|m| NodeSpec {
                name: m.name.clone(),
                manager: m.manager,
                labels: m.labels.clone(),
                nano_cpus: m.description.resources.nano_cpus,
                memory_bytes: m.description.resources.memory_bytes,
                joins_later: false,
                twin: Some(m.clone()),
            }));
        } else {
            let Some(c) = raw.cluster.as_ref().map(|c| c.get_ref()) else {
                return Err(err(0, "cluster", "no [cluster]: say how many machines (`managers = 3`, `workers = 2`), or start from a snapshot with `from_snapshot = \"FILE\"`".into()));
            };
            let managers = *c.managers.get_ref();
            if managers == 0 || managers > 99 {
                return Err(err(c.managers.span().start, "cluster.managers", format!("{managers} managers: use 1 to 99")));
            }
            if c.workers > 9_999 {
                return Err(err(0, "cluster.workers", format!("{} workers: use at most 9999", c.workers)));
            }
            for (role_manager, count, prefix) in [(true, managers, "manager"), (false, c.workers, "worker")] {
                let listed: Vec<&Spanned<RawNode>> =
                    c.node.iter().filter(|n| n.get_ref().role.as_deref().unwrap_or("worker") == prefix).collect();
                if listed.len() as u32 > count {
                    let n = listed[count as usize];
                    return Err(err(
                        n.span().start,
                        "cluster.node",
                        format!("more {prefix} nodes listed ({}) than cluster.{prefix}s = {count}", listed.len()),
                    ));
                }
                for i in 0..count {
                    let (name, labels, cpus, mem) = match listed.get(i as usize) {
                        Some(n) => {
                            let n = n.get_ref();
                            (
                                n.name.clone().unwrap_or_else(|| format!("{prefix}-{}", i + 1)),
                                n.labels.clone(),
                                n.cpus.unwrap_or(4.0),
                                n.memory_gib.unwrap_or(8.0),
                            )
                        }
                        None => (format!("{prefix}-{}", i + 1), BTreeMap::new(), 4.0, 8.0),
                    };
                    nodes.push(NodeSpec {
                        name,
                        manager: role_manager,
                        labels,
                        nano_cpus: (cpus * 1e9) as i64,
                        memory_bytes: (mem * (1u64 << 30) as f64) as i64,
                        joins_later: false,
                        twin: None,
                    });
                }
            }
            for n in &c.node {
                if let Some(r) = &n.get_ref().role {
                    if r != "manager" && r != "worker" {
                        return Err(err(n.span().start, "cluster.node.role", format!("role {r:?}: use \"manager\" or \"worker\"")));
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        for n in &nodes {
            if !seen.insert(n.name.clone()) {
                return Err(err(0, "cluster.node.name", format!("node name {:?} is used twice", n.name)));
            }
            if grammar::RESERVED.contains(&n.name.as_str()) {
                return Err(err(0, "cluster.node.name", format!("{:?} is a selector word; pick another name", n.name)));
            }
        }
        let mut names: BTreeSet<String> = nodes.iter().map(|n| n.name.clone()).collect();
        // Machines that join during the run (`do = "node add NAME ..."`) exist from the start,
        // powered off, so later steps may name them.
        for st in &raw.step {
            let Some(d) = &st.get_ref().r#do else { continue };
            let words: Vec<&str> = d.get_ref().split_whitespace().collect();
            if let ["node", "add", name, opts @ ..] = words.as_slice() {
                let grammar::NodeAddOptions { labels, cpus, memory_gib: mem, .. } =
                    grammar::node_add_options(opts).map_err(|m| err(d.span().start, "do", m))?;
                if !names.insert(name.to_string()) {
                    // Another try of a machine an earlier `node add` declared (e.g. after a
                    // refused token) is fine; the same name as a declared node is not.
                    let same = nodes.iter().any(|n| {
                        n.name == *name
                            && n.joins_later
                            && n.labels == labels
                            && n.nano_cpus == (cpus * 1e9) as i64
                            && n.memory_bytes == (mem * (1u64 << 30) as f64) as i64
                    });
                    if same {
                        continue;
                    }
                    return Err(err(
                        d.span().start,
                        "do",
                        format!("node {name:?} already exists: `node add` brings a new machine (repeat it only with the same options)"),
                    ));
                }
                if grammar::RESERVED.contains(name) {
                    return Err(err(d.span().start, "do", format!("{name:?} is a selector word; pick another name")));
                }
                nodes.push(NodeSpec {
                    name: name.to_string(),
                    manager: false,
                    labels,
                    nano_cpus: (cpus * 1e9) as i64,
                    memory_bytes: (mem * (1u64 << 30) as f64) as i64,
                    joins_later: true,
                    twin: None,
                });
            }
        }

        // Raft and simulator settings.
        let raft = raft_config(raw.raft.as_ref());
        if let Err(e) = shoal_core::node::raft::openraft_config(&raft) {
            return Err(err(0, "raft", format!("invalid raft settings: {e}")));
        }
        let sim = SimParams::parse(raw.sim.as_ref()).map_err(|(key, message)| err(0, key, message))?;
        if sim.certificates && twin.is_some() {
            // A snapshot's root was made by a production swarm: the simulator cannot sign with it.
            return Err(err(0, "sim.certificates", "a twin of a snapshot cannot model certificates: drop `certificates = true` or the snapshot".into()));
        }

        // Steps.
        let mut steps = Vec::new();
        for s in &raw.step {
            let start = s.span().start;
            let r = s.get_ref();
            let line = line_of(start);
            let (key, text) = match (&r.r#do, &r.fault, &r.expect) {
                (Some(d), None, None) => ("do", d),
                (None, Some(f), None) => ("fault", f),
                (None, None, Some(e)) => ("expect", e),
                _ => {
                    return Err(err(start, "step", "a step needs exactly one of `do`, `fault`, `expect`".into()));
                }
            };
            let when = match (&r.at, &r.after) {
                (Some(_), Some(a)) => return Err(err(a.span().start, "after", "use `at` or `after`, not both".into())),
                (Some(a), None) => When::At(duration(a, "at")?),
                (None, Some(a)) => When::After(duration(a, "after")?),
                (None, None) => When::Next,
            };
            let within = match &r.within {
                Some(w) if key == "expect" => Some(duration(w, "within")?),
                Some(w) => return Err(err(w.span().start, "within", "`within` only goes with `expect`".into())),
                None => None,
            };
            let error = match &r.error {
                Some(e) if key == "do" => Some(e.get_ref().clone()),
                Some(e) => return Err(err(e.span().start, "error", "`error` only goes with `do`".into())),
                None => None,
            };
            let from = match &r.from {
                Some(f) if key == "do" && names.contains(f.get_ref()) => Some(f.get_ref().clone()),
                Some(f) if key == "do" => return Err(err(f.span().start, "from", format!("no node {:?} in [cluster]", f.get_ref()))),
                Some(f) => return Err(err(f.span().start, "from", "`from` only goes with `do`".into())),
                None => None,
            };
            let action = parse_action(key, text.get_ref(), within, &names)
                .and_then(|a| stack_files_from(file, a))
                .map_err(|m| err(text.span().start, key, m))?;
            steps.push(Step { line, text: format!("{key} {}", text.get_ref()), when, action, name: r.name.clone(), error, from });
        }
        if steps.is_empty() {
            return Err(err(0, "step", "no [[step]]: a scenario needs at least one step".into()));
        }
        if !sim.certificates {
            if let Some(s) = steps.iter().find(|s| matches!(s.action, Action::Expect { predicate: Predicate::CertificatesConverged, .. })) {
                let message = "`certificates converged` needs `[sim] certificates = true`: without it nodes hold no certificates".into();
                return Err(ScenarioError { file: file.into(), line: s.line, key: "expect".into(), message });
            }
        }

        // Injectors.
        let mut injectors = Vec::new();
        for inj in &raw.injector {
            let start = inj.span().start;
            let r = inj.get_ref();
            let from = match &r.from {
                Some(f) => duration(f, "from")?,
                None => Duration::ZERO,
            };
            let until = duration(&r.until, "until")?;
            if until <= from {
                return Err(err(r.until.span().start, "until", "`until` must be after `from`".into()));
            }
            let every = match &r.every {
                Some(e) => duration(e, "every")?,
                None => Duration::from_secs(10),
            };
            if every.is_zero() {
                return Err(err(start, "every", "`every` must be more than 0s".into()));
            }
            let kind = match r.kind.get_ref().as_str() {
                k @ ("crash" | "crash-leader") => InjectorKind::Crash {
                    down: match &r.down {
                        Some(d) => duration(d, "down")?,
                        None => Duration::from_secs(5),
                    },
                    leader: k == "crash-leader",
                },
                "pause" => InjectorKind::Pause {
                    duration: match &r.duration {
                        Some(d) => duration(d, "duration")?,
                        None => Duration::from_secs(3),
                    },
                },
                k @ ("partition" | "one-way-partition") => InjectorKind::Partition {
                    duration: match &r.duration {
                        Some(d) => duration(d, "duration")?,
                        None => Duration::from_secs(5),
                    },
                    one_way: k == "one-way-partition",
                },
                "crash-after-vote" => {
                    let rate = r.rate.unwrap_or(0.5);
                    if !(0.0..=1.0).contains(&rate) {
                        return Err(err(start, "rate", format!("rate {rate}: use a probability in [0, 1]")));
                    }
                    InjectorKind::CrashAfterVote {
                        rate,
                        down: match &r.down {
                            Some(d) => duration(d, "down")?,
                            None => Duration::from_millis(200),
                        },
                    }
                }
                "packet-loss" => {
                    let rate = r.rate.unwrap_or(0.01);
                    if !(0.0..1.0).contains(&rate) {
                        return Err(err(start, "rate", format!("rate {rate}: use a fraction in [0, 1)")));
                    }
                    InjectorKind::PacketLoss { rate }
                }
                k @ ("latency-spike" | "slow-disk") => {
                    let latency = match &r.latency {
                        Some(l) => duration(l, "latency")?,
                        None => Duration::from_millis(200),
                    };
                    if latency.is_zero() {
                        return Err(err(start, "latency", "`latency` must be more than 0ms".into()));
                    }
                    let duration = match &r.duration {
                        Some(d) => duration(d, "duration")?,
                        None => Duration::from_secs(2),
                    };
                    if k == "latency-spike" {
                        InjectorKind::LatencySpike { latency, duration }
                    } else {
                        InjectorKind::SlowDisk { latency, duration }
                    }
                }
                k => {
                    return Err(err(
                        r.kind.span().start,
                        "kind",
                        format!("unknown injector kind {k:?}: use crash, crash-leader, pause, partition, one-way-partition, packet-loss, crash-after-vote, latency-spike or slow-disk"),
                    ))
                }
            };
            injectors.push(Injector { line: line_of(start), kind, every, from, until });
        }

        // Images.
        let mut images = BTreeMap::new();
        for (name, img) in &raw.images {
            let start = img.span().start;
            let r = img.get_ref();
            let behaviour = match r.behaviour.as_str() {
                "serve" => Behaviour::Serve,
                "exit" => Behaviour::Exit,
                "slow-start" => Behaviour::SlowStart,
                "unhealthy-after" => Behaviour::UnhealthyAfter,
                "oom" => Behaviour::Oom,
                "pull-fails" => Behaviour::PullFails,
                b => {
                    return Err(err(
                        start,
                        &format!("images.\"{name}\".behaviour"),
                        format!("unknown behaviour {b:?}: use serve, exit, slow-start, unhealthy-after, oom or pull-fails"),
                    ))
                }
            };
            let after = match &r.after {
                Some(a) => duration(a, "after")?,
                None if matches!(behaviour, Behaviour::Serve | Behaviour::PullFails) => Duration::ZERO,
                None => Duration::from_secs(1),
            };
            let cpu_per_request = r.cpu_per_request.as_ref().map(|c| duration(c, "cpu-per-request")).transpose()?.unwrap_or_default();
            let code = r.code.unwrap_or(if behaviour == Behaviour::Exit { 1 } else { 0 });
            images.insert(name.clone(), ImageSpec { behaviour, code, after, cpu_per_request });
        }

        Ok(Scenario { name: raw.name, path: file.to_string(), seed: raw.seed, nodes, raft, sim, steps, injectors, images, twin, from_snapshot_arg })
    }
}

#[cfg(test)]
mod tests;

//! The step grammar: `do` actions (the `shoal` CLI's own grammar, plus simulator-only load
//! verbs), `fault` verbs and `expect` predicates, and node selectors.

use shoal_core::cli::{parse_control, ControlCommand, NodeCommand, PayloadCommand, ServiceCommand};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use super::predicate::{parse_predicate, Predicate};

/// Words that select nodes at run time; they cannot be node names.
pub const RESERVED: &[&str] = &["leader", "follower", "any-manager", "any-worker", "last-crashed", "rest", "|", "->"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Name(String),
    /// The current leader (waits briefly for one).
    Leader,
    /// A live manager that is not the leader, picked from the seed.
    Follower,
    AnyManager,
    AnyWorker,
    /// The node most recently crashed by a step or an injector.
    LastCrashed,
    /// In a partition: every node not on the other side.
    Rest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DoCmd {
    /// A `shoal` CLI command, e.g. `node promote worker-2`.
    Control(ControlCommand),
    /// `load writes R/s [to SEL] [no-reads]`: a client writing at R writes per second,
    /// round-robin over the managers (or only to the node SEL resolves to when the step runs),
    /// reading every fifth write back through another manager unless `no-reads`.
    LoadWrites { per_sec: f64, to: Option<Selector>, read_back: bool },
    /// `load service NAME port P rate R/s`: a client sending R requests per second to port P
    /// through the routing mesh, entering every machine in turn; the answer must come from a
    /// task of NAME.
    LoadService { service: String, port: u32, per_sec: f64 },
    /// `load service NAME from CALLER rate R/s`: R requests per second from the running tasks
    /// of CALLER in turn to NAME, by name over their overlay networks: resolved with the
    /// caller's node's table (a VIP balances over its backends), answered by a running task.
    LoadByName { service: String, from: String, per_sec: f64 },
    /// `load control R/s`: clients calling the control API (create, update, get, list,
    /// remove on a few services) at R calls per second; their history is checked for
    /// linearizability at the end of the run (sim/src/control_load.rs).
    LoadControl { per_sec: f64 },
    /// `load stop`: stops every load; `load stop service NAME`: only the requests to NAME.
    LoadStop { service: Option<String> },
    /// `node add NAME [--label k=v]... [--cpus N] [--memory-gib N] [--manager] [--token T]`: a
    /// new machine joins with the current worker (or manager) token, or the token given.
    NodeAdd { name: String, join: JoinOptions },
    /// `swarm leave NAME [--force]`: the machine leaves the swarm (a manager only with --force).
    SwarmLeave { name: String, force: bool },
    /// `swarm join NAME [--manager] [--token T]`: a machine outside the swarm joins again (as
    /// a new node).
    SwarmJoin { name: String, join: JoinOptions },
    /// `swarm init --force-new-cluster NAME`: the manager's process stops, its raft state
    /// becomes a one-manager swarm with everything it held, and it starts again.
    ForceNewCluster { name: String },
    /// `swarm unlock NAME [--key previous]`: the operator gives the locked manager NAME (an
    /// autolocked swarm's manager after a restart) the unlock key: the newest one the swarm
    /// printed, then, if refused, the older ones in turn (docker's advice: keep the previous
    /// key until every manager has the new one); `--key previous` gives only the one before
    /// the newest.
    SwarmUnlock { name: String, previous: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Crash(Selector),
    Restart(Selector),
    Pause(Selector),
    Resume(Selector),
    /// `corrupt NODE`: crash, flip a bit inside a durable raft.log record that is not the
    /// last, restart: the node must refuse to start on that log (it then stays down).
    Corrupt(Selector),
    /// `partition A B | C D` (both directions) or `partition A B -> C D` (A, B cannot reach C, D).
    Partition { from: Vec<Selector>, to: Vec<Selector>, one_way: bool },
    /// `clog A B`: the link between A and B drops everything, both ways.
    Clog(Selector, Selector),
    /// `heal`: every partition and clog removed, packet loss back to 0.
    Heal,
    /// `packet-loss 0.05`
    PacketLoss(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Do(DoCmd),
    Fault(Fault),
    Expect { predicate: Predicate, within: Duration },
}

/// Default deadline of an `expect` without `within`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(30);

fn selector(word: &str, names: &BTreeSet<String>, allow_rest: bool) -> Result<Selector, String> {
    Ok(match word {
        "leader" => Selector::Leader,
        "follower" => Selector::Follower,
        "any-manager" => Selector::AnyManager,
        "any-worker" => Selector::AnyWorker,
        "last-crashed" => Selector::LastCrashed,
        "rest" if allow_rest => Selector::Rest,
        n if names.contains(n) => Selector::Name(n.to_string()),
        n => {
            let known: Vec<&str> = names.iter().map(String::as_str).collect();
            return Err(format!(
                "unknown node {n:?}: use a node name ({}) or leader, follower, any-manager, any-worker, last-crashed",
                known.join(", ")
            ));
        }
    })
}

fn one_selector(verb: &str, args: &[&str], names: &BTreeSet<String>) -> Result<Selector, String> {
    match args {
        [w] => selector(w, names, false),
        _ => Err(format!("`{verb}` takes one node, e.g. `{verb} leader` or `{verb} manager-1`")),
    }
}

pub fn parse_action(
    key: &str,
    text: &str,
    within: Option<Duration>,
    names: &BTreeSet<String>,
) -> Result<Action, String> {
    // Shell quoting, as a terminal would split it: `--args "ping 8.8.8.8"` is one value.
    let owned = shlex::split(text).ok_or_else(|| format!("unbalanced quotes in `{text}`: close every \" and '"))?;
    let words: Vec<&str> = owned.iter().map(String::as_str).collect();
    if words.is_empty() {
        return Err(format!("empty `{key}`"));
    }
    match key {
        "do" => parse_do(&words, names).map(Action::Do),
        "fault" => parse_fault(&words, names).map(Action::Fault),
        _ => Ok(Action::Expect { predicate: parse_predicate(&words, names)?, within: within.unwrap_or(DEFAULT_WITHIN) }),
    }
}

/// `N/s`, more than 0 and at most 10,000 per second.
fn rate(rate: &str, what: &str) -> Result<f64, String> {
    let r = rate.strip_suffix("/s").ok_or_else(|| format!("rate {rate:?}: write it as N/s, e.g. 50/s"))?;
    let per_sec: f64 = r.parse().map_err(|_| format!("rate {rate:?}: write it as N/s, e.g. 50/s"))?;
    if !(per_sec > 0.0 && per_sec <= 10_000.0) {
        return Err(format!("rate {per_sec}/s: use more than 0 and at most 10000 {what}/s"));
    }
    Ok(per_sec)
}

fn parse_do(words: &[&str], names: &BTreeSet<String>) -> Result<DoCmd, String> {
    match words {
        ["load", "service", svc, "port", port, "rate", r] => {
            let port: u32 = port
                .parse()
                .ok()
                .filter(|p| (1..=65535).contains(p))
                .ok_or_else(|| format!("port {port:?}: use a published port number, 1..65535"))?;
            Ok(DoCmd::LoadService { service: svc.to_string(), port, per_sec: rate(r, "requests")? })
        }
        ["load", "service", svc, "from", caller, "rate", r] => {
            Ok(DoCmd::LoadByName { service: svc.to_string(), from: caller.to_string(), per_sec: rate(r, "requests")? })
        }
        ["load", "service", ..] => Err(
            "`load service` reads `load service NAME port P rate R/s` (through the routing mesh) or `load service NAME from CALLER rate R/s` (by name from CALLER's tasks), e.g. `load service web port 8080 rate 200/s`".into(),
        ),
        ["load", "writes", r, opts @ ..] => {
            let per_sec = rate(r, "writes")?;
            let (mut to, mut read_back) = (None, true);
            let mut it = opts.iter();
            while let Some(w) = it.next() {
                match *w {
                    "to" => {
                        let sel = it.next().ok_or("`to` needs a node, e.g. `to leader`")?;
                        to = Some(selector(sel, names, false)?);
                    }
                    "no-reads" => read_back = false,
                    o => return Err(format!("unknown load option {o:?}: use `to NODE` or `no-reads`")),
                }
            }
            Ok(DoCmd::LoadWrites { per_sec, to, read_back })
        }
        ["load", "stop"] => Ok(DoCmd::LoadStop { service: None }),
        ["load", "stop", "service", svc] => Ok(DoCmd::LoadStop { service: Some(svc.to_string()) }),
        ["load", "control", r] => Ok(DoCmd::LoadControl { per_sec: rate(r, "calls")? }),
        ["node", "add", name, opts @ ..] => {
            let o = node_add_options(opts)?;
            Ok(DoCmd::NodeAdd { name: name.to_string(), join: o.join })
        }
        ["swarm", "leave", rest @ ..] => {
            let force = rest.iter().any(|w| *w == "--force" || *w == "-f");
            match rest.iter().filter(|w| !w.starts_with('-')).collect::<Vec<_>>().as_slice() {
                [name] if rest.len() == 1 + usize::from(force) => {
                    known_node(name, names)?;
                    Ok(DoCmd::SwarmLeave { name: name.to_string(), force })
                }
                _ => Err("`swarm leave` takes one node and optionally --force, e.g. `swarm leave worker-2`".into()),
            }
        }
        ["swarm", "init", "--force-new-cluster", name] => {
            known_node(name, names)?;
            Ok(DoCmd::ForceNewCluster { name: name.to_string() })
        }
        ["swarm", "unlock", name, opts @ ..] if !name.starts_with('-') => {
            known_node(name, names)?;
            let previous = match opts {
                [] => false,
                ["--key", "previous"] => true,
                _ => return Err("`swarm unlock` takes a node and optionally `--key previous`, e.g. `swarm unlock manager-2`".into()),
            };
            Ok(DoCmd::SwarmUnlock { name: name.to_string(), previous })
        }
        ["swarm", "unlock", ..] => Err("`swarm unlock` needs the locked manager, e.g. `swarm unlock manager-2`".into()),
        ["swarm", "init", ..] => Err("the scenario's swarm is made by [cluster]; `swarm init` only takes `--force-new-cluster NODE` (a manager of a swarm that lost its quorum)".into()),
        ["swarm", "join", name, opts @ ..] if !name.starts_with('-') => {
            known_node(name, names)?;
            Ok(DoCmd::SwarmJoin { name: name.to_string(), join: join_options(opts)? })
        }
        ["swarm", "join", ..] => Err("`swarm join` needs the machine, e.g. `swarm join worker-2 [--manager] [--token T]`".into()),
        ["node", "add", ..] => Err("`node add` needs a name, e.g. `node add worker-4 --label zone=b`".into()),
        ["load", ..] => Err("unknown load verb: use `load writes N/s`, `load service NAME port P rate R/s`, `load control N/s` or `load stop`".into()),
        _ => {
            let cmd = parse_control(words.iter().copied())?;
            match &cmd {
                ControlCommand::Node(nc) => {
                    let targets: Vec<&String> = match nc {
                        NodeCommand::Promote { nodes } | NodeCommand::Demote { nodes } | NodeCommand::Rm { nodes, .. } => {
                            nodes.iter().collect()
                        }
                        NodeCommand::Update { node, availability, label_add, .. } => {
                            if let Some(a) = availability {
                                if !["active", "pause", "drain"].contains(&a.as_str()) {
                                    return Err(format!("invalid --availability {a:?}: use active, pause or drain"));
                                }
                            }
                            for l in label_add {
                                if l.is_empty() || l.starts_with('=') {
                                    return Err(format!("invalid --label-add {l:?}: write key=value"));
                                }
                            }
                            vec![node]
                        }
                    };
                    for n in targets {
                        if !names.contains(n) {
                            return Err(format!("unknown node {n:?} in `{}`", words.join(" ")));
                        }
                    }
                }
                // Flag values are checked here so a typo fails the file, not the run.
                ControlCommand::Service(ServiceCommand::Create(c)) => {
                    c.to_spec()?;
                }
                ControlCommand::Service(ServiceCommand::Update(u)) => {
                    u.apply(&Default::default())?;
                }
                ControlCommand::Service(ServiceCommand::Scale { pairs, .. }) => {
                    shoal_core::cli::parse_scale_pairs(pairs)?;
                }
                ControlCommand::Secret(PayloadCommand::Create { labels, name, file })
                | ControlCommand::Config(PayloadCommand::Create { labels, name, file }) => {
                    PayloadCommand::create_request(shoal_core::control::PayloadKind::Secret, name, labels, file.as_bytes().to_vec())?;
                }
                ControlCommand::Network(n) => {
                    n.create_request()?;
                }
                ControlCommand::Stack(shoal_core::cli::StackCommand::Deploy { name, .. }) => {
                    shoal_core::stack::validate_stack_name(name).map_err(|e| e.to_string())?;
                }
                ControlCommand::Stack(_) => {}
                ControlCommand::Service(ServiceCommand::Rm { .. } | ServiceCommand::Rollback { .. } | ServiceCommand::Rebalance { .. } | ServiceCommand::Logs(_))
                | ControlCommand::Secret(_)
                | ControlCommand::Config(_)
                | ControlCommand::Swarm(_) => {}
            }
            Ok(DoCmd::Control(cmd))
        }
    }
}

fn parse_fault(words: &[&str], names: &BTreeSet<String>) -> Result<Fault, String> {
    let (verb, args) = (words[0], &words[1..]);
    match verb {
        "crash" => Ok(Fault::Crash(one_selector(verb, args, names)?)),
        "restart" => Ok(Fault::Restart(one_selector(verb, args, names)?)),
        "pause" => Ok(Fault::Pause(one_selector(verb, args, names)?)),
        "resume" => Ok(Fault::Resume(one_selector(verb, args, names)?)),
        "corrupt" => Ok(Fault::Corrupt(one_selector(verb, args, names)?)),
        "heal" if args.is_empty() => Ok(Fault::Heal),
        "heal" => Err("`heal` takes no arguments".into()),
        "clog" => match args {
            [a, b] => Ok(Fault::Clog(selector(a, names, false)?, selector(b, names, false)?)),
            _ => Err("`clog` takes two nodes, e.g. `clog manager-1 manager-2`".into()),
        },
        "packet-loss" => match args {
            [r] => {
                let rate: f64 = r.parse().map_err(|_| format!("rate {r:?}: use a fraction such as 0.05"))?;
                if !(0.0..1.0).contains(&rate) {
                    return Err(format!("rate {rate}: use a fraction in [0, 1)"));
                }
                Ok(Fault::PacketLoss(rate))
            }
            _ => Err("`packet-loss` takes one rate, e.g. `packet-loss 0.05`".into()),
        },
        "partition" => {
            let sep = args.iter().position(|w| *w == "|" || *w == "->").ok_or(
                "`partition` needs two sides: `partition A B | C` (both ways) or `partition A -> B` (one way)",
            )?;
            let one_way = args[sep] == "->";
            let (left, right) = (&args[..sep], &args[sep + 1..]);
            if left.is_empty() || right.is_empty() {
                return Err("a partition side is empty: name at least one node on each side".into());
            }
            let side = |ws: &[&str]| -> Result<Vec<Selector>, String> {
                ws.iter().map(|w| selector(w, names, ws.len() == 1)).collect()
            };
            let (from, to) = (side(left)?, side(right)?);
            if from == [Selector::Rest] && to == [Selector::Rest] {
                return Err("both partition sides are `rest`".into());
            }
            let named = |v: &[Selector]| -> BTreeSet<String> {
                v.iter().filter_map(|s| if let Selector::Name(n) = s { Some(n.clone()) } else { None }).collect()
            };
            if let Some(n) = named(&from).intersection(&named(&to)).next() {
                return Err(format!("node {n:?} is on both sides of the partition"));
            }
            Ok(Fault::Partition { from, to, one_way })
        }
        v => Err(format!(
            "unknown fault {v:?}: use crash, restart, pause, resume, corrupt, partition, clog, heal or packet-loss"
        )),
    }
}

pub(super) fn requests(n: &str) -> Result<u64, String> {
    n.parse().map_err(|_| format!("{n:?} is not a count of requests: use a whole number ≥ 0"))
}

pub(super) fn count(n: &str) -> Result<usize, String> {
    n.parse().map_err(|_| format!("{n:?} is not a count: use a whole number ≥ 0"))
}

/// `word` as a choice of two: true for `yes`, false for `no`.
pub(super) fn one_of(word: &str, yes: &str, no: &str, what: &str) -> Result<bool, String> {
    match word {
        w if w == yes => Ok(true),
        w if w == no => Ok(false),
        _ => Err(format!("{what} {word:?}: use {yes} or {no}")),
    }
}

pub(super) fn known_node(n: &str, names: &BTreeSet<String>) -> Result<(), String> {
    if names.contains(n) {
        Ok(())
    } else {
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        Err(format!("unknown node {n:?}: use one of {}", known.join(", ")))
    }
}

/// Options of `node add` (the new machine: labels, CPUs, memory; defaults 4 CPUs, 8 GiB) and
/// of the join itself (`--manager`: with the manager token; `--token T`: this literal token).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeAddOptions {
    pub labels: BTreeMap<String, String>,
    pub cpus: f64,
    pub memory_gib: f64,
    pub join: JoinOptions,
}

/// How a machine joins: with the current worker token, the manager token, or a given one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinOptions {
    pub manager: bool,
    pub token: Option<String>,
}

pub fn node_add_options(opts: &[&str]) -> Result<NodeAddOptions, String> {
    let mut o = NodeAddOptions { cpus: 4.0, memory_gib: 8.0, ..Default::default() };
    let mut it = opts.iter();
    while let Some(w) = it.next() {
        if *w == "--manager" {
            o.join.manager = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("`{w}` needs a value"))?;
        match *w {
            "--label" => {
                let (k, val) = v.split_once('=').ok_or_else(|| format!("--label {v:?}: write key=value"))?;
                o.labels.insert(k.to_string(), val.to_string());
            }
            "--cpus" => o.cpus = v.parse().map_err(|_| format!("--cpus {v:?}: write a number"))?,
            "--memory-gib" => o.memory_gib = v.parse().map_err(|_| format!("--memory-gib {v:?}: write a number"))?,
            "--token" => o.join.token = Some(v.to_string()),
            _ => {
                return Err(format!(
                    "unknown `node add` option {w:?}: use --label k=v, --cpus N, --memory-gib N, --manager, --token T"
                ))
            }
        }
    }
    Ok(o)
}

/// Options of `swarm join NODE`: `--manager`, `--token T`.
fn join_options(opts: &[&str]) -> Result<JoinOptions, String> {
    let mut j = JoinOptions::default();
    let mut it = opts.iter();
    while let Some(w) = it.next() {
        match *w {
            "--manager" => j.manager = true,
            "--token" => j.token = Some(it.next().ok_or("`--token` needs a value")?.to_string()),
            o => return Err(format!("unknown `swarm join` option {o:?}: use --manager or --token T")),
        }
    }
    Ok(j)
}

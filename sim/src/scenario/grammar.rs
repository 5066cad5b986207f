//! The step grammar: `do` actions (the `shoal` CLI's own grammar, plus simulator-only load
//! verbs), `fault` verbs and `expect` predicates, and node selectors.

use shoal_core::cli::{parse_control, ControlCommand};
use std::collections::BTreeSet;
use std::time::Duration;

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
    /// `load stop`
    LoadStop,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Crash(Selector),
    Restart(Selector),
    Pause(Selector),
    Resume(Selector),
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
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(format!("empty `{key}`"));
    }
    match key {
        "do" => parse_do(&words, names).map(Action::Do),
        "fault" => parse_fault(&words, names).map(Action::Fault),
        _ => Ok(Action::Expect { predicate: parse_predicate(&words)?, within: within.unwrap_or(DEFAULT_WITHIN) }),
    }
}

fn parse_do(words: &[&str], names: &BTreeSet<String>) -> Result<DoCmd, String> {
    match words {
        ["load", "writes", rate, opts @ ..] => {
            let r = rate.strip_suffix("/s").ok_or_else(|| format!("rate {rate:?}: write it as N/s, e.g. 50/s"))?;
            let per_sec: f64 = r.parse().map_err(|_| format!("rate {rate:?}: write it as N/s, e.g. 50/s"))?;
            if !(per_sec > 0.0 && per_sec <= 10_000.0) {
                return Err(format!("rate {per_sec}/s: use more than 0 and at most 10000 writes/s"));
            }
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
        ["load", "stop"] => Ok(DoCmd::LoadStop),
        ["load", ..] => Err("unknown load verb: use `load writes N/s` or `load stop`".into()),
        _ => {
            let cmd = parse_control(words.iter().copied())?;
            let ControlCommand::Node(nc) = &cmd;
            let targets = match nc {
                shoal_core::cli::NodeCommand::Promote { nodes } | shoal_core::cli::NodeCommand::Demote { nodes } => nodes,
            };
            for n in targets {
                if !names.contains(n) {
                    return Err(format!("unknown node {n:?} in `{}`", words.join(" ")));
                }
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
            "unknown fault {v:?}: use crash, restart, pause, resume, partition, clog, heal or packet-loss"
        )),
    }
}

fn parse_predicate(words: &[&str]) -> Result<Predicate, String> {
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
        _ => Err(format!(
            "unknown predicate {:?}: use `leader elected`, `managers agree`, `writes committed N`, \
             `no writes for D` or `snapshot installed`",
            words.join(" ")
        )),
    }
}

//! The command grammar shared by the `shoal` CLI and the simulator's scenario steps.
//!
//! A scenario's `do = "node promote worker-2"` is parsed by exactly the clap definitions the
//! CLI uses, so a step reads like the command an operator would type. Pure: parsing only.

mod call;
mod container;
mod dry_run;
mod logs;
pub mod format;
mod reference;
mod service;
mod service_common;
mod stack;
mod swarm;
mod updater;
mod values;

pub use call::{CallError, CallFailure};
pub use container::*;
pub use logs::*;
pub use values::*;
pub use dry_run::{dry_run_request, is_read, plan_of, plan_requests, DryRun, PlanFlags};
pub use reference::*;
pub use service::*;
pub use service_common::CommonFlags;
pub use stack::*;
pub use swarm::*;
pub use updater::ServiceUpdater;

use clap::{Parser, Subcommand};

/// Control commands (the part of `shoal`'s CLI that acts on a running cluster).
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
pub struct ControlCli {
    #[command(subcommand)]
    pub command: ControlCommand,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ControlCommand {
    /// Manage swarm nodes.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Manage swarm services.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage the swarm.
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Manage swarm secrets.
    #[command(subcommand)]
    Secret(PayloadCommand),
    /// Manage swarm configs.
    #[command(subcommand)]
    Config(PayloadCommand),
    /// Manage swarm networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage swarm stacks.
    #[command(subcommand)]
    Stack(StackCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create {
        /// Driver to manage the network (overlay)
        #[arg(long, short = 'd', default_value = "overlay")]
        driver: String,
        /// Subnet in CIDR format that represents a network segment
        #[arg(long)]
        subnet: Vec<String>,
        /// IPv4 gateway for the subnet
        #[arg(long)]
        gateway: Vec<String>,
        /// Enable manual container attachment
        #[arg(long)]
        attachable: bool,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Create swarm routing-mesh network
        #[arg(long)]
        ingress: bool,
        /// Control the network's scope (swarm only)
        #[arg(long, value_parser = ["swarm"])]
        scope: Option<String>,
        /// Set metadata on a network (key=value)
        #[arg(long = "label")]
        labels: Vec<String>,
        /// Set driver specific options (key=value)
        #[arg(long = "opt", short = 'o')]
        opts: Vec<String>,
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls(ListFlags),
    /// Display detailed information on one or more networks.
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
}

impl NetworkCommand {
    /// The `network create` request of these flags; None for the other verbs.
    pub fn create_request(&self) -> Result<Option<crate::proto::control_request::Op>, String> {
        let NetworkCommand::Create { driver, subnet, gateway, attachable, internal, ingress, labels, opts, name, .. } = self else {
            return Ok(None);
        };
        if gateway.len() > subnet.len() {
            return Err("--gateway needs a --subnet to belong to: give --subnet CIDR --gateway IP".into());
        }
        let mut spec = crate::model::NetworkSpec { driver: driver.clone(), attachable: *attachable, internal: *internal, ingress: *ingress, ..Default::default() };
        spec.annotations.name = name.clone();
        for l in labels {
            let (k, v) = service::kv("label", l)?;
            spec.annotations.labels.insert(k, v);
        }
        for o in opts {
            let (k, v) = service::kv("opt", o)?;
            spec.driver_opts.insert(k, v);
        }
        spec.ipam = subnet
            .iter()
            .enumerate()
            .map(|(k, s)| crate::model::IpamConfig { subnet: s.clone(), gateway: gateway.get(k).cloned().unwrap_or_default() })
            .collect();
        Ok(Some(crate::proto::control_request::Op::CreateNetwork(crate::proto::CreatePayload {
            spec: serde_json::to_vec(&spec).expect("spec serialises"),
        })))
    }
}

/// `secret …` and `config …`: the two kinds share their verbs (a secret's data is never shown).
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum PayloadCommand {
    /// Create one from a file or STDIN (-) as content.
    Create {
        /// Labels (key=value)
        #[arg(long = "label", short = 'l')]
        labels: Vec<String>,
        name: String,
        /// A file with the content, or - for stdin (in a scenario: the content itself)
        file: String,
    },
    /// List them (a secret's data never shows).
    #[command(alias = "list")]
    Ls(ListFlags),
    /// Display detailed information on one or more (a secret's data never shows).
    Inspect {
        /// Print the information in a human friendly format (configs: with the data)
        #[arg(long)]
        pretty: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove one or more.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
}

impl PayloadCommand {
    /// The `secret create` / `config create` request for these labels and the content.
    pub fn create_request(
        kind: crate::control::PayloadKind,
        name: &str,
        labels: &[String],
        data: Vec<u8>,
    ) -> Result<crate::proto::control_request::Op, String> {
        crate::control::check_payload_size(kind, data.len()).map_err(|e| e.to_string())?;
        let mut spec = crate::model::SecretSpec { data, ..Default::default() };
        spec.annotations.name = name.to_string();
        for l in labels {
            let (k, v) = service::kv("label", l)?;
            spec.annotations.labels.insert(k, v);
        }
        Ok(payload_op(kind, PayloadVerb::Create(crate::proto::CreatePayload { spec: serde_json::to_vec(&spec).expect("spec serialises") })))
    }
}

/// A secret or config verb, as the control request it is sent as.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadVerb {
    Create(crate::proto::CreatePayload),
    Get(String),
    List,
    Remove(String),
    Update(crate::proto::UpdatePayload),
}

/// The control request of `verb` on secrets or configs (the two kinds have the same verbs
/// under different operations).
pub fn payload_op(kind: crate::control::PayloadKind, verb: PayloadVerb) -> crate::proto::control_request::Op {
    use crate::control::PayloadKind::{Config, Secret};
    use crate::proto::{control_request::Op, ListObjects, ObjectKey};
    match (kind, verb) {
        (Secret, PayloadVerb::Create(c)) => Op::CreateSecret(c),
        (Config, PayloadVerb::Create(c)) => Op::CreateConfig(c),
        (Secret, PayloadVerb::Get(key)) => Op::GetSecret(ObjectKey { key }),
        (Config, PayloadVerb::Get(key)) => Op::GetConfig(ObjectKey { key }),
        (Secret, PayloadVerb::List) => Op::ListSecrets(ListObjects::default()),
        (Config, PayloadVerb::List) => Op::ListConfigs(ListObjects::default()),
        (Secret, PayloadVerb::Remove(key)) => Op::RemoveSecret(ObjectKey { key }),
        (Config, PayloadVerb::Remove(key)) => Op::RemoveConfig(ObjectKey { key }),
        (Secret, PayloadVerb::Update(u)) => Op::UpdateSecret(u),
        (Config, PayloadVerb::Update(u)) => Op::UpdateConfig(u),
    }
}

/// `ls`'s flags for networks, secrets and configs.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ListFlags {
    /// Only display IDs
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// json (one JSON object per line), or a Go template: '{{.Name}}', 'table {{.ID}}\t{{.Name}}'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum NodeCommand {
    /// Promote one or more nodes to manager in the swarm.
    Promote {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Demote one or more nodes from manager in the swarm.
    Demote {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Update a node.
    Update {
        /// Availability of the node ("active", "pause", "drain")
        #[arg(long)]
        availability: Option<String>,
        /// Add or update a node label (key=value)
        #[arg(long = "label-add")]
        label_add: Vec<String>,
        /// Remove a node label if exists
        #[arg(long = "label-rm")]
        label_rm: Vec<String>,
        /// Role of the node ("worker", "manager"): as `node promote` / `node demote`
        #[arg(long, value_parser = ["worker", "manager"])]
        role: Option<String>,
        #[command(flatten)]
        plan: PlanFlags,
        node: String,
    },
    /// Remove one or more nodes from the swarm.
    #[command(alias = "remove")]
    Rm {
        /// Force remove a node from the swarm
        #[arg(long, short = 'f')]
        force: bool,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
}

/// Parses one command line (already split into words, without the program name).
/// `--label-add k=v` (or `k`, an empty value) as a pair, as `docker node update` reads it.
pub fn label_pair(l: &str) -> (String, String) {
    match l.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (l.to_string(), String::new()),
    }
}

/// A duration as Go (and so docker) prints one: `0s`, `500ms`, `5s`, `1m30s`, `1h0m0s`.
pub fn go_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1_000 % 60, ms % 1_000);
    let secs = if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// An enum as it is written on the wire (`stop-first`, `on-failure`, …).
pub fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// A duration as docker prints one in "Running 5 seconds ago" (go-units' `HumanDuration`,
/// lower-cased as the docker CLI shows task states).
pub fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    let minutes = secs / 60;
    // Hours round to the nearest, as go-units does.
    let hours = (ms + 1_800_000) / 3_600_000;
    match () {
        _ if secs < 1 => "less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "about a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "about an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", ms / 3_600_000 / 24 / 365),
    }
}

pub fn parse_control<I, S>(words: I) -> Result<ControlCommand, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    ControlCli::try_parse_from(words).map(|c| c.command).map_err(|e| {
        // clap's rendered error carries usage lines; the first line says what was wrong, and a
        // "[possible values: …]" line (if any) how to fix it.
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or("invalid command").trim_start_matches("error: ").to_string();
        match text.lines().find(|l| l.trim_start().starts_with("[possible values:")) {
            Some(values) => format!("{first} {}", values.trim()),
            None => first,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // docker's --secret forms: NAME, or source=NAME,target=FILE (also src; /run/secrets/ is
    // the only place a target can be); anything else says what to write.
    #[test]
    fn secret_flags_parse_like_docker() {
        let r = parse_secret("db-pass").unwrap();
        assert_eq!((r.secret_name.as_str(), r.target.as_str()), ("db-pass", ""));
        let r = parse_secret("src=db-pass,target=/run/secrets/password").unwrap();
        assert_eq!((r.secret_name.as_str(), r.target.as_str()), ("db-pass", "password"));
        let r = parse_secret("source=x,uid=1000,gid=1001,mode=0400").unwrap();
        assert_eq!((r.file.uid(), r.file.gid(), r.file.mode()), ("1000", "1001", 0o400));
        assert!(parse_secret("source=x,colour=red").unwrap_err().contains("colour"));
        let c = parse_config("source=app,target=/etc/app.conf,mode=0440").unwrap();
        assert_eq!((c.config_name.as_str(), c.path().as_str(), c.file.mode()), ("app", "/etc/app.conf", 0o440));
        assert_eq!(parse_config("app").unwrap().path(), "/app", "a bare name lands at /NAME");
        assert!(parse_config("source=app,mode=rw").unwrap_err().contains("mode"));
        assert!(parse_secret("target=x").unwrap_err().contains("name the secret"));
        let Ok(ControlCommand::Secret(PayloadCommand::Create { name, file, labels })) =
            parse_control(["secret", "create", "-l", "env=prod", "db-pass", "-"])
        else {
            panic!("secret create did not parse")
        };
        assert_eq!((name.as_str(), file.as_str(), labels), ("db-pass", "-", vec!["env=prod".to_string()]));
    }

    // docker's `--env-file`: its variables first, then `--env`; a later variable of the same
    // name replaces the earlier one and moves to the end (docker's create); a bare KEY takes the CLI's environment or is dropped; the spec
    // never names a file. `--limit-pids` is docker's Limits.Pids.
    #[test]
    fn env_files_and_pids_limit_like_docker() {
        let Ok(ControlCommand::Service(ServiceCommand::Create(mut c))) =
            parse_control(["service", "create", "--name", "w", "--env-file", "a.env", "-e", "B=flag", "--limit-pids", "64", "img"])
        else {
            panic!("service create did not parse")
        };
        assert!(c.to_spec().unwrap_err().contains("--env-file a.env"), "an unread file is refused, never dropped");
        let files = |f: &str| if f == "a.env" { Ok("# c\nA=1\nB=file\nHOME\nUNSET\n".to_string()) } else { Err("no such file".to_string()) };
        c.read_env_files(files, &|k| (k == "HOME").then(|| "/root".to_string())).unwrap();
        let s = c.to_spec().unwrap();
        assert_eq!(s.task.container.env, ["A=1", "HOME=/root", "B=flag"].map(String::from).to_vec());
        assert_eq!(s.task.resources.pids_limit, 64);
        let mut bad = c.clone();
        bad.env_files = vec!["missing.env".into()];
        assert!(bad.read_env_files(files, &|_| None).unwrap_err().contains("--env-file missing.env: no such file"));
        bad.env_files = vec!["a.env".into()];
        let spaced = |_: &str| Ok("A B=1\n".to_string());
        assert!(bad.read_env_files(spaced, &|_| None).unwrap_err().contains(":1:"), "a bad line names file:line");
        assert!(matches!(parse_control(["service", "create", "--name", "w", "--limit-pids", "-1", "img"]),
            Ok(ControlCommand::Service(ServiceCommand::Create(c))) if c.to_spec().unwrap_err().contains("--limit-pids -1")));
    }

    // docker's `service update --label-add/--label-rm/--publish-rm/--rollback` and the
    // container flags, through the grammar scenario steps share.
    #[test]
    fn service_update_flags_like_docker() {
        let update = |words: &[&str]| match parse_control(words.iter().copied()) {
            Ok(ControlCommand::Service(ServiceCommand::Update(u))) => u,
            other => panic!("{words:?}: {other:?}"),
        };
        let mut cur = crate::model::ServiceSpec::default();
        cur.annotations.labels.insert("old".into(), "1".into());
        cur.endpoint = Some(crate::model::EndpointSpec {
            ports: vec![crate::model::PortConfig { protocol: "tcp".into(), target_port: 80, published_port: 8080, ..Default::default() }],
            ..Default::default()
        });
        let u = update(&["service", "update", "--label-add", "team=a", "--label-rm", "old", "--publish-rm", "80", "-u", "nobody", "--tty", "web"]);
        let s = u.apply(&cur).unwrap();
        assert_eq!(s.annotations.labels.get("team").map(String::as_str), Some("a"));
        assert!(!s.annotations.labels.contains_key("old"));
        assert_eq!(s.endpoint, None, "the last port removed");
        assert_eq!((s.task.container.user.as_str(), s.task.container.tty), ("nobody", true));
        let svc = crate::model::Service { id: "s1".into(), spec: cur.clone(), ..Default::default() };
        assert!(matches!(update(&["service", "update", "--rollback", "web"]).request(&svc), Ok(crate::proto::control_request::Op::RollbackService(_))));
        assert!(update(&["service", "update", "--rollback", "--image", "x", "web"]).request(&svc).unwrap_err().contains("cannot be combined"));
        assert!(update(&["service", "update", "--publish-rm", "http", "web"]).apply(&cur).unwrap_err().contains("--publish-rm"));
    }

    #[test]
    fn durations_read_as_docker_prints_them() {
        let cases = [
            (400, "less than a second"),
            (1_500, "1 second"),
            (5_000, "5 seconds"),
            (61_000, "about a minute"),
            (300_000, "5 minutes"),
            (3_600_000, "about an hour"),
            (5 * 3_600_000, "5 hours"),
            (3 * 86_400_000, "3 days"),
            (21 * 86_400_000, "3 weeks"),
            (90 * 86_400_000, "3 months"),
            (1_000 * 86_400_000, "2 years"),
        ];
        for (ms, want) in cases {
            assert_eq!(human_duration(ms), want, "{ms} ms");
        }
    }

    #[test]
    fn parses_node_promote_like_docker() {
        assert_eq!(
            parse_control(["node", "promote", "worker-1", "worker-2"]),
            Ok(ControlCommand::Node(NodeCommand::Promote { nodes: vec!["worker-1".into(), "worker-2".into()] }))
        );
        let err = parse_control(["node", "promote"]).unwrap_err();
        assert!(err.contains("required"), "{err}");
        let err = parse_control(["node", "frobnicate", "x"]).unwrap_err();
        assert!(err.contains("frobnicate"), "{err}");
        assert_eq!(
            parse_control(["swarm", "join-token", "--rotate", "worker"]),
            Ok(ControlCommand::Swarm(SwarmCommand::JoinToken { rotate: true, quiet: false, role: "worker".into() }))
        );
        let update = |words: &[&str]| match parse_control(words.iter().copied()) {
            Ok(ControlCommand::Swarm(SwarmCommand::Update(u))) => Ok(u.autolock),
            other => Err(format!("{other:?}")),
        };
        assert_eq!(update(&["swarm", "update", "--autolock"]), Ok(Some(true)));
        assert_eq!(update(&["swarm", "update", "--autolock=false"]), Ok(Some(false)));
        assert_eq!(update(&["swarm", "update", "--task-history-limit", "3"]), Ok(None));
        assert!(update(&["swarm", "update", "--autolock=maybe"]).is_err());
        assert_eq!(
            parse_control(["swarm", "unlock-key", "-q", "--rotate"]),
            Ok(ControlCommand::Swarm(SwarmCommand::UnlockKey { rotate: true, quiet: true }))
        );
        let ca = |words: &[&str]| match parse_control(["swarm", "ca"].iter().chain(words)) {
            Ok(ControlCommand::Swarm(SwarmCommand::Ca(ca))) => ca,
            other => panic!("{other:?}"),
        };
        assert_eq!(ca(&[]).change(), Ok(None), "`swarm ca` shows the root");
        let rotate = ca(&["--rotate", "-d", "--cert-expiry", "48h"]);
        assert!(rotate.detach && !rotate.quiet);
        let change = rotate.change().unwrap().unwrap();
        assert!(change.rotate_ca && change.new_root.is_none(), "the leader makes the new root");
        assert_eq!(change.cert_expiry_secs, Some(48 * 3600));
        assert!(ca(&["--cert-expiry", "48h"]).change().unwrap_err().contains("requires the `--rotate` flag"));
        let err = parse_control(["swarm", "join-token", "boss"]).unwrap_err();
        assert!(err.contains("boss") && err.contains("worker"), "{err}");
    }

    #[test]
    fn node_update_takes_a_role_like_docker() {
        assert_eq!(
            parse_control(["node", "update", "--role", "manager", "--availability", "drain", "w1"]),
            Ok(ControlCommand::Node(NodeCommand::Update {
                availability: Some("drain".into()),
                label_add: vec![],
                label_rm: vec![],
                role: Some("manager".into()),
                plan: PlanFlags::default(),
                node: "w1".into()
            }))
        );
        let e = parse_control(["node", "update", "--role", "boss", "w1"]).unwrap_err();
        assert!(e.contains("invalid value 'boss'") && e.contains("[possible values: worker, manager]"), "{e}");
        assert_eq!(label_pair("zone=east"), ("zone".to_string(), "east".to_string()));
        assert_eq!(label_pair("ssd"), ("ssd".to_string(), String::new()));
    }

    #[test]
    fn service_create_reads_like_docker_and_builds_a_spec() {
        let words = "service create --name redis --replicas 3 --constraint node.role==worker --reserve-memory 512M \
                     --restart-condition on-failure --restart-max-attempts 3 -p 8080:80 --stop-grace-period 30s \
                     redis:3.0.6 redis-server --appendonly yes";
        let cmd = parse_control(words.split_whitespace().filter(|w| *w != "\\")).unwrap();
        let ControlCommand::Service(ServiceCommand::Create(c)) = cmd else { panic!("{cmd:?}") };
        let spec = c.to_spec().unwrap();
        assert_eq!(spec.annotations.name, "redis");
        assert_eq!(spec.mode, crate::model::ServiceMode::Replicated { replicas: 3 });
        assert_eq!(spec.task.container.args, ["redis-server", "--appendonly", "yes"]);
        assert_eq!(spec.task.resources.reservations.as_ref().unwrap().memory_bytes, 512 << 20);
        assert_eq!(spec.task.restart.max_attempts, 3);
        assert_eq!(spec.endpoint.as_ref().unwrap().ports[0].published_port, 8080);
        assert_eq!(spec.task.container.stop_grace_period_ms, Some(30_000));
        let e = parse_control(["service", "create", "--name", "x", "--restart-delay", "soon", "img"])
            .unwrap()
            .clone();
        let ControlCommand::Service(ServiceCommand::Create(c)) = e else { panic!() };
        assert!(c.to_spec().unwrap_err().contains("is not a duration"));
        assert!(parse_bytes("1.5g").unwrap() == 3 << 29 && parse_bytes("lots").is_err());
        assert!(parse_control(["service", "scale"]).is_err());
        let bad = |flags: &[&str]| -> String {
            let mut words = vec!["service", "update"];
            words.extend_from_slice(flags);
            words.push("web");
            let ControlCommand::Service(ServiceCommand::Update(u)) = parse_control(words).unwrap() else { panic!() };
            u.apply(&Default::default()).unwrap_err()
        };
        assert!(bad(&["--rollback-failure-action", "rollback"]).contains("never rolled back"));
        assert!(bad(&["--update-max-failure-ratio", "2"]).contains("[0, 1]"));
        assert!(bad(&["--update-order", "sideways"]).contains("stop-first or start-first"));
        assert!(parse_control(["service", "update", "--update-parallelism", "-1", "web"]).is_err());
        let words = "service create --name web --health-cmd true --health-interval 2s --health-retries 5 nginx";
        let ControlCommand::Service(ServiceCommand::Create(c)) = parse_control(words.split_whitespace()).unwrap() else { panic!() };
        let h = c.to_spec().unwrap().task.container.healthcheck.unwrap();
        assert_eq!((h.test, h.interval_ms, h.retries, h.timeout_ms), (vec!["CMD-SHELL".to_string(), "true".to_string()], 2_000, 5, 30_000));
        assert!(bad(&["--no-healthcheck", "--health-retries", "2"]).contains("conflicts"));
        assert_eq!(
            parse_control(["service", "rollback", "web"]),
            Ok(ControlCommand::Service(ServiceCommand::Rollback { detach: false, plan: PlanFlags::default(), service: "web".into() }))
        );
        assert_eq!(parse_scale_pairs(&["web=5".into()]).unwrap(), vec![("web".to_string(), 5)]);
        assert!(parse_scale_pairs(&["web=-1".into()]).unwrap_err().contains("whole number"));
    }
}

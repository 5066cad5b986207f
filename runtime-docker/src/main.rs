//! `shoal`: the production daemon and CLI (issue 6, first slice).
//!
//! * `shoal swarm init [--advertise-addr IP:PORT] [--listen-addr IP:PORT] [--data-dir DIR]`
//!   and `shoal swarm join --token T MANAGER …` start the daemon in the foreground (as
//!   `dockerd` is one process per machine; run it under a supervisor or as a container's
//!   command); `shoal daemon --data-dir DIR` restarts it from its data directory.
//! * Every other command is a client of a manager's control API over gRPC, at `--host` /
//!   `SHOAL_HOST` (default 127.0.0.1:4242). The grammar of the control commands is core's
//!   (`shoal_core::cli`), the one the simulator's scenario steps use.
//!
//! * Every connection is mutual TLS (tls.rs). The CLI authenticates as the node whose data
//!   directory it reads (`--data-dir` / `SHOAL_DATA_DIR`, default /var/lib/shoal): on a
//!   manager it may call the control API, on a worker it is refused ("not a swarm manager").
//!
//! * `service create|update|scale|rollback` on a terminal follow the service until it
//!   converged with docker's progress lines (progress.rs) unless `-d`/`--detach`; in a pipe
//!   or a script they return at once, as with `-d`.
//!
//! * `service logs` asks the manager, which merges the output of the service's tasks from the
//!   nodes that run them (core/src/node/logs.rs).
//!
//! What is not here yet is listed in docs/runtime.md.

mod daemon;
mod daemon_cmd;
mod datadir;
mod lifecycle;
mod datapath;
mod disk;
mod engine_api;
mod events_cmd;
mod executor;
mod force_new_cluster;
mod completion;
mod ingress;
mod join_token;
mod json_rows;
mod locked;
mod metrics;
mod network_cmd;
mod networks;
mod payload_cmd;
mod plan_cmd;
mod pretty;
mod progress;
mod read_cmd;
mod renew;
mod snapshot_cmd;
mod stack_cmd;
mod swarm_cmd;
mod tls;
mod ui;

use daemon_cmd::{client_bundle, run_daemon, swarm_leave, CaCli, DaemonCli, LeaveCli};
use shoal_core::cli::{CallError, parse_control, parse_scale_pairs, ControlCommand, NodeCommand, ServiceCommand};
use read_cmd::{read, ReadCli};
use shoal_core::model::{NodeRole, Object};
use shoal_core::proto::{self, control_request::Op};
use clap::Parser;

const DEFAULT_PORT: u16 = 4242;
const DEFAULT_DATA_DIR: &str = "/var/lib/shoal";

/// Where one of `names` stands among the flags before the command word (global flags with a
/// value: `--host`, `-H`, `--data-dir`, `--log-format`).
fn leading_flag(args: &[String], names: &[&str]) -> Option<usize> {
    const WITH_VALUE: [&str; 4] = ["--host", "-H", "--data-dir", "--log-format"];
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        if names.contains(&args[i].as_str()) {
            return Some(i);
        }
        i += if WITH_VALUE.contains(&args[i].as_str()) { 2 } else { 1 };
    }
    None
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--version") {
        println!("shoal {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let mut host = std::env::var("SHOAL_HOST").unwrap_or_else(|_| format!("127.0.0.1:{DEFAULT_PORT}"));
    // `--host`/`-H` is global only before the command (as docker's): after it, `--host` is
    // `service create --host host:ip`.
    if let Some(i) = leading_flag(&args, &["--host", "-H"]) {
        if i + 1 >= args.len() {
            fail("--host needs an address, e.g. --host 10.0.0.5:4242");
        }
        host = args.remove(i + 1);
        args.remove(i);
    }
    init_logging(&mut args);
    let is_daemon = matches!(args.first().map(String::as_str), Some("daemon"))
        || (args.first().map(String::as_str) == Some("swarm") && matches!(args.get(1).map(String::as_str), Some("init" | "join")));
    let mut client_dir = std::env::var("SHOAL_DATA_DIR").unwrap_or_else(|_| DEFAULT_DATA_DIR.into());
    if !is_daemon {
        if let Some(i) = args.iter().position(|a| a == "--data-dir") {
            if i + 1 >= args.len() {
                fail("--data-dir needs the data directory of a swarm node, e.g. --data-dir /var/lib/shoal");
            }
            client_dir = args.remove(i + 1);
            args.remove(i);
        }
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] | ["--help" | "-h" | "help"] => {
            print!("{}", overview());
            return;
        }
        ["completion", shell] => std::process::exit(completion::run(shell)),
        ["version"] => {
            println!("Client: shoal {}\n API version: {}", env!("CARGO_PKG_VERSION"), shoal_core::engine_api::API_VERSION);
            return;
        }
        _ => {}
    }
    // Help needs no swarm: clap prints it before anything dials a manager.
    let asks_help = words.iter().any(|w| *w == "--help" || *w == "-h");
    if matches!(words.as_slice(), ["swarm", "join", ..]) && !asks_help {
        // Before any thread starts: the daemon must not keep the token in its argv.
        if let Err(e) = join_token::hide_from_argv() {
            fail(&e);
        }
    }
    tls::install_provider();
    if !is_daemon && !asks_help && !matches!(words.as_slice(), ["help", ..]) {
        // The CLI speaks mTLS as the node whose data directory it reads (as docker's CLI
        // reaches the engine through a root-only socket: reading the key needs the daemon's
        // user).
        if let Err(e) = tls::install_client_from(std::path::Path::new(&client_dir)) {
            fail(&e);
        }
    }
    let rt = tokio_rt::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(&format!("cannot start tokio: {e}")));
    let code = rt.block_on(async move {
        match words.as_slice() {
            ["daemon", ..] | ["swarm", "init", ..] | ["swarm", "join", ..] => match DaemonCli::try_parse_from(&words) {
                Ok(c) => run_daemon(c).await,
                Err(e) => clap_exit(e),
            },
            ["swarm", "leave", rest @ ..] => match LeaveCli::try_parse_from(rest) {
                Ok(c) => match swarm_leave(std::path::Path::new(&client_dir), c.force).await {
                    Ok(()) => {
                        println!("Node left the swarm.");
                        0
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        1
                    }
                },
                Err(e) => clap_exit(e),
            },
            ["events", rest @ ..] => match events_cmd::EventsCli::try_parse_from(rest) {
                Ok(c) => exit_code(events_cmd::events(std::path::Path::new(&client_dir), c).await),
                Err(e) => clap_exit(e),
            },
            ["swarm", "unlock"] => exit_code(locked::swarm_unlock(std::path::Path::new(&client_dir)).await),
            ["swarm", "unlock", ..] => {
                eprintln!("Usage: shoal swarm unlock\n\nUnlock swarm: reads the unlock key from standard input (never from the command line)");
                if asks_help { 0 } else { 1 }
            }
            ["ui", rest @ ..] => match daemon_cmd::UiCli::try_parse_from(rest) {
                Ok(c) => exit_code(daemon_cmd::ui_token(std::path::Path::new(&client_dir), &c.cmd)),
                Err(e) => clap_exit(e),
            },
            ["ca", rest @ ..] => match CaCli::try_parse_from(rest) {
                Ok(c) => exit_code(client_bundle(&host, &c.cmd).await),
                Err(e) => clap_exit(e),
            },
            ["snapshot", rest @ ..] => match snapshot_cmd::SnapshotCli::try_parse_from(std::iter::once("snapshot").chain(rest.iter().copied())) {
                Ok(c) => exit_code(snapshot_cmd::run(&host, &c).await),
                Err(e) => clap_exit(e),
            },
            ["node", "ls" | "list" | "inspect" | "ps", ..] | ["service", "ls" | "list" | "ps" | "inspect", ..] => match ReadCli::try_parse_from(&words) {
                Ok(c) => read(&host, c.cmd, std::path::Path::new(&client_dir)).await,
                Err(e) => clap_exit(e),
            },
            _ if asks_help => match shoal_core::cli::ControlCli::try_parse_from(&words) {
                Err(e) => clap_exit(e),
                Ok(_) => 0,
            },
            _ => match parse_control(&words) {
                Ok(cmd) => control(&host, cmd).await,
                Err(e) => {
                    eprintln!("{e}");
                    2
                }
            },
        }
    });
    std::process::exit(code);
}

/// A command's exit status: 0, or 1 with its error on stderr.
fn exit_code(r: Result<(), String>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `shoal --help`: every command, the daemon's and the control ones (clap's own list for the
/// latter, so it stays true as commands are added).
fn overview() -> String {
    use clap::CommandFactory;
    let mut s = String::from(
        "Usage: shoal [--host IP:PORT] [--data-dir DIR] COMMAND\n\n\
         A swarm-mode container orchestrator: the daemon and its CLI.\n\n\
         Daemon:\n  \
         swarm init    Initialize a swarm: this machine becomes its first manager (runs the daemon)\n  \
         swarm join    Join a swarm as a node and/or manager (runs the daemon)\n  \
         daemon        Restart this machine's daemon from its data directory\n  \
         swarm leave   Leave the swarm (asks this machine's daemon)\n  \
         swarm unlock  Unlock this locked manager (autolock; reads the key from standard input)\n  \
         events        Get real time events from the swarm (this machine's daemon)\n  \
         ui token      The read-only token of this manager's cluster page (--ui-addr)\n\n\
         Control (any manager; the CLI speaks mTLS as the node whose --data-dir it reads):\n",
    );
    for c in shoal_core::cli::ControlCli::command().get_subcommands() {
        s += &format!("  {:<13} {}\n", c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default());
    }
    s += "  ca            Client certificates for the Docker Engine API over TLS (ca client-bundle DIR)\n  \
          snapshot      Write the swarm's state to a file for shoal-sim plan (snapshot -o FILE)\n\n\
          Other:\n  version       Show the version\n  \
          completion    Print a shell completion script (bash, zsh, fish, elvish, powershell)\n\n\
          Run 'shoal COMMAND --help' for more information on a command.\n";
    s
}

/// `--log-format json` and `RUST_LOG` (default info for shoal, warn for the rest).
fn init_logging(args: &mut Vec<String>) {
    let json = match args.iter().position(|a| a == "--log-format") {
        Some(i) if i + 1 < args.len() => {
            let f = args.remove(i + 1);
            args.remove(i);
            f == "json"
        }
        _ => false,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("shoal=info,warn"));
    // Colour only on a terminal: a log file or a pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        // One JSON object per line: timestamp, level, target, fields.
        b.json().with_ansi(false).init();
    } else {
        b.init();
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2);
}

fn clap_exit(e: clap::Error) -> i32 {
    let code = if e.use_stderr() { 2 } else { 0 };
    let _ = e.print();
    code
}

/// `node promote|demote` and `node update --role`: makes `key` a node of role `want`; false
/// when it already is one. Promotion: the swarm wants the node as a manager; it renews its
/// certificate for that role at its next heartbeat and then joins the raft itself (it cannot
/// serve raft with a worker's certificate). Demotion: out of the raft first (refused if the
/// swarm would lose its quorum or its last manager), then the swarm wants the node as a worker
/// and it renews its certificate for that role.
async fn change_role(host: &str, key: &str, want: NodeRole) -> Result<bool, String> {
    let n = get_node(host, key).await?;
    if n.spec.desired_role == want && n.role == want {
        return Ok(false);
    }
    if want == NodeRole::Worker && n.role == NodeRole::Manager {
        let ch = shoal_core::node::raft::network::channel(host).map_err(|e| format!("Cannot connect to the Shoal manager at {host}: {e}"))?;
        let mut c = proto::manager_client::ManagerClient::new(ch);
        let req = proto::MembershipRequest { node_id: n.raft_id, addr: n.status.addr.clone(), hops: 0 };
        match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, c.remove_manager(req)).await {
            Err(_) => return Err(format!("Error: the manager at {host} did not answer in time; the demotion's outcome is unknown")),
            Ok(Err(s)) => return Err(status_error(host, &s)),
            Ok(Ok(_)) => {}
        }
    }
    let op = Op::UpdateNode(proto::UpdateNode { node: n.id.clone(), role: want.as_str().into(), ..Default::default() });
    call(host, op).await?;
    Ok(true)
}

/// `10.0.0.5` means `10.0.0.5:4242`, as docker's `swarm join` assumes 2377.
fn with_port(addr: &str) -> String {
    if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:{DEFAULT_PORT}")
    }
}

/// One control-API call to the manager at `host`.
async fn call(host: &str, op: Op) -> Result<proto::ControlReply, String> {
    try_call(host, op).await.map_err(|e| e.message)
}

/// [`call`], the failure's kind kept for the machines that act on it (`service update`,
/// `stack deploy`).
async fn try_call(host: &str, op: Op) -> Result<proto::ControlReply, CallError> {
    try_call_as(host, op, false).await
}

/// [`try_call`], or with `dry_run` the write's plan instead of the write.
async fn try_call_as(host: &str, op: Op, dry_run: bool) -> Result<proto::ControlReply, CallError> {
    let unreachable = |e: String| {
        format!("Cannot connect to the Shoal manager at {host}: {e}. Is `shoal swarm init` (or join) running there? Set --host or SHOAL_HOST.")
    };
    let ch = shoal_core::node::raft::network::channel(host).map_err(|e| CallError::other(unreachable(e.to_string())))?;
    let mut c = proto::control_client::ControlClient::new(ch).max_decoding_message_size(shoal_core::node::CONTROL_REPLY_BYTES_MAX);
    // A dry run's write goes inside a PlanWrites, which a manager that predates plans
    // refuses instead of making the write (shoal_core::cli::dry_run_request).
    let req = if dry_run { shoal_core::cli::dry_run_request(op) } else { proto::ControlRequest { hops: 0, op: Some(op), dry_run: false } };
    match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, c.call(req)).await {
        Err(_) => Err(CallError::other(format!("Error: the manager at {host} did not answer in time; the request's outcome is unknown"))),
        Ok(Err(s)) => Err(CallError::of_status(&s, status_error(host, &s))),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// What a failed call to the manager at `host` tells the operator.
fn status_error(host: &str, s: &tonic::Status) -> String {
    use tls::failure::{failure, Failure};
    match failure(s) {
        Some(Failure::Connect) => format!(
            "Cannot connect to the Shoal manager at {host}: {}. Is `shoal swarm init` (or join) running there? Set --host or SHOAL_HOST.",
            s.message()
        ),
        Some(Failure::NotAManager) => format!(
            "Error: the node at {host} is not a swarm manager (its certificate is a worker's). \
             Run the command on a manager, or set --host to one."
        ),
        // The handshake failed on the certificates: the two sides trust different roots.
        Some(Failure::OtherSwarm) => format!(
            "Error: the manager at {host} belongs to another swarm: its certificate and this node's do not share a root CA \
             ({}). Set --host to a manager of this node's swarm, or --data-dir (SHOAL_DATA_DIR) to a node of that one.",
            s.message()
        ),
        None => format!("Error response from daemon: {}", s.message()),
    }
}

/// `service logs`: the manager at `host` merges the output of the service's tasks from every
/// node that runs them (core/src/node/logs.rs); lines go to stdout or stderr as the container
/// wrote them, prefixed with docker's `service.slot.task@node |` context.
async fn service_logs(host: &str, l: &shoal_core::cli::ServiceLogs) -> Result<(), String> {
    use std::io::Write;
    let req = l.request();
    let keep = l.since_filter(shoal_core::node::clock::wall_ms()).map_err(|e| format!("Error: {e}"))?;
    let ch = shoal_core::node::raft::network::channel(host).map_err(|e| format!("Cannot connect to the Shoal manager at {host}: {e}"))?;
    let mut c = proto::logs_client::LogsClient::new(ch);
    let mut stream = match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, c.service_logs(req)).await {
        Err(_) => return Err(format!("Error: the manager at {host} did not answer in time")),
        Ok(Err(s)) => return Err(status_error(host, &s)),
        Ok(Ok(r)) => r.into_inner(),
    };
    // The context column is as wide as the widest seen so far (docker pads it the same way).
    let mut width = 0;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    loop {
        let batch = match stream.message().await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(()),
            Err(s) => return Err(format!("error from daemon in stream: {}", s.message())),
        };
        if !batch.warning.is_empty() {
            let _ = writeln!(err, "warning: {}", batch.warning);
        }
        for line in batch.lines.iter().filter(|x| keep(x)) {
            let mut text = String::new();
            if l.timestamps && !line.timestamp.is_empty() {
                text.push_str(&line.timestamp);
                text.push(' ');
            }
            if !l.raw {
                let ctx = shoal_core::node::logs::context(line, l.no_trunc, !l.no_task_ids);
                width = width.max(ctx.len());
                text.push_str(&format!("{ctx:<width$} | "));
                if l.details {
                    // docker prints the line's attributes other than the swarm context it
                    // shows already, then a space; Shoal's lines carry no others (no log
                    // driver labels or env), so only the space remains, as with docker.
                    text.push(' ');
                }
            }
            let data = String::from_utf8_lossy(&line.data);
            let w: &mut dyn Write = if line.stream == 2 { &mut err } else { &mut out };
            // A closed pipe (`| head`) ends the command quietly, as docker does.
            if writeln!(w, "{text}{data}").is_err() {
                return Ok(());
            }
        }
        let _ = out.flush();
    }
}

/// Follows a service's convergence with docker's progress lines, on a terminal and unless
/// detached (in a pipe the command returns at once, as with `-d`).
async fn maybe_follow(host: &str, service: &str, detach: bool) -> Result<(), String> {
    use std::io::IsTerminal;
    if detach || !std::io::stdout().is_terminal() {
        return Ok(());
    }
    progress::follow(host, service).await
}

/// A node by id, hostname or id prefix, read through the control API.
async fn get_node(host: &str, key: &str) -> Result<shoal_core::model::Node, String> {
    let r = call(host, Op::GetNode(proto::ObjectKey { key: key.to_string() })).await?;
    match objects(&r).into_iter().next() {
        Some(Object::Node(n)) => Ok(n),
        _ => Err(format!("Error: No such node: {key}")),
    }
}

fn objects(r: &proto::ControlReply) -> Vec<Object> {
    serde_json::from_slice(&r.objects).unwrap_or_default()
}

async fn control(host: &str, cmd: ControlCommand) -> i32 {
    exit_code(run_control(host, cmd).await)
}

async fn run_control(host: &str, mut cmd: ControlCommand) -> Result<(), String> {
    if let ControlCommand::Service(ServiceCommand::Create(c)) = &mut cmd {
        // `--env-file`: read here, on the client, as docker's CLI reads it.
        c.read_env_files(|f| std::fs::read_to_string(f).map_err(|e| e.to_string()), &|k| std::env::var(k).ok())?;
    }
    if cmd.dry_run() {
        return plan_cmd::run(host, &cmd).await;
    }
    match cmd {
        ControlCommand::Service(ServiceCommand::Create(c)) => {
            let spec = c.to_spec()?;
            let r = call(host, Op::CreateService(proto::CreateService { spec: serde_json::to_vec(&spec).expect("spec serialises") })).await?;
            println!("{}", r.id);
            maybe_follow(host, &r.id, c.detach).await?;
        }
        ControlCommand::Service(ServiceCommand::Update(u)) => {
            let (service, detach) = (u.service.clone(), u.detach);
            let mut m = shoal_core::cli::ServiceUpdater::new(u);
            while let Some(op) = m.poll_request() {
                let reply = try_call(host, op).await;
                m.handle_reply(reply);
            }
            if let Some(Err(e)) = m.outcome() {
                return Err(e.clone());
            }
            println!("{service}");
            maybe_follow(host, &service, detach).await?;
        }
        ControlCommand::Service(ServiceCommand::Scale { pairs, detach, .. }) => {
            let pairs = parse_scale_pairs(&pairs)?;
            for (service, replicas) in &pairs {
                call(host, Op::ScaleService(proto::ScaleService { service: service.clone(), replicas: *replicas })).await?;
                println!("{service} scaled to {replicas}");
            }
            for (service, _) in &pairs {
                maybe_follow(host, service, detach).await?;
            }
        }
        ControlCommand::Service(ServiceCommand::Rm { services, .. }) => {
            for s in services {
                call(host, Op::RemoveService(proto::ObjectKey { key: s.clone() })).await?;
                println!("{s}");
            }
        }
        ControlCommand::Service(ServiceCommand::Logs(l)) => service_logs(host, &l).await?,
        ControlCommand::Service(ServiceCommand::Rollback { service, detach, .. }) => {
            call(host, Op::RollbackService(proto::ObjectKey { key: service.clone() })).await?;
            println!("{service}");
            maybe_follow(host, &service, detach).await?;
        }
        ControlCommand::Service(ServiceCommand::Rebalance { ref services, detach, .. }) => {
            for (_, op) in shoal_core::cli::plan_requests(&cmd).expect("a plannable write")? {
                call(host, op).await?;
            }
            // What each service is moving now (a balanced one: nothing).
            let r = call(host, Op::ListServices(proto::ListObjects::default())).await?;
            let mut moving = Vec::new();
            for o in objects(&r) {
                let Object::Service(s) = o else { continue };
                let name = s.spec.annotations.name.clone();
                let named = services.iter().any(|k| *k == name || *k == s.id);
                match s.rebalancing.len() {
                    0 if named => println!("{name}: balanced, nothing to move"),
                    0 => {}
                    n => {
                        println!("{name}: moving {n} task{} (a rolling change under its update config)", if n == 1 { "" } else { "s" });
                        moving.push(name);
                    }
                }
            }
            for name in moving {
                maybe_follow(host, &name, detach).await?;
            }
        }
        ControlCommand::Node(NodeCommand::Update { availability, label_add, label_rm, role, node, .. }) => {
            if let Some(role) = role.as_deref().and_then(NodeRole::parse) {
                change_role(host, &node, role).await?;
            }
            if availability.is_some() || !label_add.is_empty() || !label_rm.is_empty() {
                let label_add = label_add.iter().map(|l| shoal_core::cli::label_pair(l)).collect();
                let op = Op::UpdateNode(proto::UpdateNode { node: node.clone(), availability: availability.unwrap_or_default(), label_add, label_rm, ..Default::default() });
                call(host, op).await?;
            }
            println!("{node}");
        }
        ControlCommand::Node(NodeCommand::Rm { force, nodes }) => {
            for n in nodes {
                call(host, Op::RemoveNode(proto::RemoveNode { node: n.clone(), force })).await?;
                println!("{n}");
            }
        }
        ControlCommand::Secret(cmd) => payload_cmd::run(host, shoal_core::control::PayloadKind::Secret, cmd).await?,
        ControlCommand::Config(cmd) => payload_cmd::run(host, shoal_core::control::PayloadKind::Config, cmd).await?,
        ControlCommand::Network(cmd) => network_cmd::run(host, cmd).await?,
        ControlCommand::Stack(cmd) => stack_cmd::run(host, cmd).await?,
        // See change_role for what a promotion and a demotion do.
        ControlCommand::Node(cmd @ (NodeCommand::Promote { .. } | NodeCommand::Demote { .. })) => {
            let (nodes, want) = match cmd {
                NodeCommand::Promote { nodes } => (nodes, NodeRole::Manager),
                NodeCommand::Demote { nodes } => (nodes, NodeRole::Worker),
                _ => unreachable!("matched above"),
            };
            for key in nodes {
                if !change_role(host, &key, want).await? {
                    println!("Node {key} is already a {}.", want.as_str());
                    continue;
                }
                match want {
                    NodeRole::Manager => println!("Node {key} promoted to a manager in the swarm."),
                    NodeRole::Worker => println!("Manager {key} demoted in the swarm."),
                }
            }
        }
        ControlCommand::Swarm(sc) => swarm_cmd::run(host, sc).await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_say_what_is_wrong() {
        let tls = |e: rustls::Error| {
            tonic::Status::from_error(Box::new(tonic::ConnectError(Box::new(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))))
        };
        let e = status_error("10.0.0.9:4242", &tls(rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)));
        assert!(e.contains("the manager at 10.0.0.9:4242 belongs to another swarm") && e.contains("BadSignature"), "{e}");
        let e = status_error("h", &tls(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)));
        assert!(e.contains("is not a swarm manager"), "a worker's certificate is not another swarm's: {e}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = status_error("10.0.0.9:4242", &tonic::Status::from_error(Box::new(tonic::ConnectError(Box::new(refused)))));
        assert!(e.starts_with("Cannot connect to the Shoal manager at 10.0.0.9:4242"), "{e}");
        let e = status_error("h", &tonic::Status::not_found("service nope not found"));
        assert_eq!(e, "Error response from daemon: service nope not found");
    }
}

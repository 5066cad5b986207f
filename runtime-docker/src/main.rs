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
mod disk;
mod engine_api;
mod executor;
mod ingress;
mod json_rows;
mod metrics;
mod network_cmd;
mod networks;
mod payload_cmd;
mod progress;
mod tls;

use clap::{Parser, Subcommand};
use shoal_core::engine_api::convert;
use shoal_core::cli::{parse_control, parse_scale_pairs, ControlCommand, NodeCommand, ServiceCommand, SwarmCommand};
use shoal_core::model::{Node, NodeRole, Object, Service, ServiceMode, Task};
use shoal_core::proto::{self, control_request::Op};
use std::path::PathBuf;

const DEFAULT_PORT: u16 = 4242;
const DEFAULT_DATA_DIR: &str = "/var/lib/shoal";

#[derive(Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
struct DaemonCli {
    #[command(subcommand)]
    cmd: DaemonCmd,
}

#[derive(Subcommand)]
enum DaemonCmd {
    /// Restart this machine's daemon from its data directory.
    Daemon {
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        #[arg(long)]
        listen_addr: Option<String>,
        /// Serve Prometheus metrics at http://ADDR/metrics (ip:port)
        #[arg(long)]
        metrics_addr: Option<String>,
        /// Serve the Docker Engine API at unix:///PATH or tcp://IP:PORT (mutual TLS), repeatable (default: docker.sock in the data dir)
        #[arg(long)]
        docker_api: Vec<String>,
    },
    #[command(subcommand)]
    Swarm(SwarmStart),
}

#[derive(Subcommand)]
enum SwarmStart {
    /// Initialize a swarm: this machine becomes its first manager (runs the daemon).
    Init {
        #[command(flatten)]
        node: NodeFlags,
        #[command(flatten)]
        init: shoal_core::cli::InitFlags,
    },
    /// Join a swarm as a node and/or manager (runs the daemon).
    Join {
        /// Token for entry into the swarm
        #[arg(long, required = true)]
        token: String,
        #[command(flatten)]
        node: NodeFlags,
        /// A manager's address, ip:port
        manager: String,
    },
}

/// Where this machine listens, how others reach it, and where it keeps its state.
#[derive(clap::Args)]
struct NodeFlags {
    /// Advertised address (ip:port), the one other machines dial
    #[arg(long, default_value_t = format!("127.0.0.1:{DEFAULT_PORT}"))]
    advertise_addr: String,
    /// Listen address (default: the advertised one)
    #[arg(long)]
    listen_addr: Option<String>,
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Serve Prometheus metrics at http://ADDR/metrics (ip:port)
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Address other nodes' routing meshes reach this node's tasks at (an IP of this
    /// machine's engine host; default: the advertised address's IP)
    #[arg(long)]
    data_path_addr: Option<String>,
    /// Serve the Docker Engine API at unix:///PATH or tcp://IP:PORT (mutual TLS), repeatable (default: docker.sock in the data dir)
    #[arg(long)]
    docker_api: Vec<String>,
}

impl NodeFlags {
    fn options(self) -> daemon::Options {
        daemon::Options {
            data_dir: self.data_dir,
            advertise_addr: with_port(&self.advertise_addr),
            listen_addr: self.listen_addr,
            metrics_addr: self.metrics_addr,
            data_path_addr: self.data_path_addr,
            docker_api: self.docker_api,
        }
    }
}

/// `swarm leave [--force]`: asks this machine's own daemon (the one whose data directory the
/// CLI reads) to leave the swarm.
#[derive(Parser)]
#[command(name = "shoal swarm leave", no_binary_name = true, disable_help_subcommand = true)]
struct LeaveCli {
    /// Force this node to leave the swarm, ignoring warnings
    #[arg(long, short = 'f')]
    force: bool,
}

/// Asks the daemon of the node at `dir` to leave its swarm; returns once it left.
async fn swarm_leave(dir: &std::path::Path, force: bool) -> Result<(), String> {
    let identity = daemon::read_identity(dir)?.ok_or_else(|| format!("Error: {} is not a swarm node's data directory: this node is not part of a swarm", dir.display()))?;
    let role = shoal_core::model::NodeRole::parse(&identity.role).unwrap_or_default();
    let addr = &identity.advertise_addr;
    let ch = shoal_core::node::raft::network::channel_to(addr, role).map_err(|e| format!("Cannot connect to this node's daemon at {addr}: {e}"))?;
    let mut c = proto::local_client::LocalClient::new(ch);
    // Leaving stops the node's containers first: give it the time docker gives a stop.
    match tokio::time::timeout(std::time::Duration::from_secs(60), c.leave(proto::LeaveRequest { force })).await {
        Err(_) => Err(format!("Error: the daemon at {addr} did not finish leaving within 60 s; see its log")),
        Ok(Err(s)) if s.code() == tonic::Code::Unavailable && s.message().contains("connect") => {
            Err(format!("Cannot connect to this node's daemon at {addr}: {}. Is it running?", s.message()))
        }
        Ok(Err(s)) => Err(format!("Error response from daemon: {}", s.message())),
        Ok(Ok(_)) => Ok(()),
    }
}

/// `shoal ca client-bundle DIR`: a client certificate for the Engine API over TCP.
#[derive(Parser)]
#[command(name = "shoal ca", no_binary_name = true, disable_help_subcommand = true)]
struct CaCli {
    #[command(subcommand)]
    cmd: CaCmd,
}

#[derive(Subcommand)]
enum CaCmd {
    /// Write ca.pem, cert.pem and key.pem for a docker client of the Engine API over TCP
    /// (DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://MANAGER:PORT)
    ClientBundle {
        /// The directory to write them to (made if missing)
        dir: PathBuf,
    },
}

/// Signs a client certificate with the swarm's root (read from a manager: the CLI holds a
/// manager's certificate) and writes the bundle docker clients read.
async fn client_bundle(host: &str, cmd: &CaCmd) -> Result<(), String> {
    let CaCmd::ClientBundle { dir } = cmd;
    let r = call(host, Op::GetCluster(proto::ListObjects {})).await?;
    let Some(Object::Cluster(c)) = objects(&r).into_iter().next() else {
        return Err("Error: the swarm has no cluster object yet; retry in a moment".into());
    };
    let (cert, key) = engine_api::tls::issue(&c.root_ca, &[], true)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("Error: cannot create {}: {e}", dir.display()))?;
    use std::os::unix::fs::OpenOptionsExt;
    for (name, text, mode) in [("ca.pem", &c.root_ca.ca_cert_pem, 0o644), ("cert.pem", &cert, 0o644), ("key.pem", &key, 0o600)] {
        let path = dir.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| format!("Error: cannot write {}: {e}", path.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| format!("Error: cannot write {}: {e}", path.display()))?;
    }
    println!("Wrote ca.pem, cert.pem and key.pem to {}: export DOCKER_CERT_PATH={} DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://MANAGER:PORT", dir.display(), dir.display());
    Ok(())
}

/// Read-only commands the core grammar does not hold (they only format what the API lists).
#[derive(Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
struct ReadCli {
    #[command(subcommand)]
    cmd: ReadCmd,
}

#[derive(Subcommand)]
enum ReadCmd {
    #[command(subcommand)]
    Node(NodeRead),
    #[command(subcommand)]
    Service(ServiceRead),
}

#[derive(Subcommand)]
enum NodeRead {
    /// List nodes in the swarm
    #[command(alias = "list")]
    Ls {
        /// Only display IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print as JSON
        #[arg(long, value_parser = ["json"])]
        format: Option<String>,
    },
    /// Display detailed information on one or more nodes
    Inspect {
        /// Print the information in a human friendly format
        #[arg(long)]
        pretty: bool,
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// List tasks running on one or more nodes (default: this node, `self`)
    Ps {
        #[arg(default_value = "self")]
        nodes: Vec<String>,
        /// Only display task IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print as JSON
        #[arg(long, value_parser = ["json"])]
        format: Option<String>,
    },
}

#[derive(Subcommand)]
enum ServiceRead {
    /// List services
    #[command(alias = "list")]
    Ls {
        /// Only display IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print as JSON
        #[arg(long, value_parser = ["json"])]
        format: Option<String>,
    },
    /// List the tasks of one or more services
    Ps {
        #[arg(required = true)]
        services: Vec<String>,
        /// Only display task IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// Print as JSON
        #[arg(long, value_parser = ["json"])]
        format: Option<String>,
    },
    /// Display detailed information on one or more services
    Inspect {
        /// Print the information in a human friendly format
        #[arg(long)]
        pretty: bool,
        #[arg(required = true)]
        services: Vec<String>,
    },
}

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
        ["version"] => {
            println!("Client: shoal {}\n API version: {}", env!("CARGO_PKG_VERSION"), shoal_core::engine_api::API_VERSION);
            return;
        }
        _ => {}
    }
    // Help needs no swarm: clap prints it before anything dials a manager.
    let asks_help = words.iter().any(|w| *w == "--help" || *w == "-h");
    tls::install_provider();
    if !is_daemon && !asks_help && !matches!(words.as_slice(), ["help", ..]) {
        // The CLI speaks mTLS as the node whose data directory it reads (as docker's CLI
        // reaches the engine through a root-only socket: reading the key needs the daemon's
        // user).
        match tls::NodeCerts::load(std::path::Path::new(&client_dir)) {
            Ok(Some(c)) => match c.usable(std::path::Path::new(&client_dir)) {
                Ok(()) => c.install_client(),
                Err(e) => fail(&e),
            },
            Ok(None) => fail(&format!(
                "{client_dir} holds no swarm certificates: run this on a swarm node, or give --data-dir (SHOAL_DATA_DIR) of one; \
                 `shoal swarm init` or `shoal swarm join` makes a node"
            )),
            Err(e) => fail(&e),
        }
    }
    let rt = tokio_rt::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| fail(&format!("cannot start tokio: {e}")));
    let code = rt.block_on(async move {
        match words.as_slice() {
            ["daemon", ..] | ["swarm", "init", ..] | ["swarm", "join", ..] => match DaemonCli::try_parse_from(&words) {
                Ok(c) => run_daemon(c.cmd).await,
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
            ["ca", rest @ ..] => match CaCli::try_parse_from(rest) {
                Ok(c) => match client_bundle(&host, &c.cmd).await {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("{e}");
                        1
                    }
                },
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
         swarm leave   Leave the swarm (asks this machine's daemon)\n\n\
         Control (any manager; the CLI speaks mTLS as the node whose --data-dir it reads):\n",
    );
    for c in shoal_core::cli::ControlCli::command().get_subcommands() {
        s += &format!("  {:<13} {}\n", c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default());
    }
    s += "  ca            Client certificates for the Docker Engine API over TLS (ca client-bundle DIR)\n\n\
          Other:\n  version       Show the version\n\n\
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

async fn run_daemon(cmd: DaemonCmd) -> i32 {
    use daemon::{Options, Start};
    let (start, opts) = match cmd {
        DaemonCmd::Daemon { data_dir, listen_addr, metrics_addr, docker_api } => {
            (Start::Restart, Options { data_dir, advertise_addr: String::new(), listen_addr, metrics_addr, data_path_addr: None, docker_api })
        }
        DaemonCmd::Swarm(SwarmStart::Init { node, init }) => match init.spec() {
            Ok(spec) => (Start::Init(Box::new(spec)), node.options()),
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
        DaemonCmd::Swarm(SwarmStart::Join { token, node, manager }) => (Start::Join { token, manager: with_port(&manager) }, node.options()),
    };
    match daemon::run(start, opts).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
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
    let unreachable = |e: String| {
        format!("Cannot connect to the Shoal manager at {host}: {e}. Is `shoal swarm init` (or join) running there? Set --host or SHOAL_HOST.")
    };
    let ch = shoal_core::node::raft::network::channel(host).map_err(|e| unreachable(e.to_string()))?;
    let mut c = proto::control_client::ControlClient::new(ch);
    let req = proto::ControlRequest { hops: 0, op: Some(op) };
    match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, c.call(req)).await {
        Err(_) => Err(format!("Error: the manager at {host} did not answer in time; the request's outcome is unknown")),
        Ok(Err(s)) => Err(status_error(host, &s)),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

/// What a failed call to the manager at `host` tells the operator.
fn status_error(host: &str, s: &tonic::Status) -> String {
    if s.code() == tonic::Code::Unavailable && s.message().contains("connect") {
        format!(
            "Cannot connect to the Shoal manager at {host}: {}. Is `shoal swarm init` (or join) running there? Set --host or SHOAL_HOST.",
            s.message()
        )
    } else if s.message().contains(&format!("not valid for name \"{}\"", tls::MANAGER_NAME)) {
        format!(
            "Error: the node at {host} is not a swarm manager (its certificate is a worker's). \
             Run the command on a manager, or set --host to one."
        )
    } else if s.message().contains("invalid peer certificate") || s.message().contains("fatal alert") {
        // The handshake failed on the certificates: the two sides trust different roots.
        format!(
            "Error: the manager at {host} belongs to another swarm: its certificate and this node's do not share a root CA \
             ({}). Set --host to a manager of this node's swarm, or --data-dir (SHOAL_DATA_DIR) to a node of that one.",
            s.message()
        )
    } else {
        format!("Error response from daemon: {}", s.message())
    }
}

/// `service logs`: the manager at `host` merges the output of the service's tasks from every
/// node that runs them (core/src/node/logs.rs); lines go to stdout or stderr as the container
/// wrote them, prefixed with docker's `service.slot.task@node |` context.
async fn service_logs(host: &str, l: &shoal_core::cli::ServiceLogs) -> Result<(), String> {
    use std::io::Write;
    let req = l.request();
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
        for line in &batch.lines {
            let mut text = String::new();
            if l.timestamps && !line.timestamp.is_empty() {
                text.push_str(&line.timestamp);
                text.push(' ');
            }
            if !l.raw {
                let ctx = shoal_core::node::logs::context(line, l.no_trunc, !l.no_task_ids);
                width = width.max(ctx.len());
                text.push_str(&format!("{ctx:<width$} | "));
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
    match run_control(host, cmd).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

async fn run_control(host: &str, cmd: ControlCommand) -> Result<(), String> {
    match cmd {
        ControlCommand::Service(ServiceCommand::Create(c)) => {
            let spec = c.to_spec()?;
            let r = call(host, Op::CreateService(proto::CreateService { spec: serde_json::to_vec(&spec).expect("spec serialises") })).await?;
            println!("{}", r.id);
            maybe_follow(host, &r.id, c.detach).await?;
        }
        ControlCommand::Service(ServiceCommand::Update(mut u)) => {
            // A spec names networks by id: `--network-rm NAME` also names that id.
            for n in u.network_rm.clone() {
                if let Some(Object::Network(net)) = call(host, Op::GetNetwork(proto::ObjectKey { key: n })).await.ok().and_then(|r| objects(&r).into_iter().next()) {
                    u.network_rm.push(net.id);
                }
            }
            // Read, apply the flags, write with the version read; a race is retried.
            for _ in 0..5 {
                let r = call(host, Op::GetService(proto::ObjectKey { key: u.service.clone() })).await?;
                let Some(Object::Service(cur)) = objects(&r).into_iter().next() else {
                    return Err(format!("Error: no such service: {}", u.service));
                };
                match call(host, u.request(&cur)?).await {
                    Err(e) if e.contains("out of sequence") => continue,
                    Err(e) => return Err(e),
                    Ok(_) => {
                        println!("{}", u.service);
                        return maybe_follow(host, &u.service, u.detach).await;
                    }
                }
            }
            return Err(format!("Error: service {} kept changing under the update; retry", u.service));
        }
        ControlCommand::Service(ServiceCommand::Scale { pairs, detach }) => {
            let pairs = parse_scale_pairs(&pairs)?;
            for (service, replicas) in &pairs {
                call(host, Op::ScaleService(proto::ScaleService { service: service.clone(), replicas: *replicas })).await?;
                println!("{service} scaled to {replicas}");
            }
            for (service, _) in &pairs {
                maybe_follow(host, service, detach).await?;
            }
        }
        ControlCommand::Service(ServiceCommand::Rm { services }) => {
            for s in services {
                call(host, Op::RemoveService(proto::ObjectKey { key: s.clone() })).await?;
                println!("{s}");
            }
        }
        ControlCommand::Service(ServiceCommand::Logs(l)) => service_logs(host, &l).await?,
        ControlCommand::Service(ServiceCommand::Rollback { service, detach }) => {
            call(host, Op::RollbackService(proto::ObjectKey { key: service.clone() })).await?;
            println!("{service}");
            maybe_follow(host, &service, detach).await?;
        }
        ControlCommand::Node(NodeCommand::Update { availability, label_add, label_rm, role, node }) => {
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
        ControlCommand::Swarm(SwarmCommand::JoinToken { rotate, quiet, role }) => {
            if rotate {
                call(host, Op::RotateJoinToken(proto::RotateJoinToken { role: role.clone() })).await?;
                if !quiet {
                    println!("Successfully rotated {role} join token.\n");
                }
            }
            let r = call(host, Op::GetCluster(proto::ListObjects {})).await?;
            let Some(Object::Cluster(c)) = objects(&r).into_iter().next() else {
                return Err("Error: the swarm has no cluster object yet; retry in a moment".into());
            };
            let token = if role == "manager" { c.root_ca.join_token_manager } else { c.root_ca.join_token_worker };
            if quiet {
                println!("{token}");
            } else {
                // The leader's advertised address, which other machines reach (the CLI's own
                // --host is often 127.0.0.1).
                let nodes = objects(&call(host, Op::ListNodes(proto::ListObjects {})).await?);
                let leader = nodes.iter().find_map(|o| match o {
                    Object::Node(n) => n.manager_status.as_ref().filter(|m| m.leader).map(|m| m.addr.clone()),
                    _ => None,
                });
                let addr = leader.filter(|a| !a.is_empty()).unwrap_or_else(|| host.to_string());
                println!("To add a {role} to this swarm, run the following command:\n\n    shoal swarm join --token {token} {addr}\n");
            }
        }
    }
    Ok(())
}

async fn read(host: &str, cmd: ReadCmd, data_dir: &std::path::Path) -> i32 {
    match run_read(host, cmd, data_dir).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn tasks_of(objs: Vec<Object>) -> Vec<Task> {
    objs.into_iter().filter_map(|o| if let Object::Task(t) = o { Some(t) } else { None }).collect()
}

/// Node keys as given, `self` being the node whose data directory the CLI reads (docker's).
fn node_keys(keys: Vec<String>, data_dir: &std::path::Path) -> Result<Vec<String>, String> {
    keys.into_iter()
        .map(|k| {
            if k != "self" {
                return Ok(k);
            }
            match daemon::read_identity(data_dir)? {
                Some(id) => Ok(id.node_id),
                None => Err(format!("{}: no node identity here, so `self` means nothing: name the node", data_dir.display())),
            }
        })
        .collect()
}

/// An image as docker's tables show it: without the digest the service is pinned to.
fn image_shown(image: &str) -> String {
    image.split_once('@').map_or(image, |(name, _)| name).to_string()
}

/// `service ps` / `node ps --format json`: the table's columns under docker's field names.
const TASK_JSON_KEYS: [&str; 7] = ["ID", "Name", "Image", "Node", "DesiredState", "CurrentState", "Error"];

async fn run_read(host: &str, cmd: ReadCmd, data_dir: &std::path::Path) -> Result<(), String> {
    match cmd {
        ReadCmd::Node(NodeRead::Ls { quiet, format }) => {
            let mut nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects {})).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .collect();
            // As docker: by hostname, and the node this CLI runs on marked `*`.
            let host_of = |n: &Node| n.description.as_ref().map(|d| d.hostname.clone()).unwrap_or_default();
            nodes.sort_by(|a, b| (host_of(a), &a.id).cmp(&(host_of(b), &b.id)));
            let me = daemon::read_identity(data_dir).ok().flatten().map(|i| i.node_id).unwrap_or_default();
            if quiet {
                nodes.iter().for_each(|n| println!("{}", n.id));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = nodes
                .iter()
                .map(|n| {
                    let ms = match &n.manager_status {
                        Some(m) if m.leader => "Leader",
                        Some(_) => "Reachable",
                        None => "",
                    };
                    vec![
                        if n.id == me && format.is_none() { format!("{} *", n.id) } else { n.id.clone() },
                        n.description.as_ref().map(|d| d.hostname.clone()).unwrap_or_default(),
                        format!("{:?}", n.status.state),
                        format!("{:?}", n.spec.availability),
                        ms.to_string(),
                    ]
                })
                .collect();
            if format.as_deref() == Some("json") {
                json_rows::print(&["ID", "Hostname", "Status", "Availability", "ManagerStatus"], &rows, &[("EngineVersion", convert::ENGINE_VERSION)]);
                return Ok(());
            }
            table(&["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS"], rows);
        }
        ReadCmd::Node(NodeRead::Inspect { pretty, nodes }) => {
            let mut found = Vec::new();
            for n in node_keys(nodes, data_dir)? {
                let r = call(host, Op::GetNode(proto::ObjectKey { key: n })).await?;
                found.extend(objects(&r).into_iter().filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }));
            }
            if !pretty {
                json_rows::inspect(&found.iter().map(|n| convert::node_to_docker(n, "")).collect::<Vec<_>>());
                return Ok(());
            }
            for (i, n) in found.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print!("{}", node_pretty(n));
            }
        }
        ReadCmd::Node(NodeRead::Ps { nodes, quiet, format }) => {
            let all_nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects {})).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .collect();
            let mut rows = Vec::new();
            for key in &node_keys(nodes, data_dir)? {
                let r = call(host, Op::ListTasks(proto::ListTasks { service: String::new(), node: key.clone() })).await?;
                let mut tasks = tasks_of(objects(&r));
                rows.extend(history_rows(&mut tasks, &all_nodes));
            }
            if format.as_deref() == Some("json") {
                json_rows::print(&TASK_JSON_KEYS, &rows, &[("Ports", "")]);
                return Ok(());
            }
            if quiet {
                rows.iter().for_each(|r| println!("{}", r[0]));
                return Ok(());
            }
            table(&["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], rows);
        }
        ReadCmd::Service(ServiceRead::Ls { quiet, format }) => {
            let mut services: Vec<Service> = objects(&call(host, Op::ListServices(proto::ListObjects {})).await?)
                .into_iter()
                .filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None })
                .collect();
            // By name, as docker lists them.
            services.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
            let tasks = tasks_of(objects(&call(host, Op::ListTasks(proto::ListTasks::default())).await?));
            if quiet {
                services.iter().for_each(|s| println!("{}", short(&s.id)));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| {
                    let running = tasks
                        .iter()
                        .filter(|t| t.service_id == s.id && t.status.state == shoal_core::model::TaskState::Running && t.is_live())
                        .count();
                    let (mode, want) = match &s.spec.mode {
                        ServiceMode::Replicated { replicas } => ("replicated", replicas.to_string()),
                        ServiceMode::Global => ("global", tasks.iter().filter(|t| t.service_id == s.id && t.is_live()).count().to_string()),
                        ServiceMode::ReplicatedJob { total_completions, .. } => ("replicated job", total_completions.to_string()),
                        ServiceMode::GlobalJob => ("global job", "-".into()),
                    };
                    // As docker: the routing mesh's ports as allocated (`-p 0:80` shows the port
                    // the allocator took), the spec's until then; host-mode ports are not shown.
                    let spec_ports = s.spec.endpoint.iter().flat_map(|e| e.ports.iter());
                    let shown: Vec<&shoal_core::model::PortConfig> =
                        if s.endpoint_ports.is_empty() { spec_ports.collect() } else { s.endpoint_ports.iter().collect() };
                    let ports = shown
                        .iter()
                        .filter(|p| p.publish_mode == shoal_core::model::PublishMode::Ingress)
                        .map(|p| format!("*:{}->{}/{}", p.published_port, p.target_port, if p.protocol.is_empty() { "tcp" } else { &p.protocol }))
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![short(&s.id), s.spec.annotations.name.clone(), mode.into(), format!("{running}/{want}"), image_shown(&s.spec.task.container.image), ports]
                })
                .collect();
            if format.as_deref() == Some("json") {
                json_rows::print(&["ID", "Name", "Mode", "Replicas", "Image", "Ports"], &rows, &[]);
                return Ok(());
            }
            table(&["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows);
        }
        ReadCmd::Service(ServiceRead::Ps { services, quiet, format }) => {
            let nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects {})).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .collect();
            let mut rows = Vec::new();
            for s in &services {
                let mut tasks = tasks_of(objects(&call(host, Op::ListTasks(proto::ListTasks { service: s.clone(), node: String::new() })).await?));
                rows.extend(history_rows(&mut tasks, &nodes));
            }
            if format.as_deref() == Some("json") {
                json_rows::print(&TASK_JSON_KEYS, &rows, &[("Ports", "")]);
                return Ok(());
            }
            if quiet {
                rows.iter().for_each(|r| println!("{}", r[0]));
                return Ok(());
            }
            table(&["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], rows);
        }
        ReadCmd::Service(ServiceRead::Inspect { pretty, services }) => {
            let mut out = Vec::new();
            for s in services {
                let r = call(host, Op::GetService(proto::ObjectKey { key: s })).await?;
                out.extend(objects(&r));
            }
            if !pretty {
                // As `docker service inspect`, which asks with insertDefaults=true.
                let shown: Vec<_> = out
                    .iter()
                    .filter_map(|o| if let Object::Service(s) = o { Some(convert::service_to_docker(s, None)) } else { None })
                    .map(|mut s| {
                        convert::insert_defaults(&mut s.spec);
                        s
                    })
                    .collect();
                json_rows::inspect(&shown);
                return Ok(());
            }
            for (i, o) in out.iter().enumerate() {
                if let Object::Service(svc) = o {
                    if i > 0 {
                        println!();
                    }
                    print!("{}", service_pretty(svc));
                }
            }
        }
    }
    Ok(())
}

/// `node inspect --pretty`: docker's human-readable layout of a node.
fn node_pretty(n: &Node) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "ID:\t\t\t{}", n.id);
    if !n.spec.annotations.labels.is_empty() {
        let _ = writeln!(s, "Labels:");
        for (k, v) in &n.spec.annotations.labels {
            let _ = writeln!(s, " - {k}={v}");
        }
    }
    let d = n.description.clone().unwrap_or_default();
    let _ = writeln!(s, "Hostname:\t\t{}", d.hostname);
    let _ = writeln!(s, "Joined at:\t\t{} ms since the epoch", n.meta.created_at_ms);
    let _ = writeln!(s, "Status:");
    let _ = writeln!(s, " State:\t\t\t{:?}", n.status.state);
    if !n.status.message.is_empty() {
        let _ = writeln!(s, " Message:\t\t{}", n.status.message);
    }
    let _ = writeln!(s, " Availability:\t\t{:?}", n.spec.availability);
    let _ = writeln!(s, " Address:\t\t{}", n.status.addr);
    if let Some(m) = &n.manager_status {
        let _ = writeln!(s, "Manager Status:");
        let _ = writeln!(s, " Address:\t\t{}", m.addr);
        let _ = writeln!(s, " Raft Status:\t\tReachable");
        let _ = writeln!(s, " Leader:\t\t{}", if m.leader { "Yes" } else { "No" });
    }
    let _ = writeln!(s, "Platform:");
    let _ = writeln!(s, " Operating System:\t{}", d.platform.os);
    let _ = writeln!(s, " Architecture:\t\t{}", d.platform.architecture);
    let _ = writeln!(s, "Resources:");
    let _ = writeln!(s, " CPUs:\t\t\t{}", d.resources.nano_cpus / 1_000_000_000);
    let _ = writeln!(s, " Memory:\t\t{:.4}GiB", d.resources.memory_bytes as f64 / (1u64 << 30) as f64);
    if !d.engine_labels.is_empty() {
        let _ = writeln!(s, "Engine Labels:");
        for (k, v) in &d.engine_labels {
            let _ = writeln!(s, " - {k}={v}");
        }
    }
    s
}

/// A duration as Go (and so docker) prints one: `0s`, `500ms`, `5s`, `1m30s`, `1h0m0s`.
fn go_duration(ms: u64) -> String {
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
fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// `service inspect --pretty`: docker's human-readable layout of a service.
fn service_pretty(svc: &Service) -> String {
    use std::fmt::Write;
    let spec = &svc.spec;
    let mut s = String::new();
    let _ = writeln!(s, "ID:\t\t{}", svc.id);
    let _ = writeln!(s, "Name:\t\t{}", spec.annotations.name);
    if !spec.annotations.labels.is_empty() {
        let _ = writeln!(s, "Labels:");
        for (k, v) in &spec.annotations.labels {
            let _ = writeln!(s, " {k}{}", if v.is_empty() { String::new() } else { format!("={v}") });
        }
    }
    match &spec.mode {
        ServiceMode::Replicated { replicas } => {
            let _ = writeln!(s, "Service Mode:\tReplicated\n Replicas:\t{replicas}");
        }
        ServiceMode::Global => {
            let _ = writeln!(s, "Service Mode:\tGlobal");
        }
        ServiceMode::ReplicatedJob { max_concurrent, total_completions } => {
            let _ = writeln!(s, "Service Mode:\tReplicatedJob\n Max Concurrent:\t{max_concurrent}\n Total Completions:\t{total_completions}");
        }
        ServiceMode::GlobalJob => {
            let _ = writeln!(s, "Service Mode:\tGlobalJob");
        }
    }
    if let Some(u) = &svc.update_status {
        let _ = writeln!(s, "UpdateStatus:\n State:\t\t{}", wire_name(&u.state));
        if !u.message.is_empty() {
            let _ = writeln!(s, " Message:\t{}", u.message);
        }
    }
    let p = &spec.task.placement;
    let _ = writeln!(s, "Placement:");
    if !p.constraints.is_empty() {
        let _ = writeln!(s, " Constraints:\t[{}]", p.constraints.join(" "));
    }
    if !p.preferences.is_empty() {
        let _ = writeln!(s, " Preferences:\t[{}]", p.preferences.join(" "));
    }
    if p.max_replicas > 0 {
        let _ = writeln!(s, " Max Replicas Per Node:  {}", p.max_replicas);
    }
    for (title, cfg, what) in [("UpdateConfig", &spec.update, "Update"), ("RollbackConfig", &spec.rollback, "Rollback")] {
        let Some(c) = cfg else { continue };
        let _ = writeln!(s, "{title}:\n Parallelism:\t{}", c.parallelism);
        if c.delay_ms > 0 {
            let _ = writeln!(s, " Delay:\t\t{}", go_duration(c.delay_ms));
        }
        let _ = writeln!(s, " On failure:\t{}", wire_name(&c.failure_action));
        let _ = writeln!(s, " Monitoring Period: {}", go_duration(c.monitor_ms));
        let _ = writeln!(s, " Max failure ratio: {}", c.max_failure_ratio);
        let _ = writeln!(s, " {what} order:      {}", wire_name(&c.order));
    }
    let c = &spec.task.container;
    let _ = writeln!(s, "ContainerSpec:\n Image:\t\t{}", c.image);
    if !c.args.is_empty() {
        let _ = writeln!(s, " Args:\t\t{} ", c.args.join(" "));
    }
    if !c.env.is_empty() {
        let _ = writeln!(s, " Env:\t\t{} ", c.env.join(" "));
    }
    let _ = writeln!(s, " Init:\t\ttrue");
    if let Some(ms) = c.stop_grace_period_ms {
        let _ = writeln!(s, " StopGracePeriod: {}", go_duration(ms));
    }
    if let Some(h) = &c.healthcheck {
        let _ = writeln!(s, " Healthcheck:\n  Interval = {}\n  Retries = {}\n  StartPeriod = {}\n  Timeout = {}", go_duration(h.interval_ms), h.retries, go_duration(h.start_period_ms), go_duration(h.timeout_ms));
        if !h.test.is_empty() {
            let _ = writeln!(s, "  Tests:");
            for t in &h.test {
                let _ = writeln!(s, "\t Test = {t}");
            }
        }
    }
    if !c.secrets.is_empty() {
        let _ = writeln!(s, "Secrets:");
        for r in &c.secrets {
            let _ = writeln!(s, " Target:\t/run/secrets/{}\n  Source:\t{}", r.target, r.secret_name);
        }
    }
    if !c.configs.is_empty() {
        let _ = writeln!(s, "Configs:");
        for r in &c.configs {
            let _ = writeln!(s, " Target:\t{}\n  Source:\t{}", r.path(), r.config_name);
        }
    }
    let r = &spec.task.resources;
    let shown = |x: &Option<shoal_core::model::Resources>| x.as_ref().filter(|x| x.nano_cpus > 0 || x.memory_bytes > 0).cloned();
    if shown(&r.reservations).is_some() || shown(&r.limits).is_some() {
        let _ = writeln!(s, "Resources:");
        for (title, x) in [(" Reservations:", shown(&r.reservations)), (" Limits:", shown(&r.limits))] {
            let Some(x) = x else { continue };
            let _ = writeln!(s, "{title}");
            if x.nano_cpus > 0 {
                let _ = writeln!(s, "  CPU:\t\t{}", x.nano_cpus as f64 / 1e9);
            }
            if x.memory_bytes > 0 {
                let _ = writeln!(s, "  Memory:\t{}", human_bytes(x.memory_bytes));
            }
        }
    }
    let restart = &spec.task.restart;
    let _ = writeln!(s, "RestartPolicy:\n Condition:\t{}\n Delay:\t\t{}", wire_name(&restart.condition), go_duration(restart.delay_ms));
    if restart.max_attempts > 0 {
        let _ = writeln!(s, " Max Attempts:\t{}", restart.max_attempts);
    }
    let _ = writeln!(s, "Endpoint Mode:\tvip");
    let ports = if svc.endpoint_ports.is_empty() { spec.endpoint.as_ref().map(|e| e.ports.clone()).unwrap_or_default() } else { svc.endpoint_ports.clone() };
    if !ports.is_empty() {
        let _ = writeln!(s, "Ports:");
        for p in &ports {
            let proto = if p.protocol.is_empty() { "tcp" } else { &p.protocol };
            let _ = writeln!(s, " PublishedPort = {}\n  Protocol = {proto}\n  TargetPort = {}\n  PublishMode = {}", p.published_port, p.target_port, wire_name(&p.publish_mode));
        }
    }
    s
}

/// Bytes as docker's CLI shows them (binary units): `512MiB`, `1.5GiB`.
fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    let n = format!("{v:.4}");
    format!("{}{}", n.trim_end_matches('0').trim_end_matches('.'), UNITS[i])
}

/// `service ps` / `node ps` rows: tasks sorted by service and slot (a global task's slot is
/// its node), newest first within a slot; the first row of a slot is its current task, older
/// ones are history rows (`\_`), as docker shows them.
fn history_rows(tasks: &mut [Task], nodes: &[Node]) -> Vec<Vec<String>> {
    let slot_of = |t: &Task| (t.service_name.clone(), t.slot, if t.slot == 0 { t.node_id.clone() } else { String::new() });
    tasks.sort_by(|a, b| (slot_of(a), b.meta.created_at_ms).cmp(&(slot_of(b), a.meta.created_at_ms)));
    let mut last = None;
    let mut rows = Vec::with_capacity(tasks.len());
    for t in tasks.iter() {
        let slot = slot_of(t);
        let name = if last.as_ref() == Some(&slot) { format!(" \\_ {}", task_name(t)) } else { task_name(t) };
        last = Some(slot);
        rows.push(task_row(t, name, hostname(nodes, &t.node_id)));
    }
    rows
}

/// A task's name as docker shows it: service.slot, or service.node for a global task.
fn task_name(t: &Task) -> String {
    format!("{}.{}", t.service_name, if t.slot == 0 { t.node_id.clone() } else { t.slot.to_string() })
}

fn hostname(nodes: &[Node], id: &str) -> String {
    nodes.iter().find(|n| n.id == id).and_then(|n| n.description.as_ref().map(|d| d.hostname.clone())).unwrap_or_default()
}

/// One row of `service ps` / `node ps`: ID, NAME, IMAGE, NODE, DESIRED STATE, CURRENT STATE,
/// ERROR.
fn task_row(t: &Task, name: String, hostname: String) -> Vec<String> {
    vec![
        short(&t.id),
        name,
        image_shown(&t.spec.container.image),
        hostname,
        format!("{:?}", t.desired_state),
        // docker's "Running 5 seconds ago": the state and how long since it was reported.
        format!("{:?} {} ago", t.status.state, shoal_core::cli::human_duration(now_ms().saturating_sub(t.status.timestamp_ms))),
        t.status.err.clone(),
    ]
}

/// The wall clock, for "… ago" (the CLI's own clock: a client may read it).
fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

/// Prints rows under headers in columns separated by three spaces, as docker's tables.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        // A closed pipe (`shoal service ps web | head`) ends the output, not the process.
        use std::io::Write;
        let _ = writeln!(std::io::stdout().lock(), "{}", s.trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_say_what_is_wrong() {
        let e = status_error("10.0.0.9:4242", &tonic::Status::unavailable("invalid peer certificate: BadSignature"));
        assert!(e.contains("the manager at 10.0.0.9:4242 belongs to another swarm") && e.contains("BadSignature"), "{e}");
        let e = status_error("h", &tonic::Status::unavailable("invalid peer certificate: certificate not valid for name \"shoal-manager\""));
        assert!(e.contains("is not a swarm manager"), "a worker's certificate is not another swarm's: {e}");
        let e = status_error("10.0.0.9:4242", &tonic::Status::unavailable("tcp connect error"));
        assert!(e.starts_with("Cannot connect to the Shoal manager at 10.0.0.9:4242"), "{e}");
        let e = status_error("h", &tonic::Status::not_found("service nope not found"));
        assert_eq!(e, "Error response from daemon: service nope not found");
    }

    #[test]
    fn durations_and_sizes_print_as_docker_prints_them() {
        let cases = [(0, "0s"), (500, "500ms"), (5_000, "5s"), (1_500, "1.5s"), (90_000, "1m30s"), (3_600_000, "1h0m0s")];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want, "{ms} ms");
        }
        assert_eq!(human_bytes(512 << 20), "512MiB");
        assert_eq!(human_bytes(3 << 29), "1.5GiB");
        assert_eq!(human_bytes(100), "100B");
    }

    #[test]
    fn service_inspect_pretty_shows_what_the_spec_says() {
        let words = "service create --name web --replicas 3 --constraint node.role==worker --limit-memory 512M \
                     --update-parallelism 2 --update-order start-first --restart-condition on-failure -p 8080:80 \
                     --health-cmd true --stop-grace-period 30s shoal-app:1 httpd -f";
        let Ok(shoal_core::cli::ControlCommand::Service(shoal_core::cli::ServiceCommand::Create(c))) = parse_control(words.split_whitespace()) else {
            panic!("did not parse")
        };
        let svc = Service { id: "abc".into(), spec: c.to_spec().unwrap(), ..Default::default() };
        let out = service_pretty(&svc);
        for want in [
            "ID:\t\tabc\n",
            "Name:\t\tweb\n",
            "Service Mode:\tReplicated\n Replicas:\t3\n",
            " Constraints:\t[node.role==worker]\n",
            "UpdateConfig:\n Parallelism:\t2\n",
            " Update order:      start-first\n",
            " Image:\t\tshoal-app:1\n Args:\t\thttpd -f \n",
            " StopGracePeriod: 30s\n",
            "\t Test = CMD-SHELL\n\t Test = true\n",
            " Limits:\n  Memory:\t512MiB\n",
            " Condition:\ton-failure\n",
            " PublishedPort = 8080\n  Protocol = tcp\n  TargetPort = 80\n  PublishMode = ingress\n",
        ] {
            assert!(out.contains(want), "{want:?} missing from:\n{out}");
        }
    }
}

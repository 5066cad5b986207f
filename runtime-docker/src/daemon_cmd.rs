//! The commands that run this machine's daemon or ask it (not a manager) for something:
//! `daemon`, `swarm init`, `swarm join` (they run the daemon in the foreground), `swarm
//! leave` (asks the local daemon over its own mTLS channel) and `ca client-bundle`. Their
//! clap definitions live here; main.rs dispatches on the words.

use crate::{daemon, engine_api, join_token, with_port, DEFAULT_DATA_DIR, DEFAULT_PORT};
use clap::{Parser, Subcommand};
use shoal_core::proto;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
pub(crate) struct DaemonCli {
    #[command(subcommand)]
    cmd: DaemonCmd,
}

#[derive(Subcommand)]
enum DaemonCmd {
    /// Run this machine's daemon: the swarm its data directory holds, or, if none, in no swarm
    /// until `docker swarm init|join` through its Engine API.
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
        /// Serve the live cluster page at https://ADDR/ (ip:port; managers; see `shoal ui token`)
        #[arg(long)]
        ui_addr: Option<String>,
        /// Test only (scripts/bench-hollow): containers exist only in memory, nothing runs
        #[arg(long, hide = true)]
        hollow: bool,
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
        /// Force create a new cluster from current state: on a manager of a swarm that lost
        /// its quorum for good, continue as a one-manager swarm with everything it held
        #[arg(long)]
        force_new_cluster: bool,
    },
    /// Join a swarm as a node and/or manager (runs the daemon).
    Join {
        /// Token for entry into the swarm ('-': read it from standard input; default: $SHOAL_JOIN_TOKEN)
        #[arg(long)]
        token: Option<String>,
        /// Read the token for entry into the swarm from this file
        #[arg(long)]
        token_file: Option<PathBuf>,
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
    /// Serve the live cluster page at https://ADDR/ (ip:port; managers; see `shoal ui token`)
    #[arg(long)]
    ui_addr: Option<String>,
    /// Test only (scripts/bench-hollow): containers exist only in memory, nothing runs
    #[arg(long, hide = true)]
    hollow: bool,
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
            ui_addr: self.ui_addr,
            hollow: self.hollow,
        }
    }
}

/// `swarm leave [--force]`: asks this machine's own daemon (the one whose data directory the
/// CLI reads) to leave the swarm.
#[derive(Parser)]
#[command(name = "shoal swarm leave", no_binary_name = true, disable_help_subcommand = true)]
pub(crate) struct LeaveCli {
    /// Force this node to leave the swarm, ignoring warnings
    #[arg(long, short = 'f')]
    pub(crate) force: bool,
}

/// The `Local` service of the daemon whose data directory is `dir` (this machine's), as the
/// node itself (its certificate), and the address it listens at.
pub(crate) fn local_daemon(dir: &std::path::Path) -> Result<(proto::local_client::LocalClient<tonic::transport::Channel>, String), String> {
    let identity = daemon::read_identity(dir)?.ok_or_else(|| format!("Error: {} is not a swarm node's data directory: this node is not part of a swarm", dir.display()))?;
    let role = shoal_core::model::NodeRole::parse(&identity.role).unwrap_or_default();
    let addr = identity.advertise_addr;
    let ch = shoal_core::node::raft::network::channel_to(&addr, role).map_err(|e| format!("Cannot connect to this node's daemon at {addr}: {e}"))?;
    Ok((proto::local_client::LocalClient::new(ch), addr))
}

/// Asks the daemon of the node at `dir` to leave its swarm; returns once it left.
pub(crate) async fn swarm_leave(dir: &std::path::Path, force: bool) -> Result<(), String> {
    let (mut c, addr) = local_daemon(dir)?;
    let addr = &addr;
    // Leaving stops the node's containers first: give it the time docker gives a stop.
    match tokio::time::timeout(std::time::Duration::from_secs(60), c.leave(proto::LeaveRequest { force })).await {
        Err(_) => Err(format!("Error: the daemon at {addr} did not finish leaving within 60 s; see its log")),
        Ok(Err(s)) if crate::tls::failure::failure(&s) == Some(crate::tls::failure::Failure::Connect) => {
            Err(format!("Cannot connect to this node's daemon at {addr}: {}. Is it running?", s.message()))
        }
        Ok(Err(s)) => Err(format!("Error response from daemon: {}", s.message())),
        Ok(Ok(_)) => Ok(()),
    }
}

/// `shoal ca client-bundle DIR`: a client certificate for the Engine API over TCP.
#[derive(Parser)]
#[command(name = "shoal ca", no_binary_name = true, disable_help_subcommand = true)]
pub(crate) struct CaCli {
    #[command(subcommand)]
    pub(crate) cmd: CaCmd,
}

#[derive(Subcommand)]
pub(crate) enum CaCmd {
    /// Write ca.pem, cert.pem and key.pem for a docker client of the Engine API over TCP
    /// (DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1 DOCKER_HOST=tcp://MANAGER:PORT)
    ClientBundle {
        /// The directory to write them to (made if missing)
        dir: PathBuf,
    },
}

/// Signs a client certificate with the swarm's root (read from a manager: the CLI holds a
/// manager's certificate) and writes the bundle docker clients read.
pub(crate) async fn client_bundle(host: &str, cmd: &CaCmd) -> Result<(), String> {
    let CaCmd::ClientBundle { dir } = cmd;
    let c = crate::swarm_cmd::current_cluster(host).await?;
    let (cert, key) = engine_api::tls::issue(&c.root_ca, &[], true)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("Error: cannot create {}: {e}", dir.display()))?;
    use std::os::unix::fs::OpenOptionsExt;
    // Both roots during a root rotation.
    let ca = shoal_core::ca::rotation::trust_bundle(&c.root_ca);
    for (name, text, mode) in [("ca.pem", &ca, 0o644), ("cert.pem", &cert, 0o644), ("key.pem", &key, 0o600)] {
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

/// `shoal ui token [--rotate] [-q]`: the read-only token of this manager's cluster page.
#[derive(Parser)]
#[command(name = "shoal ui", no_binary_name = true, disable_help_subcommand = true)]
pub(crate) struct UiCli {
    #[command(subcommand)]
    pub(crate) cmd: UiCmd,
}

#[derive(Subcommand)]
pub(crate) enum UiCmd {
    /// Print this manager's read-only token for its cluster page (--ui-addr), made if missing
    Token {
        /// Make a new token: the old one stops opening the page, and pages open with it close
        #[arg(long)]
        rotate: bool,
        /// Only display the token
        #[arg(long, short = 'q')]
        quiet: bool,
    },
}

pub(crate) fn ui_token(dir: &std::path::Path, cmd: &UiCmd) -> Result<(), String> {
    let UiCmd::Token { rotate, quiet } = cmd;
    let identity = daemon::read_identity(dir)?.ok_or_else(|| format!("Error: {} is not a swarm node's data directory", dir.display()))?;
    if identity.role != "manager" {
        return Err("Error: this node is not a manager: only managers serve the cluster page; run this on a manager".into());
    }
    let token = if *rotate { crate::ui::token_rotate(dir)? } else { crate::ui::token_load_or_make(dir)? };
    if *quiet {
        println!("{token}");
    } else {
        if *rotate {
            println!("Successfully rotated the cluster page's token.\n");
        }
        println!("Open this manager's cluster page (its daemon's --ui-addr) at:\n\n    https://MANAGER:PORT/?token={token}\n");
        println!("The token only shows the page; `shoal ui token --rotate` replaces it.");
    }
    Ok(())
}

pub(crate) async fn run_daemon(cli: DaemonCli) -> i32 {
    use daemon::{Options, Start};
    let (start, opts) = match cli.cmd {
        DaemonCmd::Daemon { data_dir, listen_addr, metrics_addr, docker_api, ui_addr, hollow } => {
            (None, Options { data_dir, advertise_addr: String::new(), listen_addr, metrics_addr, data_path_addr: None, docker_api, ui_addr, hollow })
        }
        DaemonCmd::Swarm(SwarmStart::Init { node, force_new_cluster: true, .. }) => (Some(Start::ForceNewCluster { unlock_key: None }), node.options()),
        DaemonCmd::Swarm(SwarmStart::Init { node, init, .. }) => match init.spec() {
            Ok(spec) => (Some(Start::Init(Box::new(spec))), node.options()),
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
        DaemonCmd::Swarm(SwarmStart::Join { token, token_file, node, manager }) => match join_token::resolve(token.as_deref(), token_file.as_deref()) {
            Ok(token) => (Some(Start::Join { token, manager: with_port(&manager) }), node.options()),
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        },
    };
    // `shoal daemon` outlives a leave (it waits for the next init or join); `swarm init|join`
    // in the foreground end with their swarm, as before.
    let stay = start.is_none();
    match crate::lifecycle::serve(start, opts, stay).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            1
        }
    }
}


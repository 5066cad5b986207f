//! The read-only commands: `node ls|inspect|ps`, `service ls|ps|inspect`, and the tables they
//! print as docker prints them (also used by `stack services|ps`).

use crate::pretty::{node_pretty, service_pretty};
use crate::{call, daemon, json_rows, objects};
use clap::{Parser, Subcommand};
use shoal_core::engine_api::filters::Filters;
use shoal_core::engine_api::{convert, query};
use shoal_core::model::{Node, Object, Service, ServiceMode, Task};
use shoal_core::proto::{self, control_request::Op};

/// Read-only commands the core grammar does not hold (they only format what the API lists).
#[derive(Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
pub struct ReadCli {
    #[command(subcommand)]
    pub cmd: ReadCmd,
}

#[derive(Subcommand)]
pub enum ReadCmd {
    #[command(subcommand)]
    Node(NodeRead),
    #[command(subcommand)]
    Service(ServiceRead),
}

#[derive(Subcommand)]
pub enum NodeRead {
    /// List nodes in the swarm
    #[command(alias = "list")]
    Ls {
        /// Only display IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// json, or a Go template ('{{.Name}}', 'table {{.ID}}\t{{.Name}}')
        #[arg(long)]
        format: Option<String>,
        /// Filter output based on conditions provided (KEY=VALUE, repeatable): id, label, membership, name, node.label, role
        #[arg(long, short = 'f')]
        filter: Vec<String>,
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
        /// json, or a Go template ('{{.Name}}', 'table {{.ID}}\t{{.Name}}')
        #[arg(long)]
        format: Option<String>,
        /// Filter output based on conditions provided (KEY=VALUE, repeatable): desired-state, id, name, node
        #[arg(long, short = 'f')]
        filter: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum ServiceRead {
    /// List services
    #[command(alias = "list")]
    Ls {
        /// Only display IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// json, or a Go template ('{{.Name}}', 'table {{.ID}}\t{{.Name}}')
        #[arg(long)]
        format: Option<String>,
        /// Filter output based on conditions provided (KEY=VALUE, repeatable): id, label, mode, name
        #[arg(long, short = 'f')]
        filter: Vec<String>,
    },
    /// List the tasks of one or more services
    Ps {
        #[arg(required = true)]
        services: Vec<String>,
        /// Only display task IDs
        #[arg(long, short = 'q')]
        quiet: bool,
        /// json, or a Go template ('{{.Name}}', 'table {{.ID}}\t{{.Name}}')
        #[arg(long)]
        format: Option<String>,
        /// Filter output based on conditions provided (KEY=VALUE, repeatable): desired-state, id, name, node
        #[arg(long, short = 'f')]
        filter: Vec<String>,
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


pub async fn read(host: &str, cmd: ReadCmd, data_dir: &std::path::Path) -> i32 {
    match run_read(host, cmd, data_dir).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

pub fn tasks_of(objs: Vec<Object>) -> Vec<Task> {
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
        ReadCmd::Node(NodeRead::Ls { quiet, format, filter }) => {
            let filters = cli_filters(&filter)?;
            let keep = query::node_filter(&filters).map_err(|e| e.to_string())?;
            let mut nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects::default())).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .filter(|n| keep(n))
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
                    let ms = n.manager_status_text();
                    vec![
                        if n.id == me && format.is_none() { format!("{} *", n.id) } else { n.id.clone() },
                        n.description.as_ref().map(|d| d.hostname.clone()).unwrap_or_default(),
                        format!("{:?}", n.status.state),
                        format!("{:?}", n.spec.availability),
                        ms.to_string(),
                    ]
                })
                .collect();
            if let Some(f) = format.as_deref() {
                json_rows::print(f, &["ID", "Hostname", "Status", "Availability", "ManagerStatus"], &rows, &[("EngineVersion", convert::ENGINE_VERSION)])?;
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
        ReadCmd::Node(NodeRead::Ps { nodes, quiet, format, filter }) => {
            let filters = cli_filters(&filter)?;
            let all_nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects::default())).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .collect();
            let keep = query::task_filter(&filters, &all_nodes).map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            for key in &node_keys(nodes, data_dir)? {
                let r = call(host, Op::ListTasks(proto::ListTasks { service: String::new(), node: key.clone() })).await?;
                let mut tasks: Vec<Task> = tasks_of(objects(&r)).into_iter().filter(|t| keep(t)).collect();
                rows.extend(history_rows(&mut tasks, &all_nodes));
            }
            if let Some(f) = format.as_deref() {
                json_rows::print(f, &TASK_JSON_KEYS, &rows, &[("Ports", "")])?;
                return Ok(());
            }
            if quiet {
                rows.iter().for_each(|r| println!("{}", r[0]));
                return Ok(());
            }
            table(&["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], rows);
        }
        ReadCmd::Service(ServiceRead::Ls { quiet, format, filter }) => {
            let filters = cli_filters(&filter)?;
            let keep = query::service_filter(&filters).map_err(|e| e.to_string())?;
            services_table(host, quiet, format.as_deref(), keep).await?;
        }
        ReadCmd::Service(ServiceRead::Ps { services, quiet, format, filter }) => {
            tasks_table(host, &services, quiet, format.as_deref(), &cli_filters(&filter)?).await?;
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

/// `service ls` (and `stack services`): the services `keep` keeps, by name; how many.
pub async fn services_table(host: &str, quiet: bool, format: Option<&str>, keep: impl Fn(&Service) -> bool) -> Result<usize, String> {
            // The counts come from the manager: every task would not fit in one reply.
            let reply = call(host, Op::ListServices(proto::ListObjects { status: true })).await?;
            let statuses: std::collections::BTreeMap<&str, &proto::ServiceStatus> =
                reply.statuses.iter().map(|s| (s.service_id.as_str(), s)).collect();
            let mut services: Vec<Service> = objects(&reply)
                .into_iter()
                .filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None })
                .filter(|s| keep(s))
                .collect();
            // By name, as docker lists them.
            services.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
            if quiet {
                services.iter().for_each(|s| println!("{}", short(&s.id)));
                return Ok(services.len());
            }
            let rows: Vec<Vec<String>> = services
                .iter()
                .map(|s| {
                    let count = statuses.get(s.id.as_str());
                    let running = count.map_or(0, |c| c.running_tasks);
                    let (mode, want) = match &s.spec.mode {
                        ServiceMode::Replicated { replicas } => ("replicated", replicas.to_string()),
                        ServiceMode::Global => ("global", count.map_or(0, |c| c.desired_tasks).to_string()),
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
            if let Some(f) = format {
                json_rows::print(f, &["ID", "Name", "Mode", "Replicas", "Image", "Ports"], &rows, &[])?;
                return Ok(services.len());
            }
            table(&["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"], rows);
    Ok(services.len())
}

/// `--filter KEY=VALUE` flags as docker's CLI takes them.
fn cli_filters(args: &[String]) -> Result<Filters, String> {
    Filters::from_cli(args).map_err(|e| e.to_string())
}

/// `service ps` (and `stack ps`): the tasks of `services` (ids or names) that `filters` keep,
/// with history rows.
pub async fn tasks_table(host: &str, services: &[String], quiet: bool, format: Option<&str>, filters: &Filters) -> Result<usize, String> {
            let nodes: Vec<Node> = objects(&call(host, Op::ListNodes(proto::ListObjects::default())).await?)
                .into_iter()
                .filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None })
                .collect();
            let keep = query::task_filter(filters, &nodes).map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            for s in services {
                let all = tasks_of(objects(&call(host, Op::ListTasks(proto::ListTasks { service: s.clone(), node: String::new() })).await?));
                let mut tasks: Vec<Task> = all.into_iter().filter(|t| keep(t)).collect();
                rows.extend(history_rows(&mut tasks, &nodes));
            }
            if let Some(f) = format {
                json_rows::print(f, &TASK_JSON_KEYS, &rows, &[("Ports", "")])?;
                return Ok(rows.len());
            }
            if quiet {
                rows.iter().for_each(|r| println!("{}", r[0]));
                return Ok(rows.len());
            }
            let n = rows.len();
            table(&["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"], rows);
    Ok(n)
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
        let name = if last.as_ref() == Some(&slot) { format!(" \\_ {}", shoal_core::engine_api::query::task_name(t)) } else { shoal_core::engine_api::query::task_name(t) };
        last = Some(slot);
        rows.push(task_row(t, name, hostname(nodes, &t.node_id)));
    }
    rows
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


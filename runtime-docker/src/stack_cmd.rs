//! `shoal stack deploy|ls|services|ps|rm|config`: the compose files are read here, on the
//! client (as the docker CLI reads them); core's stack module loads, converts and plans, and
//! this shell sends the plan's requests one by one and prints docker's progress lines.

use crate::read_cmd::{services_table, tasks_table};
use crate::{call, json_rows, objects, try_call_as};
use shoal_core::cli::StackCommand;
use shoal_core::model::{Object, Service};
use shoal_core::proto::{self, control_request::Op};
use shoal_core::stack::deploy::{service_in_stack, stacks, Deployer, Goal};
use shoal_core::stack::load::{load, Source};
use shoal_core::stack::Variables;

pub async fn run(host: &str, cmd: StackCommand) -> Result<(), String> {
    match cmd {
        StackCommand::Deploy { compose_files, prune, name, plan, detach, .. } => {
            let (sources, working_dir) = read_sources(&compose_files)?;
            let vars = variables(&working_dir)?;
            let read = |p: &str| std::fs::read(p).map_err(|e| e.to_string());
            let (spec, warnings) = shoal_core::stack::prepare(&name, &sources, &working_dir, &vars, &read).map_err(|e| e.to_string())?;
            for w in warnings {
                eprintln!("{w}\n");
            }
            let goal = Goal::Deploy { spec, prune };
            if !plan.dry_run {
                drive(host, &mut Deployer::new(&name, goal), false).await?;
                if !detach {
                    wait_on_services(host, &name).await?;
                }
                return Ok(());
            }
            // A dry run: the writes it would make, then their plan (with --format json, the
            // plan alone on stdout).
            let json = plan.format.as_deref() == Some("json");
            let mut d = Deployer::dry_run(&name, goal);
            drive(host, &mut d, json).await?;
            if let Some(p) = d.plan() {
                if !json {
                    println!();
                }
                print!("{}", shoal_core::plan::render::many(&[(format!("stack deploy {name}"), p.clone())], json));
            }
            Ok(())
        }
        StackCommand::Rm { names } => {
            let mut failed = Vec::new();
            for name in names {
                if let Err(e) = drive(host, &mut Deployer::new(&name, Goal::Remove), false).await {
                    eprintln!("{e}");
                    failed.push(name);
                }
            }
            match failed.as_slice() {
                [] => Ok(()),
                _ => Err(format!("failed to remove some resources from stack: {}", failed.join(", "))),
            }
        }
        StackCommand::Ls(shoal_core::cli::ListFlags { quiet, format }) => {
            let services: Vec<Service> = list_services(host).await?;
            let rows: Vec<Vec<String>> = stacks(&services).into_iter().map(|(n, c)| vec![n, c.to_string()]).collect();
            match format.as_deref() {
                Some(f) => json_rows::print(f, &["Name", "Services"], &rows, &[])?,
                None if quiet => rows.iter().for_each(|r| println!("{}", r[0])),
                None => {
                    println!("{:<24}SERVICES", "NAME");
                    for r in rows {
                        println!("{:<24}{}", r[0], r[1]);
                    }
                }
            }
            Ok(())
        }
        StackCommand::Services { list, name } => {
            let n = services_table(host, list.quiet, list.format.as_deref(), |s| service_in_stack(s, &name)).await?;
            if n == 0 {
                eprintln!("Nothing found in stack: {name}");
            }
            Ok(())
        }
        StackCommand::Ps { list, name } => {
            let ids: Vec<String> = list_services(host).await?.into_iter().filter(|s| service_in_stack(s, &name)).map(|s| s.id).collect();
            if ids.is_empty() || tasks_table(host, &ids, list.quiet, list.format.as_deref(), &Default::default()).await? == 0 {
                return Err(format!("nothing found in stack: {name}"));
            }
            Ok(())
        }
        StackCommand::Config { compose_files, skip_interpolation } => {
            let (sources, working_dir) = read_sources(&compose_files)?;
            let vars = variables(&working_dir)?;
            let loaded = load(&sources, (!skip_interpolation).then_some(&vars)).map_err(|e| e.to_string())?;
            print!("{}", shoal_core::stack::load::to_yaml(&loaded.file));
            Ok(())
        }
    }
}

/// `--detach=false`: waits for each of the stack's services to converge in turn, with the
/// progress lines of `service create` (redrawn on a terminal, the last frame otherwise), as
/// the docker CLI waits on a stack's services one after the other.
async fn wait_on_services(host: &str, stack: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    let draw = std::io::stdout().is_terminal();
    let mut names: Vec<String> =
        list_services(host).await?.into_iter().filter(|s| service_in_stack(s, stack)).map(|s| s.spec.annotations.name).collect();
    names.sort();
    for name in names {
        println!("Waiting for service {name}");
        crate::progress::follow_drawing(host, &name, draw).await?;
    }
    Ok(())
}

/// Sends the machine's requests until it is done, printing its lines as it goes (unless
/// `quiet`).
async fn drive(host: &str, d: &mut Deployer, quiet: bool) -> Result<(), String> {
    while let Some(op) = d.poll_request() {
        let reply = try_call_as(host, op, d.is_dry_run()).await;
        d.handle_reply(reply);
        while let Some(line) = d.poll_output() {
            if !quiet {
                println!("{line}");
            }
        }
    }
    match d.outcome() {
        Some(Err(e)) => Err(e.to_string()),
        _ => Ok(()),
    }
}

async fn list_services(host: &str) -> Result<Vec<Service>, String> {
    Ok(objects(&call(host, Op::ListServices(proto::ListObjects::default())).await?)
        .into_iter()
        .filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None })
        .collect())
}

/// The compose files' texts (`-` is stdin) and the directory relative paths start from: the
/// first file's (the current one for stdin), as docker resolves them.
fn read_sources(files: &[String]) -> Result<(Vec<Source>, String), String> {
    let mut sources = Vec::with_capacity(files.len());
    for f in files {
        let text = if f == "-" {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("cannot read the compose file from stdin: {e}"))?
        } else {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read compose file {f}: {e}"))?
        };
        sources.push(Source { name: f.clone(), text });
    }
    let first = files.first().filter(|f| *f != "-").map(std::path::Path::new);
    let dir = match first.and_then(|p| p.parent()).filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().map_err(|e| format!("cannot read the current directory: {e}"))?,
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    Ok((sources, dir.to_string_lossy().into_owned()))
}

/// The variables a compose file sees: this process's environment, then `.env` in the
/// working directory for names the environment does not set (docker compose's rule; the
/// docker CLI's `stack deploy` reads no `.env`).
fn variables(working_dir: &str) -> Result<Variables, String> {
    let vars = Variables(std::env::vars().collect());
    let path = std::path::Path::new(working_dir).join(".env");
    match std::fs::read_to_string(&path) {
        Ok(text) => shoal_core::stack::load::with_dotenv(vars, &path.to_string_lossy(), &text).map_err(|e| e.to_string()),
        Err(_) => Ok(vars),
    }
}

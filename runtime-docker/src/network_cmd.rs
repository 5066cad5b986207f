//! `shoal network create|ls|inspect|rm`: swarm networks, printed as docker prints them.

use crate::{call, json_rows, objects};
use shoal_core::cli::NetworkCommand;
use shoal_core::engine_api::convert;
use shoal_core::model::Object;
use shoal_core::proto::{self, control_request::Op};

pub async fn run(host: &str, cmd: NetworkCommand) -> Result<(), String> {
    if let Some(op) = cmd.create_request()? {
        let r = call(host, op).await?;
        println!("{}", r.id);
        return Ok(());
    }
    let key = |key: String| proto::ObjectKey { key };
    match cmd {
        NetworkCommand::Create { .. } => unreachable!("answered above"),
        NetworkCommand::Ls(shoal_core::cli::ListFlags { quiet, format }) => {
            let list: Vec<_> = objects(&call(host, Op::ListNetworks(proto::ListObjects::default())).await?)
                .iter()
                .filter_map(|o| if let Object::Network(n) = o { Some(convert::network_to_docker(n)) } else { None })
                .collect();
            match format.as_deref() {
                Some(f) => {
                    let rows: Vec<Vec<String>> = list.iter().map(|n| vec![n.id.clone(), n.name.clone(), n.driver.clone(), n.scope.clone()]).collect();
                    json_rows::print(f, &["ID", "Name", "Driver", "Scope"], &rows, &[])?;
                }
                None if quiet => list.iter().for_each(|n| println!("{}", n.id)),
                None => {
                    println!("{:<27}{:<24}{:<10}SCOPE", "NETWORK ID", "NAME", "DRIVER");
                    for n in &list {
                        println!("{:<27}{:<24}{:<10}{}", n.id, n.name, n.driver, n.scope);
                    }
                }
            }
        }
        NetworkCommand::Inspect { networks } => {
            let mut out = Vec::new();
            for k in networks {
                out.extend(objects(&call(host, Op::GetNetwork(key(k))).await?).iter().filter_map(|o| {
                    if let Object::Network(n) = o {
                        Some(convert::network_to_docker(n))
                    } else {
                        None
                    }
                }));
            }
            json_rows::inspect(&out);
        }
        NetworkCommand::Rm { networks } => {
            for k in networks {
                call(host, Op::RemoveNetwork(key(k.clone()))).await?;
                println!("{k}");
            }
        }
    }
    Ok(())
}

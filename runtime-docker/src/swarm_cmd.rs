//! `shoal swarm update|unlock-key|join-token`: the cluster's settings, autolock's key and the
//! join tokens, through the control API of the manager at --host.

use crate::{call, locked, objects};
use shoal_core::cli::SwarmCommand;
use shoal_core::model::Object;
use shoal_core::proto::{self, control_request::Op};

/// The Cluster object, as the manager at `host` reads it.
pub(crate) async fn current_cluster(host: &str) -> Result<shoal_core::model::Cluster, String> {
    let r = call(host, Op::GetCluster(proto::ListObjects::default())).await?;
    match objects(&r).into_iter().next() {
        Some(Object::Cluster(c)) => Ok(c),
        _ => Err("Error: the swarm has no cluster object yet; retry in a moment".into()),
    }
}

pub(crate) async fn run(host: &str, cmd: SwarmCommand) -> Result<(), String> {
    match cmd {
        SwarmCommand::Update(u) => {
            let change = u.change().map_err(|e| format!("Error: {e}"))?;
            let key = locked::new_unlock_key()?;
            call(host, shoal_core::cli::update_cluster_op(&change, || key)).await?;
            println!("Swarm updated.");
            if u.autolock == Some(true) {
                println!("{}", shoal_core::cli::unlock_key_message(current_cluster(host).await?.unlock_key.as_str()));
            }
        }
        SwarmCommand::UnlockKey { rotate, quiet } => {
            if rotate {
                let key = locked::new_unlock_key()?;
                let rotate = shoal_core::control::ClusterUpdate { rotate_unlock_key: true, ..Default::default() };
                call(host, shoal_core::cli::update_cluster_op(&rotate, || key)).await?;
                if !quiet {
                    println!("Successfully rotated manager unlock key.\n");
                }
            }
            let key = current_cluster(host).await?.unlock_key.0;
            if key.is_empty() {
                return Err("Error: no unlock key is set: autolock is off (`shoal swarm update --autolock=true` turns it on)".into());
            }
            println!("{}", if quiet { key } else { shoal_core::cli::unlock_key_message(&key) });
        }
        SwarmCommand::JoinToken { rotate, quiet, role } => {
            if rotate {
                call(host, Op::RotateJoinToken(proto::RotateJoinToken { role: role.clone() })).await?;
                if !quiet {
                    println!("Successfully rotated {role} join token.\n");
                }
            }
            let c = current_cluster(host).await?;
            let token = if role == "manager" { c.root_ca.join_token_manager } else { c.root_ca.join_token_worker };
            if quiet {
                println!("{token}");
            } else {
                // The leader's advertised address, which other machines reach (the CLI's own
                // --host is often 127.0.0.1).
                let nodes = objects(&call(host, Op::ListNodes(proto::ListObjects::default())).await?);
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

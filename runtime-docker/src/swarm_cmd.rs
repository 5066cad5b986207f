//! `shoal swarm update|unlock-key|join-token|ca`: the cluster's settings, autolock's key, the
//! join tokens and the root CA, through the control API of the manager at --host.

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
        SwarmCommand::Ca(ca) => {
            let change = ca.change().map_err(|e| format!("Error: {e}"))?;
            if let Some(change) = &change {
                let key = locked::new_unlock_key()?;
                call(host, shoal_core::cli::update_cluster_op(change, || key)).await?;
                if ca.detach {
                    return Ok(());
                }
                follow_rotation(host, !ca.quiet).await?;
            }
            let root = current_cluster(host).await?.root_ca.ca_cert_pem;
            if root.is_empty() {
                return Err("Error: no CA information available".into());
            }
            println!("{}", root.trim());
        }
        SwarmCommand::JoinToken { rotate, quiet, role } => {
            if rotate {
                call(host, Op::RotateJoinToken(proto::RotateJoinToken { role: role.clone(), token_seed: Vec::new() })).await?;
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

/// How often `swarm ca --rotate` looks at the nodes (docker's CLI: 200 ms).
const ROTATION_POLL: std::time::Duration = std::time::Duration::from_millis(200);
/// Failed looks in a row (10 s) before the CLI gives up following (the rotation goes on).
const ROTATION_LOOKS_FAILED_MAX: u32 = 50;

/// docker's progress bar of `Current/Total Units`.
fn bar(done: usize, total: usize) -> String {
    format!("{} {done}/{total} nodes", crate::progress::bar(crate::progress::filled(done, total)))
}

/// docker's three lines of a root rotation's progress.
pub(crate) fn rotation_lines(root: &shoal_core::model::RootCa, p: &shoal_core::ca::rotation::Progress) -> Vec<String> {
    let d = ring::digest::digest(&ring::digest::SHA256, root.ca_cert_pem.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    // Docker shows no trust root rotated while certificates still are.
    let roots = if p.in_progress || p.certs_rotated < p.total { 0 } else { p.roots_rotated };
    vec![
        format!("desired root digest: sha256:{hex}"),
        format!("  rotated TLS certificates: {}", bar(p.certs_rotated, p.total)),
        format!("  rotated CA certificates:  {}", bar(roots, p.total)),
    ]
}

/// Waits until every node holds a certificate of the new root and trusts it alone, showing
/// docker's progress (`show`: redrawn on a terminal, else the last frame once). Like docker's,
/// it waits for nodes that are down (the rotation waits for them too); Ctrl-C leaves the
/// rotation going on.
async fn follow_rotation(host: &str, show: bool) -> Result<(), String> {
    use std::io::Write;
    let draw = show && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut drawn = 0usize;
    let mut out = std::io::stdout();
    // Looks in a row that failed: the node's own files change under the CLI (a renewal is
    // three files), and its manager restarts its server with them; the next look redials.
    let mut failed = 0u32;
    loop {
        crate::tls::reload_client();
        let look = async {
            let c = current_cluster(host).await?;
            let nodes = objects(&call(host, Op::ListNodes(proto::ListObjects::default())).await?);
            Ok::<_, String>((c, nodes))
        };
        let (c, nodes) = match look.await {
            Ok(l) => l,
            Err(e) if failed >= ROTATION_LOOKS_FAILED_MAX => return Err(e),
            Err(_) => {
                failed += 1;
                tokio::time::sleep(ROTATION_POLL).await;
                continue;
            }
        };
        failed = 0;
        let nodes = nodes.iter().filter_map(|o| match o {
            Object::Node(n) => Some(n),
            _ => None,
        });
        let p = shoal_core::ca::rotation::progress(&c.root_ca, nodes);
        if draw {
            crate::progress::draw_frame(&mut out, &rotation_lines(&c.root_ca, &p), &mut drawn);
        }
        if p.done() {
            if show && !draw {
                let _ = out.write_all(rotation_lines(&c.root_ca, &p).iter().map(|l| format!("{l}\n")).collect::<String>().as_bytes());
            }
            return Ok(());
        }
        tokio::time::sleep(ROTATION_POLL).await;
    }
}

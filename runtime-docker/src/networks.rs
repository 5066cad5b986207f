//! A node's side of swarm networks on its Docker engine (the data path, first step): each
//! swarm network a task joins is a bridge network on the engine, named `shoal-<VXLAN id>-<name>`
//! with the network's subnet and gateway and the bridge device `shoal<VXLAN id>`; the task's
//! container joins it at the address the allocator gave, under its DNS names (the service's
//! name, its aliases, and `tasks.<service>`), so Docker's embedded DNS answers them to every
//! container on the same engine.
//!
//! Owns: engine networks labelled `shoal.network.id`; nothing else is touched. Several nodes
//! on one engine share them (a create that loses the race finds the other's). A network with
//! no container left is removed after a container removal.
//!
//! Across engines, the data path (datapath/) gives the bridge a VXLAN device and answers the
//! names itself; a container then joins with no engine aliases and the overlay's name servers.
//!
//! Not yet: virtual IPs (a vip-mode name answers with the task addresses, as dnsrr does),
//! encrypted overlays.

use bollard::models::{EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest};
use bollard::Docker;
use shoal_core::model::{NetworkAttachment, Task};
use std::collections::HashMap;

/// The label that marks an engine network as a swarm network's.
pub const LABEL_NETWORK: &str = "shoal.network.id";

/// The engine network of a swarm network.
pub fn engine_name(a: &NetworkAttachment) -> String {
    format!("shoal-{}-{}", a.vxlan_id, a.network_name)
}

/// Starts of this process find or make engine networks one at a time (two creates of one
/// network at once: the engine refuses the second as an overlapping pool).
static ENSURE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Makes (or finds) the engine network of `a`; Err says why the task cannot join it.
async fn ensure(docker: &Docker, a: &NetworkAttachment) -> Result<String, String> {
    let _one_at_a_time = ENSURE.lock().await;
    let name = engine_name(a);
    let want_subnet = Some(a.subnet.clone());
    let check = |found: &bollard::models::NetworkInspect| -> Result<(), String> {
        let subnet = found.ipam.as_ref().and_then(|i| i.config.as_ref()).and_then(|c| c.first()).and_then(|c| c.subnet.clone());
        let owner = found.labels.as_ref().and_then(|l| l.get(LABEL_NETWORK)).cloned();
        if subnet != want_subnet || owner.as_deref() != Some(a.network_id.as_str()) {
            return Err(format!(
                "engine network {name} exists with subnet {} for network {}, not {} for {}: remove it (docker network rm {name})",
                subnet.unwrap_or_default(),
                owner.unwrap_or_default(),
                a.subnet,
                a.network_id
            ));
        }
        Ok(())
    };
    match docker.inspect_network(&name, None).await {
        Ok(found) => match check(&found) {
            Ok(()) => return Ok(name),
            // Another swarm's (one that ended before it pruned its networks), with no container
            // on it any more: it is in the way, not in use, so it goes.
            Err(why) if found.containers.as_ref().is_none_or(|c| c.is_empty()) => {
                tracing::warn!("removing a stale engine network that no container uses: {why}");
                docker.remove_network(&name).await.map_err(|e| format!("cannot remove stale engine network {name}: {e}"))?;
            }
            Err(why) => return Err(why),
        },
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
        Err(e) => return Err(format!("cannot inspect engine network {name}: {e}")),
    }
    let mut options = HashMap::new();
    options.insert("com.docker.network.bridge.name".to_string(), format!("shoal{}", a.vxlan_id));
    // Room for the VXLAN header on a 1500-byte underlay (swarm's overlay MTU too): without
    // it the first large packet to each peer is lost before the kernel learns the path MTU.
    options.insert("com.docker.network.driver.mtu".to_string(), crate::datapath::OVERLAY_MTU.to_string());
    let mut labels = HashMap::new();
    labels.insert(LABEL_NETWORK.to_string(), a.network_id.clone());
    let req = NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".into()),
        internal: a.internal.then_some(true),
        attachable: Some(true),
        ipam: Some(Ipam {
            driver: Some("default".into()),
            config: Some(vec![IpamConfig { subnet: Some(a.subnet.clone()), gateway: Some(a.gateway.clone()), ..Default::default() }]),
            options: None,
        }),
        options: Some(options),
        labels: Some(labels),
        ..Default::default()
    };
    match docker.create_network(req).await {
        Ok(_) => Ok(name),
        // Another node on this engine made it first (the engine answers 409, or 403 "Pool
        // overlaps" when both creates were under way at once).
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 409 | 403, .. })
            if docker.inspect_network(&name, None).await.is_ok() =>
        {
            let found = docker.inspect_network(&name, None).await.map_err(|e| format!("cannot inspect engine network {name}: {e}"))?;
            check(&found).map(|_| name)
        }
        Err(e) => Err(format!("cannot create engine network {name} ({}): {e}", a.subnet)),
    }
}

/// How a task's container joins its networks.
pub struct Joins {
    /// The container's endpoint on each engine network, in the task's order.
    pub endpoints: Vec<(String, EndpointSettings)>,
    /// The DNS servers the container asks before any other (the overlay's name server on each
    /// network's gateway); empty when the engine's own DNS answers the names.
    pub name_servers: Vec<String>,
}

/// The container's endpoint on each engine network of `task`, at the task's address. With a
/// data path that serves every one of the task's networks here, the container gets the MAC
/// its peers expect and the overlay's name servers, and the engine no names (it would answer
/// them with this engine's containers only); else the engine answers the names itself, on
/// this engine. None when the task joins no network.
pub async fn endpoints(docker: &Docker, task: &Task, data_path: Option<&crate::datapath::DataPath>) -> Result<Option<Joins>, String> {
    if task.networks.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::new();
    let mut overlay = data_path.is_some();
    for a in &task.networks {
        names.push(ensure(docker, a).await?);
        if let Some(dp) = data_path {
            overlay &= dp.prepare(a).await;
        }
    }
    let endpoints = task
        .networks
        .iter()
        .zip(names)
        .map(|(a, name)| {
            let ip = a.addresses.first().and_then(|x| x.split('/').next()).map(str::to_string);
            let settings = EndpointSettings {
                mac_address: ip.as_deref().and_then(shoal_core::dispatcher::mac_for).filter(|_| overlay),
                ipam_config: Some(EndpointIpamConfig { ipv4_address: ip, ..Default::default() }),
                aliases: (!overlay).then(|| a.aliases.clone()),
                ..Default::default()
            };
            (name, settings)
        })
        .collect();
    let name_servers = match data_path {
        Some(dp) if overlay => dp.name_servers(task),
        _ => Vec::new(),
    };
    Ok(Some(Joins { endpoints, name_servers }))
}

/// Removes the swarm networks' engine networks no container uses any more (one another node
/// on this engine still uses stays: the engine refuses to remove it).
pub async fn prune(docker: &Docker) {
    let mut filters = HashMap::new();
    filters.insert("label", vec![LABEL_NETWORK]);
    let opts = bollard::query_parameters::ListNetworksOptionsBuilder::new().filters(&filters).build();
    let Ok(list) = docker.list_networks(Some(opts)).await else { return };
    for n in list {
        let Some(name) = n.name else { continue };
        match docker.inspect_network(&name, None).await {
            Ok(i) if i.containers.as_ref().is_none_or(|c| c.is_empty()) => {
                if let Err(e) = docker.remove_network(&name).await {
                    tracing::debug!(target: "shoal", "remove engine network {name}: {e}");
                }
            }
            _ => {}
        }
    }
}

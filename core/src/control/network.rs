//! Networks: `network create|rm` and a service's `--network` references (swarmkit's
//! controlapi for networks, docker's messages).
//!
//! A network gets its subnet (asked for, or the first free one of the cluster's address pools) and its
//! VXLAN id when it is created, under the control lock, so two networks never overlap. Input:
//! the committed store; output: actions, or a [`ControlError`] with nothing proposed.

use super::{find_named, services, valid_name, ControlError, ControlError::*};
use crate::model::{IpamConfig, Kind, Network, NetworkDefaults, NetworkSpec, Object, PublishMode, ServiceSpec, Subnet};
use crate::store::{Action, Store};
use std::collections::BTreeSet;

/// The ingress network's VXLAN id, as swarm makes it at init.
pub const INGRESS_VXLAN_ID: u32 = 4096;
/// The only driver a swarm network has here.
pub const OVERLAY: &str = "overlay";

/// A network by id, name, or unique id prefix (docker's "network NAME not found").
pub fn find_network<'a>(store: &'a Store, key: &str) -> Result<&'a Network, ControlError> {
    match find_named(store, Kind::Network, key, format!("network {key} not found"))? {
        Object::Network(n) => Ok(n),
        _ => unreachable!("a network-kind key holds a network"),
    }
}

fn networks(store: &Store) -> impl Iterator<Item = &Network> {
    store.list(Kind::Network).filter_map(|o| if let Object::Network(n) = o { Some(n) } else { None })
}

/// The subnets networks hold.
fn subnets_in_use(store: &Store) -> Vec<(Subnet, &str)> {
    networks(store)
        .flat_map(|n| n.ipam.iter().filter_map(|r| Some((Subnet::parse(&r.subnet).ok()?, n.spec.annotations.name.as_str()))))
        .collect()
}

/// The subnets the pools give, in order: each pool cut into subnets of the cluster's size.
fn pool_subnets(pools: &NetworkDefaults) -> impl Iterator<Item = Subnet> + '_ {
    let size = pools.subnet_size;
    pools.default_addr_pool.iter().filter_map(|p| Subnet::parse(p).ok()).filter(move |p| p.prefix <= size && size <= 30).flat_map(move |pool| {
        let step = 1u64 << (32 - u32::from(size));
        (0..(1u64 << (size - pool.prefix))).map(move |k| Subnet { base: pool.base + (k * step) as u32, prefix: size })
    })
}

/// Checks `swarm init --default-addr-pool … --default-addr-pool-mask-length N`.
pub fn validate_network_defaults(n: &NetworkDefaults) -> Result<(), ControlError> {
    if n.default_addr_pool.is_empty() {
        return Err(InvalidArgument("give at least one --default-addr-pool, e.g. 10.0.0.0/8".into()));
    }
    let mut pools: Vec<Subnet> = Vec::new();
    for p in &n.default_addr_pool {
        let s = Subnet::parse(p).map_err(|e| InvalidArgument(format!("--default-addr-pool: {e}")))?;
        if n.subnet_size < s.prefix || n.subnet_size > 29 {
            return Err(InvalidArgument(format!(
                "--default-addr-pool-mask-length {} does not fit pool {s}: give a length between /{} and /29",
                n.subnet_size, s.prefix
            )));
        }
        if let Some(o) = pools.iter().find(|o| o.overlaps(&s)) {
            return Err(InvalidArgument(format!("--default-addr-pool {s} overlaps {o}: give pools that do not overlap")));
        }
        pools.push(s);
    }
    Ok(())
}

/// The ingress network as swarm makes it at init: `ingress`, the pool's first subnet.
pub fn ingress_network(id: String, pools: &NetworkDefaults) -> Network {
    let mut spec = NetworkSpec { driver: OVERLAY.into(), ingress: true, ..Default::default() };
    spec.annotations.name = "ingress".into();
    let subnet = pool_subnets(pools)
        .next()
        .unwrap_or_else(|| pool_subnets(&NetworkDefaults::default()).next().expect("the default pool has subnets"));
    Network {
        id,
        spec,
        ipam: vec![IpamConfig { subnet: subnet.to_string(), gateway: crate::model::ip_string(subnet.first_host()) }],
        vxlan_id: INGRESS_VXLAN_ID,
        ..Default::default()
    }
}

/// The checks of `network create` that need no store (a stack validates its networks with
/// them before it creates anything); sets the driver's name.
pub fn validate_network_spec(spec: &mut NetworkSpec) -> Result<(), ControlError> {
    valid_name(&spec.annotations.name)?;
    match spec.driver.as_str() {
        "" | OVERLAY => spec.driver = OVERLAY.into(),
        d => {
            return Err(InvalidArgument(format!(
                "network driver {d:?} is not a swarm driver: swarm networks use the overlay driver (-d overlay)"
            )))
        }
    }
    if spec.driver_opts.contains_key("encrypted") {
        return Err(InvalidArgument(
            "encrypted overlay networks (--opt encrypted) are not supported by Shoal yet: create the network without it".into(),
        ));
    }
    if spec.ipam.len() > 1 {
        return Err(InvalidArgument("give at most one --subnet: a network has one IPv4 range here".into()));
    }
    if let Some(r) = spec.ipam.first() {
        Subnet::parse(&r.subnet).map_err(InvalidArgument)?;
    }
    Ok(())
}

/// `network create`: the new network with id `id`, its range and VXLAN id given.
pub fn create_network(store: &Store, mut spec: NetworkSpec, id: String) -> Result<Vec<Action>, ControlError> {
    validate_network_spec(&mut spec)?;
    let name = spec.annotations.name.clone();
    if store.find_by_name(Kind::Network, &name).is_some() {
        return Err(AlreadyExists(format!("network with name {name} already exists: pick another name or remove that one")));
    }
    if spec.ingress && networks(store).any(|n| n.spec.ingress) {
        return Err(AlreadyExists("an ingress network already exists: a swarm has one; remove it first".into()));
    }
    let in_use = subnets_in_use(store);
    let range = match spec.ipam.first() {
        Some(r) => {
            let subnet = Subnet::parse(&r.subnet).map_err(InvalidArgument)?;
            if let Some((_, other)) = in_use.iter().find(|(s, _)| s.overlaps(&subnet)) {
                return Err(FailedPrecondition(format!("subnet {subnet} overlaps network {other}'s: pick a subnet no other network uses")));
            }
            let gateway = if r.gateway.is_empty() {
                subnet.first_host()
            } else {
                let g = crate::model::parse_ip(&r.gateway)
                    .filter(|g| subnet.hosts().contains(g))
                    .ok_or_else(|| InvalidArgument(format!("gateway {} is not a host address of subnet {subnet}", r.gateway)))?;
                g
            };
            IpamConfig { subnet: subnet.to_string(), gateway: crate::model::ip_string(gateway) }
        }
        None => {
            let pools = match store.get(Kind::Cluster, crate::leader::CLUSTER_ID) {
                Some(Object::Cluster(c)) => c.spec.network.clone(),
                _ => NetworkDefaults::default(),
            };
            let free = pool_subnets(&pools).find(|s| !in_use.iter().any(|(u, _)| u.overlaps(s))).ok_or_else(|| {
                FailedPrecondition(format!(
                    "the address pools {} have no free /{} left: remove a network or give --subnet",
                    pools.default_addr_pool.join(", "),
                    pools.subnet_size
                ))
            })?;
            IpamConfig { subnet: free.to_string(), gateway: crate::model::ip_string(free.first_host()) }
        }
    };
    let taken: BTreeSet<u32> = networks(store).map(|n| n.vxlan_id).collect();
    let vxlan_id = if spec.ingress && !taken.contains(&INGRESS_VXLAN_ID) {
        INGRESS_VXLAN_ID
    } else {
        (INGRESS_VXLAN_ID + 1..).find(|v| !taken.contains(v)).expect("fewer networks than VXLAN ids")
    };
    Ok(vec![Action::Create(Object::Network(Network { id, spec, ipam: vec![range], vxlan_id, ..Default::default() }))])
}

/// `network rm`: refused while a service's spec or an unfinished task uses the network, and
/// for the ingress network while a service publishes a port through the routing mesh.
pub fn remove_network(store: &Store, key: &str) -> Result<Vec<Action>, ControlError> {
    let n = find_network(store, key)?;
    let name = &n.spec.annotations.name;
    if let Some(s) = services(store).find(|s| s.spec.task.networks.iter().any(|a| a.target == n.id)) {
        return Err(FailedPrecondition(format!("network {name} is in use by service {}: remove the service or update it with --network-rm {name}", s.spec.annotations.name)));
    }
    // A task of a service that is gone is on its way out (the next leader pass stops it):
    // it does not hold the network, or `stack rm` would fail on every network it removes
    // right after the services (swarm's known race, moby#29293).
    let live_task = store.addresses_on(&n.id).find(|(_, holder)| match store.get(Kind::Task, holder) {
        Some(Object::Task(t)) => store.get(Kind::Service, &t.service_id).is_some(),
        _ => false,
    });
    if let Some((_, holder)) = live_task {
        return Err(FailedPrecondition(format!("network {name} is in use by task {holder}: wait for it to stop")));
    }
    if n.spec.ingress {
        let publishing: Vec<&str> = services(store)
            .filter(|s| s.spec.endpoint.iter().flat_map(|e| e.ports.iter()).any(|p| p.publish_mode == PublishMode::Ingress))
            .map(|s| s.spec.annotations.name.as_str())
            .collect();
        if !publishing.is_empty() {
            return Err(FailedPrecondition(format!(
                "ingress network cannot be removed because service {} depend{} on it",
                publishing.join(", "),
                if publishing.len() == 1 { "s" } else { "" }
            )));
        }
    }
    Ok(vec![Action::Delete { kind: Kind::Network, id: n.id.clone(), expected_version: Some(n.meta.version) }])
}

/// Resolves a service spec's `--network` targets to network ids; refuses unknown networks,
/// the ingress network (swarm attaches it by publishing ports), a network twice, bad aliases,
/// and dnsrr with ports published through the routing mesh.
pub(super) fn resolve_networks(store: &Store, spec: &mut ServiceSpec) -> Result<(), ControlError> {
    let mut seen = BTreeSet::new();
    for a in &mut spec.task.networks {
        let n = find_network(store, &a.target)?;
        if n.spec.ingress {
            return Err(InvalidArgument(format!(
                "service cannot be explicitly attached to the ingress network {:?}: publish a port instead",
                n.spec.annotations.name
            )));
        }
        if !seen.insert(n.id.clone()) {
            return Err(InvalidArgument(format!("network {} is attached twice: give each network once", n.spec.annotations.name)));
        }
        for alias in &a.aliases {
            valid_name(alias).map_err(|_| InvalidArgument(format!("network alias {alias:?} is not a valid DNS name: use letters, digits and '-'")))?;
        }
        a.target = n.id.clone();
    }
    if let Some(e) = spec.endpoint.as_ref().filter(|e| !e.mode.is_vip()) {
        if e.ports.iter().any(|p| p.publish_mode == PublishMode::Ingress) {
            return Err(InvalidArgument(
                "port published with ingress mode can't be used with dnsrr mode: publish with mode=host or use --endpoint-mode vip".into(),
            ));
        }
    }
    Ok(())
}

//! Networks both ways: the model's networks as dockerd shows them, a `POST /networks/create`
//! body as a model spec (refusing what Shoal's networks cannot be), and a task's addresses.

use super::spec::unsupported;
use super::{d, m, time_of_ms, ApiError};
use std::collections::BTreeMap;

/// dockerd's option naming an overlay's VXLAN id.
const VXLAN_OPTION: &str = "com.docker.network.driver.overlay.vxlanid_list";

pub fn network_to_docker(n: &m::Network) -> d::NetworkResource {
    let mut options = n.spec.driver_opts.clone();
    if n.vxlan_id != 0 {
        options.insert(VXLAN_OPTION.into(), n.vxlan_id.to_string());
    }
    d::NetworkResource {
        name: n.spec.annotations.name.clone(),
        id: n.id.clone(),
        created: time_of_ms(n.meta.created_at_ms),
        scope: "swarm".into(),
        driver: n.spec.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam: d::Ipam {
            driver: "default".into(),
            options: None,
            config: Some(n.ipam.iter().map(|r| d::IpamRange { subnet: r.subnet.clone(), gateway: r.gateway.clone(), ..Default::default() }).collect()),
        },
        internal: n.spec.internal,
        attachable: n.spec.attachable,
        ingress: n.spec.ingress,
        config_from: d::NetworkConfigFrom::default(),
        config_only: false,
        containers: BTreeMap::new(),
        options,
        labels: n.spec.annotations.labels.clone(),
    }
}

/// `POST /networks/create`: a swarm-scoped overlay network, one IPv4 range at most.
pub fn network_spec_from_docker(r: &d::NetworkCreateRequest) -> Result<m::NetworkSpec, ApiError> {
    if !["", "swarm"].contains(&r.scope.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "network scope {:?}: Shoal serves swarm networks only (use --scope swarm, or the node's own engine for local networks)",
            r.scope
        )));
    }
    if r.enable_ipv6 == Some(true) {
        return Err(unsupported("EnableIPv6"));
    }
    if r.config_only || r.config_from.as_ref().is_some_and(|c| !c.network.is_empty()) {
        return Err(unsupported("ConfigOnly and ConfigFrom"));
    }
    let ipam = r.ipam.clone().unwrap_or_default();
    if !["", "default"].contains(&ipam.driver.as_str()) || ipam.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return Err(unsupported("IPAM Driver and Options"));
    }
    let mut ranges = Vec::new();
    for c in ipam.config.unwrap_or_default() {
        if !c.ip_range.is_empty() || !c.auxiliary_addresses.is_empty() {
            return Err(unsupported("IPAM.Config[] IPRange and AuxiliaryAddresses"));
        }
        ranges.push(m::IpamConfig { subnet: c.subnet, gateway: c.gateway });
    }
    Ok(m::NetworkSpec {
        annotations: m::Annotations { name: r.name.clone(), labels: r.labels.clone() },
        driver: r.driver.clone(),
        ingress: r.ingress,
        ipam: ranges,
        attachable: r.attachable,
        internal: r.internal,
        driver_opts: r.options.clone(),
    })
}

/// A task's addresses with the networks they are on (`network`: the network of an id).
pub fn attachments_to_docker<'a>(
    attachments: &[m::NetworkAttachment],
    network: impl Fn(&str) -> Option<&'a m::Network>,
) -> Vec<d::NetworkAttachment> {
    attachments
        .iter()
        .filter_map(|a| {
            let n = network(&a.network_id)?;
            Some(d::NetworkAttachment {
                network: d::SwarmNetwork {
                    id: n.id.clone(),
                    version: d::Version { index: n.meta.version },
                    created_at: time_of_ms(n.meta.created_at_ms),
                    updated_at: time_of_ms(n.meta.updated_at_ms),
                    spec: d::SwarmNetworkSpec { name: n.spec.annotations.name.clone(), labels: n.spec.annotations.labels.clone(), scope: "swarm".into() },
                },
                addresses: a.addresses.clone(),
            })
        })
        .collect()
}

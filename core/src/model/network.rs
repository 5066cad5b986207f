//! Networks (swarmkit's `Network`, `NetworkAttachmentConfig`, `NetworkAttachment`, the
//! endpoint's `VirtualIP`): what an operator asks for and what the allocator gave.
//!
//! Addresses are IPv4 in CIDR form as docker prints them (`10.0.1.3/24`). A network's subnet
//! and VXLAN id are given when it is created (under the control lock, so two networks never
//! overlap); a service's virtual IPs and a task's addresses by the allocator in the leader's
//! pass. Everything is in the raft store, so a new leader continues from it.

use super::{Annotations, Meta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}

/// One address range of a network (docker's `IPAMConfig`): a subnet and its gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// CIDR, e.g. `10.0.1.0/24`.
    pub subnet: String,
    /// An address inside the subnet; empty = the first one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub annotations: Annotations,
    /// Driver name: "overlay" (the only one a swarm network has here).
    pub driver: String,
    /// The routing mesh's network (`ingress`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ingress: bool,
    /// The ranges the operator asked for (`--subnet`, `--gateway`); empty = from the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipam: Vec<IpamConfig>,
    /// Standalone containers may attach (`--attachable`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    /// No route out of the network (`--internal`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// `--opt key=value`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub meta: Meta,
    pub spec: NetworkSpec,
    /// The ranges in use: the spec's, or the one taken from the pool at create (gateway
    /// always filled in).
    #[serde(default)]
    pub ipam: Vec<IpamConfig>,
    /// The overlay's VXLAN network identifier (swarm starts at 4096, the ingress network's).
    #[serde(default)]
    pub vxlan_id: u32,
}

/// A service's request to join a network (`--network name=N,alias=A`): the control API
/// resolves `target` (a name, id or id prefix) to the network's id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachmentConfig {
    pub target: String,
    /// More DNS names of the service's tasks on this network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A task's addresses on one network (given when the task leaves NEW), with what a node needs
/// to join the network without reading the store (swarmkit embeds the network in the task
/// too): its name, range, VXLAN id, and the names the task answers to on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    pub network_id: String,
    /// CIDR form, e.g. `10.0.1.3/24`.
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub network_name: String,
    /// The network's range (CIDR) and gateway.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default)]
    pub vxlan_id: u32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    /// DNS names of the task on this network: its service's name, the attachment's aliases
    /// and `tasks.<service>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

/// A service's virtual IP on one network (endpoint mode vip).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualIp {
    pub network_id: String,
    /// CIDR form, e.g. `10.0.1.2/24`.
    pub addr: String,
}

/// How a service's name resolves on its networks: to one virtual IP balanced over its tasks
/// (vip, swarm's default), or to the tasks' own addresses (dnsrr).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    #[default]
    Vip,
    Dnsrr,
}

impl EndpointMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointMode::Vip => "vip",
            EndpointMode::Dnsrr => "dnsrr",
        }
    }

    pub fn is_vip(&self) -> bool {
        *self == EndpointMode::Vip
    }
}

/// An IPv4 subnet. Written here rather than taken from a crate: parsing, containment and host
/// arithmetic are all the allocator needs (a few lines over `core::net::Ipv4Addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub base: u32,
    pub prefix: u8,
}

impl Subnet {
    /// `10.0.1.0/24`; host bits must be zero (docker's rule), the prefix 8-30.
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("subnet {s:?} is not in CIDR form: write e.g. 10.0.9.0/24"))?;
        let ip = parse_ip(ip).ok_or_else(|| format!("subnet {s:?}: {ip:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("subnet {s:?}: the prefix length must be a number, e.g. /24"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!("subnet {s:?}: use a prefix length between /8 and /30"));
        }
        let net = Subnet { base: ip & Self::mask(prefix), prefix };
        if net.base != ip {
            return Err(format!("subnet {s:?} has host bits set: write {net}"));
        }
        Ok(net)
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    fn broadcast(&self) -> u32 {
        self.base | !Self::mask(self.prefix)
    }

    pub fn contains(&self, ip: u32) -> bool {
        ip & Self::mask(self.prefix) == self.base
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.base) || other.contains(self.base)
    }

    /// The first usable address (swarm's default gateway).
    pub fn first_host(&self) -> u32 {
        self.base + 1
    }

    /// The usable addresses: all but the network and broadcast addresses.
    pub fn hosts(&self) -> std::ops::RangeInclusive<u32> {
        self.base + 1..=self.broadcast() - 1
    }

    /// `ip` in CIDR form on this subnet, e.g. `10.0.1.3/24`.
    pub fn addr(&self, ip: u32) -> String {
        format!("{}/{}", ip_string(ip), self.prefix)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", ip_string(self.base), self.prefix)
    }
}

/// An IPv4 address, with or without a `/prefix`, as a number.
pub fn parse_ip(s: &str) -> Option<u32> {
    let ip = s.split('/').next()?;
    ip.parse::<core::net::Ipv4Addr>().ok().map(u32::from)
}

pub fn ip_string(ip: u32) -> String {
    core::net::Ipv4Addr::from(ip).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_overlap_like_docker() {
        let s = Subnet::parse("10.0.1.0/24").unwrap();
        assert_eq!((s.to_string(), s.addr(s.first_host())), ("10.0.1.0/24".to_string(), "10.0.1.1/24".to_string()));
        assert_eq!(s.hosts().count(), 254);
        assert!(s.contains(parse_ip("10.0.1.255").unwrap()) && !s.contains(parse_ip("10.0.2.0").unwrap()));
        assert!(s.overlaps(&Subnet::parse("10.0.0.0/16").unwrap()) && !s.overlaps(&Subnet::parse("10.0.2.0/24").unwrap()));
        assert!(Subnet::parse("10.0.1.5/24").unwrap_err().contains("write 10.0.1.0/24"));
        assert!(Subnet::parse("10.0.1.0").is_err() && Subnet::parse("10.0.1.0/31").is_err() && Subnet::parse("ten/24").is_err());
    }
}

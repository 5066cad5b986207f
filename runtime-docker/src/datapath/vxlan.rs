//! The kernel side of an overlay network on one node, over netlink (rtnetlink): a VXLAN device
//! `shoalvx<VNI>` enslaved to the engine network's bridge `shoal<VNI>`, with a static
//! forwarding entry (MAC → the remote node's data-path IP) and a static neighbour entry (IP →
//! MAC) for every endpoint on another node.
//!
//! The device has learning off and ARP proxy on (libnetwork's overlay does the same): ARP
//! requests that reach it are answered from the neighbour entries and never cross to other
//! nodes, so each node's bridge keeps answering for the gateway address it owns (every node's
//! bridge has the network's gateway address) and nothing floods between nodes.

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, LinkVxlan};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

/// The UDP port of VXLAN (IANA; swarm's default data-path port).
pub const VXLAN_PORT: u16 = 4789;
/// The MTU of overlay networks: a 1500-byte underlay less VXLAN's 50 bytes of headers.
pub const OVERLAY_MTU: u32 = 1450;
/// Name prefix of the VXLAN devices this runtime owns.
pub const DEVICE_PREFIX: &str = "shoalvx";

/// The bridge device of an engine network (networks.rs names it so).
pub fn bridge_name(vni: u32) -> String {
    format!("shoal{vni}")
}

pub fn device_name(vni: u32) -> String {
    format!("{DEVICE_PREFIX}{vni}")
}

/// One remote endpoint as the kernel holds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Remote {
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    pub vtep: Ipv4Addr,
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn name_of(l: &LinkMessage) -> Option<&str> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.as_str()),
        _ => None,
    })
}

fn controller_of(l: &LinkMessage) -> Option<u32> {
    l.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

/// Every link of this network namespace.
async fn links(h: &Handle) -> Result<Vec<LinkMessage>, String> {
    h.link().get().execute().try_collect().await.map_err(|e| format!("cannot list network devices: {e}"))
}

/// The index of device `name`, if it exists in this network namespace.
pub async fn index_of(h: &Handle, name: &str) -> Result<Option<u32>, String> {
    Ok(links(h).await?.iter().find(|l| name_of(l) == Some(name)).map(|l| l.header.index))
}

/// Makes (or finds) the VXLAN device of `vni` on bridge `bridge_index`; its index.
pub async fn ensure_device(h: &Handle, vni: u32, local: Ipv4Addr, bridge_index: u32) -> Result<u32, String> {
    let name = device_name(vni);
    let found = links(h).await?.into_iter().find(|l| name_of(l) == Some(name.as_str()));
    let index = match found {
        Some(l) if controller_of(&l) == Some(bridge_index) => return Ok(l.header.index),
        Some(l) => l.header.index,
        None => {
            let msg = LinkVxlan::new(&name, vni).local(local).port(VXLAN_PORT).learning(false).proxy(true).l2miss(false).l3miss(false).mtu(OVERLAY_MTU).build();
            h.link().add(msg).execute().await.map_err(|e| format!("cannot create VXLAN device {name} (VNI {vni}): {e}"))?;
            index_of(h, &name).await?.ok_or_else(|| format!("VXLAN device {name} vanished after it was made"))?
        }
    };
    // Enslaved to the bridge (again, when the engine made the bridge anew) and up.
    let msg = LinkUnspec::new_with_index(index).controller(bridge_index).up().build();
    h.link().set(msg).execute().await.map_err(|e| format!("cannot attach {name} to its bridge: {e}"))?;
    Ok(index)
}

/// Removes this runtime's VXLAN devices whose VNI is not in `keep`.
pub async fn remove_others(h: &Handle, keep: &BTreeSet<u32>) -> Result<(), String> {
    for l in links(h).await? {
        let Some(vni) = name_of(&l).and_then(|n| n.strip_prefix(DEVICE_PREFIX)).and_then(|v| v.parse::<u32>().ok()) else { continue };
        if !keep.contains(&vni) {
            h.link().del(l.header.index).execute().await.map_err(|e| format!("cannot remove VXLAN device {DEVICE_PREFIX}{vni}: {e}"))?;
        }
    }
    Ok(())
}

async fn entries(h: &Handle, family: AddressFamily, index: u32) -> Result<Vec<NeighbourMessage>, String> {
    let mut req = h.neighbours().get();
    req.message_mut().header.family = family;
    let all: Vec<NeighbourMessage> = req.execute().try_collect().await.map_err(|e| format!("cannot list neighbour entries: {e}"))?;
    Ok(all.into_iter().filter(|m| m.header.ifindex == index && m.header.family == family).collect())
}

fn lladdr(m: &NeighbourMessage) -> Option<[u8; 6]> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLocalAddress(b) if b.len() == 6 => b.as_slice().try_into().ok(),
        _ => None,
    })
}

fn dst(m: &NeighbourMessage) -> Option<Ipv4Addr> {
    m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some(*ip),
        _ => None,
    })
}

/// Makes the device's static entries exactly `want`: stale ones go, missing ones are added.
pub async fn sync_entries(h: &Handle, index: u32, want: &BTreeSet<Remote>) -> Result<(), String> {
    // Forwarding entries: MAC → tunnel endpoint (the kernel's own entries have no
    // destination and stay).
    let fdb: BTreeSet<([u8; 6], Ipv4Addr)> = want.iter().map(|r| (r.mac, r.vtep)).collect();
    let mut have_fdb = BTreeSet::new();
    for m in entries(h, AddressFamily::Bridge, index).await? {
        let (Some(mac), Some(vtep)) = (lladdr(&m), dst(&m)) else { continue };
        if fdb.contains(&(mac, vtep)) {
            have_fdb.insert((mac, vtep));
        } else {
            h.neighbours().del(m).execute().await.map_err(|e| format!("cannot remove a forwarding entry: {e}"))?;
        }
    }
    for (mac, vtep) in fdb.difference(&have_fdb) {
        let mut req = h.neighbours().add_bridge(index, mac).destination(IpAddr::V4(*vtep)).replace();
        req.message_mut().header.flags = NeighbourFlags::Own;
        req.execute().await.map_err(|e| format!("cannot add a forwarding entry to {vtep}: {e}"))?;
    }
    // Neighbour entries: IP → MAC, for the device's ARP proxy.
    let neigh: BTreeSet<(Ipv4Addr, [u8; 6])> = want.iter().map(|r| (r.ip, r.mac)).collect();
    let mut have_neigh = BTreeSet::new();
    for m in entries(h, AddressFamily::Inet, index).await? {
        let (Some(ip), Some(mac)) = (dst(&m), lladdr(&m)) else { continue };
        if neigh.contains(&(ip, mac)) && m.header.state == NeighbourState::Permanent {
            have_neigh.insert((ip, mac));
        } else {
            h.neighbours().del(m).execute().await.map_err(|e| format!("cannot remove a neighbour entry: {e}"))?;
        }
    }
    for (ip, mac) in neigh.difference(&have_neigh) {
        h.neighbours()
            .add(index, IpAddr::V4(*ip))
            .link_local_address(mac)
            .replace()
            .execute()
            .await
            .map_err(|e| format!("cannot add a neighbour entry for {ip}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_from_their_text() {
        assert_eq!(parse_mac("02:42:0a:00:01:ff"), Some([2, 0x42, 10, 0, 1, 255]));
        assert_eq!(parse_mac("02:42:0a:00:01"), None);
        assert_eq!(parse_mac("02:42:0a:00:01:ff:00"), None);
        assert_eq!(parse_mac("zz:42:0a:00:01:ff"), None);
    }

    #[test]
    fn device_names_fit_the_kernels_fifteen_characters() {
        assert!(device_name(16_777_215).len() <= 15);
        assert!(bridge_name(16_777_215).len() <= 15);
    }
}

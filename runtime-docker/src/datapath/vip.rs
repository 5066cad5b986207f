//! Virtual IPs on one node: a connection to a service's VIP goes to one of its running tasks,
//! on this node or another.
//!
//! This kernel has no IPVS (swarm balances VIPs with IPVS inside each container), so Shoal
//! balances with netfilter in the engine's network namespace, once per node rather than once
//! per container: the VIP is a /32 address on the network's bridge (so the node answers ARP
//! for it and a task's packets to it come up to the node), a `nat prerouting` rule DNATs them
//! to a backend picked at random (`numgen random`), and the packet goes back out the bridge to
//! the task, over VXLAN when it is remote. The reply travels task → client directly on the
//! overlay; the node's bridge hands it to netfilter (br_netfilter, which the engine turns on),
//! whose connection tracking restores the VIP as its source. A task that calls its own
//! service's VIP and is picked as the backend is masqueraded, or it would answer itself from
//! its own address.
//!
//! The rules are one nftables table, `ip shoal`, replaced as a whole in one transaction by the
//! `nft` tool (Debian's nftables package): the kernel's nftables netlink protocol has no
//! well-kept Rust crate, and docker drives iptables the same way.

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::Handle;
use shoal_core::dispatcher::NetworkEntry;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// Turns hairpin mode on for the container ports of bridge `bridge_index` (every port but the
/// VXLAN device `vxlan_index`): a task that calls its own service's VIP and is picked comes
/// back out the port it went in by, which a bridge refuses without it.
pub async fn hairpin_ports(h: &Handle, bridge_index: u32, vxlan_index: u32) -> Result<(), String> {
    use rtnetlink::packet_route::link::{InfoBridgePort, InfoPortData, InfoPortKind, LinkAttribute};
    let links: Vec<_> = h.link().get().execute().try_collect().await.map_err(|e| format!("cannot list network devices: {e}"))?;
    for l in links {
        let port_of_bridge = l.attributes.iter().any(|a| matches!(a, LinkAttribute::Controller(i) if *i == bridge_index));
        if !port_of_bridge || l.header.index == vxlan_index {
            continue;
        }
        let msg = rtnetlink::LinkUnspec::new_with_index(l.header.index)
            .set_port_kind(InfoPortKind::Bridge)
            .set_port_data(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(true)]))
            .build();
        h.link().set_port(msg).execute().await.map_err(|e| format!("cannot set hairpin mode on a container's port: {e}"))?;
    }
    Ok(())
}

/// Makes the /32 addresses of bridge `index` exactly `want` (its own /24-style gateway
/// address is not a /32 and stays).
pub async fn sync_addresses(h: &Handle, index: u32, want: &BTreeSet<Ipv4Addr>) -> Result<(), String> {
    let have: Vec<_> = h
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect()
        .await
        .map_err(|e| format!("cannot list the bridge's addresses: {e}"))?;
    let mut kept = BTreeSet::new();
    for m in have.into_iter().filter(|m| m.header.prefix_len == 32) {
        let ip = m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
            _ => None,
        });
        match ip {
            Some(ip) if want.contains(&ip) => {
                kept.insert(ip);
            }
            _ => h.address().del(m).execute().await.map_err(|e| format!("cannot remove an old VIP address: {e}"))?,
        }
    }
    for ip in want.difference(&kept) {
        h.address().add(index, IpAddr::V4(*ip), 32).execute().await.map_err(|e| format!("cannot give the bridge VIP {ip}: {e}"))?;
    }
    Ok(())
}

/// The nftables ruleset (for `nft -f -`) that balances the VIPs of `networks`: the table is
/// declared, deleted and made again, so applying it replaces what was there.
pub fn ruleset(networks: &[&NetworkEntry]) -> String {
    let mut dnat = String::new();
    let mut hairpin = Vec::new();
    for n in networks {
        for v in &n.vips {
            if v.backends.is_empty() {
                // No rule: the VIP is the node's own address, so a connection is refused.
                continue;
            }
            let map: Vec<String> = v.backends.iter().enumerate().map(|(i, b)| format!("{i} : {b}")).collect();
            let _ = writeln!(dnat, "    ip daddr {} dnat to numgen random mod {} map {{ {} }}", v.address, v.backends.len(), map.join(", "));
            hairpin.extend(v.backends.iter().map(|b| format!("{b} . {b}")));
        }
    }
    hairpin.sort();
    hairpin.dedup();
    let mut out = String::from("add table ip shoal\ndelete table ip shoal\ntable ip shoal {\n");
    out.push_str("  chain vips {\n    type nat hook prerouting priority dstnat; policy accept;\n");
    out.push_str(&dnat);
    out.push_str("  }\n  chain hairpin {\n    type nat hook postrouting priority srcnat; policy accept;\n");
    if !hairpin.is_empty() {
        let _ = writeln!(out, "    ct status dnat ip saddr . ip daddr {{ {} }} masquerade", hairpin.join(", "));
    }
    out.push_str("  }\n}\n");
    out
}

/// The ruleset that removes the table.
pub const REMOVE: &str = "add table ip shoal\ndelete table ip shoal\n";

/// Applies a ruleset with `nft -f -`; Err says why it could not.
pub async fn apply(ruleset: &str) -> Result<(), String> {
    use tokio_rt::io::AsyncWriteExt;
    let mut child = tokio_rt::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run nft (install the nftables package): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("nft has no stdin")?;
    stdin.write_all(ruleset.as_bytes()).await.map_err(|e| format!("cannot write to nft: {e}"))?;
    drop(stdin);
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| "nft did not finish within 10 s".to_string())?
        .map_err(|e| format!("nft: {e}"))?;
    if !out.status.success() {
        return Err(format!("nft refused the VIP rules: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::dispatcher::ServiceVip;

    #[test]
    fn each_vip_with_backends_gets_a_random_pick_and_every_backend_a_hairpin_rule() {
        let n = NetworkEntry {
            vips: vec![
                ServiceVip { address: "10.0.1.2".into(), backends: vec!["10.0.1.3".into(), "10.0.1.4".into()], ..Default::default() },
                ServiceVip { address: "10.0.1.5".into(), backends: vec![], ..Default::default() },
            ],
            ..Default::default()
        };
        let r = ruleset(&[&n]);
        assert!(r.starts_with(REMOVE), "the old table goes in the same transaction");
        assert!(r.contains("ip daddr 10.0.1.2 dnat to numgen random mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.4 }"), "{r}");
        assert!(!r.contains("10.0.1.5"), "a VIP without backends has no rule: {r}");
        assert!(r.contains("ip saddr . ip daddr { 10.0.1.3 . 10.0.1.3, 10.0.1.4 . 10.0.1.4 } masquerade"), "{r}");
        let empty = ruleset(&[]);
        assert!(!empty.contains("dnat") && !empty.contains("masquerade"), "{empty}");
    }
}

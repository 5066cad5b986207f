//! Address uniqueness: on every network, no two live holders (a service's virtual IP, an
//! unfinished task's address) share an address, and every address lies in the network's
//! subnet and is neither its network, gateway nor broadcast address. VIP stability: a
//! service's virtual IP on a network never changes while the service stays on it (callers
//! hold it; an update or a rollback must not move it). Checked on each committed
//! entry that gave out addresses, against the store as the entry left it (the store's index
//! of held addresses is derived from the objects, so a finished or removed holder has already
//! let go: what is left must be unique).

use shoal_core::model::{parse_ip, Kind, Object, Subnet};
use shoal_core::store::{Event, Store};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default)]
pub struct Addresses {
    checked_up_to: u64,
}

impl Addresses {
    pub fn committed(&mut self, index: u64, events: &[Event], store: &Store) -> Result<(), String> {
        if index <= self.checked_up_to {
            return Ok(());
        }
        self.checked_up_to = index;
        let mut nets = BTreeSet::new();
        for e in events {
            if let Event::Updated { old: Object::Service(a), new: Object::Service(b) } = e {
                for v in &b.virtual_ips {
                    if let Some(was) = a.virtual_ips.iter().find(|w| w.network_id == v.network_id && w.addr != v.addr) {
                        return Err(format!(
                            "service {}'s virtual IP on network {} moved from {} to {}",
                            b.spec.annotations.name, v.network_id, was.addr, v.addr
                        ));
                    }
                }
            }
            let o = match e {
                Event::Created(o) | Event::Updated { new: o, .. } => o,
                Event::Deleted(_) => continue,
            };
            match o {
                Object::Task(t) => nets.extend(t.networks.iter().map(|a| a.network_id.clone())),
                Object::Service(s) => nets.extend(s.virtual_ips.iter().map(|v| v.network_id.clone())),
                _ => {}
            }
        }
        for net in nets {
            let Some(Object::Network(n)) = store.get(Kind::Network, &net) else { continue };
            let name = &n.spec.annotations.name;
            let range = n.ipam.first().and_then(|r| Some((Subnet::parse(&r.subnet).ok()?, parse_ip(&r.gateway)?)));
            let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
            for (ip, holder) in store.addresses_on(&net) {
                if let Some(other) = seen.insert(ip, holder) {
                    return Err(format!(
                        "address {} on network {name} is held by both {other} and {holder}",
                        shoal_core::model::ip_string(ip)
                    ));
                }
                if let Some((subnet, gateway)) = range {
                    if !subnet.hosts().contains(&ip) || ip == gateway {
                        return Err(format!(
                            "{holder} holds {} on network {name}, which is not a free host address of {subnet} (gateway {})",
                            shoal_core::model::ip_string(ip),
                            shoal_core::model::ip_string(gateway)
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

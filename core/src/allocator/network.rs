//! Addresses on networks: a virtual IP per service per network (endpoint mode vip) and an
//! address per task per network, the lowest free one of the network's subnet.
//!
//! Input: the pass's [`Overlay`] and the store's index of held addresses
//! ([`Store::addresses_on`]). Output: services with their virtual IPs, tasks' attachments.
//! Release needs no code: the index holds only live services' VIPs and unfinished tasks'
//! addresses, so an address is free once its holder finished or went.
//!
//! Invariants: never two holders of one address on a network (the pass adds what it takes to
//! what the store holds; an address freed during the pass becomes free only in the next);
//! the network address, the gateway and the broadcast address are never given; deterministic
//! (the lowest free address).

use crate::model::{Kind, Network, NetworkAttachment, Object, Subnet, Task, VirtualIp};
use crate::store::{Overlay, Store};
use std::collections::{BTreeMap, BTreeSet};

/// What one pass has taken on each network, over what the store holds.
pub struct AddressBook<'a> {
    store: &'a Store,
    /// network id → addresses held (the store's, read once) and taken in this pass.
    held: BTreeMap<String, BTreeSet<u32>>,
}

impl<'a> AddressBook<'a> {
    pub fn new(store: &'a Store) -> Self {
        AddressBook { store, held: BTreeMap::new() }
    }

    /// The lowest free address of `net` in CIDR form, now taken; None when the subnet is full
    /// or the network has no range.
    pub fn take(&mut self, net: &Network) -> Option<String> {
        let range = net.ipam.first()?;
        let subnet = Subnet::parse(&range.subnet).ok()?;
        let gateway = crate::model::parse_ip(&range.gateway).unwrap_or(subnet.first_host());
        let store = self.store;
        let held = self.held.entry(net.id.clone()).or_insert_with(|| store.addresses_on(&net.id).map(|(ip, _)| ip).collect());
        let ip = subnet.hosts().find(|ip| *ip != gateway && !held.contains(ip))?;
        if !crate::mutant::active("reuse-address") {
            held.insert(ip);
        }
        Some(subnet.addr(ip))
    }
}

fn network<'o>(o: &'o Overlay, id: &str) -> Option<&'o Network> {
    match o.get(Kind::Network, id) {
        Some(Object::Network(n)) => Some(n),
        _ => None,
    }
}

/// Every service's virtual IPs follow its spec: one per network it joins in vip mode (kept
/// once given), none in dnsrr mode.
pub fn allocate_vips(o: &mut Overlay, book: &mut AddressBook) {
    let services: Vec<_> = o.services().into_iter().filter(|s| !s.spec.task.networks.is_empty() || !s.virtual_ips.is_empty()).cloned().collect();
    for s in services {
        let vip_mode = s.spec.endpoint.as_ref().is_none_or(|e| e.mode.is_vip());
        let mut want = Vec::new();
        for a in s.spec.task.networks.iter().filter(|_| vip_mode) {
            if let Some(v) = s.virtual_ips.iter().find(|v| v.network_id == a.target) {
                want.push(v.clone());
            } else if let Some(addr) = network(o, &a.target).cloned().and_then(|n| book.take(&n)) {
                want.push(VirtualIp { network_id: a.target.clone(), addr });
            }
        }
        if want != s.virtual_ips {
            let mut s = s;
            s.virtual_ips = want;
            o.put(Object::Service(s));
        }
    }
}

/// `task`'s address on each network of its spec; Err names a network with no free address
/// (the task then waits in NEW, as swarm's allocator leaves it).
pub fn attachments(o: &Overlay, book: &mut AddressBook, task: &Task) -> Result<Vec<NetworkAttachment>, String> {
    let mut out = Vec::with_capacity(task.spec.networks.len());
    for a in &task.spec.networks {
        // A network removed under a task cannot be joined; the control API refuses to remove
        // a network a service uses, so this is a task of a service that went.
        let Some(n) = network(o, &a.target).cloned() else { continue };
        let addr = book.take(&n).ok_or_else(|| format!("no available IP addresses on network {}", n.spec.annotations.name))?;
        let range = n.ipam.first().cloned().unwrap_or_default();
        // Every name the task answers to here (swarm's DNS): its service, the aliases, and
        // `tasks.<service>`, the name of all the service's task addresses.
        let mut aliases = vec![task.service_name.clone()];
        aliases.extend(a.aliases.iter().filter(|x| **x != task.service_name).cloned());
        aliases.push(format!("tasks.{}", task.service_name));
        out.push(NetworkAttachment {
            network_id: n.id.clone(),
            addresses: vec![addr],
            network_name: n.spec.annotations.name.clone(),
            subnet: range.subnet,
            gateway: range.gateway,
            vxlan_id: n.vxlan_id,
            internal: n.spec.internal,
            aliases,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointMode, EndpointSpec, IpamConfig, NetworkAttachmentConfig, Service, TaskState};
    use crate::store::{Action, Transaction};

    fn commit(store: &mut Store, actions: Vec<Action>) {
        let index = store.last_index() + 1;
        store.apply(index, &Transaction { timestamp_ms: 1, actions }).unwrap();
    }

    /// One allocator pass, committed.
    fn pass(store: &mut Store) {
        let actions = {
            let mut o = Overlay::new(store);
            crate::allocator::allocate(&mut o);
            o.into_actions()
        };
        commit(store, actions);
    }

    fn task(id: &str, state: TaskState) -> Object {
        let mut t = Task { id: id.into(), service_id: "s1".into(), ..Default::default() };
        t.spec.networks = vec![NetworkAttachmentConfig { target: "n1".into(), aliases: vec![] }];
        t.status.state = state;
        Object::Task(t)
    }

    // A service's VIP and its tasks' addresses are the lowest free addresses past the gateway;
    // an address held by a finished task is free again; dnsrr services hold no VIP.
    #[test]
    fn vips_and_task_addresses_are_the_lowest_free_and_come_back() {
        let mut store = Store::new();
        let mut net = Network { id: "n1".into(), ipam: vec![IpamConfig { subnet: "10.0.1.0/29".into(), gateway: "10.0.1.1".into() }], ..Default::default() };
        net.spec.annotations.name = "back".into();
        let mut svc = Service { id: "s1".into(), ..Default::default() };
        svc.spec.annotations.name = "api".into();
        svc.spec.task.networks = vec![NetworkAttachmentConfig { target: "n1".into(), aliases: vec![] }];
        commit(&mut store, vec![Action::Create(Object::Network(net)), Action::Create(Object::Service(svc.clone())), Action::Create(task("t1", TaskState::New))]);
        pass(&mut store);
        let Some(Object::Service(s)) = store.get(Kind::Service, "s1") else { panic!() };
        assert_eq!(s.virtual_ips, vec![VirtualIp { network_id: "n1".into(), addr: "10.0.1.2/29".into() }]);
        let Some(Object::Task(t1)) = store.get(Kind::Task, "t1").cloned() else { panic!() };
        assert_eq!((t1.status.state, t1.networks[0].addresses.clone()), (TaskState::Pending, vec!["10.0.1.3/29".to_string()]));

        // A /29 has 6 hosts: gateway, VIP, t1 and three more; the fifth task waits in NEW.
        let more: Vec<Action> = ["t2", "t3", "t4", "t5"].iter().map(|id| Action::Create(task(id, TaskState::New))).collect();
        commit(&mut store, more);
        pass(&mut store);
        let Some(Object::Task(t5)) = store.get(Kind::Task, "t5") else { panic!() };
        assert_eq!((t5.status.state, t5.status.message.as_str()), (TaskState::New, "no available IP addresses on network back"));

        // t1 finishes: its address goes to t5 in the next pass.
        let mut done = t1.clone();
        done.status.state = TaskState::Failed;
        commit(&mut store, vec![Action::Update { object: Object::Task(done), expected_version: t1.meta.version }]);
        pass(&mut store);
        let Some(Object::Task(t5)) = store.get(Kind::Task, "t5") else { panic!() };
        assert_eq!(t5.networks[0].addresses, vec!["10.0.1.3/29".to_string()]);
        let held: Vec<u32> = store.addresses_on("n1").map(|(ip, _)| ip).collect();
        let unique: BTreeSet<u32> = held.iter().copied().collect();
        assert_eq!(held.len(), unique.len(), "never two holders of one address");

        // dnsrr: the VIP is released.
        let Some(Object::Service(s)) = store.get(Kind::Service, "s1").cloned() else { panic!() };
        let mut rr = s.clone();
        rr.spec.endpoint = Some(EndpointSpec { mode: EndpointMode::Dnsrr, ports: vec![] });
        commit(&mut store, vec![Action::Update { object: Object::Service(rr), expected_version: s.meta.version }]);
        pass(&mut store);
        let Some(Object::Service(s)) = store.get(Kind::Service, "s1") else { panic!() };
        assert!(s.virtual_ips.is_empty());
    }
}

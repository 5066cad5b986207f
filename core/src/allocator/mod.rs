//! Allocator: NEW → PENDING, published ports, and addresses on networks (network.rs).
//!
//! Owns each service's allocated endpoint (`Service::endpoint_ports`, `Service::virtual_ips`)
//! and each task's addresses (`Task::networks`). Input: services and
//! tasks as an [`Overlay`] pass sees them. Output: services whose ingress ports asking for 0
//! got a port from [`INGRESS_PORTS`], and NEW tasks moved to PENDING once their service's
//! ports are allocated, carrying those ports (the task's endpoint, for the routing mesh). Conflicting published ports are refused earlier, by spec validation
//! ([`port_conflict`]), so the allocator never takes a port another service holds.
//!
//! Invariants: no two services hold the same (protocol, published port) in ingress mode
//! (debug-asserted); allocation is deterministic (the lowest free port).

mod network;
pub use network::AddressBook;

use crate::model::{Object, PortConfig, PublishMode, Service, TaskState};
use crate::store::Overlay;
use std::collections::BTreeSet;
use std::ops::RangeInclusive;

/// swarm's dynamic port range for the routing mesh.
pub const INGRESS_PORTS: RangeInclusive<u32> = 30000..=32767;

fn proto(p: &PortConfig) -> &str {
    if p.protocol.is_empty() {
        "tcp"
    } else {
        &p.protocol
    }
}

/// Ingress ports held by services other than `except_id`.
fn ports_in_use<'a>(services: impl Iterator<Item = &'a Service>, except_id: &str) -> BTreeSet<(String, u32)> {
    services
        .filter(|s| s.id != except_id)
        .flat_map(|s| {
            let spec_ports = s.spec.endpoint.iter().flat_map(|e| e.ports.iter());
            s.endpoint_ports.iter().chain(spec_ports)
        })
        .filter(|p| p.publish_mode == PublishMode::Ingress && p.published_port != 0)
        .map(|p| (proto(p).to_string(), p.published_port))
        .collect()
}

/// The first published port of `spec_ports` already held by another service, as an error
/// message (swarm: "port '8080' is already in use by service 'web'").
pub fn port_conflict<'a>(spec: &[PortConfig], services: impl Iterator<Item = &'a Service> + Clone, self_id: &str) -> Option<String> {
    let mut seen = BTreeSet::new();
    for p in spec.iter().filter(|p| p.published_port != 0) {
        if !seen.insert((proto(p).to_string(), p.published_port, p.publish_mode == PublishMode::Host)) {
            return Some(format!("port {} is published twice in this spec", p.published_port));
        }
        if p.publish_mode != PublishMode::Ingress {
            continue;
        }
        if let Some(holder) = services.clone().find(|s| {
            s.id != self_id && ports_in_use(std::iter::once(*s), "").contains(&(proto(p).to_string(), p.published_port))
        }) {
            return Some(format!(
                "port '{}' is already in use by service '{}' ({}): publish another port",
                p.published_port, holder.spec.annotations.name, holder.id
            ));
        }
    }
    None
}

pub fn allocate(o: &mut Overlay) {
    let mut book = AddressBook::new(o.store());
    network::allocate_vips(o, &mut book);
    let services: Vec<Service> = o.services().into_iter().cloned().collect();
    let mut ready: std::collections::BTreeMap<String, Vec<PortConfig>> = Default::default();
    for s in &services {
        let spec_ports: Vec<PortConfig> = s.spec.endpoint.as_ref().map(|e| e.ports.clone()).unwrap_or_default();
        // Keep ports already allocated for the same target; take new ones for the rest.
        let mut used = ports_in_use(o.services().into_iter(), &s.id);
        let mut next = *INGRESS_PORTS.start();
        let mut want = Vec::with_capacity(spec_ports.len());
        let mut exhausted = false;
        for p in &spec_ports {
            let mut a = p.clone();
            if a.publish_mode == PublishMode::Ingress && a.published_port == 0 {
                let kept = s
                    .endpoint_ports
                    .iter()
                    .find(|e| e.target_port == p.target_port && proto(e) == proto(p) && e.publish_mode == PublishMode::Ingress)
                    .map(|e| e.published_port);
                match kept {
                    Some(k) => a.published_port = k,
                    None => {
                        while INGRESS_PORTS.contains(&next) && used.contains(&(proto(p).to_string(), next)) {
                            next += 1;
                        }
                        if !INGRESS_PORTS.contains(&next) {
                            exhausted = true;
                            break;
                        }
                        a.published_port = next;
                    }
                }
                used.insert((proto(p).to_string(), a.published_port));
            }
            want.push(a);
        }
        if exhausted {
            continue;
        }
        if want != s.endpoint_ports {
            let mut s2 = s.clone();
            s2.endpoint_ports = want.clone();
            o.put(Object::Service(s2));
        }
        ready.insert(s.id.clone(), want);
    }
    let new: Vec<_> =
        o.tasks().into_iter().filter(|t| t.status.state == TaskState::New && ready.contains_key(&t.service_id)).cloned().collect();
    for mut t in new {
        match network::attachments(o, &mut book, &t) {
            Ok(networks) => {
                t.networks = networks;
                t.endpoint_ports = ready[&t.service_id].clone();
                t.status.state = TaskState::Pending;
                t.status.message = "pending task scheduling".into();
            }
            Err(why) if why != t.status.message => t.status.message = why,
            Err(_) => continue,
        }
        o.put(Object::Task(t));
    }
}

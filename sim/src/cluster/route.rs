//! Requests as the simulated world answers them: through the routing mesh (`load service NAME
//! port P`) and by name over the overlay networks (`load service NAME from CALLER`). Both check
//! the answer against the world's ground truth: a running container on a live machine the
//! request could reach. Also what the machines' name tables say against that truth (stale
//! answers, how many addresses a name has), for convergence and predicates.

use super::Cluster;
use crate::trace::now_ms;
use shoal_core::node::mesh::RequestFailure;

impl Cluster {
    /// The first answer a live machine's networks table gives that the world does not back:
    /// a name or VIP backend whose task's container is not running. None: every table agrees
    /// with the world (what convergence requires of DNS).
    pub fn stale_name(&self) -> Option<String> {
        for (i, m) in self.nodes.iter().enumerate().filter(|(_, m)| m.up && !m.paused) {
            let Some(table) = m.net_table.lock().unwrap().clone() else { continue };
            for net in &table.networks {
                let answers = net.names.iter().map(|n| (n.name.as_str(), &n.addresses)).chain(net.vips.iter().map(|v| (v.names[0].as_str(), &v.backends)));
                for (name, addresses) in answers {
                    for a in addresses {
                        let task = net.endpoints.iter().find(|e| e.address == *a).map(|e| e.task_id.as_str()).unwrap_or("?");
                        let serving = self.nodes.iter().any(|x| x.up && x.executor.lock().unwrap().as_ref().is_some_and(|e| e.serving(task)));
                        if !serving {
                            return Some(format!("{} answers {name} on {} with {a} (task {task}), which does not run", self.nodes[i].name, net.name));
                        }
                    }
                }
            }
        }
        None
    }

    /// How many addresses `tasks.SERVICE` answers: the same on every live machine whose table
    /// has the name (None when two machines disagree); 0 when none has it.
    pub fn resolves(&self, service: &str) -> Option<usize> {
        let name = format!("tasks.{service}");
        let mut seen: Option<usize> = None;
        for m in self.nodes.iter().filter(|m| m.up && !m.paused) {
            let Some(table) = m.net_table.lock().unwrap().clone() else { continue };
            let n: usize = table.networks.iter().map(|net| net.resolve(&name, false).len()).sum();
            if n == 0 {
                continue;
            }
            match seen {
                Some(s) if s != n => return None,
                _ => seen = Some(n),
            }
        }
        Some(seen.unwrap_or(0))
    }
    /// One request through the routing mesh: it enters machine `entry` on `port` and goes to
    /// the next backend of that machine's table, which must be a running container of
    /// `service` on a live machine the entry node can reach (both ways). Ok: the task id.
    pub fn route(&self, entry: usize, port: u32, service: &str) -> Result<String, RequestFailure> {
        let e = &self.nodes[entry];
        if !e.up || e.paused {
            return Err(RequestFailure::EntryDown);
        }
        self.mesh.settle(now_ms(), |a, b| self.cut(a, b));
        let (task, b) = match self.mesh.pick(entry, port) {
            None => return Err(RequestFailure::NotPublished),
            Some(None) => return Err(RequestFailure::NoBackend),
            Some(Some(x)) => x,
        };
        if b.service != service {
            return Err(RequestFailure::WrongService);
        }
        if self.serves_to(entry, b.node, &task) {
            self.served(b.node, &task);
            Ok(task)
        } else {
            Err(RequestFailure::BackendDown)
        }
    }

    /// Whether `task`'s container runs on machine `at`, live and reachable from machine
    /// `from` both ways (the same machine always is).
    fn serves_to(&self, from: usize, at: usize, task: &str) -> bool {
        let m = &self.nodes[at];
        let linked = at == from || (!self.cut(from, at) && !self.cut(at, from));
        m.up && !m.paused && linked && m.executor.lock().unwrap().as_ref().is_some_and(|x| x.serving(task))
    }

    /// One request by name: from the `n`-th running task of `from` (in task order) to `name`,
    /// resolved with the table of the caller's machine on the networks the caller is on (a
    /// VIP goes to its `n`-th backend, dnsrr to the `n`-th address), which must be a running
    /// container on a live machine the caller's machine can reach (both ways). Ok: the task id.
    pub fn route_by_name(&self, from: &str, name: &str, n: usize) -> Result<String, RequestFailure> {
        let callers: Vec<(usize, String)> =
            self.running_slots().into_iter().filter(|(_, service, _, _)| service == from).map(|(node, _, _, task)| (node, task)).collect();
        if callers.is_empty() {
            return Err(RequestFailure::EntryDown);
        }
        let (entry, caller) = &callers[n % callers.len()];
        let e = &self.nodes[*entry];
        if e.paused {
            return Err(RequestFailure::EntryDown);
        }
        let table = e.net_table.lock().unwrap().clone().unwrap_or_default();
        let on_caller_networks = table.networks.iter().filter(|net| net.endpoints.iter().any(|ep| ep.task_id == *caller));
        // The tasks the name reaches: a VIP's backends as the caller's node balances them
        // (what an unrouted VIP name answers), or the dnsrr addresses.
        let Some((net, address)) = on_caller_networks.into_iter().find_map(|net| {
            let reached = net.resolve(name, false);
            (!reached.is_empty()).then(|| (net, reached[n % reached.len()].to_string()))
        }) else {
            return Err(RequestFailure::NoBackend);
        };
        let Some(ep) = net.endpoints.iter().find(|ep| ep.address == address) else { return Err(RequestFailure::BackendDown) };
        let Some(b) = self.nodes.iter().position(|m| m.identity.state().node_id.as_deref() == Some(ep.node_id.as_str())) else {
            return Err(RequestFailure::BackendDown);
        };
        if !self.serves_to(*entry, b, &ep.task_id) {
            return Err(RequestFailure::BackendDown);
        }
        self.served(b, &ep.task_id);
        Ok(ep.task_id.clone())
    }

    /// `task`'s container on machine `at` answered a request (it costs it CPU).
    fn served(&self, at: usize, task: &str) {
        if let Some(e) = self.nodes[at].executor.lock().unwrap().as_ref() {
            e.serve(task);
        }
    }
}

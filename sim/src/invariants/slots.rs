//! One running container per slot: among the tasks the control plane wants running (desired
//! ≤ RUNNING), a replicated service's slot never has two running containers, and a global
//! service never runs two on one node — judged on the simulated machines' containers. Tasks it
//! shut down are left out: a worker cut off by a partition keeps its containers while the
//! leader replaces them (swarm does not fence either), and its agent stops them on return.
//! Guards against two live tasks for one slot (swarmkit#562). A start-first update opens a
//! window for two: the outgoing task of an older spec next to its replacement (never two
//! outgoing, never two new).

use std::collections::BTreeMap;

/// A running container of a task the control plane wants.
#[derive(Debug, Clone)]
pub struct Running {
    pub node: String,
    pub service: String,
    pub slot: u64,
    pub task: String,
    /// The task is the older-spec one of a slot under a start-first update.
    pub outgoing: bool,
}

/// Err: the message and the two tasks.
pub fn check(running: &[Running]) -> Result<(), (String, [String; 2])> {
    let mut seen: BTreeMap<(&str, u64, &str, bool), (&str, &str)> = BTreeMap::new();
    for r in running {
        let (node, service, slot, task) = (&r.node, &r.service, &r.slot, &r.task);
        // Global tasks have slot 0: one per node.
        let key = (service.as_str(), *slot, if *slot == 0 { node.as_str() } else { "" }, r.outgoing);
        if let Some((n0, t0)) = seen.insert(key, (node.as_str(), task.as_str())) {
            let what = if *slot == 0 { format!("global service {service} on {node}") } else { format!("slot {service}.{slot}") };
            let msg = format!("{what} has two running containers: task {t0} on {n0} and task {task} on {node}");
            return Err((msg, [t0.to_string(), task.clone()]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_containers_for_one_slot_or_one_global_node_are_caught() {
        let r = |n: &str, s: &str, slot, t: &str| super::Running {
            node: n.to_string(),
            service: s.to_string(),
            slot,
            task: t.to_string(),
            outgoing: false,
        };
        assert!(super::check(&[r("w1", "web", 1, "a"), r("w2", "web", 2, "b"), r("w1", "mon", 0, "c"), r("w2", "mon", 0, "d")]).is_ok());
        let (e, _) = super::check(&[r("w1", "web", 1, "a"), r("w2", "web", 1, "b")]).unwrap_err();
        assert!(e.contains("slot web.1 has two running containers"), "{e}");
        assert!(super::check(&[r("w1", "mon", 0, "a"), r("w1", "mon", 0, "b")]).is_err());
        // Start-first: an outgoing task next to its replacement is fine, two outgoing are not.
        let out = |n: &str, t: &str| super::Running { outgoing: true, ..r(n, "web", 1, t) };
        assert!(super::check(&[out("w1", "a"), r("w2", "web", 1, "b")]).is_ok());
        assert!(super::check(&[out("w1", "a"), out("w2", "b")]).is_err());
    }
}

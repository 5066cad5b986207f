//! One running container per slot: among the tasks the control plane wants running (desired
//! ≤ RUNNING), a replicated service's slot never has two running containers, and a global
//! service never runs two on one node — judged on the simulated machines' containers. Tasks it
//! shut down are left out: a worker cut off by a partition keeps its containers while the
//! leader replaces them (swarm does not fence either), and its agent stops them on return.
//! Guards against two live tasks for one slot (swarmkit#562). Rolling updates with start-first
//! (a later issue) will open a window for two.

use std::collections::BTreeMap;

/// `running`: (node name, service, slot, task id) of every running container.
pub fn check(running: &[(String, String, u64, String)]) -> Result<(), String> {
    let mut seen: BTreeMap<(&str, u64, &str), (&str, &str)> = BTreeMap::new();
    for (node, service, slot, task) in running {
        // Global tasks have slot 0: one per node.
        let key = (service.as_str(), *slot, if *slot == 0 { node.as_str() } else { "" });
        if let Some((n0, t0)) = seen.insert(key, (node.as_str(), task.as_str())) {
            let what = if *slot == 0 { format!("global service {service} on {node}") } else { format!("slot {service}.{slot}") };
            return Err(format!("{what} has two running containers: task {t0} on {n0} and task {task} on {node}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_containers_for_one_slot_or_one_global_node_are_caught() {
        let r = |n: &str, s: &str, slot, t: &str| (n.to_string(), s.to_string(), slot, t.to_string());
        assert!(super::check(&[r("w1", "web", 1, "a"), r("w2", "web", 2, "b"), r("w1", "mon", 0, "c"), r("w2", "mon", 0, "d")]).is_ok());
        let e = super::check(&[r("w1", "web", 1, "a"), r("w2", "web", 1, "b")]).unwrap_err();
        assert!(e.contains("slot web.1 has two running containers"), "{e}");
        assert!(super::check(&[r("w1", "mon", 0, "a"), r("w1", "mon", 0, "b")]).is_err());
    }
}

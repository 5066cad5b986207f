//! The run's background watchers: the checkers that read the simulated world itself (the
//! machines' containers, every 250 ms, again only when the world changed) and the pruning of
//! madsim's task lists that keeps a long run's memory flat.

use super::*;

/// How often [`prune_task_lists`] runs, in virtual time.
const PRUNE_EVERY: Duration = Duration::from_secs(5);

/// madsim remembers every task a node ever spawned (a `Weak` each, for `kill`) and forgets the
/// finished ones only when its metrics count them. Every simulated RPC spawns several tasks,
/// so without this a steady cluster's memory grew with virtual time: 300 workers, 397 MiB
/// after one virtual hour and 600 MiB after two. Counting has no effect on the schedule.
pub(super) async fn prune_task_lists() {
    loop {
        tokio::time::sleep(PRUNE_EVERY).await;
        let _ = madsim::runtime::Handle::current().metrics().num_tasks();
    }
}

/// How often the ground-truth checkers look at the machines' containers.
const GROUND_TRUTH_EVERY: Duration = Duration::from_millis(250);

/// The checkers that read the simulated world itself (containers), every 250 ms.
pub(super) async fn check_ground_truth(cluster: Arc<Mutex<Cluster>>, checkers: Arc<Checkers>) {
    let mut update_rules = crate::invariants::updates::UpdateRules::default();
    let mut suspect: Option<[String; 2]> = None;
    let mut start_first_seen: std::collections::BTreeSet<(String, u64)> = Default::default();
    let mut looked_at = None;
    loop {
        tokio::time::sleep(GROUND_TRUTH_EVERY).await;
        // Both checks are functions of the store and the containers: when neither changed
        // since the last look, that look's verdict stands (a 5,000-task cluster in steady
        // state spent two fifths of its wall time here). A suspect duplicate is looked at
        // again, since it must be seen twice to count.
        let version = cluster.lock().unwrap().ground_version();
        if suspect.is_none() && looked_at == Some(version) {
            continue;
        }
        looked_at = Some(version);
        update_rules.note_nodes_out(&checkers.nodes_ever_out());
        let r = {
            let c = cluster.lock().unwrap();
            let faulted = c.faults > 0;
            let count = |svc: &str| (super::expect::running(&c, Some(&svc.to_string()), None), c.failed_containers(svc));
            c.with_best_store(|s| update_rules.check(s, count, |t| c.ran(t), faulted))
        };
        if let Some(Err(m)) = r {
            checkers.violate("rolling-update", m);
            return;
        }
        let running: Vec<crate::invariants::slots::Running> = {
            let c = cluster.lock().unwrap();
            // Containers of tasks the control plane still wants (live, of a service that still
            // exists); one it shut down may run on a while its node is cut off (swarm does not
            // fence), and the agent stops it on return.
            // A task of an older spec during a start-first update may overlap its replacement.
            let slots = c.running_slots();
            let live: Vec<Option<bool>> = c
                .with_best_store(|s| {
                    // Updates that were start-first at some poll: a slot started then stays
                    // in flight if `--update-order` changes mid-update.
                    for svc in s.list_services() {
                        if shoal_core::orchestrator::update::config(svc).order == shoal_core::model::UpdateOrder::StartFirst {
                            start_first_seen.insert((svc.id.clone(), svc.spec_version));
                        }
                    }
                    slots
                        .iter()
                        .map(|(_, _, _, t)| match s.get(Kind::Task, t) {
                            // A task of a removed service is going away, whatever its desired
                            // state says until a leader pass writes REMOVE (explorer seed 2055:
                            // `service rm` during a start-first update, then no leader for a while).
                            Some(Object::Task(t)) if t.is_live() && s.get(Kind::Service, &t.service_id).is_some() => {
                                Some(outgoing_start_first(s, t, &start_first_seen))
                            }
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            slots
                .into_iter()
                .zip(live)
                .filter_map(|((i, service, slot, task), outgoing)| {
                    Some(crate::invariants::slots::Running { node: c.nodes[i].name.clone(), service, slot, task, outgoing: outgoing? })
                })
                .collect()
        };
        let found = crate::invariants::slots::check(&running).err();
        // A duplicate must outlive one checker period: between a commit (an update that
        // supersedes a start-first update in flight) and the leader pass that reacts to it, a
        // slot may show two older tasks for a few milliseconds.
        let persists = found.as_ref().is_some_and(|(_, t)| suspect.as_ref() == Some(t));
        suspect = found.as_ref().map(|(_, t)| t.clone());
        if let (true, Some((m, tasks))) = (persists, found) {
            // What the store says of both, for the post-mortem.
            let detail = cluster.lock().unwrap().with_best_store(|s| {
                tasks
                    .iter()
                    .map(|id| match s.get(Kind::Task, id) {
                        Some(Object::Task(t)) => format!(
                            "{id}: spec v{} desired {:?} observed {:?} node {} created {:.3}s",
                            t.spec_version,
                            t.desired_state,
                            t.status.state,
                            t.node_id,
                            t.meta.created_at_ms as f64 / 1000.0
                        ),
                        _ => format!("{id}: not in the store"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            checkers.violate("one-task-per-slot", format!("{m} (store: {})", detail.unwrap_or_default()));
            return;
        }
    }
}

/// Whether `t` is the old task of a slot under a start-first update (or rollback): one whose
/// config is start-first, or was at some poll (`start_first_seen`: service id, spec version).
fn outgoing_start_first(
    s: &shoal_core::store::Store,
    t: &shoal_core::model::Task,
    start_first_seen: &std::collections::BTreeSet<(String, u64)>,
) -> bool {
    match s.get(Kind::Service, &t.service_id) {
        // Of the current spec's update, or of a start-first update after the task's spec that
        // a newer update superseded before it shut the task down: the slot keeps both until
        // the newer update reaches it (swarmkit's updater removes every old task of a slot
        // when it updates the slot; explore --from-snapshot seed 218).
        // Or a task a start-first rebalance is moving (same spec: its replacement runs first).
        Some(Object::Service(svc)) => {
            (t.spec_version < svc.spec_version
                && start_first_seen.range((svc.id.clone(), t.spec_version + 1)..=(svc.id.clone(), svc.spec_version)).next().is_some())
                || (svc.rebalancing.contains(&t.id) && start_first_seen.contains(&(svc.id.clone(), svc.spec_version)))
        }
        _ => false,
    }
}

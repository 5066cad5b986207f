//! `shoal-sim bench plan`: how long a what-if plan (core/src/plan) takes on a large swarm, the
//! issue's target being a change to a 1,000-replica service on 1,000 nodes answered in
//! ≤ 200 ms. The swarm is built with the core's own functions (joins, the leader's passes,
//! settled by a plan of the service's creation), so it is the state a leader would hold; the
//! figures are wall time of the pure plan, outside any simulation. Build with
//! `SHOAL_SIM_PROFILE=release` for the figures that count.

use rand::SeedableRng;
use shoal_core::control;
use shoal_core::dispatcher::Registration;
use shoal_core::leader::{self, PassInput};
use shoal_core::model::{NodeDescription, Object, Resources, ServiceMode, ServiceSpec, UpdateConfig};
use shoal_core::orchestrator::IdGen;
use shoal_core::plan::{plan, plan_to_end};
use shoal_core::store::{Action, Store};

const NOW_MS: u64 = 1_700_000_000_000;

fn commit(s: &mut Store, actions: Vec<Action>) {
    for txn in shoal_core::store::batches(NOW_MS, actions) {
        let i = s.last_index() + 1;
        s.apply(i, &txn).expect("the bench's own writes apply");
    }
}

/// A swarm of `managers` managers (raft ids 1..) and `nodes` ready workers in three zones,
/// and a `replicas`-replica service running on them (`bench twin` starts a twin from it).
pub(crate) fn swarm(managers: usize, nodes: usize, replicas: u64) -> Store {
    let mut s = Store::new();
    let mut ids = IdGen::new(1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let first = leader::pass(&s, &PassInput { now_ms: NOW_MS, ..Default::default() }, &mut ids, &mut rng);
    commit(&mut s, first);
    let root = control::cluster(&s).expect("the first pass made the cluster").root_ca.clone();
    let mut registrations = Vec::new();
    for i in 0..managers + nodes {
        let (node_id, host, token, raft_id) = if i < managers {
            (format!("mgr{i:02}"), format!("manager-{}", i + 1), &root.join_token_manager, i as u64 + 1)
        } else {
            (format!("node{:05}", i - managers), format!("worker-{}", i - managers), &root.join_token_worker, 0)
        };
        let (a, _) = control::join_node(&s, token, node_id.clone(), raft_id, &format!("{host}:4242")).expect("join");
        commit(&mut s, a);
        registrations.push(Registration {
            node_id,
            addr: format!("{host}:4242"),
            description: NodeDescription {
                hostname: host,
                resources: Resources { nano_cpus: 8_000_000_000, memory_bytes: 32 << 30, ..Default::default() },
                ..Default::default()
            },
            labels: [("zone".to_string(), ["a", "b", "c"][i % 3].to_string())].into(),
            raft_id,
        });
    }
    // The managers are raft's voters: the pass gives them the manager role.
    let voters = (1..=managers as u64).collect();
    let regs = leader::pass(&s, &PassInput { now_ms: NOW_MS, registrations, voters, leader_raft_id: 1, ..Default::default() }, &mut ids, &mut rng);
    commit(&mut s, regs);
    let mut spec = ServiceSpec::default();
    spec.annotations.name = "web".into();
    spec.task.container.image = "app:1".into();
    spec.mode = ServiceMode::Replicated { replicas };
    let create = control::create_service(&s, spec, "svc-web".into()).expect("create");
    let (_, settled) = plan_to_end(s, vec![create], NOW_MS, 2).expect("the service settles");
    settled
}

/// Wall ms of the best of three plans of `change` over `s`, and the last plan's figures.
fn time(s: &Store, change: &[Action]) -> (f64, shoal_core::plan::Plan) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..3 {
        // Wall-clock timing of a pure function, outside any simulation.
        #[allow(clippy::disallowed_methods)]
        let t = std::time::Instant::now();
        let p = plan(s, change.to_vec(), NOW_MS + 1_000, 3).expect("plans");
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
        last = Some(p);
    }
    (best, last.expect("three runs"))
}

pub fn plan_bench(nodes: usize, replicas: u64, json: bool) -> i32 {
    #[allow(clippy::disallowed_methods)]
    let t = std::time::Instant::now();
    let s = swarm(0, nodes, replicas);
    let build_s = t.elapsed().as_secs_f64();
    let Some(Object::Service(svc)) = s.find_by_name(shoal_core::model::Kind::Service, "web") else {
        eprintln!("bench plan: the service was not made");
        return 1;
    };
    let mut update = svc.spec.clone();
    update.task.container.image = "app:2".into();
    update.update = Some(UpdateConfig { parallelism: 10, delay_ms: 5_000, ..Default::default() });
    let changes: Vec<(&str, Vec<Action>)> = vec![
        ("scale +10%", control::scale_service(&s, "web", replicas + replicas / 10).expect("scale")),
        ("drain a node", {
            let u = control::NodeUpdate { availability: Some(shoal_core::model::NodeAvailability::Drain), ..Default::default() };
            control::update_node(&s, "worker-0", &u).expect("drain")
        }),
        ("rolling update, 10 at a time, 5 s apart", control::update_service(&s, "web", update, None).expect("update")),
        ("remove", control::remove_service(&s, "web").expect("rm")),
    ];
    let mut failed = 0;
    for (what, change) in changes {
        let (ms, p) = time(&s, &change);
        failed += usize::from(!p.complete);
        if json {
            println!(
                "{}",
                serde_json::json!({"bench": "plan", "nodes": nodes, "replicas": replicas, "change": what, "plan_ms": ms,
                    "passes": p.passes, "stopped": p.stopped.len(), "started": p.started.len(), "planned_duration_ms": p.duration_ms,
                    "complete": p.complete})
            );
        } else {
            println!(
                "bench plan: nodes={nodes} replicas={replicas} change=\"{what}\" plan_ms={ms:.1} passes={} stopped={} started={} \
                 planned_duration={} complete={}",
                p.passes,
                p.stopped.len(),
                p.started.len(),
                shoal_core::cli::go_duration(p.duration_ms),
                p.complete
            );
        }
    }
    if !json {
        println!("bench plan: building the swarm took {build_s:.1}s (joins, passes, the service settled by a plan)");
    }
    i32::from(failed > 0)
}

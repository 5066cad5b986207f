//! Runs one scenario under one seed: banner, cluster, steps, injectors, checkers, report.
//!
//! The run is a pure function of (scenario, seed): madsim derives network delays, scheduling
//! and openraft's election timeouts from the seed; the runner derives its own choices
//! (selectors, injector timing) from a ChaCha RNG seeded with it. Waiting is always in
//! virtual time with a bound; the first violation fails the run.

mod expect;
mod ground_truth;
mod injectors;
mod outcome;
mod calls;
mod plan;
mod steps;

use crate::client::LoadClient;
use crate::mesh::MeshModel;
use crate::traffic::{RequestStats, SimMesh, Target, TrafficLoad};
use crate::cluster::Cluster;
use crate::invariants::{Checkers, Violation};
use crate::scenario::{Action, DoCmd, Fault, InjectorKind, JoinOptions, Scenario, Selector, When};
use crate::trace::{now_secs, Trace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shoal_core::cli::{payload_op, CallError, CallFailure, ControlCommand, NetworkCommand, NodeCommand, PayloadCommand, PayloadVerb, ServiceCommand, StackCommand, SwarmCommand};
use shoal_core::control::PayloadKind;
use shoal_core::model::{Kind, NodeState, Object};
use shoal_core::node::counters::Figures;
use shoal_core::proto::{self, control_request::Op};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

/// How often predicates and checkers are polled, in virtual time.
use ground_truth::{check_ground_truth, prune_task_lists};
use injectors::injector;
pub use outcome::{RunOptions, RunReport};

const POLL: Duration = Duration::from_millis(10);
/// How long `crash leader` & co. wait for a leader to exist before failing the step.
const SELECT_WAIT: Duration = Duration::from_secs(10);

/// Parameters derived from the seed.
struct Derived {
    latency_ms: (u64, u64),
    /// Routing-mesh gossip delay between two nodes (always under Docker's 2 s converge delay).
    mesh_gossip_ms: (u64, u64),
    /// How long the mesh takes to notice a crashed machine (memberlist's failure detection).
    mesh_detect_ms: (u64, u64),
    /// Per node (scenario order): its clock's offset (ms) and drift (ppm); empty without
    /// `clock_skew_ms`.
    clock_skews: Vec<(i64, i64)>,
}

fn derive(scenario: &Scenario, seed: u64) -> Derived {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5348_4f41_4c00_0000);
    let latency_ms = scenario.sim.latency_ms.unwrap_or_else(|| {
        let lo = rng.gen_range(1..=3);
        (lo, lo + rng.gen_range(1..=9))
    });
    let lo = rng.gen_range(10..=100);
    let mesh_gossip_ms = (lo, lo + rng.gen_range(50..=800));
    let lo = rng.gen_range(1_000..=3_000);
    let mesh_detect_ms = (lo, lo + rng.gen_range(0..=2_000));
    // Its own stream: the draws above stay as they were for scenarios without skew.
    let mut clock_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x636c_6f63_6b00_0000);
    let max = scenario.sim.clock_skew_ms as i64;
    let clock_skews = if max == 0 {
        Vec::new()
    } else {
        scenario.nodes.iter().map(|_| (clock_rng.gen_range(-max..=max), clock_rng.gen_range(-100..=100))).collect()
    };
    Derived { latency_ms, mesh_gossip_ms, mesh_detect_ms, clock_skews }
}

/// The first line of every run: the seed and every parameter derived from it.
pub fn banner(scenario: &Scenario, seed: u64) -> String {
    let d = derive(scenario, seed);
    let r = &scenario.raft;
    let inj: Vec<String> = scenario
        .injectors
        .iter()
        .map(|i| match &i.kind {
            InjectorKind::Crash { down, leader } => format!("crash{}(every={:?},down={:?})", if *leader { "-leader" } else { "" }, i.every, down),
            InjectorKind::Pause { duration } => format!("pause(every={:?},duration={:?})", i.every, duration),
            InjectorKind::Partition { duration, one_way } => {
                format!("{}partition(every={:?},for={:?})", if *one_way { "one-way-" } else { "" }, i.every, duration)
            }
            InjectorKind::CrashAfterVote { rate, down } => format!("crash-after-vote(rate={rate},down={down:?})"),
            InjectorKind::PacketLoss { rate } => format!("packet-loss({rate})"),
            InjectorKind::LatencySpike { latency, duration } => format!("latency-spike(every={:?},latency={latency:?},for={duration:?})", i.every),
            InjectorKind::SlowDisk { latency, duration } => format!("slow-disk(every={:?},sync={latency:?},for={duration:?})", i.every),
        })
        .collect();
    format!(
        "shoal-sim scenario={} seed={} file={} managers={} workers={} latency_ms={}..{} disk_sync_ms={} torn_writes={} \
         heartbeat_ms={} election_ms={}..{} snapshot_every={} keep_logs={} mesh_gossip_ms={}..{} mesh_detect_ms={}..{} injectors=[{}]{}{}{}",
        scenario.name,
        seed,
        scenario.path,
        scenario.managers().count(),
        scenario.workers().count(),
        d.latency_ms.0,
        d.latency_ms.1,
        scenario.sim.disk_sync_ms,
        scenario.sim.torn_writes,
        r.heartbeat_interval_ms,
        r.election_timeout_min_ms,
        r.election_timeout_max_ms,
        r.snapshot_interval,
        r.log_entries_for_slow_followers,
        d.mesh_gossip_ms.0,
        d.mesh_gossip_ms.1,
        d.mesh_detect_ms.0,
        d.mesh_detect_ms.1,
        inj.join(","),
        match &scenario.twin {
            Some(t) => format!(" twin={}@{} shape_hash={:016x}", t.file, t.store.last_index(), t.shape_hash),
            None => String::new(),
        },
        if d.clock_skews.is_empty() && !scenario.sim.buggify {
            String::new()
        } else {
            let skews: Vec<String> = d.clock_skews.iter().map(|(ms, ppm)| format!("{ms:+}ms{ppm:+}ppm")).collect();
            format!(" clock_skews=[{}] buggify={}", skews.join(","), scenario.sim.buggify)
        },
        if shoal_core::mutant::ACTIVE.is_empty() {
            String::new()
        } else {
            format!(" MUTANT={}", shoal_core::mutant::ACTIVE.join(","))
        }
    )
}

/// A twin starts as the snapshot: once its managers opened their disks, each one's store has
/// the snapshot's shape hash (the seeding, the disk format and the restore all hold).
async fn check_twin(cluster: &Arc<Mutex<Cluster>>, checkers: &Checkers, twin: &crate::twin::Twin) {
    tracing::info!(target: "shoal", node = "runner", "{}", twin.summary());
    // Long enough for every manager to open its disk, far too short for an election.
    madsim::time::sleep(Duration::from_millis(1)).await;
    let c = cluster.lock().unwrap();
    let mut checked = 0;
    for i in (0..c.nodes.len()).filter(|i| c.nodes[*i].manager) {
        let Some(m) = c.manager(i) else { continue };
        checked += 1;
        let (index, hash) = m.state.with_store(|s| (s.last_index(), shoal_core::plan::snapshot::shape_hash(s)));
        if (index, hash) != (twin.store.last_index(), twin.shape_hash) {
            checkers.violate(
                "twin",
                format!(
                    "{} started at raft index {index} with shape hash {hash:016x}, not the snapshot's {} and {:016x}",
                    c.nodes[i].name,
                    twin.store.last_index(),
                    twin.shape_hash
                ),
            );
        }
    }
    if checked == 0 {
        checkers.violate("twin", "no manager of the twin had opened its disk 1 ms after the start: nothing to check it against".into());
    }
}

/// Runs `scenario` under `seed` in a fresh simulated world.
pub fn run(scenario: &Scenario, seed: u64, opts: &RunOptions) -> RunReport {
    let d = derive(scenario, seed);
    let trace = Trace::new(opts.keep_trace, opts.echo_trace);
    let subscriber = tracing_subscriber::registry().with(trace.layer());
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_millis(d.latency_ms.0)..Duration::from_millis(d.latency_ms.1 + 1);
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, config);
    let names: BTreeMap<u64, String> = scenario.nodes.iter().enumerate().map(|(i, n)| (scenario.raft_id(i), n.name.clone())).collect();
    let checkers = Arc::new(Checkers::new(names));
    let requests: Arc<Mutex<RequestStats>> = Arc::default();
    let name_log: Arc<crate::names::NameLog> = Arc::default();
    // The wall clock is read outside the simulation only (inside, time is virtual).
    #[allow(clippy::disallowed_methods)]
    let wall = std::time::Instant::now();
    // A panic anywhere in the simulated world (ours, or an assertion inside openraft) is a
    // failure of this run like any violation, with its seed and replay command, not the end of
    // the process: the explorer and the shrinker go on.
    let outcome = tracing::subscriber::with_default(subscriber, || {
        let scenario = scenario.clone();
        let (checkers, requests, names) = (checkers.clone(), requests.clone(), name_log.clone());
        let mesh = (d.mesh_gossip_ms, d.mesh_detect_ms);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async move { drive(scenario, seed, checkers, requests, mesh, names).await })
        }))
    });
    let wall_secs = wall.elapsed().as_secs_f64();
    let (virtual_secs, expectations, waits, figures) = match outcome {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            let at = trace.last_secs();
            checkers.push_violation(Violation { at, checker: "panic", message: msg.replace('\n', " ") });
            (at, BTreeMap::new(), BTreeMap::new(), None)
        }
    };
    let violations = checkers.violations();
    let request_stats = requests.lock().unwrap().clone();
    let name_latencies = crate::names::latencies(&name_log);
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        verdict: if violations.is_empty() { "pass" } else { "fail" },
        trace_hash: format!("{:016x}", trace.hash()),
        virtual_secs,
        wall_secs,
        events: trace.events(),
        writes_acked: checkers.with_acked(|a| a.total()),
        requests: request_stats,
        names: name_latencies,
        expectations,
        expectation_waits: waits,
        figures,
        violations,
        trace_lines: trace.lines(),
        history: checkers.history(),
        banner: banner(scenario, seed),
        path: scenario.path.clone(),
        from_snapshot: scenario.from_snapshot_arg.clone(),
    }
}

struct Run {
    cluster: Arc<Mutex<Cluster>>,
    checkers: Arc<Checkers>,
    client_node: madsim::runtime::NodeHandle,
    /// A `do` step's `from = "NODE"`: its control calls leave from that machine while it runs.
    call_from: Mutex<Option<madsim::runtime::NodeHandle>>,
    load: Option<LoadClient>,
    next_write: Arc<AtomicU64>,
    traffic: Vec<TrafficLoad>,
    requests: Arc<Mutex<RequestStats>>,
    /// `load control`: its history is checked when the run ends.
    control_load: Option<crate::control_load::ControlLoad>,
    seed: u64,
    /// Lines `service logs` steps received, as the CLI prints them.
    logs: Arc<Mutex<Vec<String>>>,
    /// The last `--dry-run` step's plan, for `plan holds`.
    plan: Option<shoal_core::plan::Plan>,
    /// Each secret created: (name, data), looked for on the disks when the run ends.
    secrets: Mutex<Vec<(String, Vec<u8>)>>,
    /// Every unlock key the swarm printed, oldest first: the operator's record that
    /// `swarm unlock` steps draw from.
    unlock_keys: Arc<Mutex<Vec<shoal_core::ca::unlock_key::UnlockKey>>>,
}

async fn drive(
    scenario: Scenario,
    seed: u64,
    checkers: Arc<Checkers>,
    requests: Arc<Mutex<RequestStats>>,
    (gossip_ms, detect_ms): ((u64, u64), (u64, u64)),
    names: Arc<crate::names::NameLog>,
) -> (f64, BTreeMap<String, f64>, BTreeMap<String, f64>, Option<Figures>) {
    let rng = ChaCha8Rng::seed_from_u64(seed);
    let mesh_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d65_7368);
    let mesh = Arc::new(MeshModel::new(scenario.nodes.len(), gossip_ms, detect_ms, mesh_rng));
    let cluster = Arc::new(Mutex::new(Cluster::create(&scenario, seed, checkers.clone(), rng, mesh, names)));
    // Clock faults and buggify are per run (the clock table is the simulation thread's: set
    // it even when empty, so no earlier run's skews remain).
    {
        let c = cluster.lock().unwrap();
        let skews = derive(&scenario, seed).clock_skews;
        // A twin's clocks read the swarm's time from where the snapshot left it (every
        // clock of the run: set it, or reset an earlier run's, before the skews).
        shoal_core::node::clock::set_epoch_offset_ms(0);
        if let Some(t) = &scenario.twin {
            shoal_core::node::clock::set_epoch_offset_ms(t.taken_at_ms as i64 - shoal_core::node::clock::wall_ms() as i64);
        }
        shoal_core::node::clock::set_skews(
            skews
                .iter()
                .enumerate()
                .map(|(i, (offset_ms, drift_ppm))| (c.nodes[i].sim_id(), shoal_core::node::clock::Skew { offset_ms: *offset_ms, drift_ppm: *drift_ppm }))
                .collect(),
        );
    }
    if let Some(t) = &scenario.twin {
        check_twin(&cluster, &checkers, t).await;
    }
    shoal_core::node::buggify::enable(scenario.sim.buggify);
    let client_node = madsim::runtime::Handle::current()
        .create_node()
        .name("client")
        .ip(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)))
        .build();
    let mut run = Run {
        cluster: cluster.clone(),
        checkers: checkers.clone(),
        client_node,
        call_from: Mutex::default(),
        load: None,
        next_write: Arc::default(),
        traffic: Vec::new(),
        requests,
        control_load: None,
        seed,
        logs: Arc::default(),
        plan: None,
        secrets: Mutex::default(),
        unlock_keys: Arc::default(),
    };
    // `[sim] operator_unlock_ms`: an operator unlocks locked managers after a while.
    let operator = scenario.sim.operator_unlock_ms.map(|ms| tokio::spawn(calls::operator_unlocks(cluster.clone(), run.unlock_keys.clone(), ms)));

    let mut injectors = Vec::new();
    for (k, inj) in scenario.injectors.iter().enumerate() {
        let inj_rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1 + k as u64));
        injectors.push(tokio::spawn(injector(inj.clone(), cluster.clone(), inj_rng)));
    }

    let ground_truth = tokio::spawn(check_ground_truth(cluster.clone(), checkers.clone()));
    let pruner = tokio::spawn(prune_task_lists());

    wait_for_swarm(&cluster).await;
    let mut expectations = BTreeMap::new();
    let mut waits = BTreeMap::new();
    for (n, step) in scenario.steps.iter().enumerate() {
        match step.when {
            When::Next => {}
            When::At(t) => {
                let now = Duration::from_secs_f64(now_secs());
                if t > now && !sleep_checking(t - now, &checkers).await {
                    break;
                }
            }
            When::After(d) => {
                if !sleep_checking(d, &checkers).await {
                    break;
                }
            }
        }
        let start = now_secs();
        tracing::info!(target: "shoal::step", node = "runner", "step {} (line {}): {}", n + 1, step.line, step.text);
        let label = step.name.clone().unwrap_or_else(|| format!("step {} (line {})", n + 1, step.line));
        match &step.action {
            Action::Do(cmd) => match (run.do_cmd_from(cmd, step.from.as_deref()).await, &step.error) {
                (Err(e), None) => checkers.violate("step", format!("{label}: {e}")),
                (Ok(()), Some(want)) => {
                    checkers.violate("step", format!("{label}: expected it to fail with {want:?}, but it succeeded"))
                }
                (Err(e), Some(want)) if !e.contains(want.as_str()) => { // error text: the scenario's expected words
                    checkers.violate("step", format!("{label}: failed with {e:?}, not with {want:?}"))
                }
                (Err(e), Some(_)) => {
                    tracing::info!(target: "shoal::step", node = "runner", "refused as expected: {e}");
                }
                (Ok(()), None) => {}
            },
            Action::Fault(f) => {
                if let Err(e) = run.fault(f).await {
                    checkers.violate("step", format!("{label}: {e}"));
                }
            }
            Action::Expect { predicate, within } => {
                match run.expect(predicate, *within).await {
                    Ok(()) => {
                        let met = now_secs();
                        tracing::info!(target: "shoal::step", node = "runner", "expectation met: {label} after {:.3}s", met - start);
                        if let Some(name) = &step.name {
                            expectations.insert(name.clone(), met);
                            waits.insert(name.clone(), met - start);
                        }
                    }
                    Err(e) => checkers.violate("expect", format!("{label}: `{}` not met within {within:?}{e}", step.text)),
                }
            }
        }
        if !checkers.violations().is_empty() {
            break;
        }
    }
    for i in injectors {
        i.abort();
    }
    ground_truth.abort();
    pruner.abort();
    if let Some(o) = operator {
        o.abort();
    }
    run.stop_loads();
    if let Some(l) = run.control_load.take() {
        checkers.set_history(l.edn());
        let (n, verdict) = l.finish();
        match verdict {
            Ok(()) => tracing::info!(target: "shoal::check", node = "checker", "control-API history of {n} calls is linearizable"),
            Err(w) => checkers.violate("linearizable", w),
        }
    }
    // Final durability check on every live replica, whatever the steps asked.
    {
        let c = cluster.lock().unwrap();
        // Autolock as the swarm has it last, and the raft index that set it.
        let autolock = c.with_best_store(|s| {
            shoal_core::control::cluster(s).ok().map(|cl| (shoal_core::ca::unlock_key::UnlockKey::parse(cl.unlock_key.as_str()).ok(), cl.meta.version))
        });
        let voters = c.voters();
        for i in 0..c.nodes.len() {
            if let Some(m) = c.manager(i) {
                let (applied, _) = m.state.applied();
                m.state.with_store(|s| checkers.check_acked(&c.nodes[i].name, applied, s));
                if let Some(Some((key, at))) = &autolock {
                    if voters.contains(&c.nodes[i].raft_id) && applied >= *at && scenario.sim.encrypt_at_rest {
                        if let Err(e) = crate::invariants::secrets::data_key_at_rest(&c.nodes[i].name, c.nodes[i].disk(), key.as_ref()) {
                            checkers.violate("autolock-at-rest", e);
                        }
                    }
                }
            }
            for (name, data) in run.secrets.lock().unwrap().iter() {
                if let Err(e) = crate::invariants::secrets::at_rest(&c.nodes[i].name, c.nodes[i].disk(), name, data) {
                    checkers.violate("secrets-at-rest", e);
                }
            }
        }
    }
    let end = now_secs();
    // The figures a `/metrics` scrape of the leader would show now (the most advanced
    // manager's when none leads).
    let figures = {
        let c = cluster.lock().unwrap();
        let best = || (0..c.nodes.len()).filter_map(|i| c.view(i)).max_by_key(|v| v.applied).map(|v| v.index);
        c.leader().or_else(best).and_then(|i| c.manager(i)).map(|m| m.figures())
    };
    cluster.lock().unwrap().tear_down();
    madsim::runtime::Handle::current().kill(run.client_node.id());
    (end, expectations, waits, figures)
}

/// Sleeps `d` of virtual time, polling the checkers; false if a violation appeared.
async fn sleep_checking(d: Duration, checkers: &Checkers) -> bool {
    let end = tokio::time::Instant::now() + d;
    loop {
        if !checkers.violations().is_empty() {
            return false;
        }
        let now = tokio::time::Instant::now();
        if now >= end {
            return true;
        }
        tokio::time::sleep((end - now).min(Duration::from_millis(100))).await;
    }
}

impl Run {
    fn stop_loads(&mut self) {
        if let Some(l) = self.load.take() {
            l.stop();
        }
        if let Some(l) = &self.control_load {
            l.stop();
        }
        for t in self.traffic.drain(..) {
            t.stop();
        }
    }

    /// Resolves a selector, waiting up to [`SELECT_WAIT`] for e.g. a leader to exist.
    async fn resolve(&self, sel: &Selector) -> Result<Vec<usize>, String> {
        let end = tokio::time::Instant::now() + SELECT_WAIT;
        loop {
            let r = self.cluster.lock().unwrap().resolve(sel);
            match r {
                Ok(v) => return Ok(v),
                Err(e) if tokio::time::Instant::now() >= end => return Err(e),
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    async fn resolve_one(&self, sel: &Selector) -> Result<usize, String> {
        Ok(self.resolve(sel).await?[0])
    }

    async fn fault(&mut self, f: &Fault) -> Result<(), String> {
        match f {
            Fault::Crash(s) | Fault::Restart(s) | Fault::Pause(s) | Fault::Resume(s) | Fault::Corrupt(s) => {
                let i = self.resolve_one(s).await?;
                let mut c = self.cluster.lock().unwrap();
                match f {
                    Fault::Crash(_) => c.crash(i),
                    Fault::Restart(_) => c.restart(i),
                    Fault::Corrupt(_) => c.corrupt(i),
                    Fault::Pause(_) => c.pause(i),
                    _ => c.resume(i),
                }
            }
            Fault::Partition { from, to, one_way } => {
                let mut a = Vec::new();
                for s in from {
                    a.extend(self.resolve(s).await?);
                }
                let mut b = Vec::new();
                for s in to {
                    b.extend(self.resolve(s).await?);
                }
                if let Some(x) = a.iter().find(|x| b.contains(x)) {
                    let name = self.cluster.lock().unwrap().nodes[*x].name.clone();
                    return Err(format!("{name} resolved onto both sides of the partition"));
                }
                self.cluster.lock().unwrap().partition(&a, &b, *one_way);
            }
            Fault::Clog(x, y) => {
                let (a, b) = (self.resolve_one(x).await?, self.resolve_one(y).await?);
                self.cluster.lock().unwrap().clog(a, b);
            }
            Fault::Heal => self.cluster.lock().unwrap().heal(),
            Fault::PacketLoss(r) => self.cluster.lock().unwrap().packet_loss(*r),
        }
        Ok(())
    }

}

/// The swarm as the scenario declares it: waits (at most [`SETUP_BOUND`]) until every initial
/// machine that is up joined and is a READY node, so steps start on the declared cluster.
async fn wait_for_swarm(cluster: &Arc<Mutex<Cluster>>) {
    let deadline = tokio::time::Instant::now() + SETUP_BOUND;
    while tokio::time::Instant::now() < deadline {
        let done = {
            let c = cluster.lock().unwrap();
            let ids: Vec<Option<String>> =
                c.nodes.iter().filter(|n| n.up && !n.joins_later).map(|n| n.identity.node_id()).collect();
            ids.iter().all(Option::is_some)
                && c.with_best_store(|s| {
                    ids.iter().flatten().all(|id| matches!(s.get(Kind::Node, id), Some(Object::Node(n)) if n.status.state == NodeState::Ready))
                })
                .unwrap_or(false)
        };
        if done {
            tracing::info!(target: "shoal::step", node = "runner", "swarm ready: every initial machine joined");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(target: "shoal::step", node = "runner", "swarm setup still incomplete after {}s: starting the steps anyway", SETUP_BOUND.as_secs());
}

/// How long the runner waits for the initial machines to join before the first step.
const SETUP_BOUND: Duration = Duration::from_secs(30);

/// The compose files' texts, the first one's directory, and the variables of a `.env` there.
fn stack_sources(files: &[String]) -> Result<(Vec<shoal_core::stack::load::Source>, String, shoal_core::stack::Variables), String> {
    let mut sources = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("cannot read compose file {f}: {e}"))?;
        sources.push(shoal_core::stack::load::Source { name: f.clone(), text });
    }
    let dir = files.first().and_then(|f| std::path::Path::new(f).parent()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let vars = shoal_core::stack::Variables::default();
    let env = std::path::Path::new(&dir).join(".env");
    let vars = match std::fs::read_to_string(&env) {
        Ok(text) => shoal_core::stack::load::with_dotenv(vars, &env.to_string_lossy(), &text).map_err(|e| e.to_string())?,
        Err(_) => vars,
    };
    Ok((sources, dir, vars))
}

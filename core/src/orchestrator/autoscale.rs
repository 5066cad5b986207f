//! The autoscaler: moves the replicas of services with `--autoscale` between their bounds,
//! following their running tasks' CPU. Shoal's own (swarm has none); the rule is
//! Kubernetes' HPA's, kept small.
//!
//! Shape (sans-IO): [`Autoscaler::handle_usage`] takes the CPU samples agents send with their
//! heartbeats, [`Autoscaler::poll_scale`] says every [`EVAL_PERIOD_MS`] which services to scale
//! (the leader's pass writes them with [`apply`]), [`Autoscaler::next_timeout`] when to call
//! back. It lives in the leader's memory: a new leader starts with no samples and no history,
//! so it scales out once its agents reported, and scales in only after a whole cooldown of its
//! own observation of the service (as after a service's first samples, or a gap in them). The time of the last scaling is in the store
//! ([`crate::model::AutoscaleStatus`]), so a new leader keeps the cooldown.
//!
//! The rule, per service, at each evaluation:
//! * replicas outside the bounds (the user scaled, or changed the bounds) go to the nearest
//!   bound at once;
//! * otherwise the running tasks' average CPU (fresh samples only) against the target:
//!   within [`TOLERANCE_PERMILLE`] of it, the replicas stay; else the recommendation is the
//!   tasks needed to carry the whole measured load at the target (`ceil(avg × running /
//!   target)`), at most doubling (or +4) per step, within the bounds;
//! * scale-out to the recommendation at most every [`SCALE_OUT_INTERVAL_MS`] (new tasks start
//!   and report first);
//! * scale-in only to the highest recommendation of the last cooldown, when every one of them
//!   was below the replicas, and never within a cooldown of the last scaling: a load that
//!   dips for a moment does not take tasks away (no flapping).
//!
//! Invariants: what it asks is within the service's bounds; samples and history are bounded
//! ([`SAMPLES_MAX`], [`HISTORY_MAX`]); no clock read, only `now_ms` passed in.

use crate::model::{AutoscaleStatus, Kind, Object, Service, ServiceMode, TaskState, TaskUsage};
use crate::store::{Overlay, Store};
use std::collections::{BTreeMap, VecDeque};

/// How often the services are evaluated (agents report with every heartbeat, ~5 s).
pub const EVAL_PERIOD_MS: u64 = 5_000;
/// A sample older than this is not used (three heartbeats: its task may be gone).
pub const SAMPLE_FRESH_MS: u64 = 15_000;
/// Within this many thousandths of the target the replicas stay (HPA's 10%).
pub const TOLERANCE_PERMILLE: u64 = 100;
/// The least time between two scale-outs of a service.
pub const SCALE_OUT_INTERVAL_MS: u64 = 15_000;
/// Recommendations kept per service (the longest cooldown, an hour, at one per evaluation).
pub const HISTORY_MAX: usize = (crate::model::AUTOSCALE_COOLDOWN_MAX_MS / EVAL_PERIOD_MS) as usize + 1;
/// Tasks whose latest sample is kept (one each); reports for more are dropped.
pub const SAMPLES_MAX: usize = 200_000;
/// Samples one heartbeat carries at most (a node runs far fewer tasks).
pub const SAMPLES_PER_REPORT_MAX: usize = 2_000;

/// What the autoscaler takes of one node's report: samples of that node's own tasks only
/// (a node must not move another's service with made-up load), at most
/// [`SAMPLES_PER_REPORT_MAX`].
pub fn own_samples(store: &Store, node_id: &str, usage: impl IntoIterator<Item = TaskUsage>) -> Vec<TaskUsage> {
    usage
        .into_iter()
        .take(SAMPLES_PER_REPORT_MAX)
        .filter(|u| matches!(store.get(Kind::Task, &u.task_id), Some(Object::Task(t)) if t.node_id == node_id))
        .collect()
}

/// A scaling the leader's pass writes ([`apply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    pub service_id: String,
    pub status: AutoscaleStatus,
}

#[derive(Debug)]
pub struct Autoscaler {
    /// Task id → (when, millicores): the latest sample of each task.
    samples: BTreeMap<String, (u64, u32)>,
    /// Service id → (when, recommended replicas), oldest first, within the cooldown.
    history: BTreeMap<String, VecDeque<(u64, u64)>>,
    /// Service id → since when its history has no gap (a service measured for the first
    /// time, or again after its samples stopped for a while, is watched a whole cooldown
    /// before it may scale in).
    watched_since: BTreeMap<String, u64>,
    next_eval_ms: u64,
    /// Some service had `--autoscale` at the last evaluation (else no wake-ups are asked).
    watching: bool,
}

impl Default for Autoscaler {
    fn default() -> Self {
        Autoscaler::new(0)
    }
}

impl Autoscaler {
    pub fn new(now_ms: u64) -> Autoscaler {
        Autoscaler { samples: BTreeMap::new(), history: BTreeMap::new(), watched_since: BTreeMap::new(), next_eval_ms: now_ms, watching: true }
    }

    /// Samples from one agent's heartbeat at `now_ms`.
    pub fn handle_usage(&mut self, now_ms: u64, usage: Vec<TaskUsage>) {
        for u in usage {
            if self.samples.len() >= SAMPLES_MAX && !self.samples.contains_key(&u.task_id) {
                continue;
            }
            self.samples.insert(u.task_id, (now_ms, u.cpu_millicores));
        }
    }

    /// Whether some service autoscales (as of the last evaluation; true before the first):
    /// agents measure their tasks' CPU only then.
    pub fn wants_usage(&self) -> bool {
        self.watching
    }

    /// When [`Autoscaler::poll_scale`] has something to look at next; None while no service
    /// autoscales.
    pub fn next_timeout(&self) -> Option<u64> {
        self.watching.then_some(self.next_eval_ms)
    }

    /// The scalings due at `now_ms` over the committed `store` (nothing between evaluations).
    pub fn poll_scale(&mut self, store: &Store, now_ms: u64) -> Vec<Scale> {
        if now_ms < self.next_eval_ms {
            return Vec::new();
        }
        self.next_eval_ms = now_ms + EVAL_PERIOD_MS;
        self.samples.retain(|_, (at, _)| *at + SAMPLE_FRESH_MS > now_ms);
        let services: Vec<&Service> = store
            .list(Kind::Service)
            .filter_map(|o| match o {
                Object::Service(s) if s.spec.autoscale.is_some() && matches!(s.spec.mode, ServiceMode::Replicated { .. }) => Some(s),
                _ => None,
            })
            .collect();
        self.watching = !services.is_empty();
        self.history.retain(|id, _| services.iter().any(|s| s.id == *id));
        self.watched_since.retain(|id, _| services.iter().any(|s| s.id == *id));
        if services.is_empty() {
            return Vec::new();
        }
        // The fresh samples of each service's running tasks.
        let mut cpu: BTreeMap<&str, Vec<u32>> = services.iter().map(|s| (s.id.as_str(), Vec::new())).collect();
        let mut running: BTreeMap<&str, u64> = BTreeMap::new();
        for o in store.list(Kind::Task) {
            let Object::Task(t) = o else { continue };
            if t.status.state != TaskState::Running || t.desired_state != TaskState::Running {
                continue;
            }
            let Some(samples) = cpu.get_mut(t.service_id.as_str()) else { continue };
            *running.entry(t.service_id.as_str()).or_default() += 1;
            if let Some((_, m)) = self.samples.get(&t.id) {
                samples.push(*m);
            }
        }
        let mut scales = Vec::new();
        for s in services {
            let sampled = &cpu[s.id.as_str()];
            let n_running = running.get(s.id.as_str()).copied().unwrap_or(0);
            if let Some(scale) = self.decide(s, sampled, n_running, now_ms) {
                scales.push(scale);
            }
        }
        scales
    }

    fn decide(&mut self, s: &Service, sampled: &[u32], n_running: u64, now_ms: u64) -> Option<Scale> {
        let a = s.spec.autoscale?;
        let ServiceMode::Replicated { replicas: current } = s.spec.mode else { return None };
        let scale = |to: u64, cpu_percent: Option<u32>| Scale {
            service_id: s.id.clone(),
            status: AutoscaleStatus { scaled_at_ms: now_ms, from_replicas: current, to_replicas: to, cpu_percent },
        };
        if a.clamp(current) != current {
            return Some(scale(a.clamp(current), None));
        }
        if sampled.is_empty() {
            return None;
        }
        let avg = sampled.iter().map(|m| *m as u64).sum::<u64>() / sampled.len() as u64;
        let target = a.target_cpu_percent as u64 * 10;
        let off_permille = (avg * 1000 / target).abs_diff(1000);
        let wanted = if off_permille <= TOLERANCE_PERMILLE { current } else { (avg * n_running).div_ceil(target) };
        let recommended = a.clamp(wanted.min((current * 2).max(current + 4)));
        let history = self.history.entry(s.id.clone()).or_default();
        let watched_since = self.watched_since.entry(s.id.clone()).or_insert(now_ms);
        if history.back().is_some_and(|(at, _)| at.saturating_add(SAMPLE_FRESH_MS) < now_ms) {
            // Its samples stopped for a while: what came before says nothing about now.
            history.clear();
            *watched_since = now_ms;
        }
        history.push_back((now_ms, recommended));
        while history.front().is_some_and(|(at, _)| at.saturating_add(a.cooldown_ms) < now_ms) || history.len() > HISTORY_MAX {
            history.pop_front();
        }
        let since_last = |ms: u64| s.autoscale_status.as_ref().is_none_or(|st| now_ms >= st.scaled_at_ms.saturating_add(ms));
        let cpu_percent = Some(u32::try_from(avg / 10).unwrap_or(u32::MAX));
        if recommended > current {
            return since_last(SCALE_OUT_INTERVAL_MS).then(|| scale(recommended, cpu_percent));
        }
        // Mutant: scale in on the first low measure.
        if crate::mutant::active("autoscale-flap") && recommended < current {
            return Some(scale(recommended, cpu_percent));
        }
        let watched_whole_cooldown = now_ms >= watched_since.saturating_add(a.cooldown_ms);
        let highest = history.iter().map(|(_, r)| *r).max().unwrap_or(current);
        (recommended < current && watched_whole_cooldown && since_last(a.cooldown_ms) && highest < current)
            .then(|| scale(highest, cpu_percent))
    }
}

/// Writes `scales` into the pass: each service's replicas and its [`AutoscaleStatus`]. A
/// service that changed since the evaluation (removed, its bounds dropped, scaled by hand) is
/// left alone; the next evaluation looks again.
pub fn apply(o: &mut Overlay, scales: &[Scale]) {
    for sc in scales {
        let Some(Object::Service(s)) = o.get(Kind::Service, &sc.service_id) else { continue };
        let ServiceMode::Replicated { replicas } = s.spec.mode else { continue };
        let Some(a) = s.spec.autoscale else { continue };
        if replicas != sc.status.from_replicas {
            continue;
        }
        debug_assert_eq!(a.clamp(sc.status.to_replicas), sc.status.to_replicas, "the autoscaler asks within the bounds");
        let mut s = s.clone();
        s.spec.mode = ServiceMode::Replicated { replicas: sc.status.to_replicas };
        s.autoscale_status = Some(sc.status.clone());
        s.forget_finished_update();
        o.put(Object::Service(s));
    }
}

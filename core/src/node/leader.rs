//! The leader's control loop (shell): runs [`crate::leader::pass`] while this manager leads.
//!
//! Inputs: leadership (raft metrics), committed changes (the applied-index watch), the
//! dispatcher's inbox (registrations, status updates), heartbeat deadlines and restart-delay
//! timers. Output: the pass's actions, proposed through raft in transactions of at most
//! `MAX_CHANGES_PER_TRANSACTION`. One pass at a time, each after the previous one's proposals
//! applied, so every pass sees what the last one did and leader components never race each
//! other (only control-API writes can, and the version checks catch them).

use super::Manager;
use crate::dispatcher::{Heartbeats, Registration, StatusUpdate, STATUS_BATCH_MAX, STATUS_BATCH_MS};
use crate::leader::{cluster_spec, pass, PassInput, Quiet};
use crate::model::{Kind, Object};
use crate::orchestrator::IdGen;
use crate::store::batches;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Without any input the loop still passes this often (a safety net for timers it does not
/// model, e.g. a restart delay whose task was written by an older leader).
const IDLE_PASS: Duration = Duration::from_secs(5);

/// What the dispatcher hands to the leader loop, and the heartbeat deadlines it keeps.
#[derive(Default)]
pub struct LeaderInbox {
    /// Some while this manager leads: (term, deadlines).
    pub heartbeats: Option<(u64, Heartbeats)>,
    /// This dispatcher's session, sent in every heartbeat answer: unique to each time a
    /// manager starts leading, so a leader that crashed and came back in the same term (its
    /// queued status reports gone with its memory) is a new session too, and agents report
    /// again (explorer seed 2106: a RUNNING report lost that way left a task STARTING for
    /// ever, holding its slot in a start-first update). swarmkit's sessions are per
    /// dispatcher instance too.
    pub session: u64,
    pub registrations: BTreeMap<String, Registration>,
    pub updates: Vec<StatusUpdate>,
    pub first_update_ms: Option<u64>,
    /// When this process was last seen running (see [`LeaderInbox::note_running`]).
    pub running_seen_ms: u64,
    /// When this leadership began (peers count as reachable from then until they fail to
    /// answer); None while not leading.
    pub lead_since: Option<tokio::time::Instant>,
}

impl LeaderInbox {
    /// Queues status updates; false when the queue is full (the agent retries).
    pub fn push_updates(&mut self, now_ms: u64, ups: Vec<StatusUpdate>) -> bool {
        if self.updates.len() + ups.len() > STATUS_BATCH_MAX && !ups.is_empty() {
            return false;
        }
        if !ups.is_empty() && self.first_update_ms.is_none() {
            self.first_update_ms = Some(now_ms);
        }
        self.updates.extend(ups);
        true
    }

    /// This process runs at `now_ms`. A gap since it was last seen running longer than the
    /// stall watch's tick allows means the whole process was stopped (SIGSTOP, a frozen VM or
    /// container): no node could heartbeat it meanwhile, so every deadline moves by the gap
    /// instead of every node going down at once on resume and every task being restarted
    /// elsewhere. Returns the stall it found (ms).
    pub fn note_running(&mut self, now_ms: u64) -> Option<u64> {
        let expected = STALL_TICK.as_millis() as u64;
        let gap = now_ms.saturating_sub(self.running_seen_ms).saturating_sub(expected);
        let first = self.running_seen_ms == 0;
        self.running_seen_ms = self.running_seen_ms.max(now_ms);
        if first || gap < STALL_MIN_MS {
            return None;
        }
        if let Some((_, hb)) = self.heartbeats.as_mut() {
            hb.postpone(gap);
        }
        Some(gap)
    }
}

/// Says what [`LeaderInbox::note_running`] found. Short stalls happen when the process starves
/// itself (a pass over a huge backlog): worth a line, not an alarm.
pub(super) fn log_stall(node: &str, stall: Option<u64>) {
    match stall {
        Some(ms) if ms >= 5_000 => tracing::warn!(target: "shoal", node, "this manager did not run for {ms} ms (stopped or frozen?): nodes could not reach it, so their heartbeat deadlines move by as much"),
        Some(ms) => tracing::info!(target: "shoal", node, "this manager did not run for {ms} ms: heartbeat deadlines move by as much"),
        None => {}
    }
}

/// How soon the idle leader looks again whether an unreachable manager answers.
const RECHECK: Duration = Duration::from_millis(250);

/// How often the stall watch looks ([`Manager::watch_stalls`]).
const STALL_TICK: Duration = Duration::from_millis(250);
/// A gap in this process's running at least this long is a stall, not scheduling noise.
const STALL_MIN_MS: u64 = 1_000;

pub use super::clock::wall_ms;

/// A dispatcher session id from what makes a leadership unique: its term, the leader, and when
/// it started (a restarted leader starts later). Never 0, the agent's "no session yet".
fn session_id(term: u64, leader: u64, start_ms: u64) -> u64 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&term.to_le_bytes());
    bytes[8..16].copy_from_slice(&leader.to_le_bytes());
    bytes[16..].copy_from_slice(&start_ms.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes).max(1)
}

impl Manager {
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == openraft::ServerState::Leader
    }

    /// Notes every [`STALL_TICK`] that this process runs (see [`LeaderInbox::note_running`]);
    /// the leader's pass notes it too before it looks for expired deadlines, so whichever
    /// runs first after a stall moves the deadlines. Spawned once per manager process.
    pub(super) async fn watch_stalls(self: Arc<Self>) {
        loop {
            tokio::time::sleep(STALL_TICK).await;
            self.note_running(wall_ms());
        }
    }

    /// What this leader's pass writes as the managers' reachability: the voters its raft has
    /// not heard from within `PEER_REACHABLE_WITHIN`, or None (leave what the store says)
    /// during the first such interval of a leadership (nobody had the time to answer it yet)
    /// and while it cannot reach a quorum (it could not commit the change, and would retry
    /// it for ever). Also when the answer may change next without any other input.
    fn reachability(&self, voters: &std::collections::BTreeSet<u64>) -> (Option<std::collections::BTreeSet<u64>>, Option<tokio::time::Instant>) {
        use crate::node::raft::network::{unreachable_peers, PEER_REACHABLE_WITHIN};
        let Some(since) = self.inbox.lock().unwrap().lead_since else { return (None, None) };
        let now = tokio::time::Instant::now();
        if now < since + PEER_REACHABLE_WITHIN {
            return (None, Some(since + PEER_REACHABLE_WITHIN));
        }
        let (unreachable, next) = unreachable_peers(&self.health, voters.iter().copied(), self.id, now);
        // An unreachable peer may answer any time: look again soon.
        let next = if unreachable.is_empty() { next } else { Some(next.map_or(now + RECHECK, |n| n.min(now + RECHECK))) };
        if voters.len() - unreachable.len() < crate::control::quorum(voters.len()) {
            return (None, next);
        }
        (Some(unreachable), next)
    }

    fn note_running(&self, now_ms: u64) {
        let stall = self.inbox.lock().unwrap().note_running(now_ms);
        log_stall(&self.name, stall);
    }

    /// The leader loop; spawned once per manager process, dormant while not leading.
    pub(super) async fn run_leader(self: Arc<Self>) {
        let metrics = self.raft.metrics();
        let mut applied_seen = self.state.applied_signal().version();
        let mut quiet: Option<Quiet> = None;
        loop {
            let role_seen = self.role_signal.version();
            let (state, term) = {
                let m = metrics.borrow();
                (m.state, m.current_term)
            };
            if state != openraft::ServerState::Leader {
                {
                    let mut inbox = self.inbox.lock().unwrap();
                    inbox.heartbeats = None;
                    inbox.lead_since = None;
                }
                self.role_signal.changed(role_seen).await;
                continue;
            }
            let leading = self.inbox.lock().unwrap().heartbeats.as_ref().map(|(t, _)| *t) == Some(term);
            if !leading {
                // Catch up with everything committed before this term, then start the
                // dispatcher's clock: every node gets the post-election grace.
                // Mutant: lead at once, on whatever this node happens to have applied.
                if !crate::mutant::active("double-assign-slot") && self.read_barrier().await.is_err() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                let config = self.state.with_store(|s| cluster_spec(s).dispatcher);
                let mut hb = Heartbeats::new(config, ChaCha8Rng::seed_from_u64(self.id ^ term.rotate_left(32)));
                self.state.with_store(|s| {
                    let nodes: Vec<&crate::model::Node> =
                        s.list(Kind::Node).filter_map(|o| if let Object::Node(n) = o { Some(n) } else { None }).collect();
                    hb.start_leading(wall_ms(), nodes.into_iter());
                });
                let mut inbox = self.inbox.lock().unwrap();
                inbox.heartbeats = Some((term, hb));
                inbox.lead_since = Some(tokio::time::Instant::now());
                inbox.session = session_id(term, self.id, wall_ms());
                drop(inbox);
                *self.autoscaler.lock().unwrap() = crate::orchestrator::autoscale::Autoscaler::new(wall_ms());
                tracing::info!(target: "shoal", node = %self.name, term, "leading: dispatcher and orchestrators started");
                quiet = None;
            }
            let proposed = self.leader_pass(term, &mut quiet).await;
            if proposed {
                continue;
            }
            // Idle: sleep until something can change the outcome of a pass.
            let deadline = self.next_wakeup(quiet.as_ref());
            let applied = self.state.applied_signal();
            tokio::select! {
                biased;
                _ = self.role_signal.changed(role_seen) => {}
                v = applied.changed(applied_seen) => applied_seen = v,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(deadline) => {}
            }
        }
    }


    /// How long the idle loop may sleep: the next heartbeat deadline, status batch deadline, or
    /// the end of the last idle pass's quiet (restart delays, updates' next steps; at most
    /// [`IDLE_PASS`]).
    fn next_wakeup(&self, quiet: Option<&Quiet>) -> Duration {
        let now = wall_ms();
        let mut at = now + IDLE_PASS.as_millis() as u64;
        // A peer that stops or starts answering changes what a pass writes.
        let voters: std::collections::BTreeSet<u64> = self.state.membership().membership().voter_ids().collect();
        if let (_, Some(t)) = self.reachability(&voters) {
            let after = t.saturating_duration_since(tokio::time::Instant::now());
            at = at.min(now + after.as_millis() as u64 + 1);
        }
        {
            let inbox = self.inbox.lock().unwrap();
            if let Some(d) = inbox.heartbeats.as_ref().and_then(|(_, h)| h.next_deadline()) {
                at = at.min(d);
            }
            if let Some(f) = inbox.first_update_ms {
                at = at.min(f + STATUS_BATCH_MS);
            }
            if !inbox.registrations.is_empty() {
                at = now;
            }
        }
        let store_deadline = match quiet {
            Some(q) => Some(q.until_ms()),
            None => self.state.with_store(|s| crate::leader::next_deadline_ms(s, now)),
        };
        if let Some(d) = store_deadline {
            at = at.min(d);
        }
        if let Some(d) = self.autoscaler.lock().unwrap().next_timeout() {
            at = at.min(d);
        }
        Duration::from_millis(at.saturating_sub(now).max(1))
    }

    /// One pass; true when it proposed something.
    async fn leader_pass(&self, term: u64, quiet: &mut Option<Quiet>) -> bool {
        // Passes and control writes are serialised, as swarmkit's store serialises its
        // transactions: a pass decides from objects it does not write (the scheduler reads a
        // node's availability), so a drain committed between its read and its proposal was
        // invisible to the version checks and a task went to the drained node (explorer seed
        // 3471). Under the lock every control write before it is applied here (a control
        // write holds it until its entry is applied), and none lands until the pass is in.
        let _serial = self.control_lock.lock().await;
        let now = wall_ms();
        self.note_running(now);
        // Read before the inbox is locked (never both locks at once): the heartbeat period
        // follows `swarm update --dispatcher-heartbeat` from the next heartbeat on.
        let dispatcher_config = self.state.with_store(|s| cluster_spec(s).dispatcher);
        let mut input = {
            let mut inbox = self.inbox.lock().unwrap();
            let Some((t, hb)) = inbox.heartbeats.as_mut() else { return false };
            if *t != term {
                return false;
            }
            hb.set_config(dispatcher_config);
            let expired = hb.expired(now);
            let flush = inbox.first_update_ms.is_some_and(|f| now >= f + STATUS_BATCH_MS)
                || inbox.updates.len() >= STATUS_BATCH_MAX;
            let updates = if flush {
                inbox.first_update_ms = None;
                std::mem::take(&mut inbox.updates)
            } else {
                Vec::new()
            };
            PassInput {
                now_ms: now,
                registrations: std::mem::take(&mut inbox.registrations).into_values().collect(),
                status_updates: updates,
                expired,
                voters: self.state.membership().membership().voter_ids().collect(),
                unreachable: Default::default(),
                leader_raft_id: self.id,
                init_root_ca: self.init_root_ca.clone(),
                init_spec: self.init_spec.clone(),
                scales: Vec::new(),
            }
        };
        input.unreachable = self.reachability(&input.voters).0;
        input.scales = {
            let mut autoscaler = self.autoscaler.lock().unwrap();
            self.state.with_store(|s| autoscaler.poll_scale(s, now))
        };
        for sc in &input.scales {
            tracing::info!(target: "shoal", node = %self.name, service = %sc.service_id, "autoscale: {}", sc.status.describe());
        }
        if quiet.as_ref().is_some_and(|q| q.skips(&input, self.state.with_store(|s| s.last_index()))) {
            return false;
        }
        for n in &input.expired {
            tracing::info!(target: "shoal", node = %self.name, "node {n} missed its heartbeat deadline: marking it down");
        }
        self.counters.heartbeats_missed.fetch_add(input.expired.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let (applied, _) = self.state.applied();
        let mut ids = IdGen::new(applied ^ term.rotate_left(40) ^ self.id.rotate_left(20));
        let mut rng = ChaCha8Rng::seed_from_u64(applied.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ term);
        let (actions, idle) = self.state.with_store(|s| {
            let actions = pass(s, &input, &mut ids, &mut rng);
            let idle = actions.is_empty().then(|| Quiet::after_idle_pass(s, &input, IDLE_PASS.as_millis() as u64));
            (actions, idle)
        });
        *quiet = idle;
        if actions.is_empty() {
            return false;
        }
        // Agents report a status once per session: a batch that is not committed must go
        // back in the queue, or its tasks stay at their old state for ever (a stopped task
        // still "running" holds its slot). Applying a status twice is harmless: it only rises.
        let requeue = |updates: Vec<crate::dispatcher::StatusUpdate>| {
            if !updates.is_empty() {
                let mut inbox = self.inbox.lock().unwrap();
                let _ = inbox.push_updates(wall_ms(), updates);
            }
        };
        let n = actions.len();
        for txn in batches(now, actions) {
            let latencies_ms = super::counters::assignment_latencies_ms(&txn.actions, now);
            // MAX_HOPS: never forward; if leadership moved, the next leader passes itself.
            match self.propose(txn, super::MAX_HOPS).await {
                Ok(r) => match r.error {
                    Some(e) => {
                        tracing::debug!(target: "shoal", node = %self.name, "pass raced a concurrent write: {e}");
                        requeue(input.status_updates.clone());
                    }
                    None => {
                        for ms in latencies_ms {
                            self.counters.record_scheduler_latency(ms);
                        }
                    }
                },
                Err(e) => {
                    tracing::info!(target: "shoal", node = %self.name, "pass not committed: {e}");
                    requeue(input.status_updates.clone());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return true;
                }
            }
        }
        tracing::debug!(target: "shoal", node = %self.name, changes = n, "leader pass");
        true
    }
}

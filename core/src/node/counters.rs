//! Counters the node shell keeps for operators (the production runtime serves them on
//! `/metrics`; the simulator does not read them): what the leader saw since this process
//! started. Each is a plain atomic, bumped where the event happens; nothing here feeds back
//! into a decision.
//!
//! * heartbeats missed: nodes this process, as leader, marked down for a missed heartbeat
//!   deadline;
//! * scheduler latency: for each task this process's scheduler assigned (a committed pass),
//!   the time from the task's creation to its assignment, as a histogram.
//!
//! [`Manager::figures`] reads them with the raft's own figures and the store's
//! ([`crate::figures`]): what `/metrics` serves and the simulator's `--json` reports.

use crate::model::{Object, TaskState};
use crate::store::Action;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds (ms) of the scheduler-latency histogram's buckets (Prometheus' default
/// buckets, which span a fast pass to a task that waited for a node for seconds).
pub const SCHEDULER_LATENCY_BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

#[derive(Debug, Default)]
pub struct Counters {
    pub heartbeats_missed: AtomicU64,
    /// Changes of the raft leader this manager saw (a new leader, or none), for graphs of
    /// elections.
    pub leader_changes: AtomicU64,
    /// Assignments with a latency at most the bucket's bound (cumulative, as Prometheus
    /// wants them).
    scheduler_buckets: [AtomicU64; SCHEDULER_LATENCY_BUCKETS_MS.len()],
    scheduler_count: AtomicU64,
    scheduler_sum_ms: AtomicU64,
}

/// A histogram as read: cumulative counts per bucket bound (ms), the count, the sum (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub buckets: Vec<(u64, u64)>,
    pub count: u64,
    pub sum_ms: u64,
}

/// The scheduler latencies (ms) of a pass's actions at `now_ms`: each task the pass moved to
/// ASSIGNED, waited since its creation (0 for one the pass itself created).
pub fn assignment_latencies_ms(actions: &[Action], now_ms: u64) -> Vec<u64> {
    let assigned_now = |t: &crate::model::Task| t.status.state == TaskState::Assigned && t.status.timestamp_ms == now_ms;
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Update { object: Object::Task(t), .. } if assigned_now(t) => Some(now_ms.saturating_sub(t.meta.created_at_ms)),
            Action::Create(Object::Task(t)) if assigned_now(t) => Some(0),
            _ => None,
        })
        .collect()
}

impl Counters {
    pub fn record_scheduler_latency(&self, ms: u64) {
        for (i, bound) in SCHEDULER_LATENCY_BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                self.scheduler_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.scheduler_count.fetch_add(1, Relaxed);
        self.scheduler_sum_ms.fetch_add(ms, Relaxed);
    }

    pub fn scheduler_latency(&self) -> Histogram {
        Histogram {
            buckets: SCHEDULER_LATENCY_BUCKETS_MS.iter().zip(&self.scheduler_buckets).map(|(b, c)| (*b, c.load(Relaxed))).collect(),
            count: self.scheduler_count.load(Relaxed),
            sum_ms: self.scheduler_sum_ms.load(Relaxed),
        }
    }
}

/// This manager's raft as it stands, for graphs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RaftFigures {
    pub term: u64,
    pub last_log_index: u64,
    pub applied_index: u64,
    /// Entries this manager holds but has not applied yet.
    pub apply_lag: u64,
    pub leader: bool,
    pub voters: u64,
    /// Changes of leader this manager saw since it started.
    pub leader_changes: u64,
}

/// What this process saw as leader since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeaderFigures {
    /// Nodes it marked down for a missed heartbeat deadline.
    pub heartbeats_missed: u64,
    /// Tasks its scheduler assigned (committed), and their summed wait since creation.
    pub assignments: u64,
    pub assignment_wait_ms_sum: u64,
}

/// Every figure of one manager: its raft, what it did as leader, and its applied store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub raft: RaftFigures,
    pub leader: LeaderFigures,
    pub store: crate::figures::StoreFigures,
}

impl super::Manager {
    /// This manager's figures now (a read of its raft metrics, counters and applied store).
    pub fn figures(&self) -> Figures {
        let m = self.raft.metrics().borrow().clone();
        let last_log_index = m.last_log_index.unwrap_or(0);
        let applied_index = m.last_applied.map(|l| l.index).unwrap_or(0);
        let h = self.counters.scheduler_latency();
        Figures {
            raft: RaftFigures {
                term: m.current_term,
                last_log_index,
                applied_index,
                apply_lag: last_log_index.saturating_sub(applied_index),
                leader: m.state == openraft::ServerState::Leader,
                voters: m.membership_config.membership().voter_ids().count() as u64,
                leader_changes: self.counters.leader_changes.load(Relaxed),
            },
            leader: LeaderFigures {
                heartbeats_missed: self.counters.heartbeats_missed.load(Relaxed),
                assignments: h.count,
                assignment_wait_ms_sum: h.sum_ms,
            },
            store: self.state.with_store(crate::figures::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, Task, TaskStatus};

    // Only tasks the pass moved to ASSIGNED count, each with its wait since creation, into
    // every bucket whose bound it is within.
    #[test]
    fn assignments_fill_the_latency_histogram() {
        let c = Counters::default();
        let task = |state, created, stamp| {
            let t = Task { meta: Meta { created_at_ms: created, ..Default::default() }, status: TaskStatus { state, timestamp_ms: stamp, ..Default::default() }, ..Default::default() };
            Action::Update { object: Object::Task(t), expected_version: 0 }
        };
        let actions = [task(TaskState::Assigned, 990, 1_000), task(TaskState::Assigned, 400, 1_000), task(TaskState::Running, 0, 1_000), task(TaskState::Assigned, 0, 700)];
        let ms = assignment_latencies_ms(&actions, 1_000);
        assert_eq!(ms, [10, 600]);
        for l in ms {
            c.record_scheduler_latency(l);
        }
        let h = c.scheduler_latency();
        assert_eq!((h.count, h.sum_ms), (2, 610));
        assert_eq!(h.buckets[1], (10, 1)); // 10 ms: the first
        assert_eq!(h.buckets[6], (500, 1)); // 500 ms: still only the first
        assert_eq!(h.buckets[7], (1_000, 2)); // 1 s: both
    }
}

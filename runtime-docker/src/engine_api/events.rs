//! `GET /events`: the swarm's events as this manager applies them (every manager applies
//! every change, so any manager's stream has them all), streamed as JSON lines.
//!
//! [`EventLog`] is the node's raft observer: on each committed entry it keeps the events core
//! derives from the store's changes (`engine_api::events::event_of`) in a bounded ring, and
//! wakes the streams. A stream replays the ring from `since`, then follows until `until` or
//! until the client hangs up. Like dockerd, which keeps its last 256 events, a `since` older
//! than the ring's oldest event replays what the ring still has.
//!
//! It also tells the cluster page (ui/) when the store changed at all (task states included,
//! which make no event): [`EventLog::changes`] follows the last applied index that changed it.

use super::routes::Query;
use super::{EngineApi, Resp};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Response, StatusCode};
use shoal_core::engine_api::events::{event_of, matches, parse_time_ms, time_ms, FILTER_KEYS};
use shoal_core::engine_api::types::EventMessage;
use shoal_core::engine_api::ApiError;
use shoal_core::node::raft::{NodeId, Observer};
use std::collections::VecDeque;
use shoal_core::node::clock::wall_ms;
use std::sync::{Arc, Mutex};

/// Events kept for `since` (dockerd keeps 256).
const EVENTS_KEPT: usize = 1024;

pub struct EventLog {
    /// (sequence number, event), oldest first.
    ring: Mutex<VecDeque<(u64, EventMessage)>>,
    next_seq: std::sync::atomic::AtomicU64,
    wake: tokio::sync::Notify,
    /// The raft index of the last entry that changed the store.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog { ring: Mutex::default(), next_seq: Default::default(), wake: Default::default(), changed: tokio::sync::watch::Sender::new(0) }
    }
}

impl EventLog {
    /// Follows the index of the last entry that changed the store.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The newest `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Vec<EventMessage> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.iter().skip(ring.len().saturating_sub(n)).map(|(_, m)| m.clone()).collect()
    }

    /// Events after sequence number `after` (all if None), and the last sequence number seen.
    fn since(&self, after: Option<u64>) -> (Vec<(u64, EventMessage)>, Option<u64>) {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let out: Vec<_> = ring.iter().filter(|(seq, _)| after.is_none_or(|a| *seq > a)).cloned().collect();
        let last = ring.back().map(|(s, _)| *s).or(after);
        (out, last)
    }

    fn push(&self, m: EventMessage) {
        let seq = self.next_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == EVENTS_KEPT {
            ring.pop_front();
        }
        ring.push_back((seq, m));
    }
}

impl Observer for EventLog {
    fn applied(&self, _: NodeId, _: u64, _: u64, _: u64, _: u64) {}
    // A lagging manager took a snapshot instead of entries: its store changed wholesale.
    fn snapshot_installed(&self, _: NodeId, index: u64, _: u64, _: u64) {
        self.changed.send_replace(index);
    }
    fn committed(&self, _: NodeId, index: u64, events: &[shoal_core::store::Event], _: &shoal_core::store::Store) {
        if !events.is_empty() {
            self.changed.send_replace(index);
        }
        let now = wall_ms();
        let mut any = false;
        for m in events.iter().filter_map(|e| event_of(e, now)) {
            self.push(m);
            any = true;
        }
        if any {
            self.wake.notify_waiters();
        }
    }
}

/// `GET /events?since=&until=&filters=`
pub async fn events(api: &Arc<EngineApi>, q: &Query) -> Result<Resp, ApiError> {
    let f = q.filters()?;
    f.check_keys(&FILTER_KEYS)?;
    let since = q.get("since").filter(|s| !s.is_empty()).map(|s| parse_time_ms("since", s)).transpose()?;
    let until = q.get("until").filter(|s| !s.is_empty()).map(|s| parse_time_ms("until", s)).transpose()?;
    let log = api.events.clone();
    // Without `since`, only what happens from now on.
    let (backlog, mut last) = log.since(None);
    let backlog: Vec<EventMessage> = match since {
        Some(s) => backlog.into_iter().map(|(_, m)| m).filter(|m| time_ms(m) >= s).collect(),
        None => vec![],
    };
    let in_window = move |m: &EventMessage| until.is_none_or(|u| time_ms(m) <= u);
    let line = |m: &EventMessage| {
        let mut b = serde_json::to_vec(m).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    };
    let first: Vec<Bytes> = backlog.iter().filter(|m| matches(&f, m) && in_window(m)).map(line).collect();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        loop {
            if until.is_some_and(|u| wall_ms() > u) {
                return;
            }
            let woken = log.wake.notified();
            let (new, seen) = log.since(last);
            last = seen;
            for m in new.iter().map(|(_, m)| m).filter(|m| matches(&f, m) && in_window(m)) {
                if tx.send(line(m)).await.is_err() {
                    return;
                }
            }
            // Wake at the latest when `until` passes (or every few seconds to notice a client
            // that hung up while nothing happens).
            let wait = until.map(|u| u.saturating_sub(wall_ms()).max(1)).unwrap_or(5_000).min(5_000);
            tokio::select! {
                biased;
                _ = woken => {}
                _ = tx.closed() => return,
                _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => {}
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    let mut r = Response::new(Body::from_stream(stream));
    *r.status_mut() = StatusCode::OK;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(r)
}

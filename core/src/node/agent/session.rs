//! Where the agent's calls go: the manager it takes for the leader, shared by the heartbeat
//! loop and the long polls; switching when a manager redirects or fails; and how soon a node
//! asks again after it lost its leader (spread by a hash of its id, backing off while no
//! manager knows a leader). The heartbeat loop alone switches; a long poll that fails only
//! tells it ([`Leader::lost`]).

use super::RETRY;
use crate::proto::dispatcher_client::DispatcherClient;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the agent currently sends its calls, shared by the heartbeat loop and the poller.
pub(super) struct Leader {
    pub(super) addr: String,
    /// Bumped on every switch so the poller restarts against the new address.
    epoch: u64,
    pub(super) managers: Vec<String>,
    next: usize,
    /// Bumped with `epoch`, for the long polls waiting on a call to the old address (they
    /// used to look every 500 ms: two timers a second per node, for nothing, at scale).
    switched: Arc<crate::node::signal::Signal>,
    /// One channel per manager address, shared by the heartbeats and the long polls (HTTP/2
    /// carries them side by side): dialling per call cost a connection, and in production a
    /// TLS handshake, every heartbeat.
    channels: BTreeMap<String, DispatcherClient<tonic::transport::Channel>>,
    /// Bumped by the assignments' long poll when its call to the current address failed: the
    /// heartbeat loop then asks at once whether the leader is still there, instead of at its
    /// next period (up to 4.5 s later: every worker stayed that long on a dead leader after a
    /// failover, `scripts/bench-hollow` measured). The heartbeat loop alone switches.
    pub(super) lost: Arc<crate::node::signal::Signal>,
}

/// Nodes that lost their leader together ask again spread over this long, each at its own
/// place: 500 workers dialling the surviving managers in the same instant starved their
/// election on one machine.
pub(super) const LOST_LEADER_SPREAD_MS: u64 = 250;

/// This node's place in every spread: a hash of its id (xxh3, stable across releases), so the
/// spread needs no randomness and a run replays the same.
pub(super) fn node_hash(node_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(node_id.as_bytes())
}

/// The wait before the next heartbeat after `tries` in a row found no leader: RETRY, then a
/// step doubling up to [`LOST_LEADER_BACKOFF_MAX`], of which the node waits between half and
/// all, at its own place (`hash`). Without it every worker asked the surviving managers four
/// times a second, all in step, while they held their election (2,000 calls a second from
/// 500 workers, which starved the election's own messages on one machine: scripts/bench-hollow).
pub(super) fn lost_backoff(tries: u32, hash: u64) -> Duration {
    if tries <= 1 {
        return RETRY;
    }
    let step = RETRY.saturating_mul(1 << (tries - 1).min(4)).min(LOST_LEADER_BACKOFF_MAX);
    let half = step / 2;
    half + Duration::from_millis(hash % (half.as_millis() as u64).max(1))
}

/// The longest wait between heartbeats that find no leader (a worker's tasks keep running
/// meanwhile; the new leader gives every node a grace period after an election). With 1 s,
/// 200 workers reattached 1-2 s sooner, but 500 asked the new leader hard enough that it
/// lost its leadership again and again (scripts/bench-hollow).
const LOST_LEADER_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// At most this many managers' channels are kept (a swarm has a handful of managers; the
/// bound is for a leader address that keeps changing).
const CHANNELS_MAX: usize = 16;

impl Leader {
    pub(super) fn new(first: String, managers: Vec<String>) -> Leader {
        Leader { addr: first, epoch: 0, managers, next: 0, switched: Arc::default(), channels: BTreeMap::new(), lost: Arc::default() }
    }

    /// The client of the manager at `addr`, dialled once and kept.
    pub(super) fn client(&mut self, addr: &str) -> Option<DispatcherClient<tonic::transport::Channel>> {
        if let Some(c) = self.channels.get(addr) {
            return Some(c.clone());
        }
        let c = DispatcherClient::new(crate::node::raft::network::channel(addr).ok()?);
        if self.channels.len() >= CHANNELS_MAX {
            self.channels.clear();
        }
        self.channels.insert(addr.to_string(), c.clone());
        Some(c)
    }

    /// This node's certificates changed (a renewal): channels dialled with the old ones are
    /// dropped, and the long polls call again on new ones. A kept channel reconnects with
    /// the TLS settings it was made with, which after a root rotation no manager accepts.
    pub(super) fn redial(&mut self) {
        self.channels.clear();
        self.epoch += 1;
        self.switched.bump();
    }

    pub(super) fn switch(&mut self, to: Option<String>) {
        let to = match to.filter(|a| !a.is_empty()) {
            Some(a) => a,
            None => {
                self.next = (self.next + 1) % self.managers.len().max(1);
                self.managers.get(self.next).cloned().unwrap_or_else(|| self.addr.clone())
            }
        };
        if to != self.addr {
            self.addr = to;
            self.epoch += 1;
            self.switched.bump();
        }
    }
}

/// How a long-poll call to the leader ended.
pub(super) enum Polled<R> {
    Answer(R),
    /// The call failed or timed out.
    Failed,
    /// The heartbeat loop switched leaders meanwhile: call the new one.
    Switched,
}

/// One long-poll call to the current leader (`call` gets its address), given up when the
/// heartbeat loop switches leaders meanwhile.
pub(super) async fn poll_leader<R, F>(leader: &Mutex<Leader>, call: impl FnOnce(Option<DispatcherClient<tonic::transport::Channel>>) -> F) -> Polled<R>
where
    F: std::future::Future<Output = Option<R>>,
{
    let (client, epoch, signal, seen) = {
        let mut l = leader.lock().unwrap();
        let addr = l.addr.clone();
        (l.client(&addr), l.epoch, l.switched.clone(), l.switched.version())
    };
    let switched = async {
        let mut seen = seen;
        loop {
            seen = signal.changed(seen).await;
            if leader.lock().unwrap().epoch != epoch {
                return;
            }
        }
    };
    tokio::select! {
        biased;
        r = call(client) => r.map_or(Polled::Failed, Polled::Answer),
        _ = switched => Polled::Switched,
    }
}

#[cfg(test)]
mod lost_backoff_tests {
    use super::*;

    proptest::proptest! {
        // A node that keeps finding no leader waits longer, never past the cap, and nodes
        // spread over the upper half of each step.
        #[test]
        fn backoff_grows_within_its_step_and_stops_at_the_cap(hash: u64, tries in 0u32..100) {
            let d = lost_backoff(tries, hash);
            if tries <= 1 {
                proptest::prop_assert_eq!(d, RETRY);
            } else {
                let step = RETRY.saturating_mul(1 << (tries - 1).min(4)).min(LOST_LEADER_BACKOFF_MAX);
                proptest::prop_assert!(d >= step / 2 && d < step, "{d:?} outside [{:?}, {step:?})", step / 2);
                proptest::prop_assert!(d < LOST_LEADER_BACKOFF_MAX);
                proptest::prop_assert!(lost_backoff(tries + 1, hash) >= d || step == LOST_LEADER_BACKOFF_MAX);
            }
        }
    }
}

//! Following the engine's container events for this node's containers: every event wakes the
//! agent, which re-lists by label (events are not durable: the daemon keeps only recent ones,
//! so the stream is re-opened after any error and a quiet engine still wakes the agent every
//! [`RELIST_EVERY`]).

use super::LABEL_NODE;
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Wake the agent at least this often, for events the stream lost.
pub(super) const RELIST_EVERY: Duration = Duration::from_secs(5);
/// After a container's `die` event, the agent looks again this long after it, and again after
/// the second wait (see follow_events).
const AFTER_DIE_FIRST: Duration = Duration::from_millis(50);
const AFTER_DIE_AGAIN: Duration = Duration::from_millis(250);

/// Follows the engine's container events for this node's labels; every event wakes the agent.
/// Reconnects after errors (bounded backoff), and wakes the agent on reconnect too (events
/// in the gap are lost: it re-lists).
pub(super) async fn follow_events(docker: Docker, node_id: String, changed: Arc<tokio::sync::Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let filters: HashMap<&str, Vec<String>> =
            HashMap::from([("type", vec!["container".to_string()]), ("label", vec![format!("{LABEL_NODE}={node_id}")])]);
        let mut events = docker.events(Some(EventsOptionsBuilder::new().filters(&filters).build()));
        changed.notify_one();
        loop {
            let next = tokio::time::timeout(RELIST_EVERY, events.next()).await;
            match next {
                Ok(Some(Ok(ev))) => {
                    backoff = Duration::from_millis(100);
                    changed.notify_one();
                    // The engine sends `die` before its container list says the container
                    // exited (measured on 20.10: a list right after still said running, and
                    // the death was reported only at the next heartbeat, 1-5 s later): look
                    // again shortly.
                    if ev.action.as_deref() == Some("die") {
                        let changed = changed.clone();
                        tokio::spawn(async move {
                            for wait in [AFTER_DIE_FIRST, AFTER_DIE_AGAIN] {
                                tokio::time::sleep(wait).await;
                                changed.notify_one();
                            }
                        });
                    }
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(target: "shoal", "docker events: {e}; reconnecting");
                    break;
                }
                Ok(None) => break,
                // Quiet engine: wake the agent anyway (a lost event must not stall a task).
                Err(_) => changed.notify_one(),
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

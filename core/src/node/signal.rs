//! A version counter that tasks can wait on: the shell's "something changed" primitive.
//!
//! Written here instead of using `tokio::sync::watch` because watch receivers park on one of
//! eight notifiers picked by tokio's thread-local RNG, which is seeded from OS randomness: with
//! two waiters the wake order, and so the simulator's schedule, differs from run to run.
//! `Notify::notify_waiters` wakes in registration order, so this stays deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Signal {
    version: AtomicU64,
    notify: Notify,
}

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Marks a change and wakes every waiter.
    pub fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Waits until the version differs from `known`; returns the new version.
    pub async fn changed(&self, known: u64) -> u64 {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking, so a bump between the check and the await is not lost.
            notified.as_mut().enable();
            let v = self.version();
            if v != known {
                return v;
            }
            notified.await;
        }
    }
}

//! The daemon process's lives. A process serves the Engine API's unix sockets from start to
//! end (engine_api/front.rs); behind them the node is in no swarm, or lives one life in a
//! swarm after another: `docker swarm init`, `docker swarm leave --force`, `docker swarm init`
//! again, all in one process, as with dockerd.
//!
//! Owns the loop: the first life comes from the command (`swarm init|join` or a restart of a
//! data directory that holds a swarm); after that, a process started as `shoal daemon` waits
//! in no swarm for an init or join through the API. Each life runs [`daemon::run`] on a tokio
//! runtime of its own, which is shut down when the life ends: every task the life spawned
//! (raft, the leader's loops, the agent, the servers, the routing mesh's listeners) ends with
//! it, and nothing of one swarm reaches the next.
//!
//! Invariants: one life at a time; the mode on the sockets always says what the node is now;
//! an init or join asked through the API is answered exactly once (the node's id, or why it
//! did not start) and a failed one leaves the node in no swarm, as before.

use crate::daemon::{self, Ended, Options, Ready, Start};
use crate::engine_api::{self, Begin, Front, Mode};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a stopping life's leftover tasks may take once its runtime shuts down.
const LIFE_SHUTDOWN: Duration = Duration::from_secs(5);

/// Runs the daemon: `first` (None: restart the data directory's swarm, or wait in no swarm).
/// `stay`: after a leave, wait in no swarm instead of exiting (`shoal daemon`).
pub async fn serve(first: Option<Start>, opts: Options, stay: bool) -> Result<(), String> {
    let dir = opts.data_dir.clone();
    // Before the sockets are bound: a failed `swarm init|join` takes back everything it made,
    // the sockets included (an absent data directory stays absent).
    let before = daemon::DirBefore::of(&dir);
    let endpoints = engine_api::endpoints(&opts.docker_api, &dir)?;
    // Refused before the sockets are bound: another daemon may be serving this directory.
    let first = first.map(|s| daemon::check_start(s, &dir)).transpose()?;
    let (front, mut again) = Front::start(&engine_api::unix_sockets(&endpoints))?;
    // The command line's start (nobody waits for an answer), then what the API asks.
    let mut first = first;
    let mut next: Option<Begin> = None;
    let mut lives = 0u64;
    loop {
        let (start, life_opts, mut ready): (Start, Options, Ready) = match (first.take(), next.take()) {
            (Some(start), _) => (start, opts.clone(), None),
            (None, Some(b)) => (b.start, with_addresses(&opts, b.addresses), Some(b.reply)),
            (None, None) if daemon::read_identity(&dir)?.is_some() => (Start::Restart, opts.clone(), None),
            (None, None) => match wait_in_no_swarm(&front).await? {
                None => return Ok(()),
                Some(b) => (b.start, with_addresses(&opts, b.addresses), Some(b.reply)),
            },
        };
        front.set(Mode::Starting);
        let asked = ready.is_some();
        // Only the command line's own init or join takes back what it wrote when it fails.
        let undo_on_failure = !stay && lives == 0 && !asked;
        lives += 1;
        let (stop_tx, stop_rx) = oneshot::channel();
        let mut running = std::pin::pin!(life(start, life_opts, front.clone(), ready.take(), stop_rx));
        // A new life asked meanwhile (`--force-new-cluster` through the API) stops this one
        // first; a second ask while one is pending is refused by the queue of one.
        let mut stop = Some(stop_tx);
        let ended = loop {
            tokio::select! {
                biased;
                r = &mut running => break r,
                Some(b) = again.recv(), if next.is_none() => {
                    next = Some(b);
                    if let Some(s) = stop.take() {
                        let _ = s.send(());
                    }
                }
            }
        };
        match ended {
            // Stopped to begin again: the next life carries the request's answer.
            Ok(Ended::Stopped) if next.is_some() => tracing::info!(target: "shoal", "stopped for a new life asked through the Engine API"),
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Left) if stay => tracing::info!(target: "shoal", "in no swarm: waiting for `docker swarm init` or `docker swarm join`"),
            Ok(Ended::Left) => return Ok(()),
            Ok(Ended::Removed(e)) if stay => tracing::warn!(target: "shoal", "{e}"),
            Ok(Ended::Removed(e)) => return Err(e),
            // The requester has the reason; the node is in no swarm again.
            Err(e) if asked && stay => tracing::warn!(target: "shoal", "swarm init or join failed: {e}"),
            Err(e) => {
                if undo_on_failure {
                    before.restore(&dir);
                }
                return Err(e);
            }
        }
    }
}

/// `opts` with a request's addresses, if it gave any.
fn with_addresses(opts: &Options, a: Option<engine_api::Addresses>) -> Options {
    match a {
        None => opts.clone(),
        Some(a) => Options {
            advertise_addr: a.advertise.to_string(),
            listen_addr: Some(a.listen.to_string()),
            data_path_addr: a.data_path_addr,
            ..opts.clone()
        },
    }
}

/// Serves in no swarm until an init or join arrives (Some) or a signal stops the daemon (None).
async fn wait_in_no_swarm(front: &Front) -> Result<Option<Begin>, String> {
    // A fresh queue for each wait: a request that raced a previous start is answered (its
    // sender dropped), never carried into this one.
    let (tx, mut rx) = mpsc::channel::<Begin>(1);
    front.set(Mode::Inactive(tx));
    let mut term = tokio_rt::signal::unix::signal(tokio_rt::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
    tokio::select! {
        biased;
        _ = term.recv() => Ok(None),
        _ = tokio_rt::signal::ctrl_c() => Ok(None),
        b = rx.recv() => Ok(b),
    }
}

/// One life on a runtime of its own (a thread that owns it); its end once the runtime shut down.
async fn life(start: Start, opts: Options, front: Front, mut ready: Ready, stop: oneshot::Receiver<()>) -> Result<Ended, String> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("shoal-node".into())
        .spawn(move || {
            let r = match tokio_rt::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => {
                    let r = rt.block_on(daemon::run(start, opts, &front, &mut ready, stop));
                    rt.shutdown_timeout(LIFE_SHUTDOWN);
                    r
                }
                Err(e) => Err(format!("cannot start a tokio runtime for the node: {e}")),
            };
            if let (Err(e), Some(reply)) = (&r, ready.take()) {
                let _ = reply.send(Err(shoal_core::engine_api::ApiError::BadRequest(e.clone())));
            }
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start the node's thread: {e}"))?;
    rx.await.unwrap_or_else(|_| Err("the node's runtime stopped abnormally (see the log above)".into()))
}

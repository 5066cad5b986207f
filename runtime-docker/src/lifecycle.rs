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
//! Signals are the lifecycle's: SIGTERM and SIGINT are taken once for the process and passed
//! to the running life as its `stop` (a signal between lives, or while one starts, is kept
//! until it can be acted on), so the daemon always stops gracefully.
//!
//! Invariants: one life at a time; the mode on the sockets says what the node is (a life
//! sets it; between lives it is starting or in no swarm); every ask through the API is
//! answered exactly once — the node's id, or why not — and an ask the node's change made
//! moot (queued while a life ended) is refused, never carried into the next life; a failed
//! init or join leaves the node in no swarm and the data directory as it was.

use crate::daemon::{self, Ended, Options, Ready, Start};
use crate::engine_api::{self, Begin, Front, Mode};
use shoal_core::engine_api::ApiError;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_rt::signal::unix::{signal, Signal, SignalKind};

/// How long a stopping life's leftover tasks may take once its runtime shuts down.
const LIFE_SHUTDOWN: Duration = Duration::from_secs(5);

/// SIGTERM and SIGINT, taken once for the whole process (a signal that arrives while nobody
/// waits is kept for the next wait).
struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn take() -> Result<Signals, String> {
        let term = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
        let int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
        Ok(Signals { term, int })
    }

    async fn recv(&mut self) {
        tokio::select! {
            biased;
            _ = self.term.recv() => tracing::info!(target: "shoal", "SIGTERM: shutting down"),
            _ = self.int.recv() => tracing::info!(target: "shoal", "SIGINT: shutting down"),
        }
    }
}

/// Answers an ask that will not be carried out.
fn refuse(b: Option<Begin>, why: &str) {
    if let Some(b) = b {
        let _ = b.reply.send(Err(ApiError::Unavailable(why.to_string())));
    }
}

/// Runs the daemon: `first` (None: restart the data directory's swarm, or wait in no swarm).
/// `stay`: after a leave, wait in no swarm instead of exiting (`shoal daemon`).
pub async fn serve(first: Option<Start>, opts: Options, stay: bool) -> Result<(), String> {
    let dir = opts.data_dir.clone();
    // Before the sockets are bound: a failed `swarm init|join` from the command line takes
    // back everything it made, the sockets included (an absent data directory stays absent).
    let before = daemon::DirBefore::of(&dir);
    let endpoints = engine_api::endpoints(&opts.docker_api, &dir)?;
    // Refused before the sockets are bound: another daemon may be serving this directory.
    let mut first = first.map(|s| daemon::check_start(s, &dir)).transpose()?;
    let sockets = engine_api::unix_sockets(&endpoints);
    if first.is_none() && sockets.is_empty() && daemon::read_identity(&dir)?.is_none() {
        return Err(format!(
            "{} holds no swarm, and no --docker-api unix socket would let `docker swarm init|join` reach this daemon: add --docker-api unix:///PATH, or run `shoal swarm init|join`",
            dir.display()
        ));
    }
    let mut signals = Signals::take()?;
    let (front, mut begins) = Front::start(&sockets)?;
    let mut next: Option<Begin> = None;
    // The options of the life before: a new life asked without addresses keeps its own.
    let mut current = opts.clone();
    loop {
        let (start, life_opts, ready, undo): (Start, Options, Ready, bool) = match (first.take(), next.take()) {
            (Some(start), _) => {
                let undo = matches!(start, Start::Init(_) | Start::Join { .. });
                (start, opts.clone(), None, undo)
            }
            (None, Some(b)) => (b.start, with_addresses(&current, b.addresses), Some(b.reply), false),
            (None, None) if daemon::read_identity(&dir)?.is_some() => (Start::Restart, current.clone(), None, false),
            (None, None) => {
                front.set(Mode::Inactive);
                tracing::info!(target: "shoal", "in no swarm: waiting for `docker swarm init` or `docker swarm join`");
                tokio::select! {
                    biased;
                    _ = signals.recv() => return Ok(()),
                    b = begins.recv() => match b {
                        Some(b) => (b.start, with_addresses(&opts, b.addresses), Some(b.reply), false),
                        None => return Ok(()),
                    },
                }
            }
        };
        front.set(Mode::Starting);
        current = life_opts.clone();
        let asked = ready.is_some();
        let (stop_tx, stop_rx) = oneshot::channel();
        let mut stop_tx = Some(stop_tx);
        let mut running = std::pin::pin!(life(start, life_opts, front.clone(), ready, stop_rx));
        let mut signalled = false;
        let ended = loop {
            tokio::select! {
                biased;
                r = &mut running => break r,
                _ = signals.recv(), if !signalled => {
                    signalled = true;
                    if let Some(s) = stop_tx.take() {
                        let _ = s.send(());
                    }
                }
                Some(b) = begins.recv(), if next.is_none() && !signalled => {
                    // `--force-new-cluster` stops this life first; an init or join (sent while
                    // a leave winds the life down) waits for its end.
                    if matches!(b.start, Start::ForceNewCluster { .. }) {
                        if let Some(s) = stop_tx.take() {
                            let _ = s.send(());
                        }
                    }
                    next = Some(b);
                }
            }
        };
        // Asks queued while the life ended were made of a node that is no more.
        while let Ok(b) = begins.try_recv() {
            refuse(Some(b), "this node changed state meanwhile (a leave or a restart): ask again");
        }
        if signalled {
            refuse(next.take(), "the daemon is stopping");
            return match ended {
                Ok(Ended::Failed(e)) => Err(e),
                _ => Ok(()),
            };
        }
        match ended {
            // Stopped for the new life asked (`--force-new-cluster`): it begins now.
            Ok(Ended::Stopped) if next.is_some() => {}
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Left | Ended::Removed(_)) if !stay => {
                refuse(next.take(), "the daemon exits: it ran as `shoal swarm init|join`");
                return match ended {
                    Ok(Ended::Removed(e)) => Err(e),
                    _ => Ok(()),
                };
            }
            Ok(Ended::Left | Ended::Removed(_)) => {
                if let Ok(Ended::Removed(e)) = &ended {
                    tracing::warn!(target: "shoal", "{e}");
                }
                if next.as_ref().is_some_and(|b| matches!(b.start, Start::ForceNewCluster { .. })) {
                    refuse(next.take(), "this node left its swarm: --force-new-cluster has no state to recover");
                }
            }
            Ok(Ended::Failed(e)) => {
                refuse(next.take(), "the daemon stopped");
                return Err(e);
            }
            // A life that never served: an ask's requester has the reason; the node is as
            // before (in no swarm, or restarted on its swarm).
            Err(e) if asked => tracing::warn!(target: "shoal", "a start asked through the Engine API failed: {e}"),
            Err(e) => {
                refuse(next.take(), "the daemon stopped");
                if undo {
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

/// One life on a runtime of its own (a thread that owns it); its end once the runtime shut
/// down. A life that fails before it serves answers the ask that began it with why.
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
                let _ = reply.send(Err(ApiError::BadRequest(e.clone())));
            }
            let _ = tx.send(r);
        })
        .map_err(|e| format!("cannot start the node's thread: {e}"))?;
    rx.await.unwrap_or_else(|_| Err("the node's runtime stopped abnormally (see the log above)".into()))
}

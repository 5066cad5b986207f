//! The control-API history client: `load control R/s`.
//!
//! [`CLIENTS`] sequential clients on the simulated client machine issue create, update, get,
//! list and remove calls on a few services (replicas 0: they exercise the control plane, not
//! the orchestrators) through random managers — followers forward to the leader — while the
//! faults go on. Each call is recorded with its virtual call and return times and its outcome;
//! a call that timed out or failed in transport has an unknown outcome (it may have taken
//! effect). At the end of the run the history is checked for linearizability with the
//! [`Objects`] model (sim/src/history): a failure is a `linearizable` violation with a
//! witness.
//!
//! Deterministic: each client draws from its own ChaCha RNG seeded from the run's seed.
//! Bounded: one call in flight per client, each under a deadline; at most [`MAX_OPERATIONS`]
//! recorded.

use crate::history::models::{ObjectInput, ObjectOutput, Objects};
use crate::history::{check, Operation, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shoal_core::model::{Annotations, Object, ServiceMode, ServiceSpec};
use shoal_core::proto::{self, control_request::Op};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Concurrent clients (each one call at a time, as Jepsen's processes).
pub const CLIENTS: u64 = 3;
/// The service names the clients work on. A '-' keeps them from matching an id prefix
/// (ids are base-36 digits), which the API would also accept as a key.
pub const KEYS: [&str; 2] = ["hist-1", "hist-2"];
/// The history stops growing here (a run is at most a few virtual minutes).
pub const MAX_OPERATIONS: usize = 20_000;

type Op_ = Operation<ObjectInput, ObjectOutput>;

pub struct ControlLoad {
    stop: Arc<AtomicBool>,
    /// Every call, recorded when it is made (unknown outcome) and completed when it returns;
    /// `None` for a call refused without effect.
    history: Arc<Mutex<Vec<Option<Op_>>>>,
}

fn now_us() -> u64 {
    (crate::trace::now_secs() * 1e6) as u64
}

fn spec(name: &str, image: &str) -> Vec<u8> {
    let mut s = ServiceSpec {
        annotations: Annotations { name: name.into(), ..Default::default() },
        mode: ServiceMode::Replicated { replicas: 0 },
        ..Default::default()
    };
    s.task.container.image = image.into();
    serde_json::to_vec(&s).expect("spec serialises")
}

/// What a reply (or its absence) says about the call's effect.
enum Outcome {
    Known(Option<ObjectOutput>),
    /// Refused before it could take effect (invalid, out of sequence): left out of the history.
    NoEffect,
}

impl ControlLoad {
    /// Starts the clients on `node`, calling `per_sec` times per second in all.
    pub fn start(node: &madsim::runtime::NodeHandle, managers: Vec<String>, per_sec: f64, seed: u64) -> ControlLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let history: Arc<Mutex<Vec<Option<Op_>>>> = Arc::default();
        let mean_gap_ms = (CLIENTS as f64 * 1000.0 / per_sec).max(1.0) as u64;
        for client in 0..CLIENTS {
            let (stop, history, managers) = (stop.clone(), history.clone(), managers.clone());
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6869_7374_0000_0000 ^ client);
            node.spawn(async move {
                let mut version = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(rng.gen_range(mean_gap_ms / 2..=mean_gap_ms * 3 / 2))).await;
                    if stop.load(Ordering::Relaxed) || history.lock().unwrap().len() >= MAX_OPERATIONS {
                        break;
                    }
                    let target = managers[rng.gen_range(0..managers.len())].clone();
                    let key = KEYS[rng.gen_range(0..KEYS.len())].to_string();
                    version += 1;
                    let value = format!("app:{client}.{version}");
                    let roll = rng.gen_range(0..100);
                    let (op, inputs): (Op, Vec<ObjectInput>) = match roll {
                        0..=19 => (Op::CreateService(proto::CreateService { spec: spec(&key, &value) }), vec![ObjectInput::Create(key, value)]),
                        20..=44 => (
                            Op::UpdateService(proto::UpdateService { service: key.clone(), spec: spec(&key, &value), version: 0 }),
                            vec![ObjectInput::Update(key, value)],
                        ),
                        45..=54 => (Op::RemoveService(proto::ObjectKey { key: key.clone() }), vec![ObjectInput::Remove(key)]),
                        55..=64 => (
                            Op::ListServices(proto::ListObjects::default()),
                            KEYS.iter().map(|k| ObjectInput::Get(k.to_string())).collect(),
                        ),
                        _ => (Op::GetService(proto::ObjectKey { key: key.clone() }), vec![ObjectInput::Get(key)]),
                    };
                    let call = now_us();
                    // Recorded before the call: a call still in flight when the run ends may
                    // have taken effect, and another client may already have seen it
                    // (explorer seed 117: a Get saw the value of an update still in flight).
                    let first = {
                        let mut h = history.lock().unwrap();
                        let first = h.len();
                        h.extend(inputs.iter().map(|input| Some(Operation { client, input: input.clone(), output: None, call, ret: None, line: 0 })));
                        first
                    };
                    let reply = call_once(&target, op).await;
                    let ret = now_us();
                    let mut h = history.lock().unwrap();
                    for (i, input) in inputs.iter().enumerate() {
                        h[first + i] = match outcome(input, &reply) {
                            Outcome::NoEffect => None,
                            Outcome::Known(output) => {
                                let known = output.is_some();
                                Some(Operation { client, input: input.clone(), output, call, ret: known.then_some(ret), line: 0 })
                            }
                        };
                    }
                }
            });
        }
        ControlLoad { stop, history }
    }

    /// The calls recorded so far, without those refused without effect.
    fn operations(&self) -> Vec<Op_> {
        self.history.lock().unwrap().iter().flatten().cloned().collect()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The history so far in Shoal's history format (`shoal-sim check-history` reads it
    /// back): EDN maps, one per call and one per return, in time order, after a header line.
    /// `{:process 0, :type :invoke, :f :update, :key "hist-1", :value "app:0.3", :time 1200}`,
    /// then `:type :ok` with `:result :ok|:exists|:not-found` (a get's `:value` is what it
    /// read, nil for nothing) or `:type :info` (unknown outcome: open to the end). Times are
    /// virtual microseconds; a call and a return at the same time overlap.
    pub fn edn(&self) -> String {
        crate::history::parse::objects_edn(&self.operations())
    }

    /// Stops the clients and checks the history; `Err` holds the witness. Calls still in
    /// flight stay in the history with an unknown outcome.
    pub fn finish(&self) -> (usize, Result<(), String>) {
        self.stop();
        let h = self.operations();
        let n = h.len();
        match check(&Objects, &h) {
            Verdict::Linearizable => (n, Ok(())),
            Verdict::NotLinearizable(w) => (n, Err(format!("{n} control-API calls on {KEYS:?}: {w}"))),
        }
    }
}

/// One call through `target`, under a deadline. `Err((code, message))` for a failed call,
/// `Err((Unknown, …))` for a timeout.
async fn call_once(target: &str, op: Op) -> Result<proto::ControlReply, (tonic::Code, String)> {
    let req = proto::ControlRequest { hops: 0, op: Some(op), dry_run: false };
    let fut = async {
        let ch = shoal_core::node::raft::network::channel(target).map_err(|e| (tonic::Code::Unavailable, e.to_string()))?;
        let mut c = proto::control_client::ControlClient::new(ch);
        c.call(req).await.map(|r| r.into_inner()).map_err(|s| (s.code(), s.message().to_string()))
    };
    match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, fut).await {
        Ok(r) => r,
        Err(_) => Err((tonic::Code::DeadlineExceeded, "timed out".into())),
    }
}

/// The recorded outcome of `input` given the reply. Only answers that say what happened are
/// known: success, NotFound and AlreadyExists. Aborted (refused at apply, out of sequence),
/// InvalidArgument and FailedPrecondition (refused before proposing) had no effect. Anything
/// else — Unavailable, a timeout, a lost connection — may have taken effect: unknown.
fn outcome(input: &ObjectInput, reply: &Result<proto::ControlReply, (tonic::Code, String)>) -> Outcome {
    use tonic::Code;
    match reply {
        Ok(r) => match input {
            ObjectInput::Get(k) => {
                let objs: Vec<Object> = serde_json::from_slice(&r.objects).unwrap_or_default();
                let v = objs.iter().find_map(|o| match o {
                    Object::Service(s) if s.spec.annotations.name == *k => Some(s.spec.task.container.image.clone()),
                    _ => None,
                });
                Outcome::Known(Some(ObjectOutput::Value(v)))
            }
            _ => Outcome::Known(Some(ObjectOutput::Ok)),
        },
        Err((Code::NotFound, _)) => match input {
            ObjectInput::Get(_) => Outcome::Known(Some(ObjectOutput::Value(None))),
            _ => Outcome::Known(Some(ObjectOutput::NotFound)),
        },
        Err((Code::AlreadyExists, _)) => Outcome::Known(Some(ObjectOutput::Exists)),
        Err((Code::Aborted | Code::InvalidArgument | Code::FailedPrecondition, _)) => Outcome::NoEffect,
        Err(_) => Outcome::Known(None),
    }
}

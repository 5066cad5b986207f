//! The `Control` gRPC service (shell): the operator's API. A follower forwards the whole
//! request to the leader (at most `MAX_HOPS`); the leader holds the control lock while it
//! validates against its committed state and proposes, so two control writes never validate
//! against the same state (no duplicate names or ports slip through concurrently).

use super::{Manager, RequestError};
use crate::control::{self, ControlError, PayloadKind};
use crate::model::{Kind, Object};
use crate::orchestrator::IdGen;
use crate::proto::control_request::Op;
use crate::proto::{control_client::ControlClient, control_server, ControlReply, ControlRequest};
use crate::store::{Action, Transaction};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// How many times the leader re-applies a control write that raced its own passes.
const MAX_CONTROL_RETRIES: u32 = 5;

pub struct ControlService {
    pub node: Arc<Manager>,
}

impl From<ControlError> for Status {
    fn from(e: ControlError) -> Status {
        match e {
            ControlError::InvalidArgument(m) => Status::invalid_argument(m),
            ControlError::NotFound(m) => Status::not_found(m),
            ControlError::AlreadyExists(m) => Status::already_exists(m),
            ControlError::FailedPrecondition(m) => Status::failed_precondition(m),
            // gRPC's code for a read-modify-write that lost a race.
            ControlError::OutOfSequence(m) => Status::aborted(m),
        }
    }
}

impl crate::cli::CallError {
    /// A failed control call as a client acts on it: by the status's code, never its text;
    /// `message` is how the client words it.
    pub fn of_status(s: &Status, message: String) -> crate::cli::CallError {
        use crate::cli::CallFailure as F;
        let kind = match s.code() {
            tonic::Code::Aborted => F::Raced,
            tonic::Code::NotFound => F::NotFound,
            tonic::Code::AlreadyExists => F::AlreadyExists,
            _ => F::Other,
        };
        crate::cli::CallError { kind, message }
    }
}

/// An object as reads return it: a secret's data never leaves the managers except to the
/// nodes whose tasks use it (docker's `secret inspect` shows no data either).
fn readable(o: &Object) -> Object {
    match o {
        Object::Secret(s) => {
            let mut s = s.clone();
            s.spec.data.clear();
            Object::Secret(s)
        }
        o => o.clone(),
    }
}

fn parse_kinds(names: &[String]) -> Result<Vec<Kind>, Status> {
    names
        .iter()
        .map(|n| {
            Kind::ALL
                .into_iter()
                .find(|k| k.as_str() == n)
                .ok_or_else(|| Status::invalid_argument(format!("unknown table {n:?}: use service, task, node, secret, config, network or cluster")))
        })
        .collect()
}

/// Every object of `kinds`, secrets without their data.
fn tables(s: &crate::store::Store, kinds: &[Kind]) -> Vec<Object> {
    kinds
        .iter()
        .flat_map(|k| s.list(*k))
        .map(readable)
        .collect()
}

fn objects(v: Vec<Object>) -> Vec<u8> {
    serde_json::to_vec(&v).expect("objects serialise")
}

impl Manager {
    /// Serves one control request on the leader, or forwards it there.
    pub async fn control(&self, req: ControlRequest) -> Result<ControlReply, Status> {
        if !self.is_leader() {
            let addr = self.forward_target(None, req.hops)?;
            let ch = crate::node::raft::network::channel(&addr).map_err(|e| Status::unavailable(e.to_string()))?;
            let mut c = ControlClient::new(ch).max_decoding_message_size(super::CONTROL_REPLY_BYTES_MAX);
            let fwd = ControlRequest { hops: req.hops + 1, ..req };
            // The leader's status passes through unchanged (NotFound stays NotFound).
            return match tokio::time::timeout(super::REQUEST_TIMEOUT, c.call(fwd)).await {
                Err(_) => Err(RequestError::Timeout(super::REQUEST_TIMEOUT).into()),
                Ok(r) => r.map(Response::into_inner),
            };
        }
        let op = req.op.ok_or_else(|| Status::invalid_argument("empty control request: set an operation"))?;
        if let Op::ReadTables(r) = &op {
            // A read: no control lock, a barrier is enough.
            let kinds = parse_kinds(&r.kinds)?;
            self.read_barrier().await?;
            let (index, _) = self.state.applied();
            let list = self.state.with_store(|s| tables(s, &kinds));
            return Ok(ControlReply { index, objects: objects(list), ..Default::default() });
        }
        // A write computed from the store may race the leader's own passes on the same object
        // (a node's heartbeat status, a service's update status) and be refused at apply as
        // out of sequence. The server re-reads and applies it again, a bounded number of
        // times; a client's own version (update with --version) is the client's to retry.
        let own_version = |op: &Op| {
            matches!(op, Op::UpdateService(u) if u.version != 0)
                || matches!(op, Op::UpdateNode(u) if u.version != 0)
                || matches!(op, Op::UpdateSecret(u) | Op::UpdateConfig(u) if u.version != 0)
        };
        if req.dry_run && !crate::cli::is_read(&op) {
            // A plan writes nothing: it needs fresh state, not the writers' lock (a long plan
            // must not hold up writes). One write sent with the flag is a one-write plan.
            let p = match op {
                Op::PlanWrites(p) => p,
                write => crate::proto::PlanWrites { writes: vec![ControlRequest { hops: 0, op: Some(write), dry_run: false }] },
            };
            let own = p.writes.iter().filter_map(|w| w.op.as_ref()).any(own_version);
            // One plan at a time: a plan is CPU-bound work on this thread, bounded by the
            // plan's own budget (core/src/plan), and must not take every worker thread.
            let _one = self.plan_lock.lock().await;
            self.read_barrier().await?;
            let mut attempt = 0;
            loop {
                match self.plan_writes(p.clone()) {
                    Err(s) if s.code() == tonic::Code::Aborted && !own && attempt < MAX_CONTROL_RETRIES => attempt += 1,
                    r => return r,
                }
            }
        }
        if let Op::PlanWrites(_) = op {
            return Err(Status::invalid_argument("plan_writes is a dry run: send it with dry_run set"));
        }
        let _guard = self.control_write_lock().await?;
        let own_version = own_version(&op);
        let mut attempt = 0;
        loop {
            match self.control_locked(op.clone()).await {
                Err(s) if s.code() == tonic::Code::Aborted && !own_version && attempt < MAX_CONTROL_RETRIES => attempt += 1,
                r => return r,
            }
        }
    }

    /// One control request on the leader, under the control lock.
    async fn control_locked(&self, op: Op) -> Result<ControlReply, Status> {
        let op = self.with_leader_secrets(op)?;
        let seed = self.fresh_seed();
        let Some((actions, id)) = self.state.with_store(|s| control::write_actions(s, &op, &mut IdGen::new(seed), seed))? else {
            return self.control_read(op);
        };
        let index = self.commit_control(actions).await?;
        Ok(ControlReply { index, id, ..Default::default() })
    }

    /// What only the leader's runtime makes, never taken from a caller: the new root of `swarm
    /// ca --rotate` (cross-signed with the current root's key from the store), and the OS's
    /// randomness for a new join token.
    fn with_leader_secrets(&self, op: Op) -> Result<Op, Status> {
        if let Op::RotateJoinToken(mut r) = op {
            r.token_seed = match &self.cert_signer {
                Some(signer) => signer.token_seed().map_err(|e| Status::internal(format!("cannot draw a new join token: {e}")))?.to_vec(),
                None => Vec::new(),
            };
            return Ok(Op::RotateJoinToken(r));
        }
        let Op::UpdateCluster(mut u) = op else { return Ok(op) };
        u.new_root_ca = None;
        if u.rotate_ca {
            if let Some(signer) = &self.cert_signer {
                let root = self.state.with_store(|s| control::cluster(s).map(|c| c.root_ca.clone()))?;
                let n = signer.new_root(&root).map_err(|e| Status::internal(format!("cannot make a new root CA: {e}")))?;
                u.new_root_ca = Some(crate::proto::NewRootCa {
                    ca_cert_pem: n.ca_cert_pem,
                    ca_key_pem: n.ca_key_pem,
                    cross_signed_pem: n.cross_signed_pem,
                    issuer_subject: n.issuer.subject,
                    issuer_public_key: n.issuer.public_key,
                    digest: n.digest,
                    signed_by_pem: n.signed_by_pem,
                    token_seed: n.token_seed.to_vec(),
                });
            }
        }
        Ok(Op::UpdateCluster(u))
    }

    /// A control read, answered from this leader's committed store.
    fn control_read(&self, op: Op) -> Result<ControlReply, Status> {
        let st = &self.state;
        let reply = |list: Vec<Object>| Ok(ControlReply { objects: objects(list), ..Default::default() });
        match op {
            Op::GetSecret(k) => reply(vec![st.with_store(|s| control::find_payload(s, PayloadKind::Secret, &k.key).map(readable))?]),
            Op::GetConfig(k) => reply(vec![st.with_store(|s| control::find_payload(s, PayloadKind::Config, &k.key).map(readable))?]),
            Op::ListSecrets(_) => reply(st.with_store(|s| tables(s, &[Kind::Secret]))),
            Op::ListConfigs(_) => reply(st.with_store(|s| tables(s, &[Kind::Config]))),
            Op::GetNetwork(k) => reply(vec![st.with_store(|s| control::find_network(s, &k.key).map(|n| Object::Network(n.clone())))?]),
            Op::ListNetworks(_) => reply(st.with_store(|s| s.list(Kind::Network).cloned().collect())),
            Op::GetService(k) => reply(vec![st.with_store(|s| control::find_service(s, &k.key).map(|x| Object::Service(x.clone())))?]),
            Op::GetNode(k) => reply(vec![st.with_store(|s| control::find_node(s, &k.key).map(|x| Object::Node(x.clone())))?]),
            Op::GetTask(k) => reply(vec![st.get(Kind::Task, &k.key).ok_or_else(|| Status::not_found(format!("task {} not found", k.key)))?]),
            Op::ListServices(l) => {
                let (list, statuses) = st.with_store(|s| {
                    let statuses = if l.status {
                        crate::engine_api::query::service_statuses(s)
                            .into_iter()
                            .map(|(id, c)| crate::proto::ServiceStatus {
                                service_id: id.to_string(),
                                running_tasks: c.running_tasks,
                                desired_tasks: c.desired_tasks,
                                completed_tasks: c.completed_tasks,
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    (s.list(Kind::Service).cloned().collect(), statuses)
                });
                Ok(ControlReply { objects: objects(list), statuses, ..Default::default() })
            }
            Op::ListNodes(_) => reply(st.with_store(|s| s.list(Kind::Node).cloned().collect())),
            Op::GetCluster(_) => reply(st.with_store(|s| s.list(Kind::Cluster).cloned().collect())),
            Op::ListTasks(f) => {
                let list = st.with_store(|s| -> Result<Vec<Object>, ControlError> {
                    let service = if f.service.is_empty() { None } else { Some(control::find_service(s, &f.service)?.id.clone()) };
                    let node = if f.node.is_empty() { None } else { Some(control::find_node(s, &f.node)?.id.clone()) };
                    Ok(s.list(Kind::Task)
                        .filter(|o| match o {
                            Object::Task(t) => {
                                service.as_ref().is_none_or(|x| *x == t.service_id) && node.as_ref().is_none_or(|x| *x == t.node_id)
                            }
                            _ => false,
                        })
                        .cloned()
                        .collect())
                })?;
                reply(list)
            }
            // ReadTables is answered before the control lock; writes never come here.
            op => Err(Status::internal(format!("{op:?} reached the read path: a bug; please report it"))),
        }
    }

    /// Writes planned as one (a `--dry-run`, `stack deploy --dry-run`): each write's actions
    /// are made against a copy as the writes before it left it (a service may use a network
    /// created just before), then the whole is planned from the committed state, write by
    /// write (core/src/plan). A write that would be refused fails the plan with its own
    /// error, naming which write it was when there are several. A copy that moved on since
    /// the actions were made answers Aborted, which the caller retries.
    fn plan_writes(&self, p: crate::proto::PlanWrites) -> Result<ControlReply, Status> {
        const WRITES_MAX: usize = 1_000;
        if p.writes.len() > WRITES_MAX {
            return Err(Status::invalid_argument(format!("{} writes in one plan: plan at most {WRITES_MAX}", p.writes.len())));
        }
        let several = p.writes.len() > 1;
        let which = |k: usize, e: Status| if several { Status::new(e.code(), format!("write {} of the plan: {}", k + 1, e.message())) } else { e };
        let original = self.state.with_store(|s| s.clone());
        let mut copy = original.clone();
        let now_ms = super::leader::wall_ms();
        let seed = self.fresh_seed();
        let mut ids = IdGen::new(seed);
        let mut writes = Vec::with_capacity(p.writes.len());
        for (k, w) in p.writes.into_iter().enumerate() {
            let op = w.op.ok_or_else(|| which(k, Status::invalid_argument("an empty write: set an operation")))?;
            if matches!(op, Op::PlanWrites(_)) {
                return Err(which(k, Status::invalid_argument("a plan inside a plan: send the writes themselves")));
            }
            let Some((actions, _)) = control::write_actions(&copy, &op, &mut ids, seed.wrapping_add(k as u64)).map_err(|e| which(k, e.into()))? else {
                return Err(which(k, Status::invalid_argument("a read: plan writes only")));
            };
            for txn in crate::store::batches(now_ms, actions.clone()) {
                let i = copy.last_index() + 1;
                copy.apply(i, &txn).map_err(|e| which(k, Status::aborted(format!("the write does not apply: {e}; retry"))))?;
            }
            writes.push(actions);
        }
        drop(copy);
        match crate::plan::plan_writes(original, writes, now_ms, seed) {
            Ok(p) => Ok(ControlReply { plan: Some(p.into()), ..Default::default() }),
            Err(e @ crate::plan::PlanError::Change(_)) => Err(Status::aborted(e.to_string())),
            Err(e) => Err(Status::internal(e.to_string())),
        }
    }

    /// A linearizable read of whole tables (the Engine API's lists): on the leader `f` runs
    /// over its own store once a barrier confirmed it leads and applied everything committed;
    /// elsewhere the leader sends the tables of `kinds` (secrets without data) and `f` runs
    /// over a store made of them. Either way `f` sees one committed state.
    pub async fn read_tables<R>(&self, kinds: &[Kind], f: impl FnOnce(&crate::store::Store) -> R) -> Result<R, Status> {
        if self.is_leader() && self.read_barrier().await.is_ok() {
            return Ok(self.state.with_store(f));
        }
        let op = Op::ReadTables(crate::proto::ReadTables { kinds: kinds.iter().map(|k| k.as_str().to_string()).collect() });
        let reply = self.control(ControlRequest { hops: 0, op: Some(op), dry_run: false }).await?;
        let list: Vec<Object> =
            serde_json::from_slice(&reply.objects).map_err(|e| Status::internal(format!("the leader's tables did not decode: {e}")))?;
        let store = crate::store::Store::from_objects(reply.index, list)
            .map_err(|e| Status::internal(format!("the leader's tables are inconsistent: {e}")))?;
        Ok(f(&store))
    }

    /// A linearizable barrier within the request timeout: returns once this leader applied
    /// everything committed before.
    pub(super) async fn read_barrier(&self) -> Result<(), Status> {
        match tokio::time::timeout(super::REQUEST_TIMEOUT, self.linearizable_barrier()).await {
            Err(_) => Err(RequestError::Timeout(super::REQUEST_TIMEOUT).into()),
            Ok(r) => r.map_err(|e| Status::unavailable(e.to_string())),
        }
    }

    /// On the leader: the lock that serialises control writes, taken once everything committed
    /// before is applied here (so validation sees it).
    pub(super) async fn control_write_lock(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, Status> {
        let guard = self.control_lock.lock().await;
        self.write_barrier().await?;
        Ok(guard)
    }

    /// What [`Manager::control_write_lock`] does once it holds the lock: wait (bounded) until
    /// this manager applied everything committed before, so a write decides on fresh state.
    pub(super) async fn write_barrier(&self) -> Result<(), Status> {
        tokio::time::timeout(super::REQUEST_TIMEOUT, self.linearizable_barrier())
            .await
            .map_err(|_| Status::from(RequestError::Timeout(super::REQUEST_TIMEOUT)))?
            .map_err(|e| Status::unavailable(e.to_string()))
    }

    /// Proposes a control write's actions (under the control lock); the raft index, 0 if none.
    pub(super) async fn commit_control(&self, actions: Vec<Action>) -> Result<u64, Status> {
        if actions.is_empty() {
            return Ok(0);
        }
        let r = self
            .propose(Transaction { timestamp_ms: super::leader::wall_ms(), actions }, super::MAX_HOPS)
            .await
            .map_err(Status::from)?;
        if let Some(e) = r.error {
            return Err(Status::aborted(format!("{e}; retry")));
        }
        Ok(r.index)
    }

    /// A seed for ids and secrets made on the leader: differs per write (applied index), per
    /// manager and per moment, and is reproducible under the simulator (virtual time).
    pub(super) fn fresh_seed(&self) -> u64 {
        self.state.applied().0 ^ self.id.rotate_left(48) ^ super::leader::wall_ms().rotate_left(16)
    }
}

#[tonic::async_trait]
impl control_server::Control for ControlService {
    async fn call(&self, request: Request<ControlRequest>) -> Result<Response<ControlReply>, Status> {
        self.node.control(request.into_inner()).await.map(Response::new)
    }
}

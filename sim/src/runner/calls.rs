//! What the runner asks of the swarm through its APIs, as the `shoal` CLI would: control calls
//! (with the read-modify-write retries a client makes), joins with the current tokens,
//! promote and demote, `service logs`.

use super::*;
use shoal_core::ca::unlock_key::UnlockKey;

impl Run {
    /// The spec of the service named `name`, read through the control API.
    pub(super) async fn service_spec(&self, name: &str) -> Option<shoal_core::model::ServiceSpec> {
        let r = self.control(Op::GetService(proto::ObjectKey { key: name.to_string() })).await.ok()?;
        match serde_json::from_slice::<Vec<Object>>(&r.objects).ok()?.into_iter().next() {
            Some(Object::Service(s)) => Some(s.spec),
            _ => None,
        }
    }

    /// The current join token of a role, read through the control API.
    pub(super) async fn join_token(&self, manager: bool) -> Result<String, String> {
        let r = self.control(Op::GetCluster(proto::ListObjects::default())).await?;
        let objs: Vec<Object> = serde_json::from_slice(&r.objects).map_err(|e| e.to_string())?;
        match objs.into_iter().next() {
            Some(Object::Cluster(c)) if manager => Ok(c.root_ca.join_token_manager),
            Some(Object::Cluster(c)) => Ok(c.root_ca.join_token_worker),
            _ => Err("the swarm has no cluster object yet".into()),
        }
    }

    /// `node add` / `swarm join`: the machine joins with the current token of its role (or the
    /// one given); the step waits for the swarm's answer, so a refused token is its error. A
    /// token the step fetched itself that the swarm replaced meanwhile (a root rotation ended,
    /// which moves the join tokens) is fetched again, once, as an operator would.
    pub(super) async fn join(&self, name: &str, join: &JoinOptions) -> Result<(), String> {
        let Some(given) = &join.token else {
            let token = self.join_token(join.manager).await?;
            let first = self.join_with(name, token.clone()).await;
            if first.is_err() {
                let now = self.join_token(join.manager).await?;
                if now != token {
                    tracing::info!(target: "shoal::step", node = "runner", "{name}: the join token changed meanwhile; joining with the new one");
                    return self.join_with(name, now).await;
                }
            }
            return first;
        };
        self.join_with(name, given.clone()).await
    }

    /// One join of machine `name` with `token`, waited for.
    async fn join_with(&self, name: &str, token: String) -> Result<(), String> {
        let identity = {
            let mut c = self.cluster.lock().unwrap();
            let i = c.index_of(name).ok_or_else(|| format!("no node {name}"))?;
            c.join(i, token)?;
            c.nodes[i].identity.clone()
        };
        let deadline = tokio::time::Instant::now() + shoal_core::node::agent::JOIN_DEADLINE + Duration::from_secs(5);
        while tokio::time::Instant::now() < deadline {
            if let Some(r) = identity.take_join_result() {
                return r.map(|id| {
                    tracing::info!(target: "shoal::step", node = "runner", "{name} joined as node {id}");
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(format!("{name} did not finish joining (crashed meanwhile?)"))
    }

    /// A node's store key: the id the simulated machine registers with.
    pub(super) fn node_key(&self, name: &str) -> String {
        let c = self.cluster.lock().unwrap();
        c.index_of(name).and_then(|i| c.nodes[i].identity.known_id()).unwrap_or_else(|| name.to_string())
    }

    /// One control-API call from the client machine to a live manager (which forwards to the
    /// leader). Retried, bounded, while no leader answers; any other error is the step's error.
    pub(super) async fn control(&self, op: Op) -> Result<proto::ControlReply, String> {
        self.control_retried(op).await.0.map_err(|e| e.message)
    }

    /// `service logs [-f] [--tail N] SERVICE`: asks the managers in turn until one answers,
    /// and keeps every line received (traced, and for `logs contain`). Without `-f` the step
    /// ends with the stream; with it the stream runs on in the background until the run ends.
    pub(super) async fn service_logs(&self, l: &shoal_core::cli::ServiceLogs) -> Result<(), String> {
        let managers = self.cluster.lock().unwrap().manager_addrs();
        let req = l.request();
        let keep = l.since_filter(shoal_core::node::clock::wall_ms())?;
        let sink = self.logs.clone();
        let call = async move {
            let mut last = String::from("no manager");
            for target in managers {
                let ch = shoal_core::node::raft::network::channel(&target).map_err(|e| e.to_string())?;
                let mut c = proto::logs_client::LogsClient::new(ch);
                let mut stream = match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT, c.service_logs(req.clone())).await {
                    Ok(Ok(r)) => r.into_inner(),
                    Ok(Err(s)) if matches!(s.code(), tonic::Code::NotFound | tonic::Code::InvalidArgument) => {
                        return Err(format!("{:?}: {}", s.code(), s.message()));
                    }
                    Ok(Err(s)) => {
                        last = format!("{target}: {}", s.message());
                        continue;
                    }
                    Err(_) => {
                        last = format!("{target}: timed out");
                        continue;
                    }
                };
                while let Ok(Some(batch)) = stream.message().await {
                    if !batch.warning.is_empty() {
                        tracing::info!(target: "shoal::step", node = "runner", "logs warning: {}", batch.warning);
                    }
                    for line in batch.lines.iter().filter(|x| keep(x)) {
                        let text = format!("{} | {}", shoal_core::node::logs::context(line, false, true), String::from_utf8_lossy(&line.data));
                        tracing::info!(target: "shoal::step", node = "runner", "logs: {text}");
                        sink.lock().unwrap().push(text);
                    }
                }
                return Ok(());
            }
            Err(last)
        };
        let fut = self.client_node.spawn(call);
        if l.follow {
            return Ok(());
        }
        fut.await.map_err(|e| e.to_string())?
    }

    /// [`Run::control`], also saying whether an earlier attempt's outcome was unknown (it timed
    /// out or lost its manager, so it may have been applied): a retried `service rm` that
    /// finds nothing, or a retried create that finds its own spec, is that attempt's success.
    pub(super) async fn control_retried(&self, op: Op) -> (Result<proto::ControlReply, CallError>, bool) {
        self.control_retried_as(op, false).await
    }

    /// [`Run::control_retried`], or with `dry_run` the write's plan instead of the write.
    pub(super) async fn control_retried_as(&self, op: Op, dry_run: bool) -> (Result<proto::ControlReply, CallError>, bool) {
        let managers = self.cluster.lock().unwrap().manager_addrs();
        let mut last = String::new();
        let mut unknown = false;
        for attempt in 0..20 {
            let target = managers[attempt % managers.len()].clone();
            // A dry run's write goes inside a PlanWrites (shoal_core::cli::dry_run_request).
            let req = if dry_run { shoal_core::cli::dry_run_request(op.clone()) } else { proto::ControlRequest { hops: 0, op: Some(op.clone()), dry_run: false } };
            let call = async move {
                let ch = shoal_core::node::raft::network::channel(&target).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let mut c = proto::control_client::ControlClient::new(ch);
                c.call(req).await.map(|r| r.into_inner())
            };
            let from = self.call_from.lock().unwrap().clone().unwrap_or_else(|| self.client_node.clone());
            let fut = from.spawn(call);
            match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, fut).await {
                Ok(Ok(Ok(reply))) => return (Ok(reply), unknown),
                Ok(Ok(Err(s))) => {
                    let (code, msg) = (s.code(), s.message());
                    if !matches!(code, tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown) {
                        return (Err(CallError::of_status(&s, format!("{code:?}: {msg}"))), unknown);
                    }
                    // Unavailable may come from a proposal that timed out after it was
                    // appended: its outcome is unknown too.
                    unknown = true;
                    last = format!("{code:?}: {msg}");
                }
                Ok(Err(e)) => {
                    unknown = true;
                    last = e.to_string();
                }
                Err(_) => {
                    unknown = true;
                    last = "timed out".into();
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        (Err(CallError::other(format!("no manager answered: {last}"))), unknown)
    }


    /// A `do` step, its control calls leaving from machine `from` when given.
    pub(super) async fn do_cmd_from(&mut self, cmd: &DoCmd, from: Option<&str>) -> Result<(), String> {
        let handle = match from {
            Some(name) => {
                let c = self.cluster.lock().unwrap();
                Some(c.index_of(name).map(|i| c.nodes[i].handle()).ok_or_else(|| format!("no node {name}"))?)
            }
            None => None,
        };
        *self.call_from.lock().unwrap() = handle;
        let r = self.do_cmd(cmd).await;
        *self.call_from.lock().unwrap() = None;
        r
    }

    /// `node promote|demote NAME`. Where the scenario models certificates, as production's
    /// CLI does it: a promotion tells the swarm it wants the node as a manager (the node renews
    /// its certificate for the role, then joins the raft itself: it cannot serve raft with a
    /// worker's certificate); a demotion takes it out of the raft first, then tells the swarm
    /// it wants a worker (the node renews again). Without certificates the raft membership
    /// changes and the leader's pass records the role.
    pub(super) async fn membership(&self, name: &str, add: bool) -> Result<(), String> {
        let certificates = self.cluster.lock().unwrap().pki.is_some();
        if !(certificates && add) {
            self.raft_membership(name, add).await?;
        }
        if certificates {
            let role = if add { "manager" } else { "worker" };
            let op = Op::UpdateNode(proto::UpdateNode { node: self.node_key(name), role: role.into(), ..Default::default() });
            self.control(op).await?;
        }
        Ok(())
    }

    /// The raft half of `node promote|demote NAME` through the control plane: sent to a live
    /// manager, which forwards to the leader. Retried (bounded) while there is no leader.
    async fn raft_membership(&self, name: &str, add: bool) -> Result<(), String> {
        let (raft_id, addr, managers) = {
            let c = self.cluster.lock().unwrap();
            let i = c.index_of(name).ok_or_else(|| format!("no node {name}"))?;
            // The member id the swarm knows the node by (after a forced leave, the machine's
            // old one), else the machine's own.
            let known = c.nodes[i].identity.known_id().and_then(|id| {
                c.with_best_store(|s| match s.get(Kind::Node, &id) {
                    Some(Object::Node(n)) if n.raft_id != 0 => Some(n.raft_id),
                    _ => None,
                })
                .flatten()
            });
            (known.unwrap_or(c.nodes[i].raft_id), c.nodes[i].addr.clone(), c.manager_addrs())
        };
        let mut last = String::new();
        for attempt in 0..10 {
            let target = managers[attempt % managers.len()].clone();
            let req = shoal_core::proto::MembershipRequest { node_id: raft_id, addr: addr.clone(), hops: 0 };
            let call = async move {
                let ch = shoal_core::node::raft::network::channel(&target).map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                let mut c = shoal_core::proto::manager_client::ManagerClient::new(ch);
                let r = if add { c.add_manager(req).await } else { c.remove_manager(req).await };
                r.map(|r| r.into_inner().index)
            };
            let fut = self.client_node.spawn(call);
            match tokio::time::timeout(shoal_core::node::REQUEST_TIMEOUT * 2, fut).await {
                Ok(Ok(Ok(index))) => {
                    tracing::info!(target: "shoal::step", node = "runner", index, "{} {name} committed", if add { "promote" } else { "demote" });
                    return Ok(());
                }
                // Refused (not a retryable outage): the reason is the step's error.
                Ok(Ok(Err(s))) if s.code() == tonic::Code::InvalidArgument => {
                    return Err(format!("{} {name} refused: {:?}: {}", if add { "promote" } else { "demote" }, s.code(), s.message()))
                }
                Ok(Ok(Err(s))) => last = format!("{:?}: {}", s.code(), s.message()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "timed out".into(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(format!("{} {name} failed: {last}", if add { "promote" } else { "demote" }))
    }
}

impl Run {
    /// A fresh unlock key from the seed (the n-th of the run), as the CLI draws one from the OS.
    pub(super) fn draw_unlock_key(&self) -> UnlockKey {
        let n = self.unlock_keys.lock().unwrap().len() as u64;
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(self.seed ^ 0x756e_6c6f_636b ^ n.rotate_left(40));
        UnlockKey::from_bytes(rand::Rng::gen(&mut rng))
    }

    /// After an autolock or rotation step: the key the swarm holds now goes into the
    /// operator's record (what `unlock-key` would print).
    pub(super) async fn record_unlock_key(&self) -> Result<(), String> {
        let r = self.control(Op::GetCluster(proto::ListObjects::default())).await?;
        let objs: Vec<Object> = serde_json::from_slice(&r.objects).map_err(|e| e.to_string())?;
        let Some(Object::Cluster(c)) = objs.into_iter().next() else { return Err("the swarm has no cluster object yet".into()) };
        if c.unlock_key.is_empty() {
            return Ok(());
        }
        let key = UnlockKey::parse(c.unlock_key.as_str()).map_err(|e| format!("the swarm's unlock key: {e}"))?;
        let mut keys = self.unlock_keys.lock().unwrap();
        if keys.last() != Some(&key) {
            tracing::info!(target: "shoal::step", node = "runner", "unlock key #{} recorded", keys.len() + 1);
            keys.push(key);
        }
        Ok(())
    }

    /// `swarm unlock NAME [--key previous]`.
    pub(super) async fn unlock(&self, name: &str, previous: bool) -> Result<(), String> {
        unlock_machine(&self.cluster, &self.unlock_keys, name, previous).await
    }
}

/// `[sim] operator_unlock_ms`: every half second of virtual time, each machine locked for
/// `after_ms` or more is unlocked as `swarm unlock NAME` would (newest key first).
pub(super) async fn operator_unlocks(cluster: Arc<Mutex<Cluster>>, keys: Arc<Mutex<Vec<UnlockKey>>>, after_ms: u64) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let due: Vec<String> = {
            let c = cluster.lock().unwrap();
            let now = crate::trace::now_ms();
            c.nodes
                .iter()
                .filter(|n| n.up && { let l = n.lock_state(); let l = l.lock().unwrap(); l.locked && now >= l.locked_at_ms + after_ms })
                .map(|n| n.name.clone())
                .collect()
        };
        for name in due {
            if let Err(e) = unlock_machine(&cluster, &keys, &name, false).await {
                tracing::info!(target: "shoal::step", node = "operator", "{e}");
            }
        }
    }
}

/// Offers the locked manager of machine `name` the recorded keys in turn (only the one before
/// the newest with `previous`) and waits (virtual time) for each verdict.
async fn unlock_machine(cluster: &Mutex<Cluster>, unlock_keys: &Mutex<Vec<UnlockKey>>, name: &str, previous: bool) -> Result<(), String> {
    let lock = {
        let c = cluster.lock().unwrap();
        let i = c.index_of(name).ok_or_else(|| format!("no node {name}"))?;
        c.nodes[i].lock_state()
    };
    if !lock.lock().unwrap().locked {
        return Err(format!("{name}: {}", shoal_core::node::local::NOT_LOCKED));
    }
    let keys: Vec<UnlockKey> = {
        let all = unlock_keys.lock().unwrap();
        let newest_first = all.iter().rev().cloned();
        if previous { newest_first.skip(1).take(1).collect() } else { newest_first.collect() }
    };
    if keys.is_empty() {
        return Err(format!("{name} is locked but the scenario recorded no such unlock key (turn autolock on with a step first)"));
    }
    for key in keys {
        let refused_before = {
            let mut l = lock.lock().unwrap();
            l.offered = Some(key);
            l.refused
        };
        // The machine polls for an offer every 100 ms; opening its disk takes no time.
        for _ in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let l = lock.lock().unwrap();
            if !l.locked {
                tracing::info!(target: "shoal::step", node = %name, "unlocked");
                return Ok(());
            }
            if l.refused > refused_before {
                break;
            }
        }
        // Not taken (the machine is down): withdrawn, so no later restart opens with it.
        lock.lock().unwrap().offered = None;
    }
    Err(format!("{name}: swarm could not be unlocked: invalid key provided"))
}

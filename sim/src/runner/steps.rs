//! `do = "…"` steps: loads, control commands in the `shoal` CLI's grammar (services, nodes,
//! secrets, configs, networks, stacks, the swarm), joins and leaves, each through the
//! control API from the client machine.

use super::*;

impl Run {
    pub(super) async fn do_cmd(&mut self, cmd: &DoCmd) -> Result<(), String> {
        match cmd {
            DoCmd::Control(c) if c.dry_run() => self.plan_step(c).await,
            DoCmd::LoadWrites { per_sec, to, read_back } => {
                if let Some(l) = self.load.take() {
                    l.stop();
                }
                self.checkers.with_acked(|a| a.reset_load_counter());
                let managers = match to {
                    None => self.cluster.lock().unwrap().manager_addrs(),
                    Some(sel) => {
                        let i = self.resolve_one(sel).await?;
                        vec![self.cluster.lock().unwrap().nodes[i].addr.clone()]
                    }
                };
                let read_every = if *read_back { crate::client::READ_EVERY } else { 0 };
                self.load = Some(LoadClient::start(
                    &self.client_node,
                    managers,
                    *per_sec,
                    read_every,
                    self.checkers.clone(),
                    self.next_write.clone(),
                ));
                Ok(())
            }
            DoCmd::LoadService { service, port, per_sec } => {
                let entries: Vec<String> = {
                    let c = self.cluster.lock().unwrap();
                    c.nodes.iter().filter(|n| n.up).map(|n| n.name.clone()).collect()
                };
                if entries.is_empty() {
                    return Err("no machine is up to send requests to".into());
                }
                let mesh = Arc::new(SimMesh { cluster: self.cluster.clone() });
                self.requests.lock().unwrap().load = Default::default();
                let target = Target::Mesh { mesh, entries, service: service.clone(), port: *port };
                self.traffic.push(TrafficLoad::start(&self.client_node, target, *per_sec, self.requests.clone()));
                Ok(())
            }
            DoCmd::LoadByName { service, from, per_sec } => {
                self.requests.lock().unwrap().load = Default::default();
                let target = Target::ByName { cluster: self.cluster.clone(), service: service.clone(), from: from.clone() };
                self.traffic.push(TrafficLoad::start(&self.client_node, target, *per_sec, self.requests.clone()));
                Ok(())
            }
            DoCmd::LoadControl { per_sec } => {
                if self.control_load.is_some() {
                    return Err("one `load control` per run: its history is checked as one".into());
                }
                let managers = self.cluster.lock().unwrap().manager_addrs();
                self.control_load = Some(crate::control_load::ControlLoad::start(&self.client_node, managers, *per_sec, self.seed));
                Ok(())
            }
            DoCmd::LoadStop { service: None } => {
                self.stop_loads();
                Ok(())
            }
            DoCmd::LoadStop { service: Some(service) } => {
                let (stop, keep) = std::mem::take(&mut self.traffic).into_iter().partition(|t| t.service() == service.as_str());
                self.traffic = keep;
                stop.into_iter().for_each(TrafficLoad::stop);
                Ok(())
            }
            DoCmd::Control(ControlCommand::Node(nc)) => match nc {
                NodeCommand::Promote { nodes } | NodeCommand::Demote { nodes } => {
                    let add = matches!(nc, NodeCommand::Promote { .. });
                    for name in nodes {
                        self.membership(name, add).await?;
                    }
                    Ok(())
                }
                NodeCommand::Update { availability, label_add, label_rm, role, node, .. } => {
                    if let Some(role) = role {
                        self.membership(node, role == "manager").await?;
                        if availability.is_none() && label_add.is_empty() && label_rm.is_empty() {
                            return Ok(());
                        }
                    }
                    let label_add = label_add.iter().map(|l| shoal_core::cli::label_pair(l)).collect();
                    let op = Op::UpdateNode(proto::UpdateNode {
                        node: self.node_key(node),
                        availability: availability.clone().unwrap_or_default(),
                        label_add,
                        label_rm: label_rm.clone(),
                        ..Default::default()
                    });
                    self.control(op).await.map(|_| ())
                }
                NodeCommand::Rm { force, nodes } => {
                    for n in nodes {
                        self.control(Op::RemoveNode(proto::RemoveNode { node: self.node_key(n), force: *force })).await?;
                    }
                    Ok(())
                }
            },
            DoCmd::Control(ControlCommand::Service(sc)) => match sc {
                ServiceCommand::Create(c) => {
                    let want = c.to_spec()?;
                    let spec = serde_json::to_vec(&want).expect("spec serialises");
                    match self.control_retried(Op::CreateService(proto::CreateService { spec })).await.0 {
                        Ok(r) => {
                            tracing::info!(target: "shoal::step", node = "runner", "service {} created: {}", c.name, r.id);
                            Ok(())
                        }
                        // An attempt whose answer was lost (a timeout, a leader change) may have
                        // created it: the same spec under the name, as requested, is that earlier
                        // attempt (explorer seed 8121).
                        Err(e) if e.kind == CallFailure::AlreadyExists && self.service_spec(&c.name).await.is_some_and(|s| {
                            shoal_core::control::as_requested(s) == shoal_core::control::as_requested(want.clone())
                        }) => {
                            tracing::info!(target: "shoal::step", node = "runner", "service {} was created by an earlier attempt", c.name);
                            Ok(())
                        }
                        Err(e) => Err(e.message),
                    }
                }
                ServiceCommand::Update(u) => {
                    let mut m = shoal_core::cli::ServiceUpdater::new(u.clone());
                    while let Some(op) = m.poll_request() {
                        let (reply, _) = self.control_retried(op).await;
                        m.handle_reply(reply);
                    }
                    m.outcome().cloned().unwrap_or(Ok(()))
                }
                ServiceCommand::Scale { pairs, .. } => {
                    for (name, n) in shoal_core::cli::parse_scale_pairs(pairs)? {
                        self.control(Op::ScaleService(proto::ScaleService { service: name, replicas: n })).await?;
                    }
                    Ok(())
                }
                ServiceCommand::Rollback { service, .. } => {
                    self.control(Op::RollbackService(proto::ObjectKey { key: service.clone() })).await.map(|_| ())
                }
                ServiceCommand::Rebalance { .. } => {
                    for (_, op) in shoal_core::cli::plan_requests(&ControlCommand::Service(sc.clone())).expect("a plannable write")? {
                        self.control(op).await?;
                    }
                    Ok(())
                }
                ServiceCommand::Logs(l) => self.service_logs(l).await,
                ServiceCommand::Rm { services, .. } => {
                    self.remove_all("service", services, |key| Op::RemoveService(proto::ObjectKey { key })).await
                }
            },
            DoCmd::NodeAdd { name, join } | DoCmd::SwarmJoin { name, join } => self.join(name, join).await,
            DoCmd::ForceNewCluster { name } => {
                let mut c = self.cluster.lock().unwrap();
                let i = c.index_of(name).ok_or_else(|| format!("no node {name}"))?;
                c.force_new_cluster(i)
            }
            DoCmd::SwarmLeave { name, force } => {
                let mut c = self.cluster.lock().unwrap();
                let i = c.index_of(name).ok_or_else(|| format!("no node {name}"))?;
                c.leave(i, *force)
            }
            // The simulator has no files: `secret create NAME FILE` takes FILE as the content.
            DoCmd::Control(ControlCommand::Secret(pc)) => self.payload_step(PayloadKind::Secret, pc).await,
            DoCmd::Control(ControlCommand::Config(pc)) => self.payload_step(PayloadKind::Config, pc).await,
            DoCmd::Control(ControlCommand::Network(nc)) => self.network_step(nc).await,
            DoCmd::Control(ControlCommand::Stack(sc)) => self.stack_step(sc).await,
            DoCmd::Control(ControlCommand::Swarm(SwarmCommand::Update(u))) => {
                let key = self.draw_unlock_key();
                let op = shoal_core::cli::update_cluster_op(&u.change()?, || key);
                self.control(op).await?;
                self.record_unlock_key().await
            }
            DoCmd::Control(ControlCommand::Swarm(SwarmCommand::UnlockKey { rotate, .. })) => {
                if *rotate {
                    let key = self.draw_unlock_key();
                    let rotate = shoal_core::control::ClusterUpdate { rotate_unlock_key: true, ..Default::default() };
                    self.control(shoal_core::cli::update_cluster_op(&rotate, || key)).await?;
                }
                self.record_unlock_key().await
            }
            DoCmd::SwarmUnlock { name, previous } => self.unlock(name, *previous).await,
            // Where the scenario models certificates the leader makes the new root with the
            // world's signer and nodes renew (sim/src/pki.rs); elsewhere the swarm issues no
            // certificates and a rotation is refused, as the control API says.
            DoCmd::Control(ControlCommand::Swarm(SwarmCommand::Ca(ca))) => match ca.change()? {
                Some(change) => self.control(shoal_core::cli::update_cluster_op(&change, || self.draw_unlock_key())).await.map(drop),
                None => Ok(()),
            },
            DoCmd::Control(ControlCommand::Swarm(SwarmCommand::JoinToken { rotate, role, .. })) => {
                if *rotate {
                    self.control(Op::RotateJoinToken(proto::RotateJoinToken { role: role.clone(), token_seed: Vec::new() })).await?;
                }
                let token = self.join_token(role == "manager").await?;
                tracing::info!(target: "shoal::step", node = "runner", "{role} join token: {token}");
                Ok(())
            }
        }
    }

    /// `network …` steps.
    async fn network_step(&self, cmd: &NetworkCommand) -> Result<(), String> {
        let key = |key: String| proto::ObjectKey { key };
        if let Some(op) = cmd.create_request()? {
            let NetworkCommand::Create { name, .. } = cmd else { unreachable!("only create makes a request") };
            return match self.control_retried(op).await {
                (Ok(r), _) => {
                    tracing::info!(target: "shoal::step", node = "runner", "network {name} created: {}", r.id);
                    Ok(())
                }
                // An attempt whose answer was lost may have created it.
                (Err(e), true) if e.kind == CallFailure::AlreadyExists => Ok(()),
                (Err(e), _) => Err(e.message),
            };
        }
        match cmd {
            NetworkCommand::Create { .. } => unreachable!("answered above"),
            NetworkCommand::Ls(_) => {
                let r = self.control(Op::ListNetworks(proto::ListObjects::default())).await?;
                let objs: Vec<Object> = serde_json::from_slice(&r.objects).map_err(|e| e.to_string())?;
                let names: Vec<&str> = objs.iter().filter_map(|o| o.name()).collect();
                tracing::info!(target: "shoal::step", node = "runner", "networks: {}", names.join(", "));
                Ok(())
            }
            NetworkCommand::Inspect { networks } => {
                for k in networks {
                    self.control(Op::GetNetwork(key(k.clone()))).await?;
                }
                Ok(())
            }
            NetworkCommand::Rm { networks } => self.remove_all("network", networks, |k| Op::RemoveNetwork(key(k))).await,
        }
    }

    /// `stack …` steps: compose files are read from the host (their paths were made relative
    /// to the scenario file when it was loaded); variables come from a `.env` beside the first
    /// file only (never the host's environment, which would make a run depend on the machine).
    pub(super) async fn stack_step(&mut self, cmd: &StackCommand) -> Result<(), String> {
        use shoal_core::stack::deploy::{Deployer, Goal};
        match cmd {
            StackCommand::Deploy { compose_files, prune, name, plan, .. } => {
                let (sources, dir, vars) = stack_sources(compose_files)?;
                let read = |p: &str| std::fs::read(p).map_err(|e| e.to_string());
                let (spec, warnings) = shoal_core::stack::prepare(name, &sources, &dir, &vars, &read).map_err(|e| e.to_string())?;
                for w in warnings {
                    tracing::info!(target: "shoal::step", node = "runner", "stack {name}: {w}");
                }
                let goal = Goal::Deploy { spec, prune: *prune };
                let d = if plan.dry_run { Deployer::dry_run(name, goal) } else { Deployer::new(name, goal) };
                self.drive_stack(d).await
            }
            StackCommand::Rm { names } => {
                for name in names {
                    self.drive_stack(Deployer::new(name, Goal::Remove)).await?;
                }
                Ok(())
            }
            StackCommand::Config { compose_files, skip_interpolation } => {
                let (sources, _, vars) = stack_sources(compose_files)?;
                let loaded = shoal_core::stack::load::load(&sources, (!skip_interpolation).then_some(&vars)).map_err(|e| e.to_string())?;
                tracing::info!(target: "shoal::step", node = "runner", "stack config:\n{}", shoal_core::stack::load::to_yaml(&loaded.file));
                Ok(())
            }
            StackCommand::Ls(_) | StackCommand::Services { .. } | StackCommand::Ps { .. } => {
                let r = self.control(Op::ListServices(proto::ListObjects::default())).await?;
                let objs: Vec<Object> = serde_json::from_slice(&r.objects).map_err(|e| e.to_string())?;
                let services: Vec<shoal_core::model::Service> = objs.into_iter().filter_map(|o| if let Object::Service(s) = o { Some(s) } else { None }).collect();
                let stacks: Vec<String> = shoal_core::stack::deploy::stacks(&services).into_iter().map(|(n, c)| format!("{n} ({c})")).collect();
                tracing::info!(target: "shoal::step", node = "runner", "stacks: {}", stacks.join(", "));
                Ok(())
            }
        }
    }

    /// Sends a stack machine's requests (each retried through an outage) until it is done.
    async fn drive_stack(&mut self, mut d: shoal_core::stack::deploy::Deployer) -> Result<(), String> {
        while let Some(op) = d.poll_request() {
            let (reply, _) = self.control_retried_as(op, d.is_dry_run()).await;
            d.handle_reply(reply);
            while let Some(line) = d.poll_output() {
                tracing::info!(target: "shoal::step", node = "runner", "{line}");
            }
        }
        if let Some(p) = d.plan() {
            plan::trace(p);
            self.plan = Some(p.clone());
        }
        match d.outcome() {
            Some(Err(e)) => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    /// `secret …` / `config …` steps.
    async fn payload_step(&self, kind: PayloadKind, cmd: &PayloadCommand) -> Result<(), String> {
        let noun = kind.noun();
        match cmd {
            PayloadCommand::Create { labels, name, file } => {
                if kind == PayloadKind::Secret {
                    self.secrets.lock().unwrap().push((name.clone(), file.as_bytes().to_vec()));
                }
                let op = PayloadCommand::create_request(kind, name, labels, file.as_bytes().to_vec())?;
                match self.control_retried(op).await {
                    (Ok(r), _) => {
                        tracing::info!(target: "shoal::step", node = "runner", "{noun} {name} created: {}", r.id);
                        Ok(())
                    }
                    // An attempt whose answer was lost may have created it.
                    (Err(e), true) if e.kind == CallFailure::AlreadyExists => {
                        tracing::info!(target: "shoal::step", node = "runner", "{noun} {name} was created by an earlier attempt");
                        Ok(())
                    }
                    (Err(e), _) => Err(e.message),
                }
            }
            PayloadCommand::Ls(_) => {
                let r = self.control(payload_op(kind, PayloadVerb::List)).await?;
                let objs: Vec<Object> = serde_json::from_slice(&r.objects).map_err(|e| e.to_string())?;
                let names: Vec<&str> = objs.iter().filter_map(|o| o.name()).collect();
                tracing::info!(target: "shoal::step", node = "runner", "{noun}s: {}", names.join(", "));
                Ok(())
            }
            PayloadCommand::Inspect { names, .. } => {
                for k in names {
                    self.control(payload_op(kind, PayloadVerb::Get(k.clone()))).await?;
                }
                Ok(())
            }
            PayloadCommand::Rm { names } => {
                self.remove_all(noun, names, |k| payload_op(kind, PayloadVerb::Remove(k))).await
            }
        }
    }

    /// `service rm` / `secret rm` of each name, retried through an outage; NotFound after an
    /// attempt of unknown outcome is that attempt having removed it.
    async fn remove_all(&self, what: &str, names: &[String], op: impl Fn(String) -> Op) -> Result<(), String> {
        for name in names {
            match self.control_retried(op(name.clone())).await {
                (Ok(_), _) => {}
                (Err(e), true) if e.kind == CallFailure::NotFound => {
                    tracing::info!(target: "shoal::step", node = "runner", "{what} {name} was removed by an earlier attempt");
                }
                (Err(e), _) => return Err(e.message),
            }
        }
        Ok(())
    }
}

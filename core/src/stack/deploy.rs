//! `stack deploy` and `stack rm` as a state machine over control requests.
//!
//! The machine first reads what the swarm holds (services, networks, secrets, configs), then
//! plans against it and hands out the plan's requests one at a time. The shell (the `shoal`
//! CLI, the simulator's runner) sends each with its own transport and hands the answer back:
//!
//! ```text
//! while let Some(op) = d.poll_request() { let r = call(op).await; d.handle_reply(r); }
//! ```
//!
//! A redeploy creates what is missing, updates only the services whose spec changed (a
//! rolling update by their update config), and with `prune` removes the stack's services that
//! left the file; networks are never updated (docker's rule). After a failed request the
//! machine reads and plans once more, so a request whose answer was lost (it may have been
//! applied) or a service changed under the update is taken as it now is; a second failure
//! ends the deploy with that error.
//!
//! A dry run ([`Deployer::dry_run`], `stack deploy --dry-run`) reads and plans the same way,
//! then sends every planned write in one `PlanWrites` request (to be sent with `dry_run`): the
//! leader plans them together (core/src/plan) and nothing is written; [`Deployer::plan`] is
//! its answer.

use super::convert::StackSpec;
use super::{StackError, NAMESPACE_LABEL};
use crate::model::{Object, ServiceSpec};
use crate::proto::{self, control_request::Op};
use std::collections::{BTreeMap, VecDeque};

/// What the machine is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Goal {
    Deploy { spec: StackSpec, prune: bool },
    Remove,
}

/// One planned change, with docker's progress line.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub op: Op,
    /// Printed when the step is sent ("Creating service vote_redis"); empty = silent.
    pub line: String,
    /// Names the step in an error ("create service vote_redis").
    pub what: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Reading the n-th of [`READS`].
    Read(usize),
    Run { steps: Vec<Step>, next: usize },
    /// A dry run: every step planned in one request.
    Plan(Vec<Step>),
    Done,
}

const READS: usize = 4;

/// The swarm's objects as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Existing {
    pub services: Vec<crate::model::Service>,
    pub networks: Vec<crate::model::Network>,
    pub secrets: Vec<crate::model::Secret>,
    pub configs: Vec<crate::model::Config>,
}

#[derive(Debug)]
pub struct Deployer {
    stack: String,
    goal: Goal,
    phase: Phase,
    existing: Existing,
    output: VecDeque<String>,
    replanned: bool,
    outcome: Option<Result<(), StackError>>,
    dry_run: bool,
    plan: Option<crate::plan::Plan>,
}

impl Deployer {
    pub fn new(stack: &str, goal: Goal) -> Deployer {
        Deployer {
            stack: stack.to_string(),
            goal,
            phase: Phase::Read(0),
            existing: Existing::default(),
            output: VecDeque::new(),
            replanned: false,
            outcome: None,
            dry_run: false,
            plan: None,
        }
    }

    /// The same machine as a dry run: its requests are to be sent with `dry_run` set.
    pub fn dry_run(stack: &str, goal: Goal) -> Deployer {
        Deployer { dry_run: true, ..Deployer::new(stack, goal) }
    }

    /// Whether this is a dry run (the shell sets `dry_run` on its requests).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// A dry run's plan, once done (None when there was nothing to do).
    pub fn plan(&self) -> Option<&crate::plan::Plan> {
        self.plan.as_ref()
    }

    /// The request to send now; None once the machine is done (see [`Deployer::outcome`]).
    pub fn poll_request(&self) -> Option<Op> {
        let list = proto::ListObjects::default();
        match &self.phase {
            Phase::Read(0) => Some(Op::ListServices(list)),
            Phase::Read(1) => Some(Op::ListNetworks(list)),
            Phase::Read(2) => Some(Op::ListSecrets(list)),
            Phase::Read(_) => Some(Op::ListConfigs(list)),
            Phase::Run { steps, next } => steps.get(*next).map(|s| s.op.clone()),
            Phase::Plan(steps) => Some(Op::PlanWrites(proto::PlanWrites {
                writes: steps.iter().map(|s| proto::ControlRequest { hops: 0, op: Some(s.op.clone()), dry_run: false }).collect(),
            })),
            Phase::Done => None,
        }
    }

    /// The answer to the request [`Deployer::poll_request`] gave (any failed request is
    /// planned again once, whatever its kind).
    pub fn handle_reply(&mut self, reply: Result<proto::ControlReply, crate::cli::CallError>) {
        let reply = reply.map_err(|e| e.message);
        match std::mem::replace(&mut self.phase, Phase::Done) {
            Phase::Read(n) => {
                let objects = match reply.and_then(|r| serde_json::from_slice::<Vec<Object>>(&r.objects).map_err(|e| format!("unreadable answer: {e}"))) {
                    Ok(o) => o,
                    Err(e) => return self.finish(Err(StackError::Control(format!("failed to read the swarm's objects: {e}")))),
                };
                let e = &mut self.existing;
                for o in objects {
                    match o {
                        Object::Service(s) if n == 0 => e.services.push(s),
                        Object::Network(x) if n == 1 => e.networks.push(x),
                        Object::Secret(x) if n == 2 => e.secrets.push(x),
                        Object::Config(x) if n == 3 => e.configs.push(x),
                        _ => {}
                    }
                }
                if n + 1 < READS {
                    self.phase = Phase::Read(n + 1);
                    return;
                }
                match plan(&self.stack, &self.goal, &self.existing) {
                    Err(e) => self.finish(Err(e)),
                    Ok(steps) if steps.is_empty() => {
                        if self.goal == Goal::Remove {
                            self.output.push_back(format!("Nothing found in stack: {}", self.stack));
                        } else if self.dry_run {
                            self.output.push_back(format!("Dry run: stack {} is as the files say; nothing would change.", self.stack));
                        }
                        self.finish(Ok(()))
                    }
                    Ok(steps) if self.dry_run => {
                        self.output.push_back(format!("Dry run of stack {}: these writes would be made (none was):", self.stack));
                        for s in &steps {
                            if !s.line.is_empty() {
                                self.output.push_back(format!("  {}", s.line));
                            }
                        }
                        self.phase = Phase::Plan(steps);
                    }
                    Ok(steps) => {
                        self.start_step(&steps[0]);
                        self.phase = Phase::Run { steps, next: 0 };
                    }
                }
            }
            Phase::Run { steps, next } => match reply {
                Ok(_) if next + 1 < steps.len() => {
                    self.start_step(&steps[next + 1]);
                    self.phase = Phase::Run { steps, next: next + 1 };
                }
                Ok(_) => self.finish(Ok(())),
                Err(_) if !self.replanned => {
                    // Take the swarm as it now is and plan again (see the module doc).
                    self.replanned = true;
                    self.existing = Existing::default();
                    self.phase = Phase::Read(0);
                }
                Err(e) => self.finish(Err(StackError::Control(format!("failed to {}: {e}", steps[next].what)))),
            },
            Phase::Plan(_) => match reply.and_then(crate::cli::plan_of) {
                Ok(p) => {
                    self.plan = Some(p);
                    self.finish(Ok(()))
                }
                Err(e) => self.finish(Err(StackError::Control(format!("failed to plan the stack: {e}")))),
            },
            Phase::Done => {}
        }
    }

    fn start_step(&mut self, s: &Step) {
        if !s.line.is_empty() {
            self.output.push_back(s.line.clone());
        }
    }

    fn finish(&mut self, r: Result<(), StackError>) {
        self.phase = Phase::Done;
        self.outcome = Some(r);
    }

    /// The next progress line to print.
    pub fn poll_output(&mut self) -> Option<String> {
        self.output.pop_front()
    }

    /// Some once done: Ok, or why the deploy or removal stopped.
    pub fn outcome(&self) -> Option<&Result<(), StackError>> {
        self.outcome.as_ref()
    }
}

fn in_stack(labels: &BTreeMap<String, String>, stack: &str) -> bool {
    labels.get(NAMESPACE_LABEL).is_some_and(|s| s == stack)
}

/// The steps that take the swarm from `existing` to the goal.
pub fn plan(stack: &str, goal: &Goal, existing: &Existing) -> Result<Vec<Step>, StackError> {
    let key = |key: String| proto::ObjectKey { key };
    let mut steps = Vec::new();
    let Goal::Deploy { spec, prune } = goal else {
        // docker's order: services, secrets, configs, networks (a network goes last, once
        // nothing uses it).
        let mut services: Vec<_> = existing.services.iter().filter(|s| in_stack(&s.spec.annotations.labels, stack)).collect();
        services.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
        for s in services {
            let name = &s.spec.annotations.name;
            steps.push(Step { op: Op::RemoveService(key(s.id.clone())), line: format!("Removing service {name}"), what: format!("remove service {name}") });
        }
        // Each kind by name, so the output does not depend on ids.
        let secrets = sorted(existing.secrets.iter().filter(|x| in_stack(&x.spec.annotations.labels, stack)).map(|x| (&x.spec.annotations.name, &x.id)).collect());
        let configs = sorted(existing.configs.iter().filter(|x| in_stack(&x.spec.annotations.labels, stack)).map(|x| (&x.spec.annotations.name, &x.id)).collect());
        let networks = sorted(existing.networks.iter().filter(|x| in_stack(&x.spec.annotations.labels, stack)).map(|x| (&x.spec.annotations.name, &x.id)).collect());
        for (kind, list) in [("secret", secrets), ("config", configs), ("network", networks)] {
            for (name, id) in list {
                let op = match kind {
                    "secret" => Op::RemoveSecret(key(id.clone())),
                    "config" => Op::RemoveConfig(key(id.clone())),
                    _ => Op::RemoveNetwork(key(id.clone())),
                };
                steps.push(Step { op, line: format!("Removing {kind} {name}"), what: format!("remove {kind} {name}") });
            }
        }
        return Ok(steps);
    };
    for name in &spec.external_networks {
        if !existing.networks.iter().any(|n| &n.spec.annotations.name == name) {
            return Err(StackError::Missing(format!(
                "network {name:?} is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed"
            )));
        }
    }
    for (noun, names, have) in [
        ("secret", &spec.external_secrets, existing.secrets.iter().map(|s| &s.spec.annotations.name).collect::<Vec<_>>()),
        ("config", &spec.external_configs, existing.configs.iter().map(|s| &s.spec.annotations.name).collect()),
    ] {
        if let Some(name) = names.iter().find(|n| !have.contains(n)) {
            return Err(StackError::Missing(format!("{noun} {name:?} is declared as external, but could not be found: create it first (shoal {noun} create {name} FILE)")));
        }
    }
    if *prune {
        let mut gone: Vec<_> = existing
            .services
            .iter()
            .filter(|s| in_stack(&s.spec.annotations.labels, stack) && !spec.services.iter().any(|w| w.annotations.name == s.spec.annotations.name))
            .collect();
        gone.sort_by(|a, b| a.spec.annotations.name.cmp(&b.spec.annotations.name));
        for s in gone {
            let name = &s.spec.annotations.name;
            steps.push(Step { op: Op::RemoveService(key(s.id.clone())), line: format!("Removing service {name}"), what: format!("remove service {name}") });
        }
    }
    for n in &spec.networks {
        let name = &n.annotations.name;
        if !existing.networks.iter().any(|x| &x.spec.annotations.name == name) {
            let op = Op::CreateNetwork(proto::CreatePayload { spec: serde_json::to_vec(n).expect("spec serialises") });
            steps.push(Step { op, line: format!("Creating network {name}"), what: format!("create network {name}") });
        }
    }
    for (kind, specs, have) in [
        (crate::control::PayloadKind::Secret, &spec.secrets, existing.secrets.iter().map(|s| &s.spec.annotations.name).collect::<Vec<_>>()),
        (crate::control::PayloadKind::Config, &spec.configs, existing.configs.iter().map(|s| &s.spec.annotations.name).collect()),
    ] {
        let noun = kind.noun();
        for s in specs.iter() {
            let name = &s.annotations.name;
            crate::control::check_payload_size(kind, s.data.len()).map_err(|e| StackError::Invalid { file: String::new(), path: format!("{noun}s.{name}"), message: e.to_string() })?;
            if have.contains(&name) {
                // docker sends the spec again, data included: the swarm takes new labels and
                // refuses other data ("only updates to Labels are allowed").
                let op = crate::cli::payload_op(
                    kind,
                    crate::cli::PayloadVerb::Update(proto::UpdatePayload {
                        key: name.clone(),
                        name: name.clone(),
                        labels: s.annotations.labels.clone().into_iter().collect(),
                        data_given: true,
                        version: 0,
                        data: s.data.clone(),
                    }),
                );
                steps.push(Step { op, line: String::new(), what: format!("update {noun} {name}") });
            } else {
                let op = crate::cli::payload_op(kind, crate::cli::PayloadVerb::Create(proto::CreatePayload { spec: serde_json::to_vec(s).expect("spec serialises") }));
                steps.push(Step { op, line: format!("Creating {noun} {name}"), what: format!("create {noun} {name}") });
            }
        }
    }
    let network_name = |id: &str| existing.networks.iter().find(|n| n.id == id).map(|n| n.spec.annotations.name.clone());
    for want in &spec.services {
        let name = &want.annotations.name;
        match existing.services.iter().find(|s| &s.spec.annotations.name == name) {
            Some(cur) => {
                let mut want = want.clone();
                // docker carries the service's --force counter over.
                want.task.force_update = cur.spec.task.force_update;
                if comparable(cur.spec.clone(), &network_name) == comparable(want.clone(), &|t: &str| Some(t.to_string())) {
                    continue;
                }
                let op = Op::UpdateService(proto::UpdateService { service: cur.id.clone(), spec: serde_json::to_vec(&want).expect("spec serialises"), version: cur.meta.version });
                steps.push(Step { op, line: format!("Updating service {name} (id: {})", cur.id), what: format!("update service {name}") });
            }
            None => {
                let op = Op::CreateService(proto::CreateService { spec: serde_json::to_vec(want).expect("spec serialises") });
                steps.push(Step { op, line: format!("Creating service {name}"), what: format!("create service {name}") });
            }
        }
    }
    Ok(steps)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// A spec as the stack file would have written it: references by name, network targets as
/// names (`name_of` maps a stored target, an id, to its network's name).
fn comparable(spec: ServiceSpec, name_of: &dyn Fn(&str) -> Option<String>) -> ServiceSpec {
    let targets: Vec<String> = spec.task.networks.iter().map(|n| name_of(&n.target).unwrap_or_else(|| n.target.clone())).collect();
    let mut out = crate::control::as_requested(spec);
    for (n, t) in out.task.networks.iter_mut().zip(targets) {
        n.target = t;
    }
    out
}

/// The stacks that have services, with how many: `stack ls`.
pub fn stacks(services: &[crate::model::Service]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in services {
        if let Some(ns) = s.spec.annotations.labels.get(NAMESPACE_LABEL) {
            *out.entry(ns.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// Whether a service belongs to `stack`.
pub fn service_in_stack(s: &crate::model::Service, stack: &str) -> bool {
    in_stack(&s.spec.annotations.labels, stack)
}

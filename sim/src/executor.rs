//! The simulated container runtime: each node's containers, with scripted image behaviours.
//!
//! Implements the core's [`Executor`] trait. An image declared in the scenario behaves as
//! declared (serve, exit with a code after a while, slow start, unhealthy after a while, OOM,
//! pull failure); an undeclared image serves. Containers with a healthcheck (the task's
//! `--health-*`, or the image's: `unhealthy-after` images have one) are Starting until a probe
//! passes and Unhealthy after `retries` failing probes. Containers live in the node's memory: a machine
//! crash loses them all (nothing runs on a dead machine), which is what the agent must
//! reconcile with after a restart. Timers run on the node's own tasks, so they die with it.
//!
//! The runner reads the containers as ground truth for predicates (`service web running 3`
//! counts containers that really run on live nodes, not what the store believes).
//!
//! The routing mesh: a container of a task with published ports is bound into the mesh model
//! ([`crate::mesh`]) when it runs (after its first passing probe, with a healthcheck) and
//! unbound when it exits or goes unhealthy; `stop` unbinds it first and waits
//! [`GOSSIP_CONVERGE_DELAY_MS`] before the container exits, as Docker's agent does.

use crate::mesh::{MeshModel, GOSSIP_CONVERGE_DELAY_MS};
use crate::scenario::{Behaviour, ImageSpec};
use crate::trace::now_ms;
use shoal_core::agent::{Container, ContainerState};
use shoal_core::dispatcher::Dependencies;
use shoal_core::model::{HealthConfig, Task};
use shoal_core::node::agent::Executor;
use shoal_core::model::TaskUsage;
use shoal_core::node::logs::{LogOptions, LogSource};
use shoal_core::proto::LogLine;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SimContainer {
    pub task_id: String,
    pub service: String,
    pub image: String,
    /// The task's slot (0 for a global service's task).
    pub slot: u64,
    pub state: ContainerState,
    /// Bumped on every start so a stale timer of an earlier incarnation does nothing.
    generation: u64,
    /// Ingress ports the task publishes (bound into the mesh while it runs).
    ports: Vec<u32>,
    /// On an overlay network: callers find it by name and VIP until their tables forget it.
    on_networks: bool,
    /// CPU its requests cost since its CPU was last measured (ms; see [`SimExecutor::serve`]).
    busy_ms: u64,
    /// What the container printed: (virtual wall ms, line), one line per state it entered
    /// (the simulated app says when it starts, serves, fails its healthcheck, exits). At most
    /// [`LOG_LINES_MAX`]; later lines are dropped.
    log: Vec<(u64, String)>,
}

/// Lines a simulated container keeps (a crash loop restarts into a new container, so a
/// container's own log stays short).
const LOG_LINES_MAX: usize = 1_000;
/// How often a `service logs -f` reader of a quiet container checks that its caller is there.
const LOG_FOLLOW_POLL: Duration = Duration::from_millis(200);

/// What every machine's executor shares with the cluster, across restarts: the tasks whose
/// container ever ran, and a count of container changes on any machine (the ground-truth
/// checker looks again only when it moved).
#[derive(Default)]
pub struct Containers {
    pub ran: Mutex<BTreeSet<String>>,
    pub changes: std::sync::atomic::AtomicU64,
    /// When containers on networks ran and stopped, and the tables the machines got.
    pub names: Arc<crate::names::NameLog>,
}

pub struct SimExecutor {
    pub node: String,
    /// The machine's index in the cluster (the mesh's node number).
    index: usize,
    mesh: Arc<MeshModel>,
    images: Arc<BTreeMap<String, ImageSpec>>,
    containers: Mutex<BTreeMap<String, SimContainer>>,
    notify: tokio::sync::Notify,
    generation: std::sync::atomic::AtomicU64,
    /// Shared with the cluster: the rolling-update checker asks it which old tasks an update
    /// replaced; the ground-truth checker, whether anything changed.
    world: Arc<Containers>,
    /// Wakes `service logs -f` readers: some container printed a line.
    printed: tokio::sync::Notify,
    /// Told of every secret that reaches this machine (the secrets checker).
    checkers: Arc<crate::invariants::Checkers>,
    /// When the containers' CPU was last measured (the agent's heartbeat, `usage`).
    measured_ms: Mutex<u64>,
}

impl SimExecutor {
    pub fn new(
        node: &str,
        index: usize,
        mesh: Arc<MeshModel>,
        images: Arc<BTreeMap<String, ImageSpec>>,
        world: Arc<Containers>,
        checkers: Arc<crate::invariants::Checkers>,
    ) -> Arc<SimExecutor> {
        Arc::new(SimExecutor {
            world,
            checkers,
            printed: tokio::sync::Notify::new(),
            node: node.to_string(),
            index,
            mesh,
            images,
            containers: Mutex::new(BTreeMap::new()),
            notify: tokio::sync::Notify::new(),
            generation: Default::default(),
            measured_ms: Mutex::new(now_ms()),
        })
    }

    /// The container of `task_id` answered a request: it costs the image's
    /// `cpu-per-request` (nothing when it does not run).
    pub fn serve(&self, task_id: &str) {
        let mut cs = self.containers.lock().unwrap();
        if let Some(c) = cs.get_mut(task_id).filter(|c| c.state == ContainerState::Running) {
            c.busy_ms += self.spec(&c.image).cpu_per_request.as_millis() as u64;
        }
    }

    /// Running containers, of one service or all (ground truth for predicates; no copies: the
    /// runner polls this every few virtual milliseconds).
    pub fn running(&self, service: Option<&str>) -> usize {
        self.containers
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.state == ContainerState::Running && service.is_none_or(|s| c.service == s))
            .count()
    }

    /// Running containers of `service` made from `image`.
    pub fn running_image(&self, service: &str, image: &str) -> usize {
        let c = self.containers.lock().unwrap();
        c.values().filter(|c| c.state == ContainerState::Running && c.service == service && c.image == image).count()
    }

    /// Containers of `service` that failed (exited non-zero, unhealthy, could not run) and
    /// are still listed (the agent removes them once their task leaves the node).
    pub fn failed(&self, service: &str) -> usize {
        self.containers
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.service == service)
            .filter(|c| matches!(c.state, ContainerState::Exited(code) if code != 0) || matches!(c.state, ContainerState::Unhealthy | ContainerState::Failed(_)))
            .count()
    }

    /// Whether the container of `task_id` runs (answers requests).
    pub fn serving(&self, task_id: &str) -> bool {
        self.containers.lock().unwrap().get(task_id).is_some_and(|c| c.state == ContainerState::Running)
    }

    /// Moves a container to `state`, binding it into the mesh when it starts running and
    /// unbinding it when it stops running.
    /// Every change to a container goes through here (created, stopped, removed included).
    fn transition(&self, c: &mut SimContainer, state: ContainerState) {
        self.world.changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let was = c.state == ContainerState::Running;
        if c.log.len() < LOG_LINES_MAX {
            let line = match &state {
                ContainerState::Running => format!("{} serving on {} (slot {})", c.image, self.node, c.slot),
                ContainerState::Starting => format!("{} starting on {}", c.image, self.node),
                ContainerState::Unhealthy => format!("{} health check failing", c.image),
                ContainerState::Exited(0) => format!("{} exited", c.image),
                ContainerState::Exited(code) => format!("{} exited with code {code}", c.image),
                other => format!("{} {other:?}", c.image),
            };
            c.log.push((now_ms(), line));
            self.printed.notify_waiters();
        }
        c.state = state;
        match (was, c.state == ContainerState::Running) {
            (false, true) => {
                self.world.ran.lock().unwrap().insert(c.task_id.clone());
                if c.on_networks {
                    self.world.names.lifetimes.running(&c.task_id, now_ms());
                }
                self.mesh.bind(self.index, &c.task_id, &c.service, &c.ports, now_ms())
            }
            (true, false) => {
                self.world.names.lifetimes.stopped(&c.task_id, now_ms());
                self.mesh.unbind(self.index, &c.task_id, now_ms());
            }
            _ => {}
        }
    }

    /// (service, slot, task id) of every running container.
    pub fn running_slots(&self) -> Vec<(String, u64, String)> {
        self.containers
            .lock()
            .unwrap()
            .values()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| (c.service.clone(), c.slot, c.task_id.clone()))
            .collect()
    }

    fn set_later(self: &Arc<Self>, task_id: String, generation: u64, after: Duration, state: ContainerState) {
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let mut cs = me.containers.lock().unwrap();
            if let Some(c) = cs.get_mut(&task_id) {
                if c.generation == generation && matches!(c.state, ContainerState::Running | ContainerState::Starting) {
                    tracing::info!(target: "shoal::container", node = %me.node, "{} {} -> {:?}", c.service, task_id, state);
                    me.transition(c, state);
                    drop(cs);
                    me.notify.notify_one();
                }
            }
        });
    }

    fn spec(&self, image: &str) -> ImageSpec {
        self.images.get(image).cloned().unwrap_or_default()
    }
}

/// The healthcheck a task's container runs: none with `--no-healthcheck`; the task's own
/// (`--health-*`); else the image's — in the simulator, `unhealthy-after` images declare one
/// (every 1 s, 3 retries), as an image with a HEALTHCHECK instruction would.
fn healthcheck(task: &Task, image: &ImageSpec) -> Option<HealthConfig> {
    let c = &task.spec.container;
    if c.no_healthcheck {
        return None;
    }
    if let Some(h) = &c.healthcheck {
        return Some(h.clone());
    }
    (image.behaviour == Behaviour::UnhealthyAfter)
        .then(|| HealthConfig { interval_ms: 1_000, timeout_ms: 1_000, retries: 3, ..Default::default() })
}

/// The shell's executor trait on an `Arc` (timers need a handle to the executor).
pub struct SimExecutorHandle(pub Arc<SimExecutor>);

#[tonic::async_trait]
impl Executor for SimExecutorHandle {
    async fn list(&self) -> Vec<Container> {
        self.0
            .containers
            .lock()
            .unwrap()
            .values()
            .map(|c| Container::new(c.task_id.clone(), c.state.clone()))
            .collect()
    }

    fn assignments(&self, tasks: &[Task], deps: &Dependencies) {
        if let Err(e) = crate::invariants::secrets::confined(&self.0.node, tasks, deps) {
            self.0.checkers.violate("secrets", e);
        }
    }

    // The agent hands over exactly the secrets and configs the task uses (a missing one rejects the task
    // before it gets here); the simulated app does not read them.
    async fn start(&self, task: &Task, _deps: &Dependencies) -> Result<(), String> {
        let me = &self.0;
        let image = task.spec.container.image.clone();
        let spec = me.spec(&image);
        if spec.behaviour == Behaviour::PullFails {
            tracing::info!(target: "shoal::container", node = %me.node, "{} {} pull failed", task.service_name, task.id);
            return Err(format!(
                "unable to pin image {image} to digest: errors: denied: requested access to the resource is denied"
            ));
        }
        let generation = me.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let health = healthcheck(task, &spec);
        let initial = if spec.behaviour == Behaviour::SlowStart || health.is_some() {
            ContainerState::Starting
        } else {
            ContainerState::Running
        };
        let ports: Vec<u32> = task.ingress_ports().collect();
        let mut c = SimContainer {
            task_id: task.id.clone(),
            service: task.service_name.clone(),
            image: image.clone(),
            slot: task.slot,
            state: ContainerState::Starting,
            generation,
            ports,
            on_networks: !task.networks.is_empty(),
            busy_ms: 0,
            log: Vec::new(),
        };
        me.transition(&mut c, initial);
        me.containers.lock().unwrap().insert(task.id.clone(), c);
        tracing::info!(target: "shoal::container", node = %me.node, "{} {} started ({image})", task.service_name, task.id);
        // Probes run every interval from the start. Healthy at the first probe once it serves
        // (after a slow start); an unhealthy-after image fails every probe from `after` on and
        // is unhealthy at its `retries`-th failure that counts (not in the start period).
        if let Some(h) = &health {
            let iv = h.interval_ms.max(1);
            let probe_at_or_after = |t: Duration| (t.as_millis() as u64).div_ceil(iv).max(1);
            let serving_from = if spec.behaviour == Behaviour::SlowStart { spec.after } else { Duration::ZERO };
            let first_pass = probe_at_or_after(serving_from);
            let failing = (spec.behaviour == Behaviour::UnhealthyAfter).then(|| probe_at_or_after(spec.after));
            if failing.is_none_or(|f| first_pass < f) {
                me.set_later(task.id.clone(), generation, Duration::from_millis(first_pass * iv), ContainerState::Running);
            }
            if let Some(f) = failing {
                let counted = f.max(probe_at_or_after(Duration::from_millis(h.start_period_ms)));
                let unhealthy = counted + u64::from(h.retries.max(1)) - 1;
                me.set_later(task.id.clone(), generation, Duration::from_millis(unhealthy * iv), ContainerState::Unhealthy);
            }
        }
        match spec.behaviour {
            Behaviour::Serve | Behaviour::PullFails | Behaviour::UnhealthyAfter => {}
            Behaviour::Exit => me.set_later(task.id.clone(), generation, spec.after, ContainerState::Exited(spec.code)),
            // With a healthcheck the first passing probe makes it Running.
            Behaviour::SlowStart if health.is_some() => {}
            Behaviour::SlowStart => me.set_later(task.id.clone(), generation, spec.after, ContainerState::Running),
            Behaviour::Oom => me.set_later(task.id.clone(), generation, spec.after, ContainerState::Exited(137)),
        }
        Ok(())
    }

    async fn stop(&self, task_id: &str) {
        let me = &self.0;
        // Out of the mesh first; the container serves what other nodes still send it until
        // their tables forget it.
        if me.mesh.unbind(me.index, task_id, now_ms()) {
            tokio::time::sleep(std::time::Duration::from_millis(GOSSIP_CONVERGE_DELAY_MS)).await;
        }
        {
            let mut cs = me.containers.lock().unwrap();
            if let Some(c) = cs.get_mut(task_id) {
                if matches!(c.state, ContainerState::Running | ContainerState::Starting | ContainerState::Unhealthy) {
                    tracing::info!(target: "shoal::container", node = %me.node, "{} {} stopped", c.service, task_id);
                    me.transition(c, ContainerState::Exited(0));
                }
            }
        }
        me.notify.notify_one();
    }

    async fn remove(&self, task_id: &str) {
        let me = &self.0;
        if let Some(mut c) = me.containers.lock().unwrap().remove(task_id) {
            me.transition(&mut c, ContainerState::Exited(0));
        }
    }

    // A container's CPU: the cost of the requests it served since the last measure over the
    // time since, at most one whole CPU (a simulated app serves one request at a time).
    async fn usage(&self) -> Vec<TaskUsage> {
        let me = &self.0;
        let now = now_ms();
        let elapsed_ms = now.saturating_sub(std::mem::replace(&mut *me.measured_ms.lock().unwrap(), now)).max(1);
        let mut cs = me.containers.lock().unwrap();
        cs.values_mut()
            .filter(|c| c.state == ContainerState::Running)
            .map(|c| TaskUsage {
                task_id: c.task_id.clone(),
                cpu_millicores: (std::mem::take(&mut c.busy_ms) * 1_000 / elapsed_ms).min(1_000) as u32,
            })
            .collect()
    }

    async fn changed(&self) {
        self.0.notify.notified().await
    }
}

/// `TaskLogs` in the simulator: the container's lines, then (with follow) new ones as they come
/// until it stops or the caller hangs up.
impl LogSource for SimExecutorHandle {
    fn logs(&self, task_id: String, opts: LogOptions, tx: mpsc::Sender<LogLine>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let me = self.0.clone();
        Box::pin(async move {
            let mut sent: Option<usize> = None;
            loop {
                // Registered before reading, so a line printed in between still wakes us (the
                // container may be removed right after its last line: it must not be missed).
                let printed = me.printed.notified();
                tokio::pin!(printed);
                printed.as_mut().enable();
                let (lines, stopped) = {
                    let cs = me.containers.lock().unwrap();
                    let Some(c) = cs.get(&task_id) else { return };
                    let from = match (sent, opts.tail) {
                        (Some(n), _) => n,
                        (None, Some(tail)) => c.log.len().saturating_sub(tail as usize),
                        (None, None) => 0,
                    };
                    let stopped = !matches!(c.state, ContainerState::Running | ContainerState::Starting | ContainerState::Unhealthy);
                    sent = Some(c.log.len());
                    (c.log[from.min(c.log.len())..].to_vec(), stopped)
                };
                for (ms, data) in lines {
                    let timestamp = humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string();
                    let line = LogLine { task_id: task_id.clone(), stream: 1, timestamp, data: data.into_bytes(), ..Default::default() };
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
                if !opts.follow || stopped || tx.is_closed() {
                    return;
                }
                // Also wakes now and then to notice a caller that hung up.
                let _ = tokio::time::timeout(LOG_FOLLOW_POLL, printed).await;
            }
        })
    }
}

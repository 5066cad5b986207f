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

use crate::scenario::{Behaviour, ImageSpec};
use shoal_core::agent::{Container, ContainerState};
use shoal_core::model::{HealthConfig, Task};
use shoal_core::node::agent::Executor;
use std::collections::BTreeMap;
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
}

pub struct SimExecutor {
    pub node: String,
    images: Arc<BTreeMap<String, ImageSpec>>,
    containers: Mutex<BTreeMap<String, SimContainer>>,
    notify: tokio::sync::Notify,
    generation: std::sync::atomic::AtomicU64,
}

impl SimExecutor {
    pub fn new(node: &str, images: Arc<BTreeMap<String, ImageSpec>>) -> Arc<SimExecutor> {
        Arc::new(SimExecutor {
            node: node.to_string(),
            images,
            containers: Mutex::new(BTreeMap::new()),
            notify: tokio::sync::Notify::new(),
            generation: Default::default(),
        })
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
                    c.state = state;
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
            .map(|c| Container { task_id: c.task_id.clone(), state: c.state.clone() })
            .collect()
    }

    async fn start(&self, task: &Task) -> Result<(), String> {
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
        me.containers.lock().unwrap().insert(
            task.id.clone(),
            SimContainer {
                task_id: task.id.clone(),
                service: task.service_name.clone(),
                image: image.clone(),
                slot: task.slot,
                state: initial,
                generation,
            },
        );
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
        let mut cs = self.0.containers.lock().unwrap();
        if let Some(c) = cs.get_mut(task_id) {
            if matches!(c.state, ContainerState::Running | ContainerState::Starting) {
                tracing::info!(target: "shoal::container", node = %self.0.node, "{} {} stopped", c.service, task_id);
                c.state = ContainerState::Exited(0);
            }
        }
    }

    async fn remove(&self, task_id: &str) {
        self.0.containers.lock().unwrap().remove(task_id);
    }

    async fn changed(&self) {
        self.0.notify.notified().await
    }
}

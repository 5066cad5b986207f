//! The production [`Executor`]: task containers on the local Docker engine through bollard.
//!
//! Owns: the containers labelled with this node's id (`shoal.node.id`); nothing else on the
//! engine is ever touched. Inputs: the agent's start/stop/remove calls. Outputs: containers,
//! and a wake-up ([`Executor::changed`]) whenever one of ours changes state — from Docker's
//! event stream, which is not durable (the daemon keeps only recent events), so the stream is
//! re-opened after any error and the agent re-lists by label on every wake-up; a periodic
//! wake-up covers events lost in between.
//!
//! Secrets and configs: each one a task uses is written to a file of its own under `<secrets
//! dir>/<task id>/` with the owner and mode its reference asks (0:0 and 0444 by default; the
//! secrets dir should be a tmpfs, `/run/shoal/secrets/<node id>` unless `SHOAL_SECRETS_DIR`
//! says otherwise) and bind-mounted read-only at `/run/secrets/<target>` (a secret) or at its
//! path (a config), so it never enters an image layer; the directory goes with the container,
//! and what a crash left behind goes at the next start (`secrets_dir`, which also warns when
//! the directory is not a tmpfs).
//!
//! Published ports: a host-mode port (`--publish mode=host,target=80,published=8080`) is bound
//! on this machine's engine (published 0: a port the engine picks), as swarm does; the
//! scheduler places at most one task per node on a host port. An ingress port's target is
//! bound on the node's data-path address at a port the engine picks: that address is the
//! task's backend in the routing mesh (ingress.rs), reported with RUNNING. Swarm reaches a
//! task over the ingress overlay instead; plain engines have no overlay, and a port on the
//! data-path address works across machines.
//!
//! Invariants: restart policy off (Shoal's restart supervisor decides restarts, as in swarm);
//! one container per task, named `shoal-<service>.<slot>.<task id>`; a start of a task whose
//! container exists starts nothing new (an agent restarted mid-deploy adopts what it finds).

mod events;
pub mod hollow;
mod spec;
mod secrets_dir;
mod usage;

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum};
use bollard::container::LogOutput;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use shoal_core::agent::{Container, ContainerState};
use shoal_core::dispatcher::Dependencies;
use shoal_core::model::{FileOwner, Task};
use shoal_core::node::agent::Executor;
use shoal_core::node::logs::{LogOptions, LogSource};
use shoal_core::proto::LogLine;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use spec::{engine_mount, exit_code_of, extra_hosts, health_of, ingress_bindings, port_bindings, some_vec, split_pinned};

pub const LABEL_NODE: &str = "shoal.node.id";
pub const LABEL_TASK: &str = "shoal.task.id";
pub const LABEL_SERVICE: &str = "shoal.service.name";
pub const LABEL_SLOT: &str = "shoal.task.slot";
/// Docker's own default stop grace period.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

pub struct DockerExecutor {
    docker: Docker,
    node_id: String,
    changed: Arc<tokio::sync::Notify>,
    /// The last list the engine answered: reported again while it is unreachable (an empty
    /// list would tell the agent every container vanished).
    last: std::sync::Mutex<Vec<Container>>,
    /// Tasks whose container this process is creating and starting right now.
    starting: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Where the secret files of each task are written (a directory per task).
    secrets_dir: std::path::PathBuf,
    /// The node's data-path IP: ingress targets are bound there, for other nodes' meshes.
    data_path_ip: String,
    /// The overlay data path (None where it cannot run: tasks' networks then reach this
    /// engine only).
    data_path: Option<Arc<crate::datapath::DataPath>>,
    /// The tasks' CPU between heartbeats (the autoscaler's signal).
    cpu: Arc<usage::CpuMeter>,
}

impl DockerExecutor {
    /// The local engine (DOCKER_HOST or the default socket), with the API version negotiated:
    /// Err says it cannot be reached. A machine checks this before it inits or joins, so an
    /// engine that is down leaves no half-joined data directory behind.
    pub async fn engine() -> Result<Docker, String> {
        let unreachable = |e: bollard::errors::Error| format!("cannot reach the Docker engine: {e}; is dockerd running and its socket mounted?");
        Docker::connect_with_local_defaults().map_err(unreachable)?.negotiate_version().await.map_err(unreachable)
    }

    /// Connects to the local engine and starts following its events for this node's containers.
    pub async fn connect(node_id: &str, data_path_ip: &str, data_path: Option<Arc<crate::datapath::DataPath>>) -> Result<Arc<DockerExecutor>, String> {
        let docker = Self::engine().await?;
        let secrets_dir = match std::env::var_os("SHOAL_SECRETS_DIR") {
            Some(d) => std::path::PathBuf::from(d),
            None => std::path::PathBuf::from("/run/shoal/secrets").join(node_id),
        };
        // The tasks that still have a container on this engine (of any node sharing it, as
        // tests' daemons share one directory): their files stay, the rest is a crash's leftover.
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", vec![LABEL_TASK.to_string()])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let listed = docker.list_containers(Some(opts)).await.map_err(|e| format!("cannot list containers: {e}"))?;
        let keep = listed.iter().filter_map(|c| c.labels.as_ref()?.get(LABEL_TASK).cloned()).collect();
        let (removed, warning) = secrets_dir::prepare(&secrets_dir, &keep)?;
        if removed > 0 {
            tracing::info!(target: "shoal", "secrets: removed {removed} stale entries from {}", secrets_dir.display());
        }
        if let Some(w) = warning {
            tracing::warn!(target: "shoal", "{w}");
        }
        let exec = Arc::new(DockerExecutor {
            docker,
            node_id: node_id.to_string(),
            changed: Arc::default(),
            last: Default::default(),
            starting: Default::default(),
            secrets_dir,
            data_path_ip: data_path_ip.to_string(),
            data_path,
            cpu: Default::default(),
        });
        tokio::spawn(events::follow_events(exec.docker.clone(), exec.node_id.clone(), exec.changed.clone()));
        Ok(exec)
    }

    fn name_of(task: &Task) -> String {
        let service: String =
            task.service_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        format!("shoal-{service}.{}.{}", task.slot, task.id)
    }

    /// Writes the task's secrets and configs into its own directory and returns the
    /// read-only bind mounts (`host file:/run/secrets/<target>:ro`, `host file:<path>:ro`),
    /// each file with the owner and mode its reference asks (0:0, 0444 by default).
    fn write_dependencies(&self, task: &Task, deps: &Dependencies) -> Result<Vec<String>, String> {
        let c = &task.spec.container;
        if c.secrets.is_empty() && c.configs.is_empty() {
            return Ok(Vec::new());
        }
        let dir = self.secrets_dir.join(&task.id);
        let fail = |what: &str, e: std::io::Error| format!("secrets: cannot {what} {}: {e} (set SHOAL_SECRETS_DIR to a writable tmpfs directory)", dir.display());
        {
            use std::os::unix::fs::DirBuilderExt;
            // 0711: the container's user (any uid) must reach its files; listing stays closed.
            std::fs::DirBuilder::new().recursive(true).mode(0o711).create(&dir).map_err(|e| fail("create", e))?;
        }
        let mut binds = Vec::new();
        for (k, r) in c.secrets.iter().enumerate() {
            let s = deps.secret(&r.secret_id).ok_or_else(|| format!("secret {} ({}) not found on this node", r.secret_name, r.secret_id))?;
            let file = dir.join(format!("secret-{k}"));
            write_owned(&file, &s.spec.data, &r.file).map_err(|e| fail("write into", e))?;
            binds.push(format!("{}:/run/secrets/{}:ro", file.display(), r.target));
        }
        for (k, r) in c.configs.iter().enumerate() {
            let cfg = deps.config(&r.config_id).ok_or_else(|| format!("config {} ({}) not found on this node", r.config_name, r.config_id))?;
            let file = dir.join(format!("config-{k}"));
            write_owned(&file, &cfg.spec.data, &r.file).map_err(|e| fail("write into", e))?;
            binds.push(format!("{}:{}:ro", file.display(), r.path()));
        }
        Ok(binds)
    }

    /// The id of the container of `task_id`, if one exists.
    async fn find(&self, task_id: &str) -> Option<String> {
        find_container(&self.docker, &self.node_id, task_id).await
    }
}

/// The id of the container of `task_id` that node `node_id` owns, if one exists.
async fn find_container(docker: &Docker, node_id: &str, task_id: &str) -> Option<String> {
    let filters: HashMap<&str, Vec<String>> =
        HashMap::from([("label", vec![format!("{LABEL_NODE}={node_id}"), format!("{LABEL_TASK}={task_id}")])]);
    let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    docker.list_containers(Some(opts)).await.ok()?.into_iter().find_map(|c| c.id)
}

/// `service logs` on this node: the container's output from the engine (`docker logs`), with
/// the engine's timestamps, one message per line. A line split across frames by the engine
/// (over 16 KiB) arrives as several lines, as `docker service logs` shows it.
impl LogSource for DockerExecutor {
    fn logs(&self, task_id: String, opts: LogOptions, tx: mpsc::Sender<LogLine>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (docker, node_id) = (self.docker.clone(), self.node_id.clone());
        Box::pin(async move {
            let Some(id) = find_container(&docker, &node_id, &task_id).await else { return };
            let tail = opts.tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into());
            let o = LogsOptionsBuilder::new().follow(opts.follow).stdout(true).stderr(true).timestamps(true).tail(&tail).build();
            let mut frames = docker.logs(&id, Some(o));
            while let Some(frame) = frames.next().await {
                let (stream, bytes) = match frame {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => (1, message),
                    Ok(LogOutput::StdErr { message }) => (2, message),
                    Ok(LogOutput::StdIn { .. }) => continue,
                    Err(e) => {
                        tracing::debug!(target: "shoal", task = %task_id, "logs: {e}");
                        return;
                    }
                };
                for raw in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    // "2026-12-02T10:46:22.123456789Z the line": the engine's stamp, then the data.
                    let (timestamp, data) = match raw.iter().position(|b| *b == b' ') {
                        Some(i) if raw[..i].ends_with(b"Z") => (String::from_utf8_lossy(&raw[..i]).into_owned(), raw[i + 1..].to_vec()),
                        _ => (String::new(), raw.to_vec()),
                    };
                    let line = LogLine { task_id: task_id.clone(), stream, timestamp, data, ..Default::default() };
                    if tx.send(line).await.is_err() {
                        return;
                    }
                }
            }
        })
    }
}

#[tonic::async_trait]
impl Executor for DockerExecutor {
    async fn list(&self) -> Vec<Container> {
        let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", vec![format!("{LABEL_NODE}={}", self.node_id)])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let Ok(list) = self.docker.list_containers(Some(opts)).await else {
            tracing::warn!(target: "shoal", "docker engine unreachable: keeping the last view of its containers");
            return self.last.lock().unwrap().clone();
        };
        let mut out = Vec::with_capacity(list.len());
        for c in list {
            let (Some(id), Some(task_id)) = (c.id.clone(), c.labels.as_ref().and_then(|l| l.get(LABEL_TASK)).cloned()) else {
                continue;
            };
            // One list call gives state and status for every container: inspecting each one
            // (as this did) cost a round trip per container on every wake-up, and with 50
            // containers starting the agent loop missed its heartbeat deadline. Inspect only
            // what the summary cannot tell (a dead container's error).
            use bollard::models::ContainerSummaryStateEnum as S;
            let status = c.status.clone().unwrap_or_default();
            let state = match c.state {
                Some(S::RUNNING) | Some(S::PAUSED) if status.contains("(unhealthy)") => ContainerState::Unhealthy,
                // A container with a healthcheck runs for swarm once a probe passed.
                Some(S::RUNNING) if status.contains("(health: starting)") => ContainerState::Starting,
                Some(S::RUNNING) | Some(S::PAUSED) => ContainerState::Running,
                Some(S::EXITED) if exit_code_of(&status).is_some() => ContainerState::Exited(exit_code_of(&status).unwrap_or(-1)),
                Some(S::CREATED) => {
                    if !self.starting.lock().unwrap().contains(&task_id) {
                        // Created but never started: a start cut short by a restart of this
                        // daemon (the agent sees a container for the task and would wait for
                        // it forever).
                        tracing::info!(target: "shoal", task = %task_id, "starting a container whose start was interrupted");
                        if let Err(e) = self.docker.start_container(&id, None).await.or_else(ignore_not_modified) {
                            out.push(Container::new(task_id, ContainerState::Failed(e.to_string())));
                            continue;
                        }
                    }
                    ContainerState::Starting
                }
                _ => {
                    let Ok(info) = self.docker.inspect_container(&id, None::<InspectContainerOptions>).await else { continue };
                    let st = info.state.unwrap_or_default();
                    use bollard::models::ContainerStateStatusEnum as D;
                    match st.status {
                        Some(D::EXITED) => ContainerState::Exited(st.exit_code.unwrap_or(-1) as i32),
                        Some(D::DEAD) => ContainerState::Failed(st.error.filter(|e| !e.is_empty()).unwrap_or_else(|| "container is dead".into())),
                        _ if st.error.as_ref().is_some_and(|e| !e.is_empty()) => ContainerState::Failed(st.error.unwrap_or_default()),
                        Some(D::RUNNING) => ContainerState::Running,
                        _ => ContainerState::Starting,
                    }
                }
            };
            let mut container = Container::new(task_id, state);
            container.ingress = ingress_bindings(c.ports.as_deref().unwrap_or_default(), &self.data_path_ip);
            container.id = id.clone();
            out.push(container);
        }
        out.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        *self.last.lock().unwrap() = out.clone();
        out
    }

    async fn start(&self, task: &Task, deps: &Dependencies) -> Result<(), String> {
        if let Some(id) = self.find(&task.id).await {
            // Adopt: the container exists (an agent restart, a retried start).
            return self.docker.start_container(&id, None).await.or_else(ignore_not_modified).map_err(|e| e.to_string());
        }
        let (lookup, pinned) = split_pinned(&task.spec.container.image);
        let image = match self.docker.inspect_image(lookup).await {
            Ok(img) => match pinned {
                // A service pinned to a build (the docker CLI resolves `name:tag` to the id the
                // Engine API reported): this node must have exactly that build.
                Some(want) if img.id.as_deref() != Some(want) => {
                    return Err(format!(
                        "image {lookup} on this node is {}, not {want} that the service pinned: load that build on this node",
                        img.id.unwrap_or_default()
                    ))
                }
                Some(want) => want.to_string(),
                None => lookup.to_string(),
            },
            // No registry is reachable here, so nothing is pulled: swarm's message.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return Err(format!("No such image: {lookup}")),
            // The engine's own reason (down, refusing): not a missing image.
            Err(e) => return Err(format!("cannot inspect image {lookup} on the Docker engine: {e}")),
        };
        let image = &image;
        let c = &task.spec.container;
        let mut labels: HashMap<String, String> = c.labels.clone().into_iter().collect();
        labels.insert(LABEL_NODE.into(), self.node_id.clone());
        labels.insert(LABEL_TASK.into(), task.id.clone());
        labels.insert(LABEL_SERVICE.into(), task.service_name.clone());
        labels.insert(LABEL_SLOT.into(), task.slot.to_string());
        let binds = self.write_dependencies(task, deps)?;
        let (exposed, port_bindings) = port_bindings(task, &self.data_path_ip);
        let limits = task.spec.resources.limits.clone().unwrap_or_default();
        let reservations = task.spec.resources.reservations.clone().unwrap_or_default();
        let host = HostConfig {
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            // PID 1 without a signal handler ignores SIGTERM: an init forwards it.
            init: Some(true),
            memory: (limits.memory_bytes > 0).then_some(limits.memory_bytes),
            nano_cpus: (limits.nano_cpus > 0).then_some(limits.nano_cpus),
            memory_reservation: (reservations.memory_bytes > 0).then_some(reservations.memory_bytes),
            pids_limit: (task.spec.resources.pids_limit > 0).then_some(task.spec.resources.pids_limit),
            binds: (!binds.is_empty()).then_some(binds),
            port_bindings,
            readonly_rootfs: c.read_only.then_some(true),
            group_add: some_vec(&c.groups),
            extra_hosts: some_vec(&extra_hosts(&c.hosts)),
            dns: some_vec(&c.dns.nameservers),
            dns_search: some_vec(&c.dns.search),
            dns_options: some_vec(&c.dns.options),
            sysctls: (!c.sysctls.is_empty()).then(|| c.sysctls.clone().into_iter().collect()),
            cap_add: some_vec(&c.cap_add),
            cap_drop: some_vec(&c.cap_drop),
            ulimits: (!c.ulimits.is_empty()).then(|| {
                c.ulimits.iter().map(|u| ResourcesUlimits { name: Some(u.name.clone()), soft: Some(u.soft), hard: Some(u.hard) }).collect()
            }),
            mounts: (!c.mounts.is_empty()).then(|| c.mounts.iter().map(engine_mount).collect()),
            log_config: task.spec.log_driver.as_ref().map(|l| bollard::models::HostConfigLogConfig {
                typ: (!l.name.is_empty()).then(|| l.name.clone()),
                config: (!l.options.is_empty()).then(|| l.options.clone().into_iter().collect()),
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            cmd: (!c.args.is_empty()).then(|| c.args.clone()),
            entrypoint: some_vec(&c.command),
            hostname: (!c.hostname.is_empty()).then(|| c.hostname.clone()),
            working_dir: (!c.dir.is_empty()).then(|| c.dir.clone()),
            user: (!c.user.is_empty()).then(|| c.user.clone()),
            tty: c.tty.then_some(true),
            stop_signal: (!c.stop_signal.is_empty()).then(|| c.stop_signal.clone()),
            env: (!c.env.is_empty()).then(|| c.env.clone()),
            labels: Some(labels),
            healthcheck: health_of(task),
            exposed_ports: exposed,
            // `docker stop` (and ours, which names no timeout) waits this long before SIGKILL.
            stop_timeout: Some(c.stop_grace_period_ms.map(|ms| ms.div_ceil(1000) as i64).unwrap_or(DEFAULT_STOP_GRACE.as_secs() as i64)),
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&Self::name_of(task)).build();
        self.starting.lock().unwrap().insert(task.id.clone());
        let r = async {
            // Another node on this engine may prune an engine network between our finding it
            // and the create: make it again once.
            let mut body = body;
            let mut tries = 0;
            let (created, more) = loop {
                tries += 1;
                // The container is created on its first network; the others are joined before
                // it starts (engines before API 1.44 take one endpoint at create).
                let mut more = Vec::new();
                if let Some(joins) = crate::networks::endpoints(&self.docker, task, self.data_path.as_deref()).await? {
                    let mut endpoints = joins.endpoints;
                    let (first, settings) = endpoints.remove(0);
                    let host = body.host_config.get_or_insert_with(Default::default);
                    host.network_mode = Some(first.clone());
                    if !joins.name_servers.is_empty() {
                        // The overlay's name servers first; then the service's own (--dns), or
                        // the host's, for every other name.
                        let then = if c.dns.nameservers.is_empty() { crate::datapath::host_resolvers() } else { c.dns.nameservers.clone() };
                        host.dns = Some(joins.name_servers.into_iter().chain(then).collect());
                    }
                    body.networking_config =
                        Some(bollard::models::NetworkingConfig { endpoints_config: Some([(first, settings)].into_iter().collect()) });
                    more = endpoints;
                }
                match self.docker.create_container(Some(opts.clone()), body.clone()).await {
                    Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, message }) if tries < 2 && message.contains("network") => { // error text: Docker's API gives a 404 and words only
                        tracing::debug!(target: "shoal", "create {}: {message}; again", task.id)
                    }
                    r => break (r.map_err(|e| e.to_string())?, more),
                }
            };
            for (network, settings) in more {
                let req = bollard::models::NetworkConnectRequest { container: created.id.clone(), endpoint_config: Some(settings) };
                self.docker.connect_network(&network, req).await.map_err(|e| format!("cannot join engine network {network}: {e}"))?;
            }
            self.docker.start_container(&created.id, None).await.map_err(|e| e.to_string())
        }
        .await;
        self.starting.lock().unwrap().remove(&task.id);
        r?;
        self.changed.notify_one();
        Ok(())
    }

    async fn stop(&self, task_id: &str) {
        let Some(id) = self.find(task_id).await else { return };
        // No timeout named: the container's own StopTimeout (the task's grace period) applies.
        if let Err(e) = self.docker.stop_container(&id, None::<bollard::query_parameters::StopContainerOptions>).await {
            tracing::debug!(target: "shoal", "stop {task_id}: {e}");
        }
        self.changed.notify_one();
    }

    async fn remove(&self, task_id: &str) {
        // The task's secret and config files go with its container.
        let _ = std::fs::remove_dir_all(self.secrets_dir.join(task_id));
        let Some(id) = self.find(task_id).await else { return };
        let opts = RemoveContainerOptionsBuilder::new().force(true).build();
        if let Err(e) = self.docker.remove_container(&id, Some(opts)).await {
            tracing::debug!(target: "shoal", "remove {task_id}: {e}");
        }
        // The last container of a swarm network on this engine takes the engine network along.
        crate::networks::prune(&self.docker).await;
    }

    async fn changed(&self) {
        self.changed.notified().await;
    }

    async fn usage(&self) -> Vec<shoal_core::model::TaskUsage> {
        self.cpu.take(&self.docker, &self.node_id)
    }
}

/// Starting a container that already runs answers 304: that is success here.
fn ignore_not_modified(e: bollard::errors::Error) -> Result<(), bollard::errors::Error> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code: 304, .. } => Ok(()),
        e => Err(e),
    }
}


/// Writes `data` to `file` with the owner and mode `owner` asks. Not being root is tolerated
/// only when the default owner (0:0) was asked: the file then stays the daemon's user's.
fn write_owned(file: &std::path::Path, data: &[u8], owner: &FileOwner) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(file, data)?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(owner.mode()))?;
    // Ids were checked to be numbers when the service was written.
    let (uid, gid) = (owner.uid().parse::<u32>().unwrap_or(0), owner.gid().parse::<u32>().unwrap_or(0));
    match std::os::unix::fs::chown(file, Some(uid), Some(gid)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && uid == 0 && gid == 0 => Ok(()),
        r => r,
    }
}

//! The task containers' CPU, from the engine's stats: the autoscaler's signal on Docker.
//!
//! A sampler task beside the agent takes one sample per running container of the node every
//! [`SAMPLE_PERIOD`] (`GET /containers/{id}/stats?stream=false&one-shot=true`) and keeps the
//! CPU used between it and the container's previous sample, as `docker stats` computes it: the
//! container's CPU time over the host's, times the online CPUs. Each heartbeat the agent takes
//! the latest measure ([`Executor::usage`](shoal_core::node::agent::Executor)) without waiting:
//! a stats call can take a second on some engines (Docker 20.10 here), and a heartbeat must not.
//! The sampler starts at the first ask and stops when nobody asked for [`IDLE_STOP`] (the
//! leader autoscales nothing). A container seen for the first time reports nothing until its
//! next sample.

use bollard::query_parameters::{ListContainersOptionsBuilder, StatsOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;
use shoal_core::model::TaskUsage;
use std::collections::{BTreeMap, HashMap};

/// Containers sampled at once (each sample is one engine round trip).
const SAMPLES_IN_FLIGHT: usize = 8;
/// How often the sampler measures (about a heartbeat period).
const SAMPLE_PERIOD: std::time::Duration = std::time::Duration::from_secs(4);
/// The sampler stops after this long without an ask.
const IDLE_STOP: std::time::Duration = std::time::Duration::from_secs(30);

/// One container's CPU counters at a sample (nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    pub container_ns: u64,
    pub system_ns: u64,
    pub online_cpus: u32,
}

/// Thousandths of a CPU used between two samples of one container (`docker stats`' percent
/// times ten); None when the counters did not move forward (a restart reset them).
pub fn cpu_millicores(before: CpuSample, after: CpuSample) -> Option<u32> {
    let container = after.container_ns.checked_sub(before.container_ns)?;
    let system = after.system_ns.checked_sub(before.system_ns).filter(|s| *s > 0)?;
    let m = container as u128 * after.online_cpus.max(1) as u128 * 1_000 / system as u128;
    Some(u32::try_from(m).unwrap_or(u32::MAX))
}

/// The previous sample of each container (by container id), the latest measure not yet
/// taken, and the sampler's state.
#[derive(Default)]
pub struct CpuMeter {
    previous: std::sync::Mutex<BTreeMap<String, CpuSample>>,
    latest: std::sync::Mutex<Vec<TaskUsage>>,
    /// Some while the sampler runs: when the agent last asked.
    asked: std::sync::Mutex<Option<std::time::Instant>>,
}

impl CpuMeter {
    /// The latest measure (each taken once), starting the sampler if it is not running.
    pub fn take(self: &std::sync::Arc<Self>, docker: &Docker, node_id: &str) -> Vec<TaskUsage> {
        let start = (*self.asked.lock().unwrap()).replace(std::time::Instant::now()).is_none();
        if start {
            let (me, docker, node_id) = (self.clone(), docker.clone(), node_id.to_string());
            tokio::spawn(async move {
                loop {
                    let measured = me.measure(&docker, &node_id).await;
                    *me.latest.lock().unwrap() = measured;
                    tokio::time::sleep(SAMPLE_PERIOD).await;
                    let mut asked = me.asked.lock().unwrap();
                    if asked.is_some_and(|at| at.elapsed() > IDLE_STOP) {
                        *asked = None;
                        me.previous.lock().unwrap().clear();
                        return;
                    }
                }
            });
        }
        std::mem::take(&mut *self.latest.lock().unwrap())
    }

    /// The CPU of every running container labelled with `node_id`, since its last sample.
    async fn measure(&self, docker: &Docker, node_id: &str) -> Vec<TaskUsage> {
        let filters: HashMap<&str, Vec<String>> = HashMap::from([
            ("label", vec![format!("{}={node_id}", super::LABEL_NODE)]),
            ("status", vec!["running".to_string()]),
        ]);
        let opts = ListContainersOptionsBuilder::new().filters(&filters).build();
        let Ok(list) = docker.list_containers(Some(opts)).await else { return Vec::new() };
        let running: Vec<(String, String)> = list
            .into_iter()
            .filter_map(|c| Some((c.id?, c.labels?.get(super::LABEL_TASK)?.clone())))
            .collect();
        let samples: Vec<(String, String, Option<CpuSample>)> = futures_util::stream::iter(running)
            .map(|(id, task)| async move {
                let opts = StatsOptionsBuilder::new().stream(false).one_shot(true).build();
                let s = docker.stats(&id, Some(opts)).next().await.and_then(|r| r.ok()).and_then(|r| {
                    let cpu = r.cpu_stats?;
                    Some(CpuSample { container_ns: cpu.cpu_usage?.total_usage?, system_ns: cpu.system_cpu_usage?, online_cpus: cpu.online_cpus.unwrap_or(1) })
                });
                (id, task, s)
            })
            .buffer_unordered(SAMPLES_IN_FLIGHT)
            .collect()
            .await;
        let mut previous = self.previous.lock().unwrap();
        let mut next = BTreeMap::new();
        let mut usage = Vec::new();
        for (id, task_id, sample) in samples {
            let Some(s) = sample else { continue };
            if let Some(m) = previous.get(&id).and_then(|p| cpu_millicores(*p, s)) {
                usage.push(TaskUsage { task_id, cpu_millicores: m });
            }
            next.insert(id, s);
        }
        // Containers gone since are forgotten.
        *previous = next;
        usage.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `docker stats`: CPU % = container delta / system delta × online CPUs × 100.
    #[test]
    fn millicores_as_docker_stats_counts_them() {
        let a = CpuSample { container_ns: 1_000_000_000, system_ns: 100_000_000_000, online_cpus: 2 };
        // Half a second of CPU while the host's two CPUs ran 2 s (1 s of wall time): 50%.
        let b = CpuSample { container_ns: 1_500_000_000, system_ns: 102_000_000_000, online_cpus: 2 };
        assert_eq!(cpu_millicores(a, b), Some(500));
        // A busy loop: one whole CPU.
        let c = CpuSample { container_ns: 2_500_000_000, system_ns: 104_000_000_000, online_cpus: 2 };
        assert_eq!(cpu_millicores(b, c), Some(1_000));
        // Counters that went back (the container restarted) or a host that did not move.
        assert_eq!(cpu_millicores(c, a), None);
        assert_eq!(cpu_millicores(c, c), None);
    }
}

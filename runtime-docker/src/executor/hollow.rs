//! The hollow executor (`--hollow`, for scripts/bench-hollow only): kubemark's hollow node. A
//! daemon with it is a real node — real TCP, mutual TLS, raft, dispatcher sessions, agent —
//! whose containers exist only in this map: a start runs at once, a stop exits 0, nothing
//! touches Docker. So a few hundred worker daemons fit on one machine, and the control plane's
//! behaviour at that size can be measured in production next to the simulator's prediction
//! for the same shape (the simulator's executor also runs a plain task at once).
//!
//! Never a default: a node started with it runs no workload, and says so in its log.

use shoal_core::agent::{Container, ContainerState};
use shoal_core::dispatcher::Dependencies;
use shoal_core::model::Task;
use shoal_core::node::agent::Executor;
use shoal_core::node::logs::{LogOptions, LogSource};
use shoal_core::proto::LogLine;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tokio::sync::mpsc;

#[derive(Default)]
pub struct HollowExecutor {
    containers: Mutex<BTreeMap<String, ContainerState>>,
    changed: tokio::sync::Notify,
}

impl HollowExecutor {
    fn set(&self, task_id: &str, state: Option<ContainerState>) {
        let mut c = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(s) => {
                c.insert(task_id.to_string(), s);
            }
            None => {
                c.remove(task_id);
            }
        }
        drop(c);
        // A permit is kept when the agent is not waiting yet: no change is missed.
        self.changed.notify_one();
    }
}

#[tonic::async_trait]
impl Executor for HollowExecutor {
    async fn list(&self) -> Vec<Container> {
        let c = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        c.iter().map(|(id, s)| Container::new(id.clone(), s.clone())).collect()
    }

    async fn start(&self, task: &Task, _deps: &Dependencies) -> Result<(), String> {
        self.set(&task.id, Some(ContainerState::Running));
        Ok(())
    }

    async fn stop(&self, task_id: &str) {
        let known = self.containers.lock().unwrap_or_else(|e| e.into_inner()).contains_key(task_id);
        if known {
            self.set(task_id, Some(ContainerState::Exited(0)));
        }
    }

    async fn remove(&self, task_id: &str) {
        self.set(task_id, None);
    }

    async fn changed(&self) {
        self.changed.notified().await;
    }
}

impl LogSource for HollowExecutor {
    /// A hollow container writes nothing.
    fn logs(&self, _task_id: String, _opts: LogOptions, _tx: mpsc::Sender<LogLine>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio_rt::test(crate = "tokio_rt")]
    async fn containers_run_at_once_exit_on_stop_and_every_change_wakes_the_agent() {
        let h = HollowExecutor::default();
        let t = Task { id: "t1".into(), ..Default::default() };
        h.start(&t, &Dependencies::default()).await.unwrap();
        // The start's change is kept for an agent that waits only now.
        tokio_rt::time::timeout(std::time::Duration::from_secs(1), h.changed()).await.expect("the start woke the agent");
        assert_eq!(h.list().await.iter().map(|c| c.state.clone()).collect::<Vec<_>>(), [ContainerState::Running]);
        h.stop("t1").await;
        assert_eq!(h.list().await[0].state, ContainerState::Exited(0));
        h.stop("unknown").await;
        h.remove("t1").await;
        assert!(h.list().await.is_empty());
    }
}

//! Secret and config confinement: a node receives only the secrets and configs its unfinished
//! assigned tasks use
//! (swarm's promise: "secrets are only sent to nodes that run a task using them"; a finished
//! task stays in the set as history, but its secrets are released). Checked on every
//! assignment set an agent applies, against the tasks that came with it. Guards against a
//! dispatcher that sends the swarm's secrets to every node (the `secret-to-wrong-node` mutant)
//! or keeps sending a secret after the last task using it finished or left the node.

use shoal_core::dispatcher::Dependencies;
use shoal_core::model::Task;
use std::collections::BTreeSet;

/// Err names the first secret or config in `deps` that no unfinished task in `tasks` uses.
pub fn confined(node: &str, tasks: &[Task], deps: &Dependencies) -> Result<(), String> {
    let unfinished = || tasks.iter().filter(|t| !t.is_terminal()).map(|t| &t.spec.container);
    let secrets: BTreeSet<&str> = unfinished().flat_map(|c| c.secrets.iter().map(|r| r.secret_id.as_str())).collect();
    let configs: BTreeSet<&str> = unfinished().flat_map(|c| c.configs.iter().map(|r| r.config_id.as_str())).collect();
    let stray = deps
        .secrets
        .iter()
        .find(|s| !secrets.contains(s.id.as_str()))
        .map(|s| ("secret", &s.spec.annotations.name, &s.id))
        .or_else(|| deps.configs.iter().find(|c| !configs.contains(c.id.as_str())).map(|c| ("config", &c.spec.annotations.name, &c.id)));
    match stray {
        None => Ok(()),
        Some((kind, name, id)) => Err(format!(
            "{kind} {name} ({id}) reached {node}, whose {} unfinished assigned task(s) do not use it",
            unfinished().count()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::model::{Annotations, Config, ConfigReference, Secret, SecretReference, SecretSpec};

    #[test]
    fn a_secret_no_assigned_task_uses_is_a_violation() {
        let secret = |id: &str| Secret { id: id.into(), spec: SecretSpec { annotations: Annotations { name: format!("n-{id}"), ..Default::default() }, data: b"x".to_vec() }, ..Default::default() };
        let mut t = Task::default();
        t.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into(), ..Default::default() }];
        let deps = |s: &[&str], c: &[&str]| Dependencies {
            secrets: s.iter().map(|id| secret(id)).collect(),
            configs: c.iter().map(|id| Config { id: id.to_string(), spec: secret(id).spec, ..Default::default() }).collect(),
        };
        assert_eq!(confined("w1", &[t.clone()], &deps(&["a"], &[])), Ok(()));
        let e = confined("w1", &[t.clone()], &deps(&["a", "b"], &[])).unwrap_err();
        assert!(e.contains("secret n-b (b) reached w1"), "{e}");
        assert!(confined("w1", &[], &deps(&["a"], &[])).is_err());
        let e = confined("w1", &[t.clone()], &deps(&["a"], &["c"])).unwrap_err();
        assert!(e.contains("config n-c (c) reached w1"), "{e}");
        t.spec.container.configs = vec![ConfigReference { config_id: "c".into(), config_name: "n-c".into(), ..Default::default() }];
        assert_eq!(confined("w1", &[t], &deps(&["a"], &["c"])), Ok(()));
        // A finished task is history: its secret is released.
        let mut done = Task::default();
        done.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into(), ..Default::default() }];
        done.status.state = shoal_core::model::TaskState::Failed;
        assert!(confined("w1", &[done], &deps(&["a"], &[])).is_err());
    }
}

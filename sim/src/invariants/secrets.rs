//! Secret confinement: a node receives only the secrets its unfinished assigned tasks use
//! (swarm's promise: "secrets are only sent to nodes that run a task using them"; a finished
//! task stays in the set as history, but its secrets are released). Checked on every
//! assignment set an agent applies, against the tasks that came with it. Guards against a
//! dispatcher that sends the swarm's secrets to every node (the `secret-to-wrong-node` mutant)
//! or keeps sending a secret after the last task using it finished or left the node.

use shoal_core::model::{Secret, Task};
use std::collections::BTreeSet;

/// Err names the first secret in `secrets` that no unfinished task in `tasks` uses.
pub fn confined(node: &str, tasks: &[Task], secrets: &[Secret]) -> Result<(), String> {
    let unfinished = || tasks.iter().filter(|t| !t.is_terminal());
    let used: BTreeSet<&str> = unfinished().flat_map(|t| t.spec.container.secrets.iter().map(|r| r.secret_id.as_str())).collect();
    match secrets.iter().find(|s| !used.contains(s.id.as_str())) {
        None => Ok(()),
        Some(s) => Err(format!(
            "secret {} ({}) reached {node}, whose {} unfinished assigned task(s) do not use it",
            s.spec.annotations.name,
            s.id,
            unfinished().count()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_core::model::{Annotations, SecretReference, SecretSpec};

    #[test]
    fn a_secret_no_assigned_task_uses_is_a_violation() {
        let secret = |id: &str| Secret { id: id.into(), spec: SecretSpec { annotations: Annotations { name: format!("n-{id}"), ..Default::default() }, data: b"x".to_vec() }, ..Default::default() };
        let mut t = Task::default();
        t.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into() }];
        assert_eq!(confined("w1", &[t.clone()], &[secret("a")]), Ok(()));
        let e = confined("w1", &[t], &[secret("a"), secret("b")]).unwrap_err();
        assert!(e.contains("secret n-b (b) reached w1"), "{e}");
        assert!(confined("w1", &[], &[secret("a")]).is_err());
        // A finished task is history: its secret is released.
        let mut done = Task::default();
        done.spec.container.secrets = vec![SecretReference { secret_id: "a".into(), secret_name: "n-a".into(), target: "n-a".into() }];
        done.status.state = shoal_core::model::TaskState::Failed;
        assert!(confined("w1", &[done], &[secret("a")]).is_err());
    }
}

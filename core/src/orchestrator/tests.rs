use super::*;

#[test]
fn ids_look_like_swarms_and_are_unique_per_seed() {
    let mut a = IdGen::new(1);
    let x = a.next_id();
    assert_eq!(x.len(), 25);
    assert!(x.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_ne!(x, a.next_id());
    assert_eq!(IdGen::new(1).next_id(), x);
    assert_ne!(IdGen::new(2).next_id(), x);
}

fn task(id: &str, version: u64, state: TaskState, created_ms: u64) -> Task {
    let mut t = Task { id: id.into(), slot: 7, spec_version: version, desired_state: TaskState::Running, ..Default::default() };
    t.status.state = state;
    t.meta.created_at_ms = created_ms;
    t
}

// A slot holds one live task: a failed old task whose start-first replacement already runs is
// not replaced again (found by `bench mesh --crashes`: a worker came back, reported its old
// task's container gone, and the restart made a second task of the new spec for the slot).
#[test]
fn a_failed_task_whose_slot_is_held_is_not_restarted() {
    let old = task("old", 1, TaskState::Failed, 0);
    let fresh = task("fresh", 2, TaskState::Running, 10);
    assert!(!replaces_in_slot(&[&old, &fresh], &old, Task::is_terminal));
    assert!(replaces_in_slot(&[&old], &old, Task::is_terminal), "alone in its slot, it is restarted");
    // Two that ended together: only the newest is replaced.
    let fresh_failed = task("fresh", 2, TaskState::Failed, 10);
    assert!(replaces_in_slot(&[&old, &fresh_failed], &fresh_failed, Task::is_terminal));
    assert!(!replaces_in_slot(&[&old, &fresh_failed], &old, Task::is_terminal));
    // A lost old task next to its running start-first replacement is not replaced either
    // (`bench mesh --crashes`: the worker was marked down after the replacement ran).
    let lost_old = task("old", 1, TaskState::Running, 0);
    assert!(!replaces_in_slot(&[&lost_old, &fresh], &lost_old, |t| t.id == "old"));
}

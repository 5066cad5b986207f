//! The restart supervisor: whether a finished task of a slot gets a replacement, and when.

use crate::model::{RestartCondition, Task, TaskState};

/// What to do with a live task whose process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Replace it; the replacement carries this restart history.
    Restart { history_ms: Vec<u64> },
    /// Leave the slot as it is (policy says no more restarts).
    Keep,
}

/// Decides for task `t` (observed state past RUNNING) at `now_ms`.
pub fn decide(t: &Task, now_ms: u64) -> Verdict {
    let p = &t.spec.restart;
    let failed = matches!(t.status.state, TaskState::Failed | TaskState::Rejected)
        || (t.status.state == TaskState::Complete && t.status.exit_code.is_some_and(|c| c != 0));
    let wanted = match p.condition {
        RestartCondition::None => false,
        RestartCondition::OnFailure => failed,
        RestartCondition::Any => true,
    };
    if !wanted {
        return Verdict::Keep;
    }
    let mut history: Vec<u64> = t
        .restart_history_ms
        .iter()
        .copied()
        .filter(|at| p.window_ms == 0 || at + p.window_ms > now_ms)
        .collect();
    if p.max_attempts > 0 && history.len() as u64 >= p.max_attempts {
        return Verdict::Keep;
    }
    history.push(now_ms);
    // Bounded: only the attempts that can still count are kept.
    if p.max_attempts > 0 && history.len() as u64 > p.max_attempts {
        history.drain(..history.len() - p.max_attempts as usize);
    } else if p.max_attempts == 0 && history.len() > 16 {
        history.drain(..history.len() - 16);
    }
    Verdict::Restart { history_ms: history }
}

/// When [`decide`] may next change its answer for `t` without `t` changing: a task kept
/// because its attempts in the window ran out is restarted once the oldest of them leaves
/// the window. None when time alone cannot change the verdict.
pub fn revisit_at(t: &Task, now_ms: u64) -> Option<u64> {
    let p = &t.spec.restart;
    if p.window_ms == 0 || p.max_attempts == 0 || decide(t, now_ms) != Verdict::Keep {
        return None;
    }
    t.restart_history_ms.iter().map(|at| at + p.window_ms).filter(|at| *at > now_ms).min()
}

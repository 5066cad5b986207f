//! The `[images."NAME"]` tables: what a simulated image does when its container starts.

use std::time::Duration;

/// What a simulated image does when its container starts (`[images."NAME"]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Behaviour {
    /// Runs until stopped.
    #[default]
    Serve,
    /// Exits with `code` after `after`.
    Exit,
    /// Takes `after` to start running.
    SlowStart,
    /// Runs with its own healthcheck (every 1 s, 3 retries), which fails from `after` on.
    UnhealthyAfter,
    /// Killed for memory after `after` (exit 137).
    Oom,
    /// The image cannot be pulled: the task is rejected.
    PullFails,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSpec {
    pub behaviour: Behaviour,
    pub code: i32,
    pub after: Duration,
    /// CPU time each request a container of the image serves costs it (`cpu-per-request`):
    /// what its CPU, the autoscaler's signal, is made of. Zero by default.
    pub cpu_per_request: Duration,
}

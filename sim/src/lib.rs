//! shoal-sim: Shoal's deterministic simulated world.
//!
//! A run is fully determined by `(scenario, seed)`: madsim drives simulated nodes, network and
//! time from the seed; this crate adds what madsim does not have — a disk with crash semantics
//! ([`disk`]), cluster control with faults ([`cluster`]), invariant checkers ([`invariants`]),
//! a trace with a hash ([`trace`]), scenario files ([`scenario`]), the routing-mesh model
//! ([`mesh`]) with its request client ([`traffic`]), the runner ([`runner`]), the fault
//! explorer ([`explore`]), the shrinker ([`shrink`]) and the linearizability checker
//! ([`history`]), and where a scenario asks, certificates ([`pki`]).
//!
//! Only compiled with `--cfg madsim` (scripts/sim, `cargo sim-*` aliases): a binary built with
//! the cfg panics outside the simulator, and one built without it has no simulator.
#![cfg(madsim)]

pub mod bench;
pub mod bench_cluster;
pub mod bench_history;
pub mod bench_names;
pub mod client;
pub mod cluster;
pub mod control_load;
pub mod disk;
pub mod executor;
pub mod bench_plan;
pub mod bench_twin;
pub mod explore;
pub mod explore_twin;
pub mod what_if;
pub mod history;
pub mod invariants;
pub mod mesh;
pub mod names;
pub mod pki;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod trace;
pub mod traffic;
pub mod twin;

pub use runner::{run, RunOptions, RunReport};
pub use scenario::Scenario;

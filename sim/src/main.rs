//! `shoal-sim`: run scenarios in the deterministic simulator.
//!
//! ```text
//! shoal-sim run FILE... [--seed N | --seeds A..B] [--json] [--trace FILE] [--verbose]
//! shoal-sim check-determinism FILE --seed N
//! shoal-sim check-history FILE [--model register|kv]
//! shoal-sim bench raft [--seeds A..B]
//! shoal-sim bench failover [--seeds A..B]
//! ```
//! Exit codes: 0 every run passed, 1 a run failed, 2 bad input (nothing was run).

#[cfg(not(madsim))]
fn main() {
    eprintln!("shoal-sim must be built with --cfg madsim: run it through scripts/sim");
    std::process::exit(2);
}

#[cfg(madsim)]
fn main() {
    std::process::exit(cli::main());
}

#[cfg(madsim)]
mod cli;
#[cfg(madsim)]
mod explore_cmd;

//! `shoal`: the production daemon and CLI.
//!
//! This build carries the storage layer ([`disk::FileDisk`]) and the shared command grammar;
//! the daemon, mTLS transport and Docker executor arrive with the production-runtime issue.
//! Until then every command says so and exits 2 instead of pretending to work.

mod disk;

use shoal_core::cli::parse_control;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--version") {
        println!("shoal {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    match parse_control(args.iter().map(String::as_str)) {
        Ok(cmd) => {
            eprintln!(
                "shoal: `{}` parsed ({cmd:?}), but this build has no daemon yet; \
                 run the cluster in the simulator: scripts/sim run scenarios/raft/leader-crash.toml --seed 42",
                args.join(" ")
            );
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("shoal: {e}");
            std::process::exit(2);
        }
    }
}

//! `stack deploy|ls|services|ps|rm|config`: docker's stack verbs and flags.

use super::ListFlags;
use clap::Subcommand;

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum StackCommand {
    /// Deploy a new stack or update an existing stack
    #[command(alias = "up")]
    Deploy {
        /// Path to a Compose file (repeatable: later files override earlier ones)
        #[arg(long = "compose-file", short = 'c', required = true, value_delimiter = ',')]
        compose_files: Vec<String>,
        /// Prune services that are no longer referenced
        #[arg(long)]
        prune: bool,
        /// Query the registry to resolve image digests ("always", "changed", "never"); Shoal
        /// runs images as named, so every value behaves as "never"
        #[arg(long, default_value = "always", value_parser = ["always", "changed", "never"])]
        resolve_image: String,
        /// Exit at once instead of waiting for the services to converge (the default)
        #[arg(long, short = 'd', num_args = 0..=1, default_missing_value = "true", default_value = "true")]
        detach: bool,
        /// Send registry authentication details to Swarm agents (accepted: no registry is used)
        #[arg(long)]
        with_registry_auth: bool,
        #[command(flatten)]
        plan: super::PlanFlags,
        /// The stack's name
        name: String,
    },
    /// List stacks
    #[command(alias = "list")]
    Ls(ListFlags),
    /// List the services in the stack
    Services {
        #[command(flatten)]
        list: ListFlags,
        name: String,
    },
    /// List the tasks in the stack
    Ps {
        #[command(flatten)]
        list: ListFlags,
        name: String,
    },
    /// Remove one or more stacks
    #[command(alias = "remove", alias = "down")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Outputs the final config file, after doing merges and interpolations
    Config {
        /// Path to a Compose file (repeatable)
        #[arg(long = "compose-file", short = 'c', required = true, value_delimiter = ',')]
        compose_files: Vec<String>,
        /// Skip interpolation and output only merged config
        #[arg(long)]
        skip_interpolation: bool,
    },
}

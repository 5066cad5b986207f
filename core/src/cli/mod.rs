//! The command grammar shared by the `shoal` CLI and the simulator's scenario steps.
//!
//! A scenario's `do = "node promote worker-2"` is parsed by exactly the clap definitions the
//! CLI uses, so a step reads like the command an operator would type. Pure: parsing only.

use clap::{Parser, Subcommand};

/// Control commands (the part of `shoal`'s CLI that acts on a running cluster).
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
#[command(name = "shoal", no_binary_name = true, disable_help_subcommand = true)]
pub struct ControlCli {
    #[command(subcommand)]
    pub command: ControlCommand,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ControlCommand {
    /// Manage swarm nodes.
    #[command(subcommand)]
    Node(NodeCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum NodeCommand {
    /// Promote one or more nodes to manager in the swarm.
    Promote {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Demote one or more nodes from manager in the swarm.
    Demote {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
}

/// Parses one command line (already split into words, without the program name).
pub fn parse_control<I, S>(words: I) -> Result<ControlCommand, String>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    ControlCli::try_parse_from(words).map(|c| c.command).map_err(|e| {
        // clap's rendered error carries usage lines; the first line says what was wrong.
        e.render().to_string().lines().next().unwrap_or("invalid command").trim_start_matches("error: ").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_promote_like_docker() {
        assert_eq!(
            parse_control(["node", "promote", "worker-1", "worker-2"]),
            Ok(ControlCommand::Node(NodeCommand::Promote { nodes: vec!["worker-1".into(), "worker-2".into()] }))
        );
        let err = parse_control(["node", "promote"]).unwrap_err();
        assert!(err.contains("required"), "{err}");
        let err = parse_control(["node", "frobnicate", "x"]).unwrap_err();
        assert!(err.contains("frobnicate"), "{err}");
    }
}

//! Stacks: compose files turned into swarm objects, as `docker stack deploy` turns them (pure).
//!
//! Owns the path from a compose file's text to the objects a stack is made of, and the plan
//! that makes a swarm hold them:
//! * [`load`]: YAML, extension keys, ignored keys, interpolation ([`interpolate`]), several
//!   files merged, typed as [`compose::ComposeFile`];
//! * [`convert`]: the typed file into a [`convert::StackSpec`] — networks, secrets, configs
//!   and service specs named `STACK_name` and labelled `com.docker.stack.namespace`, the
//!   service specs built as the docker CLI builds them and then read by the Engine API's
//!   conversion, so both ways into Shoal make the same spec;
//! * [`deploy`]: a state machine that reads what the stack has in the swarm, plans (create
//!   what is missing, update what changed, prune what left the file) and hands out one
//!   control request at a time (`poll_request` / `handle_reply`), for the `shoal` CLI and
//!   the simulator's steps alike.
//!
//! Inputs are texts, variables and file contents the caller read; nothing here touches a
//! file, the network or a clock. Invariant: a stack whose files are invalid in any part is
//! refused before its first request (validate everything first).

pub mod compose;
pub mod convert;
mod convert_deploy;
pub mod deploy;
pub mod interpolate;
pub mod load;
mod values;

#[cfg(test)]
mod tests;

pub use interpolate::{InterpolateError, Variables};

/// The label docker puts on every object of a stack, with the stack's name.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";
/// The label on a stack's service with the image as the compose file names it.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";

/// Why a stack could not be loaded, converted or deployed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StackError {
    /// The YAML (or an env file) does not parse.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax { file: String, line: usize, column: usize, message: String },
    /// A key holds a value of the wrong type or an invalid value; `path` names the key
    /// (`services.web.deploy.replicas`).
    #[error("{file}: {path}: {message}")]
    Invalid { file: String, path: String, message: String },
    /// A variable could not be substituted.
    #[error("{file}: {path}: {source}")]
    Interpolate { file: String, path: String, source: InterpolateError },
    /// Keys docker refuses outright, each with what to write instead.
    #[error("{file}: compose file contains unsupported options:\n\n{}", options.join("\n\n"))]
    Forbidden { file: String, options: Vec<String> },
    /// A file the compose file names (a secret's or config's `file`, an `env_file`) could not
    /// be read.
    #[error("{what} {path}: {message}")]
    Read { what: String, path: String, message: String },
    /// The stack's name cannot name swarm objects.
    #[error("invalid stack name {0:?}: use letters, digits, '-', '_' and '.', starting with a letter or digit")]
    Name(String),
    /// Something the file refers to must exist in the swarm and does not.
    #[error("{0}")]
    Missing(String),
    /// The swarm refused or failed a request of the deploy (docker's "failed to create
    /// service NAME: …").
    #[error("{0}")]
    Control(String),
}

/// The stack `stack` from its compose files: loaded, merged, interpolated and converted
/// (see [`convert::Context`] for `working_dir` and `read`), with the warnings to print.
pub fn prepare(
    stack: &str,
    sources: &[load::Source],
    working_dir: &str,
    vars: &Variables,
    read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<(convert::StackSpec, Vec<String>), StackError> {
    let loaded = load::load(sources, Some(vars))?;
    let files = sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let ctx = convert::Context { files, working_dir: working_dir.to_string(), vars, read };
    Ok((convert::convert(stack, &loaded.file, &ctx)?, loaded.warnings))
}

/// `STACK_name`, docker's namespacing of a stack's objects.
pub fn scoped(stack: &str, name: &str) -> String {
    format!("{stack}_{name}")
}

/// A stack name must be usable as a prefix of service, network and secret names.
pub fn validate_stack_name(stack: &str) -> Result<(), StackError> {
    let ok = stack.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && stack.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && stack.len() <= 63;
    if ok { Ok(()) } else { Err(StackError::Name(stack.to_string())) }
}

//! A failed control call as the client-side machines ([`super::ServiceUpdater`],
//! [`crate::stack::deploy::Deployer`]) tell it apart: by kind, which the shell takes from the
//! call's status code (`CallError::of_status` in core/src/node/control.rs), never from text.

/// What kind of failure a control call had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// The object changed since it was read (the write was out of sequence): read again.
    Raced,
    NotFound,
    AlreadyExists,
    /// Anything else: refused, unreachable, timed out.
    Other,
}

/// A failed control call: its kind and the message the client shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallError {
    pub kind: CallFailure,
    pub message: String,
}

impl CallError {
    pub fn other(message: impl Into<String>) -> CallError {
        CallError { kind: CallFailure::Other, message: message.into() }
    }
}

//! The error every backend returns: a closed kind the callers branch on, and a message for people.

use std::fmt;

/// The closed set of error kinds (modelled on containerd's errdefs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    /// The operation does not fit the current state (e.g. starting a running task).
    Conflict,
    /// The daemon or registry cannot be reached.
    Unavailable,
    Unsupported,
    Cancelled,
    Internal,
}

/// An error from a backend. The message names what failed; it never carries secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuntimeError {
    pub kind: ErrorKind,
    pub message: String,
}

impl RuntimeError {
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }
    pub fn not_found(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    pub fn invalid(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidArgument, m)
    }
    pub fn unavailable(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Unavailable, m)
    }
    pub fn conflict(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Conflict, m)
    }
    pub fn internal(m: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, m)
    }
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled")
    }
    /// Prefixes the message with what was being done, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

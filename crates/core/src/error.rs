//! The one error type of core: a closed code the UI and CLI branch on, and a message that names
//! what failed and what to do.

use std::fmt;

use crate::model::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl fmt::Display) -> Self {
        Self {
            code,
            message: message.to_string(),
        }
    }
    pub fn invalid(m: impl fmt::Display) -> Self {
        Self::new(ErrorCode::InvalidArgument, m)
    }
    pub fn not_found(m: impl fmt::Display) -> Self {
        Self::new(ErrorCode::NotFound, m)
    }
    pub fn conflict(m: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Conflict, m)
    }
    pub fn unavailable(m: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Unavailable, m)
    }
    pub fn internal(m: impl fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, m)
    }
    pub fn cancelled() -> Self {
        Self::new(ErrorCode::Cancelled, "cancelled")
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code,
            message: self.message.clone(),
        }
    }
    /// Prefixes what was being done, keeping the code.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            code: self.code,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl From<berth_runtime::RuntimeError> for Error {
    fn from(e: berth_runtime::RuntimeError) -> Self {
        use berth_runtime::ErrorKind as K;
        let code = match e.kind {
            K::NotFound => ErrorCode::NotFound,
            K::AlreadyExists => ErrorCode::AlreadyExists,
            K::InvalidArgument => ErrorCode::InvalidArgument,
            K::Conflict => ErrorCode::Conflict,
            K::Unavailable => ErrorCode::Unavailable,
            K::Unsupported => ErrorCode::Unsupported,
            K::Cancelled => ErrorCode::Cancelled,
            K::Internal => ErrorCode::Internal,
        };
        Self::new(code, e.message)
    }
}

impl From<berth_store::StoreError> for Error {
    fn from(e: berth_store::StoreError) -> Self {
        use berth_store::StoreErrorKind as K;
        let code = match e.kind() {
            K::NotFound => ErrorCode::NotFound,
            K::AlreadyExists => ErrorCode::AlreadyExists,
            K::Unsupported => ErrorCode::Unsupported,
            K::Unavailable => ErrorCode::Unavailable,
            K::Internal => ErrorCode::Internal,
        };
        Self::new(code, e)
    }
}

impl From<berth_bridge::BridgeError> for Error {
    fn from(e: berth_bridge::BridgeError) -> Self {
        use berth_bridge::BridgeError as B;
        let code = match &e {
            B::Unavailable(_) => ErrorCode::Unavailable,
            B::NotFound(_) => ErrorCode::NotFound,
            B::InvalidArgument(_) => ErrorCode::InvalidArgument,
            B::AlreadyExists(_) => ErrorCode::AlreadyExists,
            B::Conflict(_) => ErrorCode::Conflict,
            // Not `Unavailable`: nothing may read a refused listener as "the bridge went away"
            // and retry or fall back; the message says what happened.
            B::NotTheBridge(_) => ErrorCode::Internal,
            B::Internal(_) => ErrorCode::Internal,
        };
        Self::new(code, e)
    }
}

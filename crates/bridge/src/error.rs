//! The client's error type: a closed set of kinds (the app-wide error codes) mapped from gRPC statuses,
//! so callers never see tonic.

/// Why a bridge call failed. Each variant carries a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    /// The bridge could not be reached (no socket, connection refused or dropped, timeout).
    #[error("bridge unavailable: {0}")]
    Unavailable(String),
    /// Something named in the request does not exist (executable, working directory).
    #[error("{0}")]
    NotFound(String),
    /// The request was malformed (empty argv, bad env entry, cwd not a directory, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The target already exists (files: rename without overwrite, create-only write, extract).
    #[error("{0}")]
    AlreadyExists(String),
    /// A precondition about the current state failed (files: the revision changed on disk).
    #[error("{0}")]
    Conflict(String),
    /// Something other than the workspace's bridge listens on its socket (the bot moved the
    /// socket aside and bound its own): the connection was closed before anything was sent.
    #[error("{0}")]
    NotTheBridge(String),
    /// Anything else: a protocol violation or an unexpected failure inside the bridge.
    #[error("bridge internal error: {0}")]
    Internal(String),
}

impl BridgeError {
    /// The message without the kind prefix that `Display` adds.
    pub fn message(&self) -> &str {
        match self {
            BridgeError::Unavailable(m)
            | BridgeError::NotFound(m)
            | BridgeError::InvalidArgument(m)
            | BridgeError::AlreadyExists(m)
            | BridgeError::Conflict(m)
            | BridgeError::NotTheBridge(m)
            | BridgeError::Internal(m) => m,
        }
    }
}

/// Longest error message kept from the bridge: it is the bot's text, shown in dialogs and logs.
const MAX_MESSAGE: usize = 1024;

impl From<tonic::Status> for BridgeError {
    fn from(status: tonic::Status) -> Self {
        use tonic::Code;
        let mut message = status.message().to_string();
        if message.len() > MAX_MESSAGE {
            let mut end = MAX_MESSAGE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        match status.code() {
            Code::NotFound => BridgeError::NotFound(message),
            Code::AlreadyExists => BridgeError::AlreadyExists(message),
            Code::Aborted => BridgeError::Conflict(message),
            Code::InvalidArgument | Code::FailedPrecondition | Code::PermissionDenied => {
                BridgeError::InvalidArgument(message)
            }
            // A reset or refused connection surfaces as Unavailable/Unknown/Cancelled with
            // transport details; all of them mean "the bridge went away".
            Code::Unavailable | Code::Cancelled | Code::DeadlineExceeded => {
                BridgeError::Unavailable(message)
            }
            code => BridgeError::Internal(format!("{code:?}: {message}")),
        }
    }
}

impl From<tonic::transport::Error> for BridgeError {
    fn from(err: tonic::transport::Error) -> Self {
        if let Some(refused) = crate::peer::refusal(&err) {
            return BridgeError::NotTheBridge(refused);
        }
        // Include the source chain: tonic's top-level message is just "transport error".
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            // Some layers repeat their source's text in their own; keep each text once.
            let text = s.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = s.source();
        }
        BridgeError::Unavailable(message)
    }
}

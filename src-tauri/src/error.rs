//! The only serialisable error: `{code, message}` at the IPC boundary. The UI branches on `code`.

use berth_core::model::{ErrorBody, ErrorCode};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct IpcError(ErrorBody);

impl From<berth_core::Error> for IpcError {
    fn from(e: berth_core::Error) -> Self {
        // Logged once here, at the boundary; messages never carry secrets.
        if e.code == ErrorCode::Internal {
            tracing::error!(message = %e.message, "command failed");
        } else {
            tracing::debug!(code = ?e.code, message = %e.message, "command failed");
        }
        Self(e.body())
    }
}

pub type IpcResult<T> = Result<T, IpcError>;

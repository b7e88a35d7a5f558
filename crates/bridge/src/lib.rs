//! Berth's bridge: the agent that runs as PID 1 in every workspace container, and the
//! host-side client that talks to it over a Unix socket.
//!
//! The public API is [`BridgeClient`] with plain Rust types; tonic and prost stay inside this
//! crate (backend-specific types never leave their crate). The generated
//! [`proto`] module is public only so the `berth-bridge` binary (the server) can use it.

mod channel;
mod client;
mod data_client;
mod entry;
mod error;
mod files_client;
mod peer;
/// Reusable tar.gz producer and hostile-archive-safe consumer (files archive/extract, data export/import).
pub mod targz;
mod terminal_client;
/// The hostile test bridge (tests only).
#[cfg(feature = "test-support")]
pub mod testing;

pub use channel::BridgeChannel;
pub use client::{BridgeClient, ExecRequest, ExitStatus, Health};
pub use data_client::{DataClient, ImportRequest, ImportSummary, Verdict};
pub use entry::{check_name, check_path, MAX_NAME, MAX_PATH};
pub use error::BridgeError;
pub use files_client::{
    ArchiveProgress, ArchiveSummary, ExtractResult, FileEntry, FileKind, FilesClient, ListStream,
    ReadResult, WatchEvent, WatchStream, WriteOptions, WriteResult, MAX_LIST_BYTES,
    MAX_LIST_ENTRIES, MAX_MESSAGE,
};
pub use peer::{ExpectedPeer, PidLookup};
pub use terminal_client::{
    TerminalClient, TerminalEvent, TerminalReader, TerminalRequest, TerminalSession, TerminalWriter,
};

/// Generated protocol code (`berth.bridge.v1`). Not part of the supported API: it is public
/// only for the server binary in this crate.
#[doc(hidden)]
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("berth.bridge.v1");
}

/// Where the bridge listens inside the container unless `BERTH_BRIDGE_SOCKET` says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/berth/bridge.sock";

//! What the Data page shows: an archive's preview before import, the import result and the kept
//! archive. Generated into the UI's IPC types by ts-rs.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A validated archive chosen (or dropped) for import, and what it would do to `/data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ArchivePreview {
    /// Pass to `data_import`.
    pub archive_id: String,
    /// The archive's file name.
    pub name: String,
    #[ts(type = "number")]
    pub entries: u64,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub dirs: u64,
    #[ts(type = "number")]
    pub links: u64,
    /// Expanded size of the files.
    #[ts(type = "number")]
    pub bytes: u64,
    /// Files and links of the archive that already exist in `/data` (merge replaces them).
    #[ts(type = "number")]
    pub conflicts: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ImportReport {
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub dirs: u64,
    #[ts(type = "number")]
    pub links: u64,
    #[ts(type = "number")]
    pub bytes: u64,
    pub replaced: bool,
}

/// The kept archive of a deleted workspace's `/data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct KeptDataInfo {
    #[ts(type = "number")]
    pub size: u64,
    /// Milliseconds since the epoch.
    #[ts(type = "number")]
    pub modified_ms: u64,
}

/// Progress of a data transfer (export, import, preserve, restore), for a bar, speed and time
/// left. Export: `archive` bytes written, `done` of `total` source bytes read from `/data`.
/// Import/restore: `archive` = `done` bytes of the `total`-byte archive sent to the workspace.
/// `total` is 0 while unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DataProgress {
    #[ts(type = "number")]
    pub archive: u64,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExportReport {
    /// Size of the archive.
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub dirs: u64,
    #[ts(type = "number")]
    pub links: u64,
    /// FIFOs, sockets and devices left out (they cannot be archived meaningfully).
    #[ts(type = "number")]
    pub skipped: u64,
}

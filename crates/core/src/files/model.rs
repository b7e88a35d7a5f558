//! The data the Files page and `berth ls --json` show: entries, listings, saved files, transfer
//! progress. Generated into the UI's IPC types by ts-rs.

use berth_bridge::FileKind;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

impl From<FileKind> for FileType {
    fn from(k: FileKind) -> Self {
        match k {
            FileKind::File => FileType::File,
            FileKind::Dir => FileType::Dir,
            FileKind::Symlink => FileType::Symlink,
            FileKind::Other => FileType::Other,
        }
    }
}

/// One entry of a workspace directory (the Files list row, `berth ls --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FileInfo {
    /// Opaque path token: the UTF-8 path, or `hex:<hex>` for bytes that are not UTF-8.
    pub path: String,
    /// The name for display (invalid UTF-8 shown as U+FFFD).
    pub name: String,
    /// True when `name` is not exactly the on-disk name (it was not UTF-8).
    pub lossy: bool,
    pub kind: FileType,
    #[ts(type = "number")]
    pub size: u64,
    /// Permission bits, e.g. 0o644.
    pub mode: u32,
    /// Modified, ms since the Unix epoch.
    #[ts(type = "number")]
    pub modified_ms: i64,
    /// For symlinks: the target as stored (display form).
    pub link_target: Option<String>,
    /// For symlinks: what the target is; `None` when dangling.
    pub target_kind: Option<FileType>,
    pub uid: u32,
    pub gid: u32,
}

/// A directory and its entries (directories first, then natural name order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirListing {
    pub dir: FileInfo,
    pub entries: Vec<FileInfo>,
}

/// A text file opened for editing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TextFile {
    pub info: FileInfo,
    pub content: String,
    /// `sha256:<hex>` of the bytes read; pass it back when saving.
    pub revision: String,
}

/// The result of saving or creating a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SavedFile {
    pub info: FileInfo,
    pub revision: Option<String>,
}

/// What an archive extraction created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExtractSummary {
    pub dir: String,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub dirs: u64,
}

/// Files changed in a watched workspace directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FilesChanged {
    pub paths: Vec<String>,
    /// Too many to list: re-read everything.
    pub overflow: bool,
}

/// What to do when an uploaded name already exists in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum OnExists {
    #[default]
    Replace,
    Skip,
    KeepBoth,
    Fail,
}

/// The state of one file of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum TransferState {
    Queued,
    Running,
    Done,
    Skipped,
    Failed,
    Cancelled,
}

/// One file of an upload or download (the transfer list row); sent whenever it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TransferItem {
    pub id: u32,
    /// Where the bytes go (container path token on upload, host path on download).
    pub target: String,
    /// The name for display.
    pub name: String,
    pub state: TransferState,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    pub error: Option<String>,
}

/// The end of a transfer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TransferSummary {
    pub done: u32,
    pub skipped: u32,
    pub failed: u32,
    #[ts(type = "number")]
    pub bytes: u64,
    pub cancelled: bool,
}

//! The plain types of workspace versions: snapshots with their lineage and size, the labels a
//! version carries, and the file changes between a version and the current state.

use std::collections::HashMap;

/// Berth's metadata written onto a version snapshot, so that containerd alone can tell which
/// workspace and version it belongs to (used to adopt versions the database lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionLabels {
    pub bot: String,
    pub number: u32,
    pub name: Option<String>,
    /// `manual`, `before-rollback`, …
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// A writable layer (the workspace's current state).
    Active,
    /// An immutable snapshot (a version).
    Committed,
    View,
}

/// One snapshot of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    /// The snapshot it builds on (a version, or the image's top layer).
    pub parent: Option<String>,
    pub kind: SnapshotKind,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub labels: HashMap<String, String>,
    /// Bytes on disk of this layer alone (the snapshotter's usage), when known.
    pub size: Option<u64>,
}

impl SnapshotInfo {
    /// The Berth version number from the labels, if this is a version.
    pub fn version(&self) -> Option<u32> {
        self.labels.get(LABEL_VERSION).and_then(|v| v.parse().ok())
    }
}

/// One workspace's part of [`crate::Runtime::repair_and_list_versions`].
#[derive(Debug)]
pub struct WorkspaceSnapshots {
    /// The workspace's container id.
    pub id: String,
    /// What [`crate::Runtime::repair_versions`] did, or why it could not.
    pub repairs: crate::Result<Vec<String>>,
    /// Its snapshots after the repairs, as [`crate::Runtime::list_snapshots`] gives them.
    pub snapshots: crate::Result<Vec<SnapshotInfo>>,
}

/// Label keys on version snapshots.
pub const LABEL_VERSION: &str = "berth.version";
pub const LABEL_VERSION_NAME: &str = "berth.version.name";
pub const LABEL_VERSION_SOURCE: &str = "berth.version.source";
pub const LABEL_VERSION_BOT: &str = "berth.bot";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One path that differs between a version and the current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Absolute path in the workspace (`/data/notes.txt`).
    pub path: String,
    pub kind: FileChangeKind,
    pub is_dir: bool,
    /// Size now (added, modified) or in the version (deleted); 0 for directories.
    pub size: u64,
}

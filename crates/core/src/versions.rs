//! Workspace versions as users see them (the Versions page, `berth versions --json`): the IPC
//! types, generated into the UI by ts-rs like those of `model.rs`. The operations are in
//! `version_ops.rs`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::WorkspaceState;

/// Why a version exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum VersionSource {
    /// Saved by the user ("Save version", `berth snapshot`).
    Manual,
    /// Saved automatically before a rollback, so the rollback loses nothing.
    BeforeRollback,
    /// Found in containerd (with Berth's labels) but not in the database, and adopted.
    Adopted,
}

impl VersionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::BeforeRollback => "before-rollback",
            Self::Adopted => "adopted",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "manual" => Self::Manual,
            "before-rollback" => Self::BeforeRollback,
            _ => Self::Adopted,
        }
    }
}

/// One version of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionInfo {
    /// The version number: per workspace, increasing, never reused.
    pub version: u32,
    /// The name the user gave, if any.
    pub name: Option<String>,
    /// `name`, or "Version N".
    pub display_name: String,
    pub source: VersionSource,
    pub created_at: String,
    /// Bytes on disk of this version's own layer (what it added on top of its parent).
    #[ts(type = "number | null")]
    pub size: Option<u64>,
    /// The version it was taken on top of (none: on top of the image).
    pub parent: Option<u32>,
    /// Versions taken on top of this one.
    pub children: Vec<u32>,
    /// The workspace's current state builds directly on this version.
    pub current: bool,
    /// containerd no longer has its snapshot: it cannot be rolled back to.
    pub missing: bool,
}

/// The versions of one workspace, and whether this backend has them at all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionList {
    /// Versions can be saved here.
    pub available: bool,
    /// Why versions are unavailable, when they are.
    pub unavailable_reason: Option<String>,
    /// The version the current state builds on.
    pub current: Option<u32>,
    /// Bytes written since `current` (the writable layer), when known.
    #[ts(type = "number | null")]
    pub unsaved_bytes: Option<u64>,
    /// By number, oldest first.
    pub versions: Vec<VersionInfo>,
    /// Set when versions are archives of `/data` (a backend without snapshots, or chosen in
    /// the settings): says that nothing outside `/data` is captured.
    pub only_data: Option<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct RollbackResult {
    pub rolled_back_to: u32,
    /// The version that saved the state before the rollback (none when unticked, or when
    /// nothing had changed since the current version).
    pub saved: Option<u32>,
    pub state: WorkspaceState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum VersionChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One path that differs between a version and now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionFileChange {
    pub path: String,
    pub kind: VersionChangeKind,
    pub is_dir: bool,
    /// Size now (added, modified) or in the version (deleted).
    #[ts(type = "number")]
    pub size: u64,
}

/// "Changes since this version".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct VersionChanges {
    pub version: u32,
    pub changes: Vec<VersionFileChange>,
    /// The list was cut at 5000 paths.
    pub truncated: bool,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

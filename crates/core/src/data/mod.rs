//! Data in and out: export `/data` as a standard .tar.gz to a host file, import one
//! all-or-nothing, and keep a workspace's data across delete and create
//! (`<data dir>/backups/<bot>.tar.gz`).
//!
//! - `export.rs`: the bridge's archive stream of `/data` (the workspace's other
//!   processes stopped for the duration) into a temporary sibling of the target, fsynced and
//!   renamed, so a kill leaves either nothing or the complete archive.
//! - `import.rs`: the archive streamed into a staging directory in the workspace while
//!   the host [`validate`]s the same file; the bridge applies it to `/data` only when both accept
//!   (replace: one atomic exchange; merge: a journal that a crash rolls back or finishes).
//! - `kept.rs`: keep data on delete, restore on create.

mod export;
mod import;
mod kept;
pub mod model;
pub mod validate;

pub use import::{ImportOptions, ImportResult};
pub use kept::KeptData;
pub use model::{ArchivePreview, DataProgress, ExportReport, ImportReport, KeptDataInfo};

/// Where progress goes.
pub type ProgressFn<'a> = &'a (dyn Fn(DataProgress) + Send + Sync);

use std::time::{SystemTime, UNIX_EPOCH};

const DATA: &[u8] = b"/data";

impl From<ImportResult> for ImportReport {
    fn from(r: ImportResult) -> Self {
        ImportReport {
            files: r.files,
            dirs: r.dirs,
            links: r.links,
            bytes: r.bytes,
            replaced: r.replaced,
        }
    }
}

impl From<&KeptData> for KeptDataInfo {
    fn from(k: &KeptData) -> Self {
        KeptDataInfo {
            size: k.size,
            modified_ms: k.modified_ms,
        }
    }
}

fn now_nonce() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{}-{ms}", std::process::id())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

//! Data in and out (issue 6): export `/data` as a standard .tar.gz to a host file, import one
//! all-or-nothing, and keep a workspace's data across delete and create
//! (`<data dir>/backups/<bot>.tar.gz`).
//!
//! Export streams the bridge's archive RPC (the children of `/data`, each under its own name,
//! with the workspace's other processes stopped for the duration)
//! into `<file>.berth-part-<pid>` next to the target, fsyncs and renames it, so a kill leaves
//! either nothing or the complete archive. Import validates the whole archive on the host
//! ([`validate`]) before `/data` changes, uploads it next to `/data`, lets the bridge extract it
//! into a staging directory (`/.berth-import-…`), then swaps: replace renames `/data` aside and
//! the staging directory into place; merge plans every move first (refusing a staged entry that
//! would go through a symlink or replace a directory in `/data`) and only then renames.

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

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

//! Where an import keeps its work: everything sits next to `/data` in its parent (same file
//! system, so every move is a rename), under names recovery recognises by their prefix.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Staging directories (and the upload files of older hosts' two-step import).
pub const STAGING_PREFIX: &str = ".berth-import-";
/// Merge journals.
pub const TXN_PREFIX: &str = ".berth-txn-";
/// The old tree of the previous (two-rename) replace, from bridges before the exchange.
pub const LEGACY_OLD_PREFIX: &str = ".berth-data-old-";

/// The data directory and the directory that holds it (`/` in a workspace).
#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub data: PathBuf,
}

impl Layout {
    /// `data` must have a parent (it is `/data` in a workspace).
    pub fn new(data: &Path) -> Self {
        let root = data
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        Layout {
            root,
            data: data.to_path_buf(),
        }
    }

    pub fn staging(&self, nonce: &str) -> PathBuf {
        self.root.join(format!("{STAGING_PREFIX}{nonce}"))
    }

    pub fn txn(&self, nonce: &str) -> PathBuf {
        self.root.join(format!("{TXN_PREFIX}{nonce}"))
    }

    /// The entries of the root whose names start with `prefix`, oldest name order.
    pub fn with_prefix(&self, prefix: &str) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.root)? {
            let e = e?;
            if e.file_name()
                .as_encoded_bytes()
                .starts_with(prefix.as_bytes())
            {
                out.push(e.path());
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A name part unique within this bridge's lifetime and across restarts (pid, time, counter).
pub fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{ns}-{n}", std::process::id())
}

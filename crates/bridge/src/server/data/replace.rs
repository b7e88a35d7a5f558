//! Replace: the staged tree and `/data` swap places in one `renameat2(RENAME_EXCHANGE)`, so at
//! every instant `/data` is either the whole old tree or the whole new one. The old tree is
//! then at the staging path, where removing it (or recovery's sweep of staging directories
//! after a crash) finishes the job.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::fsops;
use super::Hook;

/// Swaps `staging` into `data`. `/data` itself keeps its mode and owner (the archive holds its
/// children). A missing `/data` is simply created by a rename.
pub fn swap(data: &Path, staging: &Path, step: Hook) -> io::Result<()> {
    match fs::symlink_metadata(data) {
        Ok(m) => {
            if m.is_dir() {
                fs::set_permissions(staging, fs::Permissions::from_mode(m.mode() & 0o7777))?;
                std::os::unix::fs::lchown(staging, Some(m.uid()), Some(m.gid()))?;
            }
            step()?;
            fsops::exchange(staging, data)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            step()?;
            fsops::rename_noreplace(staging, data)
        }
        Err(e) => Err(e),
    }
}

/// Removes the old tree, which the swap left at the staging path.
pub fn finish(staging: &Path, step: Hook) -> io::Result<()> {
    step()?;
    fsops::remove_tree_parallel(staging)
}

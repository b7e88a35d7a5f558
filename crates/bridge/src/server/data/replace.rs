//! Replace: the staged tree and `/data` swap places in one `renameat2(RENAME_EXCHANGE)`, so at
//! every instant `/data` is either the whole old tree or the whole new one. The old tree is
//! then at the staging path, where removing it (or recovery's sweep of staging directories
//! after a crash) finishes the job.
//!
//! Where `/data` cannot be renamed (an overlay directory from a lower layer), the replace is
//! done in place as a merge transaction with steps after its commit point: all or nothing up
//! to the commit, finished by recovery after it.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{fsops, journal, Hook};

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

/// Whether the exchange failed because `/data` cannot be renamed where it is: on an overlay
/// file system without `redirect_dir` (containerd's snapshots, rootless ones always), a
/// directory that comes from a lower layer — `/data` once a version was saved — cannot move.
pub fn needs_in_place(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EXDEV)
}

/// The plan of a replace done in place, as a merge transaction: every staged entry is moved in
/// (backing up a non-directory it replaces), directories on both sides are descended into, and
/// what must happen after the commit point is listed — directories take the staged mode and
/// owner, entries the archive lacks are removed, directories the archive has as files are
/// replaced. Nothing here moves a directory of `/data`.
pub fn plan_in_place(data: &Path, staging: &Path) -> io::Result<journal::Plan> {
    let mut plan = journal::Plan::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let mut staged_names = std::collections::HashSet::new();
        for e in fs::read_dir(staging.join(&dir))? {
            let name = e?.file_name();
            let rel = dir.join(&name);
            staged_names.insert(name);
            let staged_dir = fs::symlink_metadata(staging.join(&rel))?.is_dir();
            let existing = match fs::symlink_metadata(data.join(&rel)) {
                Ok(m) => Some(m.file_type()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            match (staged_dir, existing) {
                (_, None) => plan.moves.push(journal::Move {
                    rel,
                    overwrite: false,
                }),
                (true, Some(t)) if t.is_dir() => {
                    plan.meta.push(rel.clone());
                    stack.push(rel);
                }
                (false, Some(t)) if t.is_dir() => plan.deferred.push(rel),
                (_, Some(_)) => plan.moves.push(journal::Move {
                    rel,
                    overwrite: true,
                }),
            }
        }
        for e in fs::read_dir(data.join(&dir))? {
            let name = e?.file_name();
            if !staged_names.contains(&name) {
                plan.deletes.push(dir.join(name));
            }
        }
    }
    Ok(plan)
}

/// The steps after the commit point of a replace done in place. Each is repeatable, so
/// recovery runs them again after a crash; `step` runs before each change.
pub fn complete(data: &Path, staging: &Path, plan: &journal::Plan, step: Hook) -> io::Result<()> {
    for rel in &plan.meta {
        if let Ok(m) = fs::symlink_metadata(staging.join(rel)) {
            step()?;
            let target = data.join(rel);
            std::os::unix::fs::lchown(&target, Some(m.uid()), Some(m.gid()))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
    }
    for rel in &plan.deletes {
        step()?;
        fsops::remove_tree(&data.join(rel))?;
    }
    for rel in &plan.deferred {
        let src = staging.join(rel);
        if fsops::exists(&src)? {
            step()?;
            fsops::remove_tree(&data.join(rel))?;
            step()?;
            fsops::rename_noreplace(&src, &data.join(rel))?;
        }
    }
    Ok(())
}

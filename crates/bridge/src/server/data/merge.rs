//! Merge: the staged tree moved into `/data` entry by entry, all-or-nothing through a journal.
//!
//! Planning is read-only and refuses (before anything changes) a staged entry that would go
//! through a symlink of `/data` or replace a directory with a file or the other way round.
//! Then: journal directory, durable plan, for each move the overwritten entry into the journal
//! as a backup and the staged entry into place, the durable `committed` marker, clean-up.
//! Rollback is derived from the state on disk, so it can be repeated after any crash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::fsops::{self, exists, rename_noreplace};
use super::journal::{self, Move, Plan};
use super::Hook;

fn refuse(rel: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("archive entry {:?} {why}; /data is unchanged", rel),
    )
}

/// Every move from `staging` into `data`: entries `data` lacks move whole, directories present
/// on both sides are descended into, non-directories replace non-directories.
pub fn plan(data: &Path, staging: &Path) -> io::Result<Vec<Move>> {
    let top = fs::symlink_metadata(data)?;
    if !top.is_dir() {
        return Err(refuse(
            Path::new("."),
            "would go through /data, which is not a directory",
        ));
    }
    let mut moves = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(staging.join(&dir))? {
            let rel = dir.join(e?.file_name());
            let staged_dir = fs::symlink_metadata(staging.join(&rel))?.is_dir();
            let existing = match fs::symlink_metadata(data.join(&rel)) {
                Ok(m) => Some(m.file_type()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            match (staged_dir, existing) {
                (_, None) => moves.push(Move {
                    rel,
                    overwrite: false,
                }),
                (true, Some(t)) if t.is_dir() => stack.push(rel),
                (true, Some(t)) if t.is_symlink() => {
                    return Err(refuse(&rel, "would go through a symlink in /data"))
                }
                (true, Some(_)) => {
                    return Err(refuse(&rel, "is a directory but /data has a file there"))
                }
                (false, Some(t)) if t.is_dir() => {
                    return Err(refuse(&rel, "would replace a directory in /data"))
                }
                (false, Some(_)) => moves.push(Move {
                    rel,
                    overwrite: true,
                }),
            }
        }
    }
    Ok(moves)
}

/// Runs a merge up to and including its commit point. On an error the journal stays as it is
/// (the caller rolls back); `step` runs before every change (tests inject crashes there).
pub fn execute(data: &Path, staging: &Path, txn: &Path, plan: &Plan, step: Hook) -> io::Result<()> {
    step()?;
    fs::create_dir(txn)?;
    if let Some(root) = txn.parent() {
        fsops::sync_dir(root)?;
    }
    step()?;
    journal::write_plan(txn, plan)?;
    for (i, m) in plan.moves.iter().enumerate() {
        let target = data.join(&m.rel);
        if m.overwrite {
            step()?;
            rename_noreplace(&target, &journal::backup(txn, i))
                .map_err(|e| context(e, "backing up", &m.rel))?;
        }
        step()?;
        rename_noreplace(&staging.join(&m.rel), &target)
            .map_err(|e| context(e, "moving in", &m.rel))?;
    }
    step()?;
    journal::mark_committed(txn)
}

fn context(e: io::Error, what: &str, rel: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {:?}: {e}", rel))
}

/// Undoes an uncommitted merge, move by move in reverse: a staged source that is gone means
/// the move happened (the imported entry goes back to staging), a backup that exists goes back
/// into place. Repeating it is harmless. The journal is removed at the end.
pub fn rollback(data: &Path, staging: &Path, txn: &Path, plan: &Plan) -> io::Result<()> {
    for (i, m) in plan.moves.iter().enumerate().rev() {
        let (src, target) = (staging.join(&m.rel), data.join(&m.rel));
        if !exists(&src)? && exists(&target)? {
            rename_noreplace(&target, &src).map_err(|e| context(e, "moving back", &m.rel))?;
        }
        let bak = journal::backup(txn, i);
        if exists(&bak)? {
            rename_noreplace(&bak, &target).map_err(|e| context(e, "restoring", &m.rel))?;
        }
    }
    journal::remove(txn)
}

/// After the commit point: the backups and the (now hollow) staging directory go.
pub fn finish(staging: &Path, txn: &Path, step: Hook) -> io::Result<()> {
    step()?;
    journal::remove(txn)?;
    step()?;
    fsops::remove_tree(staging)
}

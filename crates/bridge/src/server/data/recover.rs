//! Recovery after an interrupted import (bridge killed, container stopped, host gone): run at
//! bridge start before `/data` is seeded (seeding would otherwise create an empty `/data` in
//! place of one a crash left aside) and before every import.
//!
//! In order: an old tree of the previous two-rename replace goes back if `/data` is missing;
//! uncommitted merges roll back and committed ones finish; then staging directories and
//! uploads are removed. A failure stops recovery before the sweep, so nothing a rollback still
//! needs is deleted; the next start or import tries again.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::fsops::{self, exists};
use super::journal;
use super::layout::{Layout, LEGACY_OLD_PREFIX, STAGING_PREFIX, TXN_PREFIX};
use super::{merge, replace};

/// Repairs everything and says what it did (nothing to do: empty).
pub fn recover(l: &Layout) -> io::Result<Vec<String>> {
    let mut done = Vec::new();
    legacy_old_trees(l, &mut done)?;
    for txn in l.with_prefix(TXN_PREFIX)? {
        recover_txn(l, &txn, &mut done)?;
    }
    for s in l.with_prefix(STAGING_PREFIX)? {
        fsops::remove_tree(&s)?;
        done.push(format!("removed the leftover {}", s.display()));
    }
    Ok(done)
}

/// A replace of older bridges renamed `/data` aside before moving the new tree in; killed in
/// between, it left no `/data`. The newest old tree is the one to put back.
fn legacy_old_trees(l: &Layout, done: &mut Vec<String>) -> io::Result<()> {
    let mut olds: Vec<(i64, PathBuf)> = Vec::new();
    for p in l.with_prefix(LEGACY_OLD_PREFIX)? {
        let m = fs::symlink_metadata(&p)?;
        olds.push((m.mtime() * 1_000_000_000 + m.mtime_nsec(), p));
    }
    olds.sort();
    if !exists(&l.data)? {
        if let Some((_, newest)) = olds.pop() {
            fsops::rename_noreplace(&newest, &l.data)?;
            done.push(format!(
                "moved {} back to {}",
                newest.display(),
                l.data.display()
            ));
        }
    }
    for (_, p) in olds {
        fsops::remove_tree(&p)?;
        done.push(format!("removed the old tree {}", p.display()));
    }
    Ok(())
}

fn recover_txn(l: &Layout, txn: &Path, done: &mut Vec<String>) -> io::Result<()> {
    let plan = journal::read_plan(txn)?;
    if journal::is_committed(txn)? {
        if let Some(p) = &plan {
            replace::complete(&l.data, &l.root.join(&p.staging), p, &mut || Ok(()))?;
        }
        journal::remove(txn)?;
        if let Some(p) = &plan {
            fsops::remove_tree(&l.root.join(&p.staging))?;
        }
        done.push(format!("finished the committed merge {}", txn.display()));
        return Ok(());
    }
    match plan {
        Some(p) => {
            merge::rollback(&l.data, &l.root.join(&p.staging), txn, &p)?;
            done.push(format!(
                "rolled back the interrupted merge {}",
                txn.display()
            ));
        }
        // Killed before its plan was complete: nothing had moved yet.
        None => {
            journal::remove(txn)?;
            done.push(format!("removed the unstarted merge {}", txn.display()));
        }
    }
    Ok(())
}

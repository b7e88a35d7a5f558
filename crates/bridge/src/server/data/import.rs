//! One import, start to end, on a blocking thread: repair of earlier interrupted imports,
//! extraction of the stream into a fresh staging directory, the client's verdict, the apply
//! with the workspace's other processes stopped, and the clean-up.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;
use tonic::Status;

use super::layout::{nonce, Layout};
use super::stage::{End, Msg, StreamReader};
use super::{fsops, journal, merge, recover, replace, stage, Hook};
use crate::server::pause::Paused;
use berth_bridge::proto::ImportStart;
use berth_bridge::targz::{Counts, SafeDest};

/// One import (or recovery) at a time; the next waits. Recovery removes staging directories,
/// which must not be a running import's.
static BUSY: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    BUSY.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a successful apply leaves to delete: the old tree (replace) or the journal with its
/// backups and the hollow staging directory (merge). `/data` is already in its new state, so a
/// failure here does not fail the import; the next recovery finishes it.
pub enum Leftover {
    OldTree(PathBuf),
    Journal { txn: PathBuf, staging: PathBuf },
}

impl Leftover {
    pub fn remove(self, step: Hook) -> io::Result<()> {
        match self {
            Leftover::OldTree(p) => replace::finish(&p, step),
            Leftover::Journal { txn, staging } => merge::finish(&staging, &txn, step),
        }
    }
}

/// Recovery, logging what it repaired.
pub fn recover_logged(l: &Layout) -> io::Result<()> {
    for line in recover::recover(l)? {
        log_line!("berth-bridge: import recovery: {line}");
    }
    Ok(())
}

/// The whole import on a blocking thread, clean-up included: when the client hears back,
/// nothing of the import is left next to `/data`. (Deleting a replaced tree after the reply
/// was tried: it then competed for the disk with whatever the user did next, and an
/// immediate second import waited for it anyway.)
pub fn run_import(
    l: &Layout,
    start: ImportStart,
    rx: mpsc::Receiver<Msg>,
) -> Result<Counts, Status> {
    let _one = exclusive();
    let t0 = Instant::now();
    let (counts, left) = import(l, start, rx)?;
    let t1 = Instant::now();
    if let Err(e) = left.remove(&mut || Ok(())) {
        // Harmless: the next import or bridge start finishes it.
        log_line!("berth-bridge: cannot clean up after an import yet: {e}");
    }
    log_line!(
        "berth-bridge: import ({}) of {} file(s) staged and applied in {:?}, cleaned up in {:?}",
        if start.replace { "replace" } else { "merge" },
        counts.files,
        t1 - t0,
        t1.elapsed()
    );
    Ok(counts)
}

/// Recovery, extraction into a fresh staging directory, the verdict, the apply.
fn import(
    l: &Layout,
    start: ImportStart,
    rx: mpsc::Receiver<Msg>,
) -> Result<(Counts, Leftover), Status> {
    recover_logged(l).map_err(|e| {
        Status::internal(format!("cannot repair an earlier interrupted import: {e}"))
    })?;
    let staging = l.staging(&nonce());
    DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| Status::internal(format!("cannot create {}: {e}", staging.display())))?;
    let counts = match stage_archive(&staging, start.max_expanded, rx) {
        Ok(c) => c,
        Err(s) => {
            discard(&staging);
            return Err(s);
        }
    };
    let left = apply(l, &staging, start.replace, &mut || Ok(())).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => Status::invalid_argument(format!("refused: {e}")),
        _ => Status::internal(format!("import failed: {e}")),
    })?;
    Ok((counts, left))
}

/// Threads creating the small files while the stream is read and inflated.
const WRITERS: usize = 2;

/// Extracts the stream into `staging` and waits for the verdict: `Ok` only for a complete,
/// accepted archive that the client committed. `max_bytes` stops a decompression bomb as it
/// expands, without waiting for the host's verdict.
fn stage_archive(
    staging: &Path,
    max_bytes: u64,
    rx: mpsc::Receiver<Msg>,
) -> Result<Counts, Status> {
    let mut reader = StreamReader::new(rx);
    let mut sink = SafeDest::limited(staging, max_bytes)
        .with_writers(WRITERS)
        .map_err(|e| Status::internal(format!("cannot start the file writers: {e}")))?;
    let abandoned =
        || Status::aborted("the import ended before it was committed; /data is unchanged");
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    let extracted = std::thread::scope(|s| {
        s.spawn(|| stage::inflate(&mut reader, tx));
        sink.extract_tar(stage::Pieces::new(rx))
            .and_then(|()| sink.finish())
    });
    match extracted {
        Err(_) if reader.end == End::Abandoned => Err(abandoned()),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(Status::invalid_argument(format!(
            "refused: {e}; /data is unchanged"
        ))),
        // Writing failed (disk full, permissions): not the archive's fault.
        Err(e) if is_local(&e) => Err(Status::internal(format!(
            "cannot extract into {}: {e}; /data is unchanged",
            staging.display()
        ))),
        Err(e) => Err(Status::invalid_argument(format!(
            "not a readable .tar.gz: {e}; /data is unchanged"
        ))),
        Ok(c) => match reader.wait_end() {
            End::Committed => Ok(c),
            _ => Err(abandoned()),
        },
    }
}

/// Errors of the workspace's file system rather than of the archive's bytes.
fn is_local(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        StorageFull | QuotaExceeded | PermissionDenied | ReadOnlyFilesystem | FileTooLarge
    )
}

fn discard(staging: &Path) {
    if let Err(e) = fsops::remove_tree_parallel(staging) {
        // Harmless: the next import or bridge start sweeps it.
        log_line!("berth-bridge: cannot remove {}: {e}", staging.display());
    }
}

/// Applies the staged tree with the workspace's other processes stopped, and owns `staging`
/// from here on: after success it is part of the returned leftover; it is removed after a
/// refusal and after a complete rollback, and kept (for the next recovery) only when a
/// rollback itself failed.
pub fn apply(l: &Layout, staging: &Path, replace: bool, step: Hook) -> io::Result<Leftover> {
    let _paused = Paused::all_others();
    let txn = l.txn(&nonce());
    if replace {
        match replace::swap(&l.data, staging, step) {
            Ok(()) => return Ok(Leftover::OldTree(staging.to_path_buf())),
            Err(e) if replace::needs_in_place(&e) => {
                let plan = replace::plan_in_place(&l.data, staging);
                let plan = committed(l, staging, &txn, plan, step)?;
                replace::complete(&l.data, staging, &plan, step).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "{e}; the new /data is committed and will be completed at the next \
                             import or bridge start"
                        ),
                    )
                })?;
            }
            Err(e) => {
                discard(staging);
                return Err(e);
            }
        }
    } else {
        committed(l, staging, &txn, merge::plan(&l.data, staging), step)?;
    }
    Ok(Leftover::Journal {
        txn,
        staging: staging.to_path_buf(),
    })
}

/// Runs a planned merge transaction to its commit point and returns its plan; any failure
/// before it is rolled back and the staging directory removed. A failed rollback keeps the
/// journal and the staging directory, which the next recovery needs to finish undoing it.
fn committed(
    l: &Layout,
    staging: &Path,
    txn: &Path,
    planned: io::Result<impl Into<journal::Plan>>,
    step: Hook,
) -> io::Result<journal::Plan> {
    let mut plan: journal::Plan = planned.inspect_err(|_| discard(staging))?.into();
    plan.staging = staging
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    let Err(e) = merge::execute(&l.data, staging, txn, &plan, step) else {
        return Ok(plan);
    };
    if journal::is_committed(txn).unwrap_or(false) {
        return Ok(plan); // only the marker's last fsync failed: the merge is complete
    }
    if let Err(r) = merge::rollback(&l.data, staging, txn, &plan) {
        return Err(io::Error::new(
            r.kind(),
            format!(
                "{e}; undoing it failed too ({r}); \
                 it will be undone at the next import or bridge start"
            ),
        ));
    }
    discard(staging);
    Err(io::Error::new(e.kind(), format!("{e}; /data is unchanged")))
}

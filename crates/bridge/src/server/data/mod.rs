//! The `Data` gRPC service (issue 6): imports into `/data` that are all-or-nothing and survive
//! crashes. The archive streams from the client straight into a staging directory next to
//! `/data` (`stage`), and only when the host has sent `commit` is the staged tree applied, with
//! the workspace's other processes stopped: replace swaps it in atomically (`replace`), merge
//! moves entries through a journal (`merge`, `journal`). `recover` repairs whatever an
//! interrupted import left, at bridge start and before every import.
//!
//! Each import runs entirely on one blocking thread that the handler only feeds: a client that
//! disconnects cannot stop an apply (or its rollback) half-way.

mod fsops;
mod journal;
mod layout;
mod merge;
mod recover;
mod replace;
mod stage;
#[cfg(test)]
mod tests;

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use super::pause::Paused;
use berth_bridge::proto::{
    data_server::Data, import_input, ImportInput, ImportReply, ImportStart, RecoverReply,
    RecoverRequest,
};
use berth_bridge::targz::{Counts, SafeDest};
use layout::{nonce, Layout};
use stage::{End, Msg, StreamReader};

/// Runs before every change an apply makes; tests return an error to simulate a crash there.
pub type Hook<'a> = &'a mut dyn FnMut() -> io::Result<()>;

/// Archive messages queued towards the extracting thread (1 MiB each from Berth's client).
const QUEUE: usize = 4;

/// One import (or recovery) at a time; the next waits. Recovery removes staging directories,
/// which must not be a running import's.
static BUSY: Mutex<()> = Mutex::new(());

fn exclusive() -> MutexGuard<'static, ()> {
    BUSY.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a successful apply leaves to delete: the old tree (replace) or the journal with its
/// backups and the hollow staging directory (merge). `/data` is already in its new state, so a
/// failure here does not fail the import; the next recovery finishes it.
enum Leftover {
    OldTree(PathBuf),
    Journal { txn: PathBuf, staging: PathBuf },
}

impl Leftover {
    fn remove(self, step: Hook) -> io::Result<()> {
        match self {
            Leftover::OldTree(p) => replace::finish(&p, step),
            Leftover::Journal { txn, staging } => merge::finish(&staging, &txn, step),
        }
    }
}

pub struct DataService {
    pub layout: Layout,
}

impl DataService {
    pub fn new(data_dir: &Path) -> Self {
        DataService {
            layout: Layout::new(data_dir),
        }
    }
}

/// Recovery at bridge start; logs what it repaired.
pub fn recover_at_start(data_dir: &Path) -> io::Result<()> {
    recover_logged(&Layout::new(data_dir))
}

fn recover_logged(l: &Layout) -> io::Result<()> {
    for line in recover::recover(l)? {
        eprintln!("berth-bridge: import recovery: {line}");
    }
    Ok(())
}

#[tonic::async_trait]
impl Data for DataService {
    async fn import(
        &self,
        req: Request<Streaming<ImportInput>>,
    ) -> Result<Response<ImportReply>, Status> {
        let mut input = req.into_inner();
        let start = match input.message().await?.and_then(|m| m.input) {
            Some(import_input::Input::Start(s)) => s,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be `start`",
                ))
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let l = self.layout.clone();
        let job = tokio::task::spawn_blocking(move || run_import(&l, start, rx));
        let received = forward(&mut input, tx).await;
        let counts = job
            .await
            .map_err(|e| Status::internal(format!("import task failed: {e}")))??;
        Ok(Response::new(ImportReply {
            files: counts.files,
            dirs: counts.dirs,
            links: counts.links,
            received,
        }))
    }

    async fn recover(
        &self,
        _req: Request<RecoverRequest>,
    ) -> Result<Response<RecoverReply>, Status> {
        let l = self.layout.clone();
        let actions = tokio::task::spawn_blocking(move || {
            let _one = exclusive();
            recover::recover(&l).map_err(|e| Status::internal(format!("recovery failed: {e}")))
        })
        .await
        .map_err(|e| Status::internal(format!("recovery task failed: {e}")))??;
        Ok(Response::new(RecoverReply { actions }))
    }
}

/// Forwards the client's messages to the import thread until `commit`, the end of the stream,
/// or the thread no longer listening (it failed; its result says why). Returns the bytes seen.
async fn forward(input: &mut Streaming<ImportInput>, tx: mpsc::Sender<Msg>) -> u64 {
    let mut received = 0u64;
    while let Ok(Some(m)) = input.message().await {
        let msg = match m.input {
            Some(import_input::Input::Data(d)) => {
                received += d.len() as u64;
                Msg::Data(d)
            }
            Some(import_input::Input::Commit(true)) => Msg::Commit,
            // A second `start` or an empty message: a broken client; ending here abandons.
            _ => break,
        };
        let commit = matches!(msg, Msg::Commit);
        if tx.send(msg).await.is_err() || commit {
            break;
        }
    }
    received
}

/// The whole import on a blocking thread, clean-up included: when the client hears back,
/// nothing of the import is left next to `/data`. (Deleting a replaced tree after the reply
/// was tried: it then competed for the disk with whatever the user did next, and an
/// immediate second import waited for it anyway.)
fn run_import(l: &Layout, start: ImportStart, rx: mpsc::Receiver<Msg>) -> Result<Counts, Status> {
    let _one = exclusive();
    let t0 = Instant::now();
    let (counts, left) = import(l, start, rx)?;
    let t1 = Instant::now();
    if let Err(e) = left.remove(&mut || Ok(())) {
        // Harmless: the next import or bridge start finishes it.
        eprintln!("berth-bridge: cannot clean up after an import yet: {e}");
    }
    eprintln!(
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
    let counts = match stage(&staging, start.max_expanded, rx) {
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

/// Extracts the stream into `staging` and waits for the verdict: `Ok` only for a complete,
/// accepted archive that the client committed. `max_bytes` stops a decompression bomb as it
/// expands, without waiting for the host's verdict.
fn stage(staging: &Path, max_bytes: u64, rx: mpsc::Receiver<Msg>) -> Result<Counts, Status> {
    let mut reader = StreamReader::new(rx);
    let mut sink = SafeDest::new(staging);
    sink.max_bytes = max_bytes;
    let abandoned =
        || Status::aborted("the import ended before it was committed; /data is unchanged");
    match sink.extract_targz(&mut reader).and_then(|()| sink.finish()) {
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
        eprintln!("berth-bridge: cannot remove {}: {e}", staging.display());
    }
}

/// Applies the staged tree with the workspace's other processes stopped, and owns `staging`
/// from here on: after success it is part of the returned leftover; it is removed after a
/// refusal and after a complete rollback, and kept (for the next recovery) only when a
/// rollback itself failed.
fn apply(l: &Layout, staging: &Path, replace: bool, step: Hook) -> io::Result<Leftover> {
    let _paused = Paused::all_others();
    if replace {
        return match replace::swap(&l.data, staging, step) {
            Ok(()) => Ok(Leftover::OldTree(staging.to_path_buf())),
            Err(e) => {
                discard(staging);
                Err(e)
            }
        };
    }
    let txn = l.txn(&nonce());
    merge_committed(l, staging, &txn, step)?;
    Ok(Leftover::Journal {
        txn,
        staging: staging.to_path_buf(),
    })
}

/// Plans and runs a merge to its commit point; any failure before it is rolled back and the
/// staging directory removed. A failed rollback keeps the journal and the staging directory,
/// which the next recovery needs to finish undoing it.
fn merge_committed(l: &Layout, staging: &Path, txn: &Path, step: Hook) -> io::Result<()> {
    let moves = merge::plan(&l.data, staging).inspect_err(|_| discard(staging))?;
    let plan = journal::Plan {
        staging: staging
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default(),
        moves,
    };
    let Err(e) = merge::execute(&l.data, staging, txn, &plan, step) else {
        return Ok(());
    };
    if journal::is_committed(txn).unwrap_or(false) {
        return Ok(()); // only the marker's last fsync failed: the merge is complete
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

//! Uploads: host files and folders (walked by [`super::plan`], streamed from disk) with per-file
//! progress and cancel, and [`UploadPipe`] for chunks that arrive from the web view.

use std::path::PathBuf;
use std::sync::Arc;

use berth_bridge::{FilesClient, WriteOptions};
use berth_runtime::CancellationToken;

use super::plan::{resolve_target, walk_host, UploadItem, Walk};
use super::{name_of, throttled};
use crate::files::{
    decode_path, encode_path, info_of, OnExists, SavedFile, TransferItem, TransferState,
    TransferSummary,
};
use crate::model::ErrorCode;
use crate::{Berth, Error, Result};

/// Where an upload's rows go.
pub type Emit = Arc<dyn Fn(TransferItem) + Send + Sync>;

impl Berth {
    /// Uploads host files and folders (walked here, streamed from disk) into `dest_dir`.
    /// `on_exists` applies to the top-level names; `emit` gets every item's changes.
    pub async fn upload(
        &self,
        bot: &str,
        sources: &[PathBuf],
        dest_dir: &str,
        on_exists: OnExists,
        cancel: &CancellationToken,
        emit: Emit,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let dest = decode_path(dest_dir)?;
        match c.stat(&dest).await {
            Ok(e) if e.is_dir_like() => {}
            Ok(_) => {
                return Err(Error::invalid(format!(
                    "{} is not a directory",
                    String::from_utf8_lossy(&dest)
                )))
            }
            Err(e) => return Err(Error::from(e).context("upload destination")),
        }
        upload_items(&c, sources, &dest, true, on_exists, cancel, emit).await
    }

    /// Uploads to an explicit target `dest` (a path token): with `into_dir` each source goes
    /// to `dest/<its name>`, otherwise the single source becomes `dest` (the CLI's
    /// `cp SRC BOT:/new-name`).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_to(
        &self,
        bot: &str,
        sources: &[PathBuf],
        dest: &str,
        into_dir: bool,
        on_exists: OnExists,
        cancel: &CancellationToken,
        emit: Emit,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let dest = decode_path(dest)?;
        upload_items(&c, sources, &dest, into_dir, on_exists, cancel, emit).await
    }
}

/// Plans the sources (name-exists choice, host walk) and uploads them item by item.
async fn upload_items(
    c: &FilesClient,
    sources: &[PathBuf],
    dest: &[u8],
    into_dir: bool,
    on_exists: OnExists,
    cancel: &CancellationToken,
    emit: Emit,
) -> Result<TransferSummary> {
    let walk = plan(c, sources, dest, into_dir, on_exists).await?;
    let mut sum = TransferSummary::default();
    let mut id = 0u32;
    for (host, why) in walk.skipped {
        id += 1;
        sum.skipped += 1;
        emit(TransferItem {
            id,
            target: host.display().to_string(),
            name: name_of(&host),
            state: TransferState::Skipped,
            done: 0,
            total: 0,
            error: Some(why),
        });
    }
    let first = id + 1;
    let items = walk.items;
    for (i, it) in items.iter().enumerate().filter(|(_, it)| !it.dir) {
        emit(row(first + i as u32, it, TransferState::Queued, 0, None));
    }
    for (i, it) in items.iter().enumerate() {
        let id = first + i as u32;
        if cancel.is_cancelled() {
            if !it.dir {
                emit(row(id, it, TransferState::Cancelled, 0, None));
            }
            sum.cancelled = true;
            continue;
        }
        if it.dir {
            if let Err(e) = c.mkdir(&it.dest).await {
                sum.failed += 1;
                let why = Some(Error::from(e).message);
                emit(row(id, it, TransferState::Failed, 0, why));
            }
            continue;
        }
        emit(row(id, it, TransferState::Running, 0, None));
        match upload_file(c, id, it, cancel, &emit).await {
            Ok(n) => {
                sum.done += 1;
                sum.bytes += n;
                emit(row(id, it, TransferState::Done, n, None));
            }
            Err(e) if e.code == ErrorCode::Cancelled => {
                sum.cancelled = true;
                emit(row(id, it, TransferState::Cancelled, 0, None));
            }
            Err(e) => {
                sum.failed += 1;
                emit(row(id, it, TransferState::Failed, 0, Some(e.message)));
            }
        }
    }
    Ok(sum)
}

/// Resolves each source's target and walks it on a blocking thread.
async fn plan(
    c: &FilesClient,
    sources: &[PathBuf],
    dest: &[u8],
    into_dir: bool,
    on_exists: OnExists,
) -> Result<Walk> {
    let mut walk = Walk::default();
    for src in sources {
        let target = if into_dir {
            let name = src
                .file_name()
                .ok_or_else(|| Error::invalid(format!("{} has no name", src.display())))?;
            use std::os::unix::ffi::OsStrExt;
            match resolve_target(c, dest, name.as_bytes(), on_exists).await? {
                Some(t) => t,
                None => {
                    walk.skipped
                        .push((src.clone(), "already exists: skipped".to_string()));
                    continue;
                }
            }
        } else {
            dest.to_vec()
        };
        let src2 = src.clone();
        let found = tokio::task::spawn_blocking(move || {
            let mut w = Walk::default();
            walk_host(&src2, target, &mut w).map(|_| w)
        })
        .await
        .map_err(Error::internal)?
        .map_err(|e| Error::invalid(format!("cannot read {}: {e}", src.display())))?;
        walk.items.extend(found.items);
        walk.skipped.extend(found.skipped);
    }
    Ok(walk)
}

/// Streams one host file to its target; returns the bytes written.
async fn upload_file(
    c: &FilesClient,
    id: u32,
    it: &UploadItem,
    cancel: &CancellationToken,
    emit: &Emit,
) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NOFOLLOW: the walk checked what this is; a link put here since is refused, not followed.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&it.source)
        .map_err(|e| Error::invalid(format!("cannot open {}: {e}", it.host.display())))?;
    let (em, it2) = (emit.clone(), it.clone());
    let progress = throttled(move |n| em(row(id, &it2, TransferState::Running, n, None)));
    let opts = WriteOptions {
        create_parents: true,
        ..Default::default()
    };
    tokio::select! {
        w = c.write_from_file(&it.dest, opts, f, progress) => Ok(w?.written),
        _ = cancel.cancelled() => Err(Error::cancelled()),
    }
}

fn row(
    id: u32,
    it: &UploadItem,
    state: TransferState,
    done: u64,
    error: Option<String>,
) -> TransferItem {
    TransferItem {
        id,
        target: encode_path(&it.dest),
        name: name_of(&it.host),
        state,
        done,
        total: it.size,
        error,
    }
}

/// An upload fed chunk by chunk (the web view's file input): bytes written here stream to the
/// bridge through a small pipe; [`UploadPipe::finish`] commits, dropping it leaves nothing.
pub struct UploadPipe {
    writer: Option<tokio::io::DuplexStream>,
    task: tokio::task::JoinHandle<Result<SavedFile>>,
    /// The path token the file is written to (after the name-exists choice).
    pub target: String,
}

impl UploadPipe {
    pub async fn write(&mut self, b: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let w = self
            .writer
            .as_mut()
            .ok_or_else(|| Error::invalid("the upload is finished"))?;
        if w.write_all(b).await.is_err() {
            // The writer side failed: its error is the real one.
            self.writer = None;
            return Err(Error::internal("the upload stream closed"));
        }
        Ok(())
    }
    pub async fn finish(mut self) -> Result<SavedFile> {
        use tokio::io::AsyncWriteExt;
        if let Some(mut w) = self.writer.take() {
            let _ = w.shutdown().await;
        }
        (&mut self.task).await.map_err(Error::internal)?
    }
}

impl Drop for UploadPipe {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.task.abort();
        }
    }
}

impl Berth {
    /// Starts an upload of `name` into `dir` fed through [`UploadPipe::write`]; `None` when the
    /// name exists and `on_exists` is `Skip`.
    pub async fn upload_pipe(
        &self,
        bot: &str,
        dir: &str,
        name: &str,
        on_exists: OnExists,
    ) -> Result<Option<UploadPipe>> {
        let c = self.files_client(bot).await?;
        let Some(target) =
            resolve_target(&c, &decode_path(dir)?, name.as_bytes(), on_exists).await?
        else {
            return Ok(None);
        };
        let (w, r) = tokio::io::duplex(256 * 1024);
        let t2 = target.clone();
        let task = tokio::spawn(async move {
            let opts = WriteOptions {
                create_parents: true,
                want_revision: true,
                ..Default::default()
            };
            let res = c.write(&t2, opts, r).await?;
            Ok(SavedFile {
                info: info_of(&res.entry),
                revision: res.revision,
            })
        });
        Ok(Some(UploadPipe {
            writer: Some(w),
            task,
            target: encode_path(&target),
        }))
    }
}

//! Downloads: workspace paths to a host file (one file as is, anything else as a tar.gz) written
//! to a temp file and renamed, a workspace folder into a new host folder, or a tar.gz of paths
//! to any writer (the CLI's `-`).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use berth_bridge::{FileEntry, FileKind, FilesClient};
use berth_runtime::CancellationToken;
use tokio::io::AsyncWrite;

use super::upload::Emit;
use super::{name_of, throttled};
use crate::files::PROGRESS_EVERY;
use crate::files::{base_of, decode_path, TransferItem, TransferState, TransferSummary};
use crate::model::ErrorCode;
use crate::{Berth, Error, Result};

/// Counts bytes flowing into a writer, reporting (throttled) and honouring cancel.
struct Counted<T> {
    inner: T,
    n: u64,
    last: Instant,
    report: Arc<dyn Fn(u64) + Send + Sync>,
    cancel: CancellationToken,
}

impl<T> Counted<T> {
    fn new(inner: T, report: Arc<dyn Fn(u64) + Send + Sync>, cancel: CancellationToken) -> Self {
        Counted {
            inner,
            n: 0,
            last: Instant::now(),
            report,
            cancel,
        }
    }
    fn tick(&mut self, k: usize) {
        self.n += k as u64;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            (self.report)(self.n);
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled")));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, b);
        if let Poll::Ready(Ok(k)) = r {
            self.tick(k);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The one progress row of a download.
#[derive(Clone)]
struct Row {
    target: String,
    name: String,
    total: u64,
    emit: Emit,
}

impl Row {
    fn send(&self, state: TransferState, done: u64, error: Option<String>) {
        (self.emit)(TransferItem {
            id: 1,
            target: self.target.clone(),
            name: self.name.clone(),
            state,
            done,
            total: self.total,
            error,
        });
    }
    fn progress(&self) -> Arc<dyn Fn(u64) + Send + Sync> {
        let me = self.clone();
        Arc::new(move |n| me.send(TransferState::Running, n, None))
    }
}

impl Berth {
    /// Downloads paths to the host: one file → `host_dest` as is; a directory or several paths →
    /// `host_dest` as a tar.gz. Written to a temp file and renamed, so a cancelled or failed
    /// download leaves nothing.
    pub async fn download(
        &self,
        bot: &str,
        paths: &[String],
        host_dest: &Path,
        cancel: &CancellationToken,
        emit: Emit,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let raw = paths
            .iter()
            .map(|p| decode_path(p))
            .collect::<Result<Vec<_>>>()?;
        if raw.is_empty() {
            return Err(Error::invalid("nothing to download"));
        }
        let single = single_file(&c, &raw).await?;
        let row = Row {
            target: host_dest.display().to_string(),
            name: name_of(host_dest),
            total: single.as_ref().map(|e| e.size).unwrap_or(0),
            emit,
        };
        row.send(TransferState::Running, 0, None);
        let tmp = temp_beside(host_dest);
        let r = fetch(&c, &raw, single.is_some(), &tmp, host_dest, cancel, &row).await;
        let mut sum = TransferSummary::default();
        match r {
            Ok(n) => {
                sum.done = 1;
                sum.bytes = n;
                row.send(TransferState::Done, n, None);
                Ok(sum)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                if e.code == ErrorCode::Cancelled {
                    sum.cancelled = true;
                    row.send(TransferState::Cancelled, 0, None);
                    Ok(sum)
                } else {
                    row.send(TransferState::Failed, 0, Some(e.message.clone()));
                    Err(e)
                }
            }
        }
    }

    /// Writes a tar.gz of `paths` (path tokens) to `out`; returns the bytes written.
    pub async fn archive_to(
        &self,
        bot: &str,
        paths: &[String],
        out: impl AsyncWrite + Unpin + Send,
    ) -> Result<u64> {
        let c = self.files_client(bot).await?;
        let raw = paths
            .iter()
            .map(|p| decode_path(p))
            .collect::<Result<Vec<_>>>()?;
        Ok(c.archive(&raw, out).await?)
    }

    /// Copies a workspace directory into a new host directory `host_dir` (tar.gz stream from the
    /// bridge, extracted here with the hostile-archive rules). `host_dir` must not exist.
    pub async fn download_dir(&self, bot: &str, path: &str, host_dir: &Path) -> Result<u64> {
        let c = self.files_client(bot).await?;
        let p = decode_path(path)?;
        let name = base_of(&p);
        std::fs::create_dir(host_dir)
            .map_err(|e| Error::invalid(format!("cannot create {}: {e}", host_dir.display())))?;
        let (w, r) = tokio::io::duplex(256 * 1024);
        let dir = host_dir.to_path_buf();
        let consumer = tokio::task::spawn_blocking(move || extract_stripped(r, &dir, name));
        let produced = c.archive(&[p], w).await;
        let consumed = consumer.await.map_err(Error::internal)?;
        match (produced, consumed) {
            (Ok(n), Ok(_)) => Ok(n),
            (Err(e), _) => {
                let _ = std::fs::remove_dir_all(host_dir);
                Err(e.into())
            }
            (_, Err(e)) => {
                let _ = std::fs::remove_dir_all(host_dir);
                Err(Error::internal(format!(
                    "extracting into {}: {e}",
                    host_dir.display()
                )))
            }
        }
    }
}

/// The entry when `raw` is one regular file (or a link to one): it downloads as is.
async fn single_file(c: &FilesClient, raw: &[Vec<u8>]) -> Result<Option<FileEntry>> {
    if raw.len() != 1 {
        return Ok(None);
    }
    let e = c.stat(&raw[0]).await?;
    let file = e.kind == FileKind::File
        || (e.kind == FileKind::Symlink && e.target_kind == Some(FileKind::File));
    Ok(file.then_some(e))
}

/// Streams the file (or a tar.gz of the paths) into `tmp` and renames it to `dest`.
async fn fetch(
    c: &FilesClient,
    raw: &[Vec<u8>],
    single: bool,
    tmp: &Path,
    dest: &Path,
    cancel: &CancellationToken,
    row: &Row,
) -> Result<u64> {
    let create = |e: io::Error| Error::invalid(format!("cannot create {}: {e}", tmp.display()));
    let f = tokio::fs::File::create(tmp).await.map_err(create)?;
    let mut out = Counted::new(f, row.progress(), cancel.clone());
    let n = if single {
        let f = std::fs::File::create(tmp).map_err(create)?;
        let report = row.progress();
        let progress = throttled(move |n| report(n));
        tokio::select! {
            r = c.read_to_file(&raw[0], f, progress) => r.map(|r| r.bytes),
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    } else {
        c.archive(raw, &mut out).await
    };
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let n = n?;
    // Flushed (not fsync'd, like cp): the rename below only happens after every byte arrived.
    tokio::io::AsyncWriteExt::flush(&mut out.inner)
        .await
        .map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
    tokio::fs::rename(tmp, dest)
        .await
        .map_err(|e| Error::invalid(format!("cannot write {}: {e}", dest.display())))?;
    Ok(n)
}

/// Extracts the tar.gz on `r` into `dir` without its one top-level entry (named like the
/// source folder). Blocking: runs on a blocking thread.
fn extract_stripped(
    r: tokio::io::DuplexStream,
    dir: &Path,
    name: Vec<u8>,
) -> io::Result<berth_bridge::targz::Counts> {
    let rd = tokio_util::io::SyncIoBridge::new(r);
    let tmp = dir.join(format!(".berth-extract-{}", std::process::id()));
    std::fs::create_dir(&tmp)?;
    let res = berth_bridge::targz::extract_targz(rd, &tmp, false).and_then(|c| {
        let inner = tmp.join(OsString::from_vec(name));
        for de in std::fs::read_dir(&inner)? {
            let de = de?;
            std::fs::rename(de.path(), dir.join(de.file_name()))?;
        }
        Ok(c)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

/// The temp file a download is written to, next to its destination.
fn temp_beside(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.berth-part-{}", std::process::id()))
}

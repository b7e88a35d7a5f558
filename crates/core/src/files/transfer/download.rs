//! Downloads: workspace paths to a host file (one file as is, anything else as a tar.gz) written
//! to a temp file and renamed, a workspace folder into a new host folder, or a tar.gz of paths
//! to any writer (the CLI's `-`).

use std::io;
use std::os::unix::fs::OpenOptionsExt;
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
        download_from(&c, paths, host_dest, cancel, emit).await
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
        download_dir_from(&c, path, host_dir).await
    }
}

/// [`Berth::download`] through a given client (public so tests can drive it against a
/// hostile bridge).
pub async fn download_from(
    c: &FilesClient,
    paths: &[String],
    host_dest: &Path,
    cancel: &CancellationToken,
    emit: Emit,
) -> Result<TransferSummary> {
    let raw = paths
        .iter()
        .map(|p| decode_path(p))
        .collect::<Result<Vec<_>>>()?;
    if raw.is_empty() {
        return Err(Error::invalid("nothing to download"));
    }
    let single = single_file(c, &raw).await?;
    let row = Row {
        target: host_dest.display().to_string(),
        name: name_of(host_dest),
        total: single.as_ref().map(|e| e.size).unwrap_or(0),
        emit,
    };
    row.send(TransferState::Running, 0, None);
    let tmp = temp_beside(host_dest);
    let r = fetch(c, &raw, single.is_some(), &tmp, host_dest, cancel, &row).await;
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

/// [`Berth::download_dir`] through a given client. The folder's contents are extracted
/// straight into `host_dir` (created here, removed again on failure) with `host_dir` as the
/// archive's root: no entry, link or move step can reach outside it.
pub async fn download_dir_from(c: &FilesClient, path: &str, host_dir: &Path) -> Result<u64> {
    let p = decode_path(path)?;
    // The producer stores a folder under its base name, `/` as `root`.
    let name = match base_of(&p) {
        n if n.is_empty() => b"root".to_vec(),
        n => n,
    };
    std::fs::create_dir(host_dir)
        .map_err(|e| Error::invalid(format!("cannot create {}: {e}", host_dir.display())))?;
    let (w, r) = tokio::io::duplex(256 * 1024);
    let dir = host_dir.to_path_buf();
    let consumer = tokio::task::spawn_blocking(move || {
        let rd = tokio_util::io::SyncIoBridge::new(r);
        berth_bridge::targz::extract_targz_under(rd, &dir, &name)
    });
    let produced = c.archive(&[p], w).await;
    let consumed = consumer.await.map_err(Error::internal)?;
    match (produced, consumed) {
        (Ok(n), Ok(_)) => Ok(n),
        (_, Err(e)) => {
            let _ = std::fs::remove_dir_all(host_dir);
            Err(Error::invalid(format!(
                "extracting into {}: {e}",
                host_dir.display()
            )))
        }
        (Err(e), _) => {
            let _ = std::fs::remove_dir_all(host_dir);
            Err(e.into())
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
    // A new file, never one that is there (or a link placed there): O_EXCL | O_NOFOLLOW.
    let std_file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(tmp)
        .map_err(create)?;
    let f = tokio::fs::File::from_std(std_file.try_clone().map_err(create)?);
    let mut out = Counted::new(f, row.progress(), cancel.clone());
    let n = if single {
        let report = row.progress();
        let progress = throttled(move |n| report(n));
        tokio::select! {
            r = c.read_to_file(&raw[0], std_file, progress) => r.map(|r| r.bytes),
            _ = cancel.cancelled() => return Err(Error::cancelled()),
        }
    } else {
        drop(std_file);
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

/// The temp file a download is written to, next to its destination.
fn temp_beside(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    p.with_file_name(format!(".{name}.berth-part-{}-{ms}", std::process::id()))
}

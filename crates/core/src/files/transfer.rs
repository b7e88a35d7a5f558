//! Uploads and downloads between the host file system and a workspace, streamed in fixed chunks
//! with per-item progress, cancel and the name-exists choice (replace / skip / keep both).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use berth_bridge::{FileKind, FilesClient, WriteOptions};
use berth_runtime::CancellationToken;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{Berth, Error, Result};

use super::*;

/// Counts bytes flowing through a reader/writer, reporting (throttled) and honouring cancel.
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

fn cancelled_io() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cancelled")
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(cancelled_io()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let k = buf.filled().len() - before;
            self.tick(k);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(cancelled_io()));
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

/// One host file or directory to upload, found by walking the sources.
#[derive(Debug, Clone)]
struct UploadItem {
    host: PathBuf,
    /// Container path.
    dest: Vec<u8>,
    dir: bool,
    size: u64,
}

/// Walks `src` (following a top-level symlink, not descending into linked directories).
fn walk_host(
    src: &Path,
    dest: Vec<u8>,
    out: &mut Vec<UploadItem>,
    skipped: &mut Vec<(PathBuf, String)>,
) -> io::Result<()> {
    let m = std::fs::metadata(src)?;
    if m.is_dir() {
        out.push(UploadItem {
            host: src.to_path_buf(),
            dest: dest.clone(),
            dir: true,
            size: 0,
        });
        let mut stack = vec![(src.to_path_buf(), dest)];
        while let Some((dir, cdest)) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<io::Result<Vec<_>>>()?;
            names.sort_by_key(|e| e.file_name());
            for de in names {
                let host = de.path();
                let child = join_name(&cdest, de.file_name().as_bytes())
                    .map_err(|e| io::Error::other(e.message))?;
                let lm = std::fs::symlink_metadata(&host)?;
                if lm.file_type().is_symlink() {
                    match std::fs::metadata(&host) {
                        Ok(t) if t.is_file() => out.push(UploadItem {
                            host,
                            dest: child,
                            dir: false,
                            size: t.len(),
                        }),
                        _ => skipped.push((
                            host,
                            "symbolic link to a directory or nothing: skipped".into(),
                        )),
                    }
                } else if lm.is_dir() {
                    out.push(UploadItem {
                        host: host.clone(),
                        dest: child.clone(),
                        dir: true,
                        size: 0,
                    });
                    stack.push((host, child));
                } else if lm.is_file() {
                    out.push(UploadItem {
                        host,
                        dest: child,
                        dir: false,
                        size: lm.len(),
                    });
                } else {
                    skipped.push((host, "not a regular file: skipped".into()));
                }
            }
        }
    } else if m.is_file() {
        out.push(UploadItem {
            host: src.to_path_buf(),
            dest,
            dir: false,
            size: m.len(),
        });
    } else {
        skipped.push((src.to_path_buf(), "not a regular file: skipped".into()));
    }
    Ok(())
}

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
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
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
        self.upload_to(&c, sources, &dest, true, on_exists, cancel, emit)
            .await
    }

    /// Uploads to explicit targets: with `into_dir` each source goes to `dest/<its name>`,
    /// otherwise the single source becomes `dest` (the CLI's `cp SRC BOT:/new-name`).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_to(
        &self,
        c: &FilesClient,
        sources: &[PathBuf],
        dest: &[u8],
        into_dir: bool,
        on_exists: OnExists,
        cancel: &CancellationToken,
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
    ) -> Result<TransferSummary> {
        let mut sum = TransferSummary::default();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for src in sources {
            let target = if into_dir {
                let name = src
                    .file_name()
                    .ok_or_else(|| Error::invalid(format!("{} has no name", src.display())))?;
                match resolve_target(c, dest, name.as_bytes(), on_exists).await? {
                    Some(t) => t,
                    None => {
                        skipped.push((src.clone(), "already exists: skipped".to_string()));
                        continue;
                    }
                }
            } else {
                dest.to_vec()
            };
            let src2 = src.clone();
            let (found, skip) = tokio::task::spawn_blocking(move || {
                let mut v = Vec::new();
                let mut s = Vec::new();
                walk_host(&src2, target, &mut v, &mut s).map(|_| (v, s))
            })
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", src.display())))?;
            items.extend(found);
            skipped.extend(skip);
        }
        let mut id = 0u32;
        for (host, why) in skipped {
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
        for (i, it) in items.iter().enumerate().filter(|(_, it)| !it.dir) {
            emit(TransferItem {
                id: first + i as u32,
                target: encode_path(&it.dest),
                name: name_of(&it.host),
                state: TransferState::Queued,
                done: 0,
                total: it.size,
                error: None,
            });
        }
        for (i, it) in items.iter().enumerate() {
            let id = first + i as u32;
            if cancel.is_cancelled() {
                if !it.dir {
                    emit(TransferItem {
                        id,
                        target: encode_path(&it.dest),
                        name: name_of(&it.host),
                        state: TransferState::Cancelled,
                        done: 0,
                        total: it.size,
                        error: None,
                    });
                }
                sum.cancelled = true;
                continue;
            }
            if it.dir {
                if let Err(e) = c.mkdir(&it.dest).await {
                    sum.failed += 1;
                    emit(TransferItem {
                        id,
                        target: encode_path(&it.dest),
                        name: name_of(&it.host),
                        state: TransferState::Failed,
                        done: 0,
                        total: 0,
                        error: Some(Error::from(e).message),
                    });
                }
                continue;
            }
            let row = |state, done, error| TransferItem {
                id,
                target: encode_path(&it.dest),
                name: name_of(&it.host),
                state,
                done,
                total: it.size,
                error,
            };
            emit(row(TransferState::Running, 0, None));
            let r = async {
                let f = std::fs::File::open(&it.host).map_err(|e| Error::invalid(format!("cannot open {}: {e}", it.host.display())))?;
                let em = emit.clone();
                let (dest, host, total) = (encode_path(&it.dest), name_of(&it.host), it.size);
                let progress = throttled(move |n| em(TransferItem { id, target: dest.clone(), name: host.clone(), state: TransferState::Running, done: n, total, error: None }));
                let opts = WriteOptions { create_parents: true, ..Default::default() };
                tokio::select! {
                    w = c.write_from_file(&it.dest, opts, f, progress) => Ok::<_, Error>(w?.written),
                    _ = cancel.cancelled() => Err(Error::cancelled()),
                }
            }
            .await;
            match r {
                Ok(n) => {
                    sum.done += 1;
                    sum.bytes += n;
                    emit(row(TransferState::Done, n, None));
                }
                Err(e) if e.code == crate::model::ErrorCode::Cancelled => {
                    sum.cancelled = true;
                    emit(row(TransferState::Cancelled, 0, None));
                }
                Err(e) => {
                    sum.failed += 1;
                    emit(row(TransferState::Failed, 0, Some(e.message)));
                }
            }
        }
        Ok(sum)
    }

    /// Downloads paths to the host: one file → `host_dest` as is; a directory or several paths →
    /// `host_dest` as a tar.gz. Written to a temp file and renamed, so a cancelled or failed
    /// download leaves nothing.
    pub async fn download(
        &self,
        bot: &str,
        paths: &[String],
        host_dest: &Path,
        cancel: &CancellationToken,
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let raw = paths
            .iter()
            .map(|p| decode_path(p))
            .collect::<Result<Vec<_>>>()?;
        if raw.is_empty() {
            return Err(Error::invalid("nothing to download"));
        }
        let single = if raw.len() == 1 {
            let e = c.stat(&raw[0]).await?;
            (e.kind == FileKind::File
                || (e.kind == FileKind::Symlink && e.target_kind == Some(FileKind::File)))
            .then_some(e)
        } else {
            None
        };
        let total = single.as_ref().map(|e| e.size).unwrap_or(0);
        let name = name_of(host_dest);
        let target = host_dest.display().to_string();
        let row = |state, done, error| TransferItem {
            id: 1,
            target: target.clone(),
            name: name.clone(),
            state,
            done,
            total,
            error,
        };
        emit(row(TransferState::Running, 0, None));
        let tmp = temp_beside(host_dest);
        let r = async {
            let f = tokio::fs::File::create(&tmp)
                .await
                .map_err(|e| Error::invalid(format!("cannot create {}: {e}", tmp.display())))?;
            let em = emit.clone();
            let (t2, n2) = (target.clone(), name.clone());
            let report: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
                em(TransferItem {
                    id: 1,
                    target: t2.clone(),
                    name: n2.clone(),
                    state: TransferState::Running,
                    done: n,
                    total,
                    error: None,
                })
            });
            let mut out = Counted::new(f, report, cancel.clone());
            let n = if single.is_some() {
                let f = std::fs::File::create(&tmp)
                    .map_err(|e| Error::invalid(format!("cannot create {}: {e}", tmp.display())))?;
                let (em, t3, n3) = (emit.clone(), target.clone(), name.clone());
                let progress = throttled(move |n| {
                    em(TransferItem {
                        id: 1,
                        target: t3.clone(),
                        name: n3.clone(),
                        state: TransferState::Running,
                        done: n,
                        total,
                        error: None,
                    })
                });
                tokio::select! {
                    r = c.read_to_file(&raw[0], f, progress) => r.map(|r| r.bytes),
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                }
            } else {
                c.archive(&raw, &mut out).await
            };
            if cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            let n = n?;
            // Flushed (not fsync'd, like cp): the rename below only happens after every byte arrived.
            tokio::io::AsyncWriteExt::flush(&mut out.inner)
                .await
                .map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
            tokio::fs::rename(&tmp, host_dest).await.map_err(|e| {
                Error::invalid(format!("cannot write {}: {e}", host_dest.display()))
            })?;
            Ok::<_, Error>(n)
        }
        .await;
        let mut sum = TransferSummary::default();
        match r {
            Ok(n) => {
                sum.done = 1;
                sum.bytes = n;
                emit(row(TransferState::Done, n, None));
                Ok(sum)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                if e.code == crate::model::ErrorCode::Cancelled {
                    sum.cancelled = true;
                    emit(row(TransferState::Cancelled, 0, None));
                    Ok(sum)
                } else {
                    emit(row(TransferState::Failed, 0, Some(e.message.clone())));
                    Err(e)
                }
            }
        }
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
        let consumer = tokio::task::spawn_blocking(move || {
            let rd = tokio_util::io::SyncIoBridge::new(r);
            // The archive holds one top-level entry named like the source: strip it.
            let tmp = dir.join(format!(".berth-extract-{}", std::process::id()));
            std::fs::create_dir(&tmp)?;
            let res = berth_bridge::targz::extract_targz(rd, &tmp, false);
            let res = res.and_then(|c| {
                let inner = tmp.join(OsString::from_vec(name));
                for de in std::fs::read_dir(&inner)? {
                    let de = de?;
                    std::fs::rename(de.path(), dir.join(de.file_name()))?;
                }
                Ok(c)
            });
            let _ = std::fs::remove_dir_all(&tmp);
            res
        });
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

/// Where `name` goes in `dir` given the name-exists choice; `None` means skip.
async fn resolve_target(
    c: &FilesClient,
    dir: &[u8],
    name: &[u8],
    on_exists: OnExists,
) -> Result<Option<Vec<u8>>> {
    let t = join_name(dir, name)?;
    if c.stat(&t).await.is_err() {
        return Ok(Some(t));
    }
    match on_exists {
        OnExists::Replace => Ok(Some(t)),
        OnExists::Skip => Ok(None),
        OnExists::Fail => Err(Error::new(
            crate::model::ErrorCode::AlreadyExists,
            format!("{} already exists", String::from_utf8_lossy(&t)),
        )),
        OnExists::KeepBoth => {
            let mut n = 2;
            loop {
                let cand = join_name(dir, &numbered_name(name, n))?;
                if c.stat(&cand).await.is_err() {
                    return Ok(Some(cand));
                }
                n += 1;
            }
        }
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

/// A progress callback that passes at most ten updates a second.
fn throttled(f: impl Fn(u64) + Send + Sync + 'static) -> impl Fn(u64) + Send + 'static {
    let last = std::sync::Mutex::new(Instant::now());
    move |n| {
        let mut l = last.lock().unwrap();
        if l.elapsed() >= PROGRESS_EVERY {
            *l = Instant::now();
            f(n);
        }
    }
}

fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

fn temp_beside(p: &Path) -> PathBuf {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    p.with_file_name(format!(".{name}.berth-part-{}", std::process::id()))
}

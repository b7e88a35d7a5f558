//! Export: `/data` of a running workspace as a standard .tar.gz on the host, written to a
//! temporary sibling, fsynced and renamed, so a kill leaves either nothing or the complete archive.

use std::path::{Path, PathBuf};

use berth_runtime::CancellationToken;
use tokio::io::AsyncWriteExt;

use super::{now_nonce, DataProgress, ExportReport, ProgressFn, DATA};
use crate::{Berth, Error, Result};

/// A temporary sibling of `dest` (same directory, so the final rename is atomic).
fn part_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    dest.with_file_name(format!(".{name}.berth-part-{}", now_nonce()))
}

impl Berth {
    /// Writes `/data` of the running workspace as a .tar.gz to `dest` (temp file, fsync,
    /// rename). `progress` gets the archive bytes written so far (`done`/`total`: source bytes,
    /// 0 until the bridge reports them). Returns what was written.
    ///
    /// Consistency: the workspace's processes are stopped (SIGSTOP from the bridge, PID 1)
    /// while the archive is written and continued afterwards; terminals survive.
    pub async fn export_data(
        &self,
        bot: &str,
        dest: &Path,
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<ExportReport> {
        let c = self.files_client(bot).await?;
        let (_, children) = c.list_all(DATA).await?;
        let paths: Vec<Vec<u8>> = children.iter().map(|e| e.path.clone()).collect();
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::invalid(format!("cannot create {}: {e}", dir.display())))?;
        }
        let part = part_path(dest);
        let result = async {
            let file = tokio::fs::File::create(&part)
                .await
                .map_err(|e| Error::invalid(format!("cannot write {}: {e}", part.display())))?;
            let mut out = Counting {
                inner: file,
                n: 0,
                progress,
            };
            if paths.is_empty() {
                let empty = berth_bridge::targz::write_targz(Vec::new(), &[], 6)
                    .map_err(|e| Error::internal(format!("empty archive: {e}")))?;
                out.write_all(&empty)
                    .await
                    .map_err(|e| Error::internal(format!("writing: {e}")))?;
            } else {
                tokio::select! {
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                    r = c.archive_paused(&paths, true, &mut out) => { r?; }
                }
            }
            let n = out.n;
            let f = out.inner;
            f.sync_all()
                .await
                .map_err(|e| Error::internal(format!("fsync: {e}")))?;
            drop(f);
            tokio::fs::rename(&part, dest)
                .await
                .map_err(|e| Error::internal(format!("renaming into {}: {e}", dest.display())))?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            // TODO(issue 6, export helper): entry counts and skipped count from the bridge.
            Ok(ExportReport { bytes: n, ..Default::default() })
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }
}

/// An async writer that counts bytes and reports them.
struct Counting<'a, W> {
    inner: W,
    n: u64,
    progress: ProgressFn<'a>,
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counting<'_, W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.n += *n as u64;
            (self.progress)(DataProgress { archive: self.n, ..Default::default() });
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

//! Export: `/data` of a running workspace as a standard .tar.gz on the host, written to a
//! temporary sibling, fsynced and renamed, so a kill leaves either nothing or the complete archive.

use std::path::{Path, PathBuf};

use berth_bridge::{ArchiveProgress, FilesClient};
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
    /// rename). `progress` gets the archive bytes written and the source bytes read of the
    /// total (a quick pre-walk by the bridge; 0 until it is known). Returns what was written.
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
            // Private: it holds the bot's data (and kept data lives in Berth's own directory).
            // A new file, never one that is there or a link placed there.
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(&part)
                .await
                .map_err(|e| Error::invalid(format!("cannot write {}: {e}", part.display())))?;
            let report = tokio::select! {
                _ = cancel.cancelled() => return Err(Error::cancelled()),
                r = write_archive(&c, &paths, &mut file, progress) => r?,
            };
            file.sync_all()
                .await
                .map_err(|e| Error::internal(format!("fsync: {e}")))?;
            drop(file);
            tokio::fs::rename(&part, dest)
                .await
                .map_err(|e| Error::internal(format!("renaming into {}: {e}", dest.display())))?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(report)
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }
}

/// The archive of `paths` (the children of `/data`; none: an empty archive) into `out`, with the
/// workspace's processes paused, reporting progress.
async fn write_archive(
    c: &FilesClient,
    paths: &[Vec<u8>],
    out: &mut tokio::fs::File,
    progress: ProgressFn<'_>,
) -> Result<ExportReport> {
    if paths.is_empty() {
        let empty = berth_bridge::targz::write_targz(Vec::new(), &[], 6)
            .map_err(|e| Error::internal(format!("empty archive: {e}")))?;
        out.write_all(&empty)
            .await
            .map_err(|e| Error::internal(format!("writing: {e}")))?;
        let bytes = empty.len() as u64;
        progress(DataProgress {
            archive: bytes,
            done: 0,
            total: 0,
        });
        return Ok(ExportReport {
            bytes,
            ..Default::default()
        });
    }
    let mut report = |p: ArchiveProgress| {
        progress(DataProgress {
            archive: p.archive,
            done: p.done,
            total: p.total,
        })
    };
    let s = c.archive_reporting(paths, true, out, &mut report).await?;
    // The total was a pre-walk's estimate; once everything is read, the bar ends full.
    progress(DataProgress {
        archive: s.bytes,
        done: s.source_bytes,
        total: s.source_bytes,
    });
    Ok(ExportReport {
        bytes: s.bytes,
        files: s.files,
        dirs: s.dirs,
        links: s.links,
        skipped: s.skipped,
    })
}

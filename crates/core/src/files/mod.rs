//! Files: browse, read, edit, upload, download, archive, extract and watch a running
//! workspace's file system through the bridge's `Files` service.
//!
//! Paths cross IPC as strings: a UTF-8 path as itself (always starting with `/`), any other
//! byte string as `hex:<hex>` (see [`encode_path`]), so names that are not UTF-8 round-trip
//! exactly while the UI shows a lossy `name`. Uploads and downloads stream between the host file
//! system and the bridge in fixed chunks; memory stays constant whatever the size.

mod model;
mod paths;
mod transfer;

pub use model::*;
use paths::parent_of;
pub use paths::*;
pub use transfer::{download_dir_from, download_from, UploadPipe};

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use berth_bridge::{FilesClient, ReadResult, WriteOptions};
use berth_runtime::CancellationToken;
use tokio::io::AsyncWrite;

use crate::model::ErrorCode;
use crate::{Berth, Error, Result};

/// Largest file the editor opens (bigger files are downloaded instead).
pub const MAX_TEXT: u64 = 8 * 1024 * 1024;
/// Largest image the preview loads.
pub const MAX_PREVIEW: u64 = 32 * 1024 * 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Berth {
    /// A Files client on the bot's running workspace's bridge connection (kept between
    /// calls). For streams that cannot be replayed; one-shot calls use [`Berth::with_files`].
    pub async fn files_client(&self, bot: &str) -> Result<FilesClient> {
        Ok(FilesClient::new(&self.bridge(bot).await?.channel))
    }

    /// Runs `op` with a Files client; once more on a fresh connection if the kept one was lost.
    async fn with_files<T, F, Fut>(&self, bot: &str, op: F) -> Result<T>
    where
        F: Fn(FilesClient) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.with_bridge(bot, |ch| op(FilesClient::new(&ch))).await
    }

    /// The entry of one path (symlinks reported as links).
    pub async fn file_stat(&self, bot: &str, path: &str) -> Result<FileInfo> {
        let p = decode_path(path)?;
        let p = &p;
        self.with_files(bot, move |c: FilesClient| async move {
            Ok(info_of(&c.stat(p).await?))
        })
        .await
    }

    /// A directory's entries, directories first then natural order.
    pub async fn file_list(&self, bot: &str, path: &str) -> Result<DirListing> {
        let p = decode_path(path)?;
        let (dir, entries) = {
            let p = &p;
            self.with_files(bot, move |c: FilesClient| async move {
                Ok(c.list_all(p).await?)
            })
            .await?
        };
        let mut entries: Vec<FileInfo> = entries.iter().map(info_of).collect();
        sort_entries(&mut entries);
        Ok(DirListing {
            dir: info_of(&dir),
            entries,
        })
    }

    /// Opens a text file for the editor (UTF-8, at most [`MAX_TEXT`]).
    pub async fn file_read_text(&self, bot: &str, path: &str) -> Result<TextFile> {
        let p = decode_path(path)?;
        let p = &p;
        let read = move |c: FilesClient| async move { read_limited(&c, p, true, MAX_TEXT).await };
        let (r, buf) = self.with_files(bot, read).await.map_err(|e| {
            if e.message.contains("too large") {
                Error::new(
                    ErrorCode::Unsupported,
                    format!(
                        "the file is larger than {} MiB; download it instead",
                        MAX_TEXT >> 20
                    ),
                )
            } else {
                e
            }
        })?;
        let content = String::from_utf8(buf).map_err(|_| {
            Error::new(
                ErrorCode::Unsupported,
                "the file is not UTF-8 text; download it instead",
            )
        })?;
        Ok(TextFile {
            info: info_of(&r.entry),
            content,
            revision: r.revision.unwrap_or_default(),
        })
    }

    /// Raw bytes of a small file (image preview), at most [`MAX_PREVIEW`].
    pub async fn file_read_bytes(&self, bot: &str, path: &str) -> Result<Vec<u8>> {
        let p = decode_path(path)?;
        let p = &p;
        let read =
            move |c: FilesClient| async move { read_limited(&c, p, false, MAX_PREVIEW).await };
        Ok(self.with_files(bot, read).await?.1)
    }

    /// Saves text; with `expected_revision`, fails with `conflict` if the file changed on disk.
    pub async fn file_save_text(
        &self,
        bot: &str,
        path: &str,
        content: String,
        expected_revision: Option<String>,
    ) -> Result<SavedFile> {
        let p = decode_path(path)?;
        let opts = WriteOptions {
            expected_revision,
            want_revision: true,
            ..Default::default()
        };
        let (p, opts, content) = (&p, &opts, &content);
        let save = move |c: FilesClient| async move {
            let body = io::Cursor::new(content.clone().into_bytes());
            Ok(c.write(p, opts.clone(), body).await?)
        };
        let r = self.with_files(bot, save).await?;
        Ok(SavedFile {
            info: info_of(&r.entry),
            revision: r.revision,
        })
    }

    /// Creates an empty file `name` in `dir` (fails if it exists).
    pub async fn file_create(&self, bot: &str, dir: &str, name: &str) -> Result<SavedFile> {
        let p = join_name(&decode_path(dir)?, name.as_bytes())?;
        let opts = WriteOptions {
            must_not_exist: true,
            want_revision: true,
            ..Default::default()
        };
        let (p, opts) = (&p, &opts);
        let create = move |c: FilesClient| async move {
            Ok(c.write(p, opts.clone(), tokio::io::empty()).await?)
        };
        let r = self.with_files(bot, create).await?;
        Ok(SavedFile {
            info: info_of(&r.entry),
            revision: r.revision,
        })
    }

    /// Creates directory `name` in `dir` (fails if it exists).
    pub async fn file_mkdir(&self, bot: &str, dir: &str, name: &str) -> Result<FileInfo> {
        let p = join_name(&decode_path(dir)?, name.as_bytes())?;
        let p = &p;
        let mkdir = move |c: FilesClient| async move {
            if c.stat(p).await.is_ok() {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("{name} already exists"),
                ));
            }
            Ok(info_of(&c.mkdir(p).await?))
        };
        self.with_files(bot, mkdir).await
    }

    /// mkdir -p of a whole path.
    pub async fn file_mkdir_all(&self, bot: &str, path: &str) -> Result<FileInfo> {
        let p = decode_path(path)?;
        let p = &p;
        self.with_files(bot, move |c: FilesClient| async move {
            Ok(info_of(&c.mkdir(p).await?))
        })
        .await
    }

    /// Renames within the same directory.
    pub async fn file_rename(
        &self,
        bot: &str,
        path: &str,
        new_name: &str,
        overwrite: bool,
    ) -> Result<FileInfo> {
        let from = decode_path(path)?;
        let to = join_name(&parent_of(&from), new_name.as_bytes())?;
        let (from, to) = (&from, &to);
        let rename =
            move |c: FilesClient| async move { Ok(info_of(&c.rename(from, to, overwrite).await?)) };
        self.with_files(bot, rename).await
    }

    /// Moves a path to an explicit new path.
    pub async fn file_move(
        &self,
        bot: &str,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<FileInfo> {
        let (from, to) = (decode_path(from)?, decode_path(to)?);
        let (from, to) = (&from, &to);
        let rename =
            move |c: FilesClient| async move { Ok(info_of(&c.rename(from, to, overwrite).await?)) };
        self.with_files(bot, rename).await
    }

    /// Deletes paths (directories only with `recursive`). `/` is refused.
    pub async fn file_delete(&self, bot: &str, paths: &[String], recursive: bool) -> Result<()> {
        let raw = decode_all(paths)?;
        let raw = &raw;
        let delete = move |c: FilesClient| async move {
            for p in raw {
                c.delete(p, recursive).await?;
            }
            Ok(())
        };
        self.with_files(bot, delete).await
    }

    /// Extracts an archive into a new sibling directory.
    pub async fn file_extract(&self, bot: &str, path: &str) -> Result<ExtractSummary> {
        let p = decode_path(path)?;
        let p = &p;
        let r = self
            .with_files(
                bot,
                move |c: FilesClient| async move { Ok(c.extract(p).await?) },
            )
            .await?;
        Ok(ExtractSummary {
            dir: encode_path(&r.dir),
            files: r.files,
            dirs: r.dirs,
        })
    }

    /// Which of `names` already exist in `dir` (for the name-exists choice before an upload).
    pub async fn file_existing_names(
        &self,
        bot: &str,
        dir: &str,
        names: &[String],
    ) -> Result<Vec<String>> {
        let d = decode_path(dir)?;
        let targets = names
            .iter()
            .map(|n| Ok((n, join_name(&d, n.as_bytes())?)))
            .collect::<Result<Vec<_>>>()?;
        let targets = &targets;
        let existing = move |c: FilesClient| async move {
            let mut out = Vec::new();
            for (name, target) in targets {
                if c.stat(target).await.is_ok() {
                    out.push(name.to_string());
                }
            }
            Ok(out)
        };
        self.with_files(bot, existing).await
    }

    /// Watches directories/files until `cancel` (or `emit` returns false: nobody listens any
    /// more), calling `emit` with coalesced changes.
    pub async fn file_watch(
        &self,
        bot: &str,
        paths: &[String],
        cancel: CancellationToken,
        emit: impl Fn(FilesChanged) -> bool + Send,
    ) -> Result<()> {
        let raw = decode_all(paths)?;
        let c = self.files_client(bot).await?;
        let mut s = c.watch(&raw).await?;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                ev = s.next() => match ev? {
                    Some(ev) => {
                        if !emit(FilesChanged { paths: ev.paths.iter().map(|p| encode_path(p)).collect(), overflow: ev.overflow }) {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                }
            }
        }
    }
}

/// Decodes path tokens.
pub(crate) fn decode_all(paths: &[String]) -> Result<Vec<Vec<u8>>> {
    paths.iter().map(|p| decode_path(p)).collect()
}

/// Reads the whole file at `p` into memory, failing ("file too large") past `max` bytes.
async fn read_limited(
    c: &FilesClient,
    p: &[u8],
    want_revision: bool,
    max: u64,
) -> Result<(ReadResult, Vec<u8>)> {
    let mut buf = Vec::new();
    let sink = LimitedVec {
        v: &mut buf,
        max: max as usize,
    };
    let r = c.read(p, 0, None, want_revision, sink).await?;
    Ok((r, buf))
}

/// An `AsyncWrite` into a Vec that fails past `max` bytes.
struct LimitedVec<'a> {
    v: &'a mut Vec<u8>,
    max: usize,
}

impl AsyncWrite for LimitedVec<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.v.len() + b.len() > self.max {
            return Poll::Ready(Err(io::Error::other("file too large")));
        }
        self.v.extend_from_slice(b);
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

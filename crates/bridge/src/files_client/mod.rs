//! Host-side client of the bridge's `Files` service with plain Rust types: paths are
//! byte strings (container-absolute), data streams through `AsyncRead`/`AsyncWrite` in fixed
//! chunks with bounded queues, so memory stays constant whatever the file size.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::channel::BridgeChannel;

use crate::entry::{check_path, expect_path, hostile, show};
pub use crate::entry::{FileEntry, FileKind};
use crate::error::BridgeError;
use crate::peer::ExpectedPeer;
use crate::proto::{self, files_client::FilesClient as Raw, read_chunk, write_input};

mod streams;

/// Bytes per upload message.
const CHUNK: usize = 1024 * 1024;
/// Upload queue depth (back-pressure towards the source).
const QUEUE: usize = 4;
/// Most entries [`FilesClient::list_all`] collects: a bridge that lists without end gets an
/// error, not all of the host's memory.
pub const MAX_LIST_ENTRIES: usize = 1_000_000;
/// Most bytes of names, paths and link targets [`FilesClient::list_all`] collects (1,000,000
/// entries of long paths would otherwise be gigabytes).
pub const MAX_LIST_BYTES: usize = 256 << 20;
/// Largest reply message decoded (tonic's default, stated: data comes in 1 MiB chunks, a page of
/// a listing in 1,000 entries).
pub const MAX_MESSAGE: usize = 4 << 20;

/// Options of [`FilesClient::write`].
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// `"sha256:<hex>"` the file must still have; otherwise the write fails with `Conflict`.
    pub expected_revision: Option<String>,
    /// Fail with `AlreadyExists` instead of replacing an existing file.
    pub must_not_exist: bool,
    /// Mode of a new file (default 0644); an existing file keeps its mode.
    pub mode: Option<u32>,
    /// mkdir -p the parent first.
    pub create_parents: bool,
    /// Compute the new content's revision.
    pub want_revision: bool,
}

/// What a write did.
#[derive(Clone, Debug)]
pub struct WriteResult {
    pub entry: FileEntry,
    /// `"sha256:<hex>"` when asked for.
    pub revision: Option<String>,
    pub written: u64,
}

/// What a read returned besides the bytes.
#[derive(Clone, Debug)]
pub struct ReadResult {
    pub entry: FileEntry,
    pub revision: Option<String>,
    pub bytes: u64,
}

/// What an extraction created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractResult {
    pub dir: Vec<u8>,
    pub files: u64,
    pub dirs: u64,
}

/// How far an archive is: `archive` bytes of tar.gz received, `done` of `total` file bytes
/// read in the workspace (`total` 0 while unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveProgress {
    pub archive: u64,
    pub done: u64,
    pub total: u64,
}

/// What an archive holds. A bridge older than these counts reports only `bytes` (the rest 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Size of the tar.gz.
    pub bytes: u64,
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// FIFOs, sockets and devices left out.
    pub skipped: u64,
    /// Files that shrank while read (the rest of their size is zeros).
    pub padded: u64,
    /// File bytes archived.
    pub source_bytes: u64,
}

/// One coalesced change notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub paths: Vec<Vec<u8>>,
    /// Too many changes to list: re-read everything watched.
    pub overflow: bool,
}

/// A directory listing in pages.
pub struct ListStream {
    inner: tonic::Streaming<proto::ListPage>,
    dir: Option<FileEntry>,
    /// The path asked for: the listed directory must be it.
    asked: Vec<u8>,
}

impl ListStream {
    /// The listed directory (available after the first page).
    pub fn dir(&self) -> Option<&FileEntry> {
        self.dir.as_ref()
    }
    /// The next page, or `None` at the end. Every entry is checked: a single-component name
    /// and the path of that name in the listed directory (the directory comes first, once).
    pub async fn next_page(&mut self) -> Result<Option<Vec<FileEntry>>, BridgeError> {
        let Some(p) = self.inner.message().await? else {
            return Ok(None);
        };
        if let Some(d) = p.dir {
            if self.dir.is_some() {
                return Err(hostile("a listing with a second directory".into()));
            }
            let d = FileEntry::from_proto(d)?;
            expect_path(&d, &self.asked)?;
            self.dir = Some(d);
        }
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| hostile("listing entries before their directory".into()))?;
        let page = p
            .entries
            .into_iter()
            .map(|e| FileEntry::child_of(dir, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(page))
    }
}

/// Change notifications until dropped.
pub struct WatchStream {
    inner: tonic::Streaming<proto::WatchEvent>,
}

impl WatchStream {
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, BridgeError> {
        let Some(e) = self.inner.message().await? else {
            return Ok(None);
        };
        for p in &e.paths {
            check_path(p)?;
        }
        Ok(Some(WatchEvent {
            paths: e.paths,
            overflow: e.overflow,
        }))
    }
}

/// A connection to one bridge's `Files` service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct FilesClient {
    raw: Raw<Channel>,
    /// The same connection, for the bridge's other services (the Data service's import).
    channel: Channel,
}

impl FilesClient {
    /// Connects to the bridge listening on `socket`.
    pub async fn connect(socket: &Path, peer: ExpectedPeer) -> Result<Self, BridgeError> {
        Ok(Self::new(&BridgeChannel::connect(socket, peer).await?))
    }

    /// A client on an existing connection.
    pub fn new(channel: &BridgeChannel) -> Self {
        FilesClient {
            raw: Raw::new(channel.channel()).max_decoding_message_size(MAX_MESSAGE),
            channel: channel.channel(),
        }
    }

    fn raw(&self) -> Raw<Channel> {
        self.raw.clone()
    }

    /// The connection, for a client of another service of the same bridge.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The entry of one path (a symlink is reported as a link, with its target).
    pub async fn stat(&self, path: &[u8]) -> Result<FileEntry, BridgeError> {
        let e = self
            .raw()
            .stat(proto::FilePath {
                path: path.to_vec(),
            })
            .await?
            .into_inner();
        let e = FileEntry::from_proto(e)?;
        expect_path(&e, path)?;
        Ok(e)
    }

    /// Lists a directory page by page (`page_size` 0 = 1000).
    pub async fn list(&self, path: &[u8], page_size: u32) -> Result<ListStream, BridgeError> {
        let inner = self
            .raw()
            .list(proto::ListRequest {
                path: path.to_vec(),
                page_size,
            })
            .await?
            .into_inner();
        Ok(ListStream {
            inner,
            dir: None,
            asked: path.to_vec(),
        })
    }

    /// The whole listing of a directory: (the directory, its entries in readdir order). Fails
    /// past [`MAX_LIST_ENTRIES`] entries or [`MAX_LIST_BYTES`] of names.
    pub async fn list_all(&self, path: &[u8]) -> Result<(FileEntry, Vec<FileEntry>), BridgeError> {
        self.list_all_limited(path, MAX_LIST_ENTRIES, MAX_LIST_BYTES)
            .await
    }

    /// [`Self::list_all`] with explicit bounds.
    pub async fn list_all_limited(
        &self,
        path: &[u8],
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<(FileEntry, Vec<FileEntry>), BridgeError> {
        let mut s = self.list(path, 0).await?;
        let mut all = Vec::new();
        let mut bytes = 0usize;
        while let Some(page) = s.next_page().await? {
            bytes += page.iter().map(FileEntry::heap_bytes).sum::<usize>();
            if all.len() + page.len() > max_entries || bytes > max_bytes {
                return Err(BridgeError::Internal(format!(
                    "the listing of {} has more than {max_entries} entries or {} MiB of names; \
                     Berth does not list directories that large",
                    show(path),
                    max_bytes >> 20
                )));
            }
            all.extend(page);
        }
        let dir = s
            .dir
            .ok_or_else(|| BridgeError::Internal("listing without its directory".into()))?;
        Ok((dir, all))
    }

    /// mkdir -p.
    pub async fn mkdir(&self, path: &[u8]) -> Result<FileEntry, BridgeError> {
        let e = self
            .raw()
            .mkdir(proto::FilePath {
                path: path.to_vec(),
            })
            .await?
            .into_inner();
        FileEntry::from_proto(e)
    }

    /// Deletes a file, a link (not its target) or, with `recursive`, a directory tree. Returns
    /// whether the path existed. `/` is refused.
    pub async fn delete(&self, path: &[u8], recursive: bool) -> Result<bool, BridgeError> {
        let r = self
            .raw()
            .delete(proto::DeleteRequest {
                path: path.to_vec(),
                recursive,
            })
            .await?
            .into_inner();
        Ok(r.existed)
    }

    /// Renames/moves; an existing `to` is replaced only with `overwrite` (else `AlreadyExists`).
    pub async fn rename(
        &self,
        from: &[u8],
        to: &[u8],
        overwrite: bool,
    ) -> Result<FileEntry, BridgeError> {
        let e = self
            .raw()
            .rename(proto::RenameRequest {
                from: from.to_vec(),
                to: to.to_vec(),
                overwrite,
            })
            .await?
            .into_inner();
        FileEntry::from_proto(e)
    }

    /// Extracts a .tar.gz/.tgz/.zip into a new sibling directory named after it.
    pub async fn extract(&self, path: &[u8]) -> Result<ExtractResult, BridgeError> {
        let r = self
            .raw()
            .extract(proto::FilePath {
                path: path.to_vec(),
            })
            .await?
            .into_inner();
        check_path(&r.dir)?;
        Ok(ExtractResult {
            dir: r.dir,
            files: r.files,
            dirs: r.dirs,
        })
    }

    /// Watches directories and files (not recursively) until the stream is dropped.
    pub async fn watch(&self, paths: &[Vec<u8>]) -> Result<WatchStream, BridgeError> {
        let inner = self
            .raw()
            .watch(proto::WatchRequest {
                paths: paths.to_vec(),
            })
            .await?
            .into_inner();
        Ok(WatchStream { inner })
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

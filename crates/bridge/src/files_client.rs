//! Host-side client of the bridge's `Files` service with plain Rust types: paths are
//! byte strings (container-absolute), data streams through `AsyncRead`/`AsyncWrite` in fixed
//! chunks with bounded queues, so memory stays constant whatever the file size.

use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::channel::BridgeChannel;

use crate::error::BridgeError;
use crate::peer::ExpectedPeer;
use crate::proto::{self, files_client::FilesClient as Raw, read_chunk, write_input};

/// Bytes per upload message.
const CHUNK: usize = 1024 * 1024;
/// Upload queue depth (back-pressure towards the source).
const QUEUE: usize = 4;

/// What a path is (of the path itself: a symlink is `Symlink`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// fifo, socket, device
    Other,
}

impl FileKind {
    fn from_i32(k: i32) -> Option<Self> {
        match proto::FileKind::try_from(k).ok()? {
            proto::FileKind::File => Some(FileKind::File),
            proto::FileKind::Dir => Some(FileKind::Dir),
            proto::FileKind::Symlink => Some(FileKind::Symlink),
            proto::FileKind::Other => Some(FileKind::Other),
            proto::FileKind::Unspecified => None,
        }
    }
}

/// One file system entry as the bridge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Normalised container-absolute path (bytes: may not be UTF-8).
    pub path: Vec<u8>,
    /// Last component (`/` for the root).
    pub name: Vec<u8>,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, ms since the Unix epoch.
    pub mtime_ms: i64,
    /// For symlinks: the link's target as stored.
    pub link_target: Option<Vec<u8>>,
    /// For symlinks: the kind of what it points to; `None` when dangling.
    pub target_kind: Option<FileKind>,
    pub uid: u32,
    pub gid: u32,
}

impl FileEntry {
    fn from_proto(e: proto::FileEntry) -> Self {
        let kind = FileKind::from_i32(e.kind).unwrap_or(FileKind::Other);
        FileEntry {
            link_target: (kind == FileKind::Symlink).then_some(e.link_target),
            target_kind: FileKind::from_i32(e.target_kind),
            path: e.path,
            name: e.name,
            kind,
            size: e.size,
            mode: e.mode,
            mtime_ms: e.mtime_ms,
            uid: e.uid,
            gid: e.gid,
        }
    }
    /// True for directories and symlinks to directories.
    pub fn is_dir_like(&self) -> bool {
        self.kind == FileKind::Dir
            || (self.kind == FileKind::Symlink && self.target_kind == Some(FileKind::Dir))
    }
}

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
}

impl ListStream {
    /// The listed directory (available after the first page).
    pub fn dir(&self) -> Option<&FileEntry> {
        self.dir.as_ref()
    }
    /// The next page, or `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<FileEntry>>, BridgeError> {
        match self.inner.message().await? {
            Some(p) => {
                if let Some(d) = p.dir {
                    self.dir = Some(FileEntry::from_proto(d));
                }
                Ok(Some(
                    p.entries.into_iter().map(FileEntry::from_proto).collect(),
                ))
            }
            None => Ok(None),
        }
    }
}

/// Change notifications until dropped.
pub struct WatchStream {
    inner: tonic::Streaming<proto::WatchEvent>,
}

impl WatchStream {
    pub async fn next(&mut self) -> Result<Option<WatchEvent>, BridgeError> {
        Ok(self.inner.message().await?.map(|e| WatchEvent {
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
            raw: Raw::new(channel.channel()),
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
        Ok(FileEntry::from_proto(e))
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
        Ok(ListStream { inner, dir: None })
    }

    /// The whole listing of a directory: (the directory, its entries in readdir order).
    pub async fn list_all(&self, path: &[u8]) -> Result<(FileEntry, Vec<FileEntry>), BridgeError> {
        let mut s = self.list(path, 0).await?;
        let mut all = Vec::new();
        while let Some(page) = s.next_page().await? {
            all.extend(page);
        }
        let dir = s
            .dir
            .ok_or_else(|| BridgeError::Internal("listing without its directory".into()))?;
        Ok((dir, all))
    }

    /// Streams `length` bytes (default: to the end) from `offset` into `out`.
    pub async fn read(
        &self,
        path: &[u8],
        offset: u64,
        length: Option<u64>,
        want_revision: bool,
        mut out: impl AsyncWrite + Unpin,
    ) -> Result<ReadResult, BridgeError> {
        let mut s = self
            .raw()
            .read(proto::ReadRequest {
                path: path.to_vec(),
                offset,
                length,
                want_revision,
            })
            .await?
            .into_inner();
        let mut entry = None;
        let mut revision = None;
        let mut bytes = 0u64;
        while let Some(c) = s.message().await? {
            match c.chunk {
                Some(read_chunk::Chunk::Entry(e)) => entry = Some(FileEntry::from_proto(e)),
                Some(read_chunk::Chunk::Data(d)) => {
                    out.write_all(&d)
                        .await
                        .map_err(|e| BridgeError::Internal(format!("writing: {e}")))?;
                    bytes += d.len() as u64;
                }
                Some(read_chunk::Chunk::Revision(r)) => revision = Some(r),
                None => {}
            }
        }
        out.flush()
            .await
            .map_err(|e| BridgeError::Internal(format!("writing: {e}")))?;
        let entry = entry.ok_or_else(|| BridgeError::Internal("read without an entry".into()))?;
        Ok(ReadResult {
            entry,
            revision,
            bytes,
        })
    }

    /// Writes everything from `src` to `path` atomically. Dropping the future before it returns
    /// leaves the old file untouched.
    pub async fn write(
        &self,
        path: &[u8],
        opts: WriteOptions,
        mut src: impl AsyncRead + Unpin + Send + 'static,
    ) -> Result<WriteResult, BridgeError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let start = proto::WriteStart {
            path: path.to_vec(),
            expected_revision: opts.expected_revision,
            must_not_exist: opts.must_not_exist,
            mode: opts.mode,
            create_parents: opts.create_parents,
            want_revision: opts.want_revision,
        };
        let msg = |i| proto::WriteInput { input: Some(i) };
        tx.send(msg(write_input::Input::Start(start)))
            .await
            .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
        // Reads the source; a read error leaves the stream without `commit` (nothing changes).
        let pump = tokio::spawn(async move {
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut filled = 0;
                while filled < CHUNK {
                    match src.read(&mut buf[filled..]).await {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => return Err(e),
                    }
                }
                if filled == 0 {
                    break;
                }
                buf.truncate(filled);
                let eof = filled < CHUNK;
                if tx
                    .send(msg(write_input::Input::Data(buf.into())))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                if eof {
                    break;
                }
            }
            let _ = tx.send(msg(write_input::Input::Commit(true))).await;
            Ok(())
        });
        let _abort = AbortOnDrop(pump.abort_handle());
        let reply = self.raw().write(ReceiverStream::new(rx)).await;
        let src_result = pump.await;
        if let Ok(Err(e)) = src_result {
            return Err(BridgeError::Internal(format!("reading the source: {e}")));
        }
        let reply = reply?.into_inner();
        let entry = reply
            .entry
            .ok_or_else(|| BridgeError::Internal("write without an entry".into()))?;
        Ok(WriteResult {
            entry: FileEntry::from_proto(entry),
            revision: (!reply.revision.is_empty()).then_some(reply.revision),
            written: reply.written,
        })
    }

    /// Uploads a local file: read on a blocking thread straight into the message buffers (no
    /// async file layer, no extra copy). `progress` gets the bytes sent so far. Dropping the
    /// future before it returns leaves the target untouched.
    pub async fn write_from_file(
        &self,
        path: &[u8],
        opts: WriteOptions,
        file: std::fs::File,
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<WriteResult, BridgeError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let start = proto::WriteStart {
            path: path.to_vec(),
            expected_revision: opts.expected_revision,
            must_not_exist: opts.must_not_exist,
            mode: opts.mode,
            create_parents: opts.create_parents,
            want_revision: opts.want_revision,
        };
        let msg = |i| proto::WriteInput { input: Some(i) };
        tx.send(msg(write_input::Input::Start(start)))
            .await
            .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
        let reader = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Read;
            let mut file = file;
            let mut sent = 0u64;
            loop {
                let mut buf = Vec::with_capacity(CHUNK);
                let n = (&mut file).take(CHUNK as u64).read_to_end(&mut buf)?;
                if n == 0 {
                    break;
                }
                sent += n as u64;
                if tx
                    .blocking_send(msg(write_input::Input::Data(buf.into())))
                    .is_err()
                {
                    return Ok(()); // the call ended; its status says why
                }
                progress(sent);
            }
            let _ = tx.blocking_send(msg(write_input::Input::Commit(true)));
            Ok(())
        });
        let reply = self.raw().write(ReceiverStream::new(rx)).await;
        if let Ok(Err(e)) = reader.await {
            return Err(BridgeError::Internal(format!("reading the source: {e}")));
        }
        let reply = reply?.into_inner();
        let entry = reply
            .entry
            .ok_or_else(|| BridgeError::Internal("write without an entry".into()))?;
        Ok(WriteResult {
            entry: FileEntry::from_proto(entry),
            revision: (!reply.revision.is_empty()).then_some(reply.revision),
            written: reply.written,
        })
    }

    /// Downloads a whole file into a local file, written on a blocking thread. `progress` gets
    /// the bytes written so far.
    pub async fn read_to_file(
        &self,
        path: &[u8],
        file: std::fs::File,
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<ReadResult, BridgeError> {
        let mut s = self
            .raw()
            .read(proto::ReadRequest {
                path: path.to_vec(),
                offset: 0,
                length: None,
                want_revision: false,
            })
            .await?
            .into_inner();
        let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(QUEUE);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            use std::io::Write;
            let mut file = file;
            let mut n = 0u64;
            while let Some(b) = rx.blocking_recv() {
                file.write_all(&b)?;
                n += b.len() as u64;
                progress(n);
            }
            file.flush()?;
            Ok(n)
        });
        let mut entry = None;
        let mut failed = None;
        loop {
            match s.message().await {
                Ok(Some(c)) => match c.chunk {
                    Some(read_chunk::Chunk::Entry(e)) => entry = Some(FileEntry::from_proto(e)),
                    Some(read_chunk::Chunk::Data(d)) => {
                        #[allow(clippy::collapsible_match)]
                        if tx.send(d).await.is_err() {
                            break; // the writer failed: its error is reported below
                        }
                    }
                    _ => {}
                },
                Ok(None) => break,
                Err(e) => {
                    failed = Some(BridgeError::from(e));
                    break;
                }
            }
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| BridgeError::Internal(e.to_string()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        let bytes = written.map_err(|e| BridgeError::Internal(format!("writing: {e}")))?;
        let entry = entry.ok_or_else(|| BridgeError::Internal("read without an entry".into()))?;
        Ok(ReadResult {
            entry,
            revision: None,
            bytes,
        })
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
        Ok(FileEntry::from_proto(e))
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
        Ok(FileEntry::from_proto(e))
    }

    /// Streams a tar.gz of `paths` (each under its base name) into `out`; returns its size.
    pub async fn archive(
        &self,
        paths: &[Vec<u8>],
        out: impl AsyncWrite + Unpin,
    ) -> Result<u64, BridgeError> {
        let s = self
            .archive_reporting(paths, false, out, &mut |_| {})
            .await?;
        Ok(s.bytes)
    }

    /// [`Self::archive`] with `progress` after every message and what the archive holds;
    /// `pause` stops the workspace's other processes for the duration (resumed when the archive
    /// ends, fails or the stream is dropped).
    pub async fn archive_reporting(
        &self,
        paths: &[Vec<u8>],
        pause: bool,
        mut out: impl AsyncWrite + Unpin,
        progress: &mut (dyn FnMut(ArchiveProgress) + Send),
    ) -> Result<ArchiveSummary, BridgeError> {
        use proto::data_chunk::Chunk;
        let mut s = self
            .raw()
            .archive(proto::ArchiveRequest {
                paths: paths.to_vec(),
                pause_processes: pause,
            })
            .await?
            .into_inner();
        let mut at = ArchiveProgress::default();
        let mut summary = ArchiveSummary::default();
        let written = |e: std::io::Error| BridgeError::Internal(format!("writing: {e}"));
        while let Some(c) = s.message().await? {
            match c.chunk {
                Some(Chunk::Data(d)) => {
                    out.write_all(&d).await.map_err(written)?;
                    at.archive += d.len() as u64;
                }
                Some(Chunk::SourceTotal(t)) => at.total = t,
                Some(Chunk::SourceDone(d)) => at.done = d,
                Some(Chunk::Summary(x)) => {
                    summary = ArchiveSummary {
                        bytes: 0,
                        files: x.files,
                        dirs: x.dirs,
                        links: x.links,
                        skipped: x.skipped,
                        padded: x.padded,
                        source_bytes: x.source_bytes,
                    };
                    continue;
                }
                None => continue,
            }
            progress(at);
        }
        out.flush().await.map_err(written)?;
        summary.bytes = at.archive;
        Ok(summary)
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

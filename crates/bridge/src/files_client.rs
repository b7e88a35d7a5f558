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
                Some(read_chunk::Chunk::Entry(e)) => entry = Some(FileEntry::from_proto(e)?),
                Some(read_chunk::Chunk::Data(d)) => {
                    if length.is_some_and(|l| bytes + d.len() as u64 > l) {
                        return Err(hostile(format!(
                            "more than the {} bytes asked for of {}",
                            length.unwrap_or_default(),
                            show(path)
                        )));
                    }
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
            entry: FileEntry::from_proto(entry)?,
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
            entry: FileEntry::from_proto(entry)?,
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
                    Some(read_chunk::Chunk::Entry(e)) => match FileEntry::from_proto(e) {
                        Ok(e) => entry = Some(e),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    },
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

//! The streaming calls of [`FilesClient`]: reads and writes of file data (to and from memory,
//! host files and any `AsyncRead`/`AsyncWrite`) and tar.gz archives, in fixed chunks over
//! bounded queues.

use super::*;

impl FilesClient {
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
        let (tx, rx) = open_write(path, opts).await?;
        let msg = |i| proto::WriteInput { input: Some(i) };
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
        write_result(reply?.into_inner())
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
        let (tx, rx) = open_write(path, opts).await?;
        let msg = |i| proto::WriteInput { input: Some(i) };
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
        write_result(reply?.into_inner())
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
}

/// The request stream of a write, its `start` message already queued.
async fn open_write(
    path: &[u8],
    opts: WriteOptions,
) -> Result<
    (
        mpsc::Sender<proto::WriteInput>,
        mpsc::Receiver<proto::WriteInput>,
    ),
    BridgeError,
> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let start = proto::WriteStart {
        path: path.to_vec(),
        expected_revision: opts.expected_revision,
        must_not_exist: opts.must_not_exist,
        mode: opts.mode,
        create_parents: opts.create_parents,
        want_revision: opts.want_revision,
    };
    let input = Some(write_input::Input::Start(start));
    tx.send(proto::WriteInput { input })
        .await
        .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
    Ok((tx, rx))
}

/// A write's reply, its entry checked.
fn write_result(reply: proto::WriteReply) -> Result<WriteResult, BridgeError> {
    let entry = reply
        .entry
        .ok_or_else(|| BridgeError::Internal("write without an entry".into()))?;
    Ok(WriteResult {
        entry: FileEntry::from_proto(entry)?,
        revision: (!reply.revision.is_empty()).then_some(reply.revision),
        written: reply.written,
    })
}

//! The Files service's archive RPC: a tar.gz of several paths streamed in fixed chunks over a
//! bounded queue. The stream opens with the source total (a quick `lstat` pre-walk) so the host
//! can show a bar, reports the file bytes archived about ten times a second, and closes with the
//! summary (files, folders, links, entries left out). With `pause_processes` the workspace's
//! other processes stay stopped from before the pre-walk until the stream ends or is dropped,
//! so the total and the archive see the same tree.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::path::{io_status, normalise};
use super::{blocking, CHUNK, QUEUE};
use crate::server::pause::Paused;
use berth_bridge::proto::{data_chunk::Chunk, ArchiveRequest, ArchiveSummary, DataChunk};
use berth_bridge::targz;

/// How often progress is reported: often enough for a smooth bar, rarely enough to cost nothing.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// gzip level: the fastest; compression time, not size, is what the user waits for.
const LEVEL: u32 = 1;

type Tx = mpsc::Sender<Result<DataChunk, Status>>;

/// Checks the request, then produces the archive on a blocking thread into the returned stream.
pub async fn archive(
    req: ArchiveRequest,
) -> Result<ReceiverStream<Result<DataChunk, Status>>, Status> {
    let pause = req.pause_processes;
    let paths = req
        .paths
        .iter()
        .map(|p| normalise(p))
        .collect::<Result<Vec<_>, _>>()?;
    if paths.is_empty() {
        return Err(Status::invalid_argument("nothing to archive"));
    }
    let items = blocking(move || {
        for p in &paths {
            std::fs::symlink_metadata(p).map_err(|e| io_status("cannot archive", p, e))?;
        }
        Ok(targz::plan(&paths))
    })
    .await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::task::spawn_blocking(move || {
        let _paused = pause.then(Paused::all_others);
        match produce(&tx, &items) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {} // the client went away
            Err(e) => {
                let _ = tx.blocking_send(Err(Status::internal(format!("cannot archive: {e}"))));
            }
        }
    });
    Ok(ReceiverStream::new(rx))
}

/// The whole stream: total, data with progress, summary.
fn produce(tx: &Tx, items: &[(PathBuf, PathBuf)]) -> io::Result<()> {
    send(tx, Chunk::SourceTotal(targz::source_total(items)))?;
    let mut last = Instant::now();
    let mut report = |done: u64| {
        if last.elapsed() >= PROGRESS_EVERY {
            last = Instant::now();
            // A client that went away is noticed by the next data chunk.
            let _ = send(tx, Chunk::SourceDone(done));
        }
    };
    let out = ChanWriter::new(tx.clone());
    let (mut out, s) = targz::write_targz_counted(out, items, LEVEL, &mut report)?;
    out.flush()?;
    send(tx, Chunk::SourceDone(s.source_bytes))?;
    send(
        tx,
        Chunk::Summary(ArchiveSummary {
            files: s.files,
            dirs: s.dirs,
            links: s.links,
            skipped: s.skipped,
            padded: s.padded,
            source_bytes: s.source_bytes,
        }),
    )
}

/// Sends one message, blocking while the queue is full.
fn send(tx: &Tx, chunk: Chunk) -> io::Result<()> {
    tx.blocking_send(Ok(DataChunk { chunk: Some(chunk) }))
        .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
}

/// A `Write` that sends fixed-size data chunks into a bounded channel (blocking when it is full).
struct ChanWriter {
    tx: Tx,
    buf: Vec<u8>,
}

impl ChanWriter {
    fn new(tx: Tx) -> Self {
        ChanWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        send(&self.tx, Chunk::Data(data.into()))
    }
}

impl Write for ChanWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = b.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&b[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

//! Host-side client of the bridge's `Data` service: an import streamed from a local
//! .tar.gz, committed only when the caller's own verdict on the archive says so.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::error::BridgeError;
use crate::files_client::FilesClient;
use crate::proto::{self, data_client::DataClient as Raw, import_input, ImportInput};

/// Bytes per archive message.
const CHUNK: usize = 1024 * 1024;
/// Messages in flight towards the bridge (back-pressure on the file reader).
const QUEUE: usize = 4;

/// What the bridge extracted and applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// Archive bytes the bridge received.
    pub received: u64,
}

/// The host's decision about an import (its own validation, a cancel). It may change until the
/// whole archive was sent; only then is it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pending,
    Accept,
    Refuse,
}

/// One import: how to apply it and the decompression-bomb guard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportRequest {
    /// Replace `/data`; otherwise merge.
    pub replace: bool,
    /// Refuse an archive whose files add up to more bytes (0: no limit).
    pub max_expanded: u64,
}

/// A client of one bridge's `Data` service, on the connection of a [`FilesClient`].
#[derive(Clone, Debug)]
pub struct DataClient {
    raw: Raw<tonic::transport::Channel>,
}

fn msg(i: import_input::Input) -> ImportInput {
    ImportInput { input: Some(i) }
}

impl DataClient {
    /// Uses `files`' connection (one socket per bridge).
    pub fn new(files: &FilesClient) -> Self {
        DataClient {
            raw: Raw::new(files.channel()).max_decoding_message_size(crate::MAX_MESSAGE),
        }
    }

    /// Streams `file` (a .tar.gz) into a staging directory of the workspace and applies it to
    /// `/data` (as `req` says) only if `verdict` reads `Accept` once the whole file was sent
    /// (it is waited for while `Pending`). `Refuse` at any time before that stops the upload;
    /// the bridge then removes the staging directory and `/data` stays as it was. `progress`
    /// gets the bytes sent. Dropping the future before the commit has the same effect as
    /// `Refuse`.
    pub async fn import(
        &self,
        req: ImportRequest,
        file: std::fs::File,
        progress: impl Fn(u64) + Send + 'static,
        verdict: watch::Receiver<Verdict>,
    ) -> Result<ImportSummary, BridgeError> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let start = import_input::Input::Start(proto::ImportStart {
            replace: req.replace,
            max_expanded: req.max_expanded,
        });
        tx.send(msg(start))
            .await
            .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
        let feeder = tokio::spawn(feed(tx, file, progress, verdict));
        let _abort = AbortOnDrop(feeder.abort_handle());
        let reply = self.raw.clone().import(ReceiverStream::new(rx)).await;
        // A read error ends the stream without `commit`: report it rather than the bridge's
        // "not committed".
        if reply.is_err() && feeder.is_finished() {
            if let Ok(Err(e)) = feeder.await {
                return Err(BridgeError::Internal(format!("reading the archive: {e}")));
            }
        }
        let r = match reply {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == tonic::Code::Unimplemented => {
                return Err(BridgeError::Unavailable(
                    "this workspace's bridge predates streamed import; restart the workspace to update it".into(),
                ))
            }
            Err(s) => return Err(s.into()),
        };
        Ok(ImportSummary {
            files: r.files,
            dirs: r.dirs,
            links: r.links,
            received: r.received,
        })
    }

    /// Finishes or rolls back whatever an interrupted import left; returns what was done.
    pub async fn recover(&self) -> Result<Vec<String>, BridgeError> {
        let r = self.raw.clone().recover(proto::RecoverRequest {}).await?;
        Ok(r.into_inner().actions)
    }
}

/// Sends the file, then `commit` if the verdict is `Accept`. The file is read on a blocking
/// thread straight into the message buffers; `Refuse` stops it at the next chunk.
async fn feed(
    tx: mpsc::Sender<ImportInput>,
    file: std::fs::File,
    progress: impl Fn(u64) + Send + 'static,
    mut verdict: watch::Receiver<Verdict>,
) -> std::io::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut reader = tokio::task::spawn_blocking({
        let stop = stop.clone();
        move || send_file(tx, file, &progress, &stop)
    });
    let mut stopped = false;
    let sent = loop {
        tokio::select! {
            r = &mut reader => break r.map_err(std::io::Error::other)??,
            changed = verdict.changed(), if !stopped => {
                // A dropped sender can no longer accept: stop as for `Refuse`.
                if changed.is_err() || *verdict.borrow() == Verdict::Refuse {
                    stop.store(true, Ordering::Relaxed);
                    stopped = true;
                }
            }
        }
    };
    let Some(tx) = sent else { return Ok(()) };
    let last = verdict
        .wait_for(|v| *v != Verdict::Pending)
        .await
        .map(|v| *v)
        .unwrap_or(Verdict::Refuse);
    if last == Verdict::Accept {
        let _ = tx.send(msg(import_input::Input::Commit(true))).await;
    }
    Ok(())
}

/// The whole file as data messages; gives the sender back for the verdict, or `None` when
/// stopped early or when the call has ended (its status says why).
fn send_file(
    tx: mpsc::Sender<ImportInput>,
    mut file: std::fs::File,
    progress: &dyn Fn(u64),
    stop: &AtomicBool,
) -> std::io::Result<Option<mpsc::Sender<ImportInput>>> {
    let mut sent = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(CHUNK);
        let n = (&mut file).take(CHUNK as u64).read_to_end(&mut buf)?;
        if n == 0 {
            return Ok(Some(tx));
        }
        if tx
            .blocking_send(msg(import_input::Input::Data(buf.into())))
            .is_err()
        {
            return Ok(None);
        }
        sent += n as u64;
        progress(sent);
    }
}

/// Aborts the feeder when the import future is dropped: the stream then ends without `commit`.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! containerd's content store: streaming writes with exact byte progress, small reads, labels.

use std::collections::HashMap;

use berth_runtime::{CancellationToken, RuntimeError};
use containerd_client::services::v1::{
    AbortRequest, Info, InfoRequest, ReadContentRequest, UpdateRequest, WriteAction,
    WriteContentRequest,
};
use futures::{Stream, StreamExt};
use prost_types::FieldMask;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::conn::{is_not_found, st, Conn};

/// Chunks sent to containerd; big enough to amortise the round trip, small enough for smooth
/// progress.
const CHUNK: usize = 1 << 20;
/// Chunks sent before the first is acknowledged.
const IN_FLIGHT: usize = 4;

/// The content's info, or None when it is not in the store.
pub async fn info(conn: &Conn, digest: &str) -> Result<Option<Info>, RuntimeError> {
    match conn
        .content()
        .info(conn.req(InfoRequest {
            digest: digest.into(),
        }))
        .await
    {
        Ok(r) => Ok(r.into_inner().info),
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(st("reading content info")(s)),
    }
}

/// Reads a whole small blob (manifests, configs). Callers bound the size.
pub async fn read_small(conn: &Conn, digest: &str, limit: i64) -> Result<Vec<u8>, RuntimeError> {
    let info = info(conn, digest)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("content {digest}")))?;
    if info.size > limit {
        return Err(RuntimeError::invalid(format!(
            "content {digest} is larger than {limit} bytes"
        )));
    }
    let mut stream = conn
        .content()
        .read(conn.req(ReadContentRequest {
            digest: digest.into(),
            offset: 0,
            size: 0,
        }))
        .await
        .map_err(st("reading content"))?
        .into_inner();
    let mut out = Vec::with_capacity(info.size as usize);
    while let Some(msg) = stream.next().await {
        out.extend_from_slice(&msg.map_err(st("reading content"))?.data);
    }
    Ok(out)
}

/// Adds labels to existing content (e.g. GC references on a manifest that was already there).
pub async fn add_labels(
    conn: &Conn,
    digest: &str,
    labels: HashMap<String, String>,
) -> Result<(), RuntimeError> {
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    let info = Info {
        digest: digest.into(),
        labels,
        ..Default::default()
    };
    conn.content()
        .update(conn.req(UpdateRequest {
            info: Some(info),
            update_mask: Some(FieldMask { paths }),
        }))
        .await
        .map_err(st("labelling content"))?;
    Ok(())
}

/// What is written: the expected digest and size, and the labels to commit it with.
pub struct Blob<'a> {
    pub digest: &'a str,
    pub size: i64,
    pub labels: HashMap<String, String>,
}

/// How [`write`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The bytes were read from the stream and stored.
    Fetched,
    /// containerd's shared store already held them (another namespace, or another writer that
    /// committed first): the stream was never opened.
    AlreadyThere,
}

/// Writes a blob under `lease` from the byte stream that `open` gives, verifying its digest and
/// size, calling `progress` with the byte count containerd acknowledged. `open` is awaited only
/// when containerd does not hold the bytes yet, so a blob another namespace pulled is never
/// downloaded again. A failed or cancelled write is aborted so no half-written ingest stays
/// behind.
pub async fn write<S, E>(
    conn: &Conn,
    lease: &str,
    blob: Blob<'_>,
    open: impl std::future::Future<Output = Result<S, RuntimeError>>,
    cancel: &CancellationToken,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Written, RuntimeError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    // A ref unique to this write: no two writers ever share (or resume) an ingest.
    let ingest_ref = format!("berth-{}-{}", rand::random::<u64>(), blob.digest);
    let result = write_inner(conn, lease, &ingest_ref, blob, open, cancel, progress).await;
    if result.is_err() {
        let _ = conn
            .content()
            .abort(conn.req(AbortRequest { r#ref: ingest_ref }))
            .await;
    }
    match result {
        Err(e) if e.kind == berth_runtime::ErrorKind::AlreadyExists => Ok(Written::AlreadyThere),
        other => other,
    }
}

async fn write_inner<S, E>(
    conn: &Conn,
    lease: &str,
    ingest_ref: &str,
    blob: Blob<'_>,
    open: impl std::future::Future<Output = Result<S, RuntimeError>>,
    cancel: &CancellationToken,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Written, RuntimeError>
where
    S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let Blob {
        digest: expected,
        size: total,
        labels,
    } = blob;
    let (tx, rx) = mpsc::channel::<WriteContentRequest>(4);
    let base = WriteContentRequest {
        r#ref: ingest_ref.into(),
        total,
        expected: expected.into(),
        ..Default::default()
    };
    // The first message must be queued before the call is awaited, or the call never returns.
    tx.send(WriteContentRequest {
        action: WriteAction::Stat as i32,
        ..base.clone()
    })
    .await
    .map_err(|_| RuntimeError::internal("content write channel closed"))?;
    let mut acks = conn
        .content()
        .write(conn.leased(ReceiverStream::new(rx), lease))
        .await
        .map_err(st("writing content"))?
        .into_inner();
    let status = next_ack(&mut acks).await?;
    if status.offset == total && total > 0 {
        // containerd already holds these bytes (pulled in another namespace): just commit.
        commit(&tx, &mut acks, base, total, labels).await?;
        return Ok(Written::AlreadyThere);
    }
    let mut data = tokio::select! {
        _ = cancel.cancelled() => return Err(RuntimeError::cancelled()),
        data = open => data?,
    };
    // The bytes are not hashed here: containerd hashes what it is sent and refuses to commit
    // them under `expected` when the digest or the size differs (`commit` says which).
    let mut sent = Sent {
        tx: &tx,
        acks: &mut acks,
        base: &base,
        in_flight: 0,
        offset: 0,
        total,
        expected,
        progress,
    };
    // One copy per byte: into the chunk that is then moved into its request.
    let mut pending: Vec<u8> = Vec::with_capacity(CHUNK);
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return Err(RuntimeError::cancelled()),
            ack = next_ack(sent.acks), if sent.in_flight > 0 => {
                sent.acked(ack?);
                continue;
            }
            item = data.next() => item,
        };
        match item {
            Some(Ok(bytes)) => {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let take = (CHUNK - pending.len()).min(rest.len());
                    pending.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if pending.len() == CHUNK {
                        let chunk = std::mem::replace(&mut pending, Vec::with_capacity(CHUNK));
                        sent.send(chunk).await?;
                    }
                }
            }
            Some(Err(e)) => {
                return Err(RuntimeError::unavailable(format!(
                    "downloading {expected}: {e}"
                )))
            }
            None => break,
        }
    }
    if !pending.is_empty() {
        sent.send(pending).await?;
    }
    while sent.in_flight > 0 {
        sent.wait_ack().await?;
    }
    let offset = sent.offset;
    if offset != total {
        return Err(RuntimeError::invalid(format!(
            "{expected}: downloaded {offset} bytes, expected {total}"
        )));
    }
    commit(&tx, &mut acks, base, offset, labels)
        .await
        .map_err(|e| match e.kind {
            // containerd's digest check of the bytes it was sent.
            berth_runtime::ErrorKind::Conflict => RuntimeError::invalid(format!(
                "{expected}: the downloaded bytes do not match this digest ({})",
                e.message
            )),
            _ => e,
        })?;
    Ok(Written::Fetched)
}

/// The chunks of one write on their way to containerd, at most [`IN_FLIGHT`] unacknowledged.
struct Sent<'a> {
    tx: &'a mpsc::Sender<WriteContentRequest>,
    acks: &'a mut tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
    base: &'a WriteContentRequest,
    in_flight: usize,
    offset: i64,
    total: i64,
    expected: &'a str,
    progress: &'a (dyn Fn(u64) + Send + Sync),
}

impl Sent<'_> {
    async fn send(&mut self, chunk: Vec<u8>) -> Result<(), RuntimeError> {
        let len = chunk.len() as i64;
        if self.offset + len > self.total {
            return Err(RuntimeError::invalid(format!(
                "{}: more bytes than the manifest says",
                self.expected
            )));
        }
        if self.in_flight == IN_FLIGHT {
            self.wait_ack().await?;
        }
        let request = WriteContentRequest {
            action: WriteAction::Write as i32,
            offset: self.offset,
            data: chunk,
            ..self.base.clone()
        };
        self.tx
            .send(request)
            .await
            .map_err(|_| RuntimeError::internal("content write closed"))?;
        self.in_flight += 1;
        self.offset += len;
        Ok(())
    }

    async fn wait_ack(&mut self) -> Result<(), RuntimeError> {
        let ack = next_ack(self.acks).await?;
        self.acked(ack);
        Ok(())
    }

    fn acked(&mut self, ack: containerd_client::services::v1::WriteContentResponse) {
        self.in_flight -= 1;
        (self.progress)(ack.offset as u64);
    }
}

async fn commit(
    tx: &mpsc::Sender<WriteContentRequest>,
    acks: &mut tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
    base: WriteContentRequest,
    offset: i64,
    labels: HashMap<String, String>,
) -> Result<(), RuntimeError> {
    tx.send(WriteContentRequest {
        action: WriteAction::Commit as i32,
        offset,
        labels,
        ..base
    })
    .await
    .map_err(|_| RuntimeError::internal("content write closed"))?;
    next_ack(acks).await?;
    Ok(())
}

/// Wraps an in-memory blob as a one-item stream for [`write`].
pub fn once(
    bytes: Vec<u8>,
) -> impl Stream<Item = Result<bytes::Bytes, std::convert::Infallible>> + Unpin {
    futures::stream::iter([Ok(bytes::Bytes::from(bytes))])
}

async fn next_ack(
    acks: &mut tonic::Streaming<containerd_client::services::v1::WriteContentResponse>,
) -> Result<containerd_client::services::v1::WriteContentResponse, RuntimeError> {
    acks.message()
        .await
        .map_err(st("writing content"))?
        .ok_or_else(|| RuntimeError::unavailable("containerd closed the content write"))
}

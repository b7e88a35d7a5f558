//! Unpacking layers into the snapshotter: one committed snapshot per chain id, so images that
//! share base layers share snapshots, and a layer already unpacked is never unpacked again.

use std::collections::{HashMap, HashSet};

use berth_runtime::{CancellationToken, PullEvent, PullSink, RuntimeError};
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
};
use containerd_client::services::v1::ApplyRequest;
use containerd_client::types::Descriptor as CdDescriptor;
use tokio::sync::mpsc;

use crate::conn::{is_not_found, st, Conn, SNAPSHOTTER};
use crate::oci;

/// True when a snapshot with this key or name exists.
pub async fn snapshot_exists(conn: &Conn, key: &str) -> Result<bool, RuntimeError> {
    let req = StatSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    match conn.snapshots().stat(conn.req(req)).await {
        Ok(_) => Ok(true),
        Err(s) if is_not_found(&s) => Ok(false),
        Err(s) => Err(st("reading snapshot")(s)),
    }
}

/// Which layers are in the content store: the fetches say so as they finish, in any order.
pub struct Arrivals {
    rx: mpsc::UnboundedReceiver<String>,
    arrived: HashSet<String>,
}

/// The fetches' end of [`Arrivals`].
pub struct Arrived(mpsc::UnboundedSender<String>);

impl Arrived {
    /// The layer `digest` is in the content store.
    pub fn send(&self, digest: &str) {
        // The unpacking end is gone only when the pull already failed.
        let _ = self.0.send(digest.to_string());
    }
}

impl Arrivals {
    pub fn new() -> (Arrived, Self) {
        let (tx, rx) = mpsc::unbounded_channel();
        let arrivals = Self {
            rx,
            arrived: HashSet::new(),
        };
        (Arrived(tx), arrivals)
    }

    /// Returns once the layer `digest` is in the content store.
    async fn wait(&mut self, digest: &str) -> Result<(), RuntimeError> {
        while !self.arrived.contains(digest) {
            let Some(d) = self.rx.recv().await else {
                return Err(RuntimeError::internal(format!(
                    "the download ended without layer {digest}"
                )));
            };
            self.arrived.insert(d);
        }
        Ok(())
    }
}

/// Unpacks every layer not yet unpacked, each once [`Arrivals`] has it; returns the chain ids,
/// bottom first.
pub async fn unpack(
    conn: &Conn,
    lease: &str,
    layers: &[oci::Descriptor],
    diff_ids: &[String],
    arrivals: &mut Arrivals,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<Vec<String>, RuntimeError> {
    let chain = oci::chain_ids(diff_ids);
    let total = layers.len() as u32;
    for (i, layer) in layers.iter().enumerate() {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(RuntimeError::cancelled()),
            r = arrivals.wait(&layer.digest) => r?,
        }
        if cancel.is_cancelled() {
            return Err(RuntimeError::cancelled());
        }
        sink.event(PullEvent::Unpacking {
            layer: i as u32 + 1,
            layers: total,
        });
        tracing::debug!(layer = i + 1, "layer unpacking");
        if snapshot_exists(conn, &chain[i]).await? {
            continue;
        }
        let parent = if i == 0 {
            String::new()
        } else {
            chain[i - 1].clone()
        };
        tokio::select! {
            _ = cancel.cancelled() => return Err(RuntimeError::cancelled()),
            r = apply_layer(conn, lease, layer, &diff_ids[i], &parent, &chain[i]) => r?,
        }
        tracing::debug!(layer = i + 1, "layer unpacked");
    }
    Ok(chain)
}

async fn apply_layer(
    conn: &Conn,
    lease: &str,
    layer: &oci::Descriptor,
    diff_id: &str,
    parent: &str,
    chain_id: &str,
) -> Result<(), RuntimeError> {
    let key = format!("berth-extract-{}-{chain_id}", rand::random::<u32>());
    let prepare = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.clone(),
        parent: parent.into(),
        labels: HashMap::new(),
    };
    let mounts = conn
        .snapshots()
        .prepare(conn.leased(prepare, lease))
        .await
        .map_err(st("preparing layer snapshot"))?
        .into_inner()
        .mounts;
    let diff = CdDescriptor {
        media_type: layer.media_type.clone(),
        digest: layer.digest.clone(),
        size: layer.size,
        ..Default::default()
    };
    let applied = conn
        .diff()
        .apply(conn.leased(
            ApplyRequest {
                diff: Some(diff),
                mounts,
                payloads: HashMap::new(),
                sync_fs: false,
            },
            lease,
        ))
        .await;
    let result = match applied {
        Ok(r) => match r.into_inner().applied {
            Some(d) if d.digest == diff_id => Ok(()),
            other => Err(RuntimeError::invalid(format!(
                "layer {} unpacked to {}, but the image config says {diff_id}",
                layer.digest,
                other.map(|d| d.digest).unwrap_or_default()
            ))),
        },
        Err(s) => Err(st("unpacking layer")(s)),
    };
    if let Err(e) = result {
        remove_key(conn, &key).await;
        return Err(e);
    }
    let commit = CommitSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        name: chain_id.into(),
        key: key.clone(),
        labels: HashMap::new(),
    };
    match conn.snapshots().commit(conn.leased(commit, lease)).await {
        Ok(_) => Ok(()),
        // Another pull committed the same chain meanwhile: theirs is identical.
        Err(s) if s.code() == tonic::Code::AlreadyExists => {
            remove_key(conn, &key).await;
            Ok(())
        }
        Err(s) => {
            remove_key(conn, &key).await;
            Err(st("committing layer snapshot")(s))
        }
    }
}

async fn remove_key(conn: &Conn, key: &str) {
    let req = RemoveSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    let _ = conn.snapshots().remove(conn.req(req)).await;
}

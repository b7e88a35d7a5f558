//! Berth's own image pull (containerd 1.6 has no Transfer service): registry → content store →
//! unpack by chain id → image record, all under a lease so a cancel or failure leaves nothing.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use berth_runtime::{CancellationToken, ImageRef, PullEvent, PullPolicy, PullSink, RuntimeError};
use containerd_client::services::v1::{
    CreateImageRequest, CreateRequest, DeleteRequest, GetImageRequest, Image, UpdateImageRequest,
};
use containerd_client::types::Descriptor as CdDescriptor;
use futures::{StreamExt, TryStreamExt};
use prost_types::FieldMask;

use crate::conn::{is_not_found, st, Conn, SNAPSHOTTER};
use crate::{content, oci, unpack};

const MAX_CONFIG_BYTES: i64 = 8 << 20;
/// Layers fetched at once: enough to fill a link, few enough to keep per-layer rows readable.
const PARALLEL_LAYERS: usize = 3;

/// An image that is complete in the content store and unpacked in the snapshotter.
#[derive(Debug, Clone)]
pub struct LocalImage {
    pub config: oci::ImageConfig,
    /// Chain id of the top layer: the parent of a workspace's writable layer.
    pub top_chain_id: String,
}

/// Makes the image local according to the policy.
pub async fn ensure(
    conn: &Conn,
    image: &ImageRef,
    policy: PullPolicy,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<LocalImage, RuntimeError> {
    if policy != PullPolicy::Always {
        if let Some((local, layers)) = local_image(conn, image).await? {
            sink.event(PullEvent::Resolved {
                image: image.to_string(),
                layers: layers.clone(),
            });
            for (digest, _) in layers {
                sink.event(PullEvent::LayerDone {
                    digest,
                    existed: true,
                });
            }
            return Ok(local);
        }
        if policy == PullPolicy::Never {
            return Err(RuntimeError::not_found(format!(
                "image {image} is not present locally and the pull policy is \"never\""
            )));
        }
    }
    let lease = create_lease(conn).await?;
    let result = pull(conn, image, &lease, sink, cancel).await;
    // On failure the lease goes with a synchronous GC, taking every blob and snapshot it held.
    let sync = result.is_err();
    let _ = conn
        .leases()
        .delete(conn.req(DeleteRequest { id: lease, sync }))
        .await;
    result
}

/// The image when it is complete and unpacked, with its layers (digest, size).
pub async fn local_image(
    conn: &Conn,
    image: &ImageRef,
) -> Result<Option<(LocalImage, Vec<(String, u64)>)>, RuntimeError> {
    let record = match conn
        .images()
        .get(conn.req(GetImageRequest {
            name: image.to_string(),
        }))
        .await
    {
        Ok(r) => r.into_inner().image,
        Err(s) if is_not_found(&s) => return Ok(None),
        Err(s) => return Err(st("looking up image")(s)),
    };
    let Some(mut target) = record.and_then(|i| i.target) else {
        return Ok(None);
    };
    // Other clients (ctr, nerdctl) record the index; ours records the platform's manifest.
    if oci::is_index(&target.media_type) {
        let index: oci::Index =
            match content::read_small(conn, &target.digest, MAX_CONFIG_BYTES).await {
                Ok(b) => parse(&b, "image index")?,
                Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
        let Some(desc) = oci::select_platform(&index) else {
            return Ok(None);
        };
        target = CdDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size,
            ..Default::default()
        };
    }
    if !oci::is_manifest(&target.media_type) {
        return Ok(None);
    }
    let manifest: oci::Manifest =
        match content::read_small(conn, &target.digest, MAX_CONFIG_BYTES).await {
            Ok(b) => parse(&b, "manifest")?,
            Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
    for layer in &manifest.layers {
        if content::info(conn, &layer.digest).await?.is_none() {
            return Ok(None);
        }
    }
    let config: oci::ImageConfig =
        match content::read_small(conn, &manifest.config.digest, MAX_CONFIG_BYTES).await {
            Ok(b) => parse(&b, "image config")?,
            Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
    let Some(top) = oci::chain_ids(&config.rootfs.diff_ids).pop() else {
        return Ok(None);
    };
    if !unpack::snapshot_exists(conn, &top).await? {
        return Ok(None);
    }
    let layers = manifest
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size as u64))
        .collect();
    Ok(Some((
        LocalImage {
            config,
            top_chain_id: top,
        },
        layers,
    )))
}

async fn pull(
    conn: &Conn,
    image: &ImageRef,
    lease: &str,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<LocalImage, RuntimeError> {
    let registry = crate::registry::Registry::new(image)?;
    let mut fetched = cancellable(cancel, registry.manifest(image.reference())).await?;
    if oci::is_index(&fetched.media_type) {
        let index: oci::Index = parse(&fetched.bytes, "image index")?;
        let (os, arch) = oci::host_platform();
        let desc = oci::select_platform(&index).ok_or_else(|| {
            RuntimeError::not_found(format!("image {image} has no variant for {os}/{arch}"))
        })?;
        fetched = cancellable(cancel, registry.manifest(&desc.digest)).await?;
    }
    if !oci::is_manifest(&fetched.media_type) {
        return Err(RuntimeError::invalid(format!(
            "image {image}: unsupported manifest type {:?}",
            fetched.media_type
        )));
    }
    let manifest: oci::Manifest = parse(&fetched.bytes, "manifest")?;
    let layers: Vec<(String, u64)> = manifest
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size as u64))
        .collect();
    sink.event(PullEvent::Resolved {
        image: image.to_string(),
        layers,
    });

    let target = CdDescriptor {
        media_type: fetched.media_type.clone(),
        digest: fetched.digest.clone(),
        size: fetched.bytes.len() as i64,
        ..Default::default()
    };
    // The layers download from here on, while the config is fetched and checked. Each layer is
    // unpacked as soon as it and every layer below it are fetched, while the later ones still
    // download; the config and the manifest are stored meanwhile (all under the lease), so only
    // the image record waits for the last unpack.
    let (arrived, mut arrivals) = unpack::Arrivals::new();
    let fetch = fetch_layers(
        conn,
        &registry,
        lease,
        &manifest.layers,
        arrived,
        sink,
        cancel,
    );
    let unpack_and_store = async {
        let config_bytes = cancellable(cancel, fetch_small(&registry, &manifest.config)).await?;
        let config: oci::ImageConfig = parse(&config_bytes, "image config")?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(RuntimeError::invalid(format!(
                "image {image}: {} layers but {} diff ids in its config",
                manifest.layers.len(),
                config.rootfs.diff_ids.len()
            )));
        }
        let top = oci::chain_ids(&config.rootfs.diff_ids)
            .pop()
            .ok_or_else(|| RuntimeError::invalid("image has no layers"))?;
        let unpack = unpack::unpack(
            conn,
            lease,
            &manifest.layers,
            &config.rootfs.diff_ids,
            &mut arrivals,
            sink,
            cancel,
        );
        let records = store_records(conn, lease, &manifest, fetched, config_bytes, &top, cancel);
        let (chain, ()) = futures::future::try_join(unpack, records).await?;
        tracing::debug!(layers = chain.len(), "layers fetched and unpacked");
        Ok((config, top))
    };
    let ((), (config, top)) = futures::future::try_join(fetch, unpack_and_store).await?;
    if cancel.is_cancelled() {
        return Err(RuntimeError::cancelled());
    }
    put_image(conn, lease, &image.to_string(), target).await?;
    tracing::debug!(%image, "image recorded");
    Ok(LocalImage {
        config,
        top_chain_id: top,
    })
}

/// Stores the image config and the manifest with the labels that keep what they name from
/// containerd's collector: config → the unpacked chain's top snapshot `top`, manifest → config
/// and layers.
async fn store_records(
    conn: &Conn,
    lease: &str,
    manifest: &oci::Manifest,
    fetched: crate::registry::Fetched,
    config_bytes: Vec<u8>,
    top: &str,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    let config_labels = HashMap::from([(
        format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"),
        top.to_string(),
    )]);
    let config = store_small(
        conn,
        lease,
        &manifest.config.digest,
        config_bytes,
        config_labels,
        cancel,
    );
    let mut manifest_labels = HashMap::from([(
        "containerd.io/gc.ref.content.config".to_string(),
        manifest.config.digest.clone(),
    )]);
    for (i, l) in manifest.layers.iter().enumerate() {
        manifest_labels.insert(
            format!("containerd.io/gc.ref.content.l.{i}"),
            l.digest.clone(),
        );
    }
    let manifest = store_small(
        conn,
        lease,
        &fetched.digest,
        fetched.bytes,
        manifest_labels,
        cancel,
    );
    futures::future::try_join(config, manifest).await.map(drop)
}

/// Brings the layers into the content store, [`PARALLEL_LAYERS`] at a time, bottom first.
async fn fetch_layers(
    conn: &Conn,
    registry: &crate::registry::Registry,
    lease: &str,
    layers: &[oci::Descriptor],
    arrived: unpack::Arrived,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    futures::stream::iter(layers.iter().map(Ok))
        .try_for_each_concurrent(PARALLEL_LAYERS, |layer| {
            fetch_layer(conn, registry, lease, layer, &arrived, sink, cancel)
        })
        .await
}

/// Brings one layer into the content store and tells `arrived` so.
async fn fetch_layer(
    conn: &Conn,
    registry: &crate::registry::Registry,
    lease: &str,
    layer: &oci::Descriptor,
    arrived: &unpack::Arrived,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    if content::info(conn, &layer.digest).await?.is_some() {
        arrived.send(&layer.digest);
        sink.event(PullEvent::LayerDone {
            digest: layer.digest.clone(),
            existed: true,
        });
        return Ok(());
    }
    let progress = |done: u64| {
        sink.event(PullEvent::Downloading {
            digest: layer.digest.clone(),
            done,
        })
    };
    let blob = content::Blob {
        digest: &layer.digest,
        size: layer.size,
        labels: HashMap::new(),
    };
    let body = async { registry.blob(&layer.digest).await.map(Box::pin) };
    let written = content::write(conn, lease, blob, body, cancel, &progress).await?;
    tracing::debug!(digest = %layer.digest, size = layer.size, "layer fetched");
    arrived.send(&layer.digest);
    sink.event(PullEvent::LayerDone {
        digest: layer.digest.clone(),
        existed: written == content::Written::AlreadyThere,
    });
    Ok(())
}

async fn fetch_small(
    registry: &crate::registry::Registry,
    desc: &oci::Descriptor,
) -> Result<Vec<u8>, RuntimeError> {
    if desc.size > MAX_CONFIG_BYTES {
        return Err(RuntimeError::invalid(format!(
            "image config is larger than {MAX_CONFIG_BYTES} bytes"
        )));
    }
    let mut body = registry.blob(&desc.digest).await?;
    let mut out = Vec::with_capacity(desc.size as usize);
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(
            &chunk.map_err(|e| RuntimeError::unavailable(format!("downloading config: {e}")))?,
        );
        if out.len() as i64 > desc.size {
            break;
        }
    }
    Ok(out)
}

/// Writes a small blob, or labels it when it is already there.
async fn store_small(
    conn: &Conn,
    lease: &str,
    digest: &str,
    bytes: Vec<u8>,
    labels: HashMap<String, String>,
    cancel: &CancellationToken,
) -> Result<(), RuntimeError> {
    if content::info(conn, digest).await?.is_some() {
        return content::add_labels(conn, digest, labels).await;
    }
    let size = bytes.len() as i64;
    content::write(
        conn,
        lease,
        content::Blob {
            digest,
            size,
            labels,
        },
        async { Ok(content::once(bytes)) },
        cancel,
        &|_| {},
    )
    .await
    .map(drop)
}

async fn put_image(
    conn: &Conn,
    lease: &str,
    name: &str,
    target: CdDescriptor,
) -> Result<(), RuntimeError> {
    let image = Image {
        name: name.into(),
        target: Some(target),
        ..Default::default()
    };
    let created = conn
        .images()
        .create(conn.leased(
            CreateImageRequest {
                image: Some(image.clone()),
                source_date_epoch: None,
            },
            lease,
        ))
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(s) if s.code() == tonic::Code::AlreadyExists => {
            let mask = FieldMask {
                paths: vec!["target".into()],
            };
            let req = UpdateImageRequest {
                image: Some(image),
                update_mask: Some(mask),
                source_date_epoch: None,
            };
            conn.images()
                .update(conn.req(req))
                .await
                .map_err(st("updating image record"))?;
            Ok(())
        }
        Err(s) => Err(st("creating image record")(s)),
    }
}

/// A lease that expires by itself, so even a crash mid-pull cannot pin content forever.
pub async fn create_lease(conn: &Conn) -> Result<String, RuntimeError> {
    let id = format!("berth-{}", rand::random::<u64>());
    let expire = SystemTime::now() + Duration::from_secs(3600);
    let labels = HashMap::from([("containerd.io/gc.expire".to_string(), rfc3339(expire))]);
    conn.leases()
        .create(conn.req(CreateRequest {
            id: id.clone(),
            labels,
        }))
        .await
        .map_err(st("creating lease"))?;
    Ok(id)
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn cancellable<T>(
    cancel: &CancellationToken,
    fut: impl std::future::Future<Output = Result<T, RuntimeError>>,
) -> Result<T, RuntimeError> {
    tokio::select! {
        _ = cancel.cancelled() => Err(RuntimeError::cancelled()),
        r = fut => r,
    }
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, RuntimeError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RuntimeError::invalid(format!("malformed {what}: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_rfc3339() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_709_210_096);
        assert_eq!(super::rfc3339(t), "2024-02-29T12:34:56Z");
    }
}

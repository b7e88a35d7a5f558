//! Images: the pull policy through `container image inspect`, the pull through `container image
//! pull --progress plain` with its lines turned into [`PullEvent`]s (see `progress.rs`).

use berth_runtime::{
    CancellationToken, ErrorKind, ImageRef, PullEvent, PullPolicy, PullSink, Result, RuntimeError,
};

use crate::progress::Tracker;
use crate::runtime::Inner;
use crate::{args, errors};

pub async fn ensure(
    inner: &Inner,
    image: &ImageRef,
    policy: PullPolicy,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<()> {
    let reference = image.to_string();
    if policy != PullPolicy::Always {
        if present(inner, &reference).await? {
            return Ok(());
        }
        if policy == PullPolicy::Never {
            return Err(RuntimeError::not_found(format!(
                "image {reference} is not in Apple's container image store, and the pull policy \
                 forbids pulling it (pull it with `container image pull {reference}`)"
            )));
        }
    }
    pull(inner, &reference, sink, cancel).await
}

/// Whether the image store has `reference` (`image inspect` succeeds); "image not found" is
/// `false`, any other failure an error.
async fn present(inner: &Inner, reference: &str) -> Result<bool> {
    match inner.query(args::image_inspect(reference)).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Pulls `reference`: `Resolved` (with no layers: the CLI does not list them) first, then what
/// the progress lines say. A cancel kills the pull's process group.
async fn pull(
    inner: &Inner,
    reference: &str,
    sink: &dyn PullSink,
    cancel: &CancellationToken,
) -> Result<()> {
    sink.event(PullEvent::Resolved {
        image: reference.to_string(),
        layers: vec![],
    });
    let mut tracker = Tracker::default();
    let argv = args::image_pull(reference, &inner.platform);
    let out = inner
        .cli
        .run_with(&argv, inner.options.pull_timeout, cancel, &mut |line| {
            if let Some(event) = tracker.feed(line) {
                sink.event(event);
            }
        })
        .await?;
    if !out.success() {
        return Err(errors::failed(
            &format!("container image pull {reference}"),
            &out,
        ));
    }
    Ok(())
}

//! Pull progress as a backend reports it; core turns it into what the user sees.

/// One step of a pull. Layers are identified by their compressed digest.
#[derive(Debug, Clone, PartialEq)]
pub enum PullEvent {
    /// The manifest is known: these layers (digest, compressed size) will be ensured, in order.
    Resolved {
        image: String,
        layers: Vec<(String, u64)>,
    },
    /// `done` bytes of the layer are in the content store (monotonic per layer).
    Downloading { digest: String, done: u64 },
    /// The layer is complete; `existed` when nothing had to be fetched.
    LayerDone { digest: String, existed: bool },
    /// Unpacking layer `layer` (1-based) of `layers` into the snapshotter.
    Unpacking { layer: u32, layers: u32 },
    /// Progress of the whole pull, from a backend that does not report layers
    /// ([`crate::Capabilities::layer_progress`] false). Each field is `None` when the backend
    /// did not say; `done` never goes back.
    Overall(OverallProgress),
}

/// A whole pull's progress as a backend without per-layer reports gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OverallProgress {
    /// Bytes fetched so far.
    pub done: Option<u64>,
    /// Bytes the pull will fetch in all.
    pub total: Option<u64>,
    /// 0–100.
    pub percent: Option<f32>,
    pub bytes_per_second: Option<u64>,
    pub eta_seconds: Option<u64>,
}

/// Receives pull events. Called from the pulling task; must not block.
pub trait PullSink: Send + Sync {
    fn event(&self, event: PullEvent);
}

/// A sink that drops everything (for callers that do not show progress).
impl PullSink for () {
    fn event(&self, _: PullEvent) {}
}

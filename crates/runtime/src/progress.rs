//! Pull progress as a backend reports it; core turns it into what the user sees.

/// One step of a pull. Layers are identified by their compressed digest.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Receives pull events. Called from the pulling task; must not block.
pub trait PullSink: Send + Sync {
    fn event(&self, event: PullEvent);
}

/// A sink that drops everything (for callers that do not show progress).
impl PullSink for () {
    fn event(&self, _: PullEvent) {}
}

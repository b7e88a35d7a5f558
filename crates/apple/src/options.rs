//! The knobs of the Apple backend: how often state is polled for events, and how long each kind
//! of CLI call may take before its process group is killed.

use std::time::Duration;

/// Settings of an [`crate::AppleConnector`]; [`Default`] is what the app and the CLI use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppleOptions {
    /// How often [`berth_runtime::Runtime::events`] lists the containers (Apple's CLI has no
    /// event stream). Default 2 s.
    pub poll_interval: Duration,
    /// Deadline of a query (`--version`, `system status`, `list`, `inspect`, `stats`, `image
    /// inspect`). Default 30 s.
    pub query_timeout: Duration,
    /// Deadline of `create`, `start` and `delete`, and what `stop` may take beyond its grace
    /// period. `create` may fetch the image and Apple's init image. Default 10 min.
    pub lifecycle_timeout: Duration,
    /// Deadline of `image pull` (a cancel ends it sooner). Default 2 h.
    pub pull_timeout: Duration,
}

impl Default for AppleOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(2),
            query_timeout: Duration::from_secs(30),
            lifecycle_timeout: Duration::from_secs(600),
            pull_timeout: Duration::from_secs(2 * 3600),
        }
    }
}

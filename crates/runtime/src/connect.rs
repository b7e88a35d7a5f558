//! How core reaches a backend without naming it: the composition root (app, CLI, tests) picks a
//! [`Connector`] and hands it to core, which calls it with what it knows from the settings
//! whenever it (re)connects.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{Result, Runtime};

/// Where the backend is, as core knows it from its settings and data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The backend's endpoint (containerd: its Unix socket).
    pub endpoint: PathBuf,
    /// The namespace Berth's containers and images live in.
    pub namespace: String,
    /// A directory of Berth's own for files the backend generates for containers (network
    /// configuration, resolv.conf).
    pub state_dir: PathBuf,
}

/// Connects to one kind of backend. Called again on every reconnect, so it must not cache a
/// runtime that may have gone away.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + 'static {
    /// A connected runtime, or `Unavailable` (with why) when the backend does not answer.
    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>>;
}

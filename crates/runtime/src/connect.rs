//! How core reaches a backend without naming it: the composition root (app, CLI, tests) picks a
//! [`Connector`] and hands it to core, which calls it with what it knows from the settings
//! whenever it (re)connects.

use std::path::{Path, PathBuf};
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
    /// The backend's name as users know it ("containerd", "Apple Container").
    fn name(&self) -> &'static str;

    /// A connected runtime, or `Unavailable` (with why) when the backend does not answer.
    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>>;

    /// The daemon Berth can run itself when none answers, if this backend has one.
    fn own_daemon(&self) -> Option<Arc<dyn OwnDaemon>> {
        None
    }
}

/// A backend daemon Berth runs for the user (containerd: rootful as root, rootless otherwise),
/// detached so that it outlives the window and the app and the CLI share it, with all its state
/// in a directory of Berth's.
#[async_trait::async_trait]
pub trait OwnDaemon: Send + Sync + 'static {
    /// Whether it runs as the user rather than as root.
    fn rootless(&self) -> bool;

    /// What this machine lacks to run it, with the exact command that fixes it; `None` when it
    /// can run.
    fn missing(&self) -> Option<String>;

    /// The endpoint it serves when it keeps its state in `dir`.
    fn endpoint(&self, dir: &Path) -> PathBuf;

    /// Starts it unless it answers already; returns once it accepts connections.
    async fn start(&self, dir: &Path) -> Result<()>;

    /// Stops it and every process it runs; returns once none is left. `false` when it was not
    /// running.
    async fn stop(&self, dir: &Path) -> Result<bool>;
}

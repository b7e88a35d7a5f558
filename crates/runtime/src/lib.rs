//! The contract between Berth's core and a container backend (containerd, Apple Container).
//!
//! Nothing here does I/O. Backends implement [`Runtime`]; their own types (gRPC messages, CLI
//! output) never cross this boundary, only the plain types below.

mod connect;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod image_ref;
mod progress;
mod versions;

pub use connect::{Connector, OwnDaemon, Target};
pub use error::{ErrorKind, Result, RuntimeError};
pub use image_ref::ImageRef;
pub use progress::{OverallProgress, PullEvent, PullSink};
pub use tokio_util::sync::CancellationToken;
pub use versions::{
    FileChange, FileChangeKind, SnapshotInfo, SnapshotKind, VersionLabels, WorkspaceSnapshots,
    LABEL_VERSION, LABEL_VERSION_BOT, LABEL_VERSION_NAME, LABEL_VERSION_SOURCE,
};

use std::path::PathBuf;
use std::time::Duration;

use futures::stream::BoxStream;

/// When to contact the registry before using an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only when the image is not complete locally.
    #[default]
    IfNotPresent,
    /// Always resolve the reference at the registry and fetch what is missing.
    Always,
    /// Never contact the registry.
    Never,
}

/// How a workspace reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A private network namespace joined to a NAT bridge (CNI).
    Bridge,
    /// The host's network namespace.
    Host,
}

/// Resource limits of a workspace; `None` takes the backend's default (stated by the backend).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory, in bytes.
    pub memory: Option<u64>,
    /// CPU time, in thousandths of a CPU (1500: one and a half CPUs).
    pub cpu_millis: Option<u32>,
    /// Processes and threads.
    pub pids: Option<u32>,
}

/// A workspace's resource use at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used since the task started, in nanoseconds.
    pub cpu_nanos: u64,
    /// Memory in use (without the inactive page cache), in bytes.
    pub memory: u64,
    /// The memory limit, when there is one.
    pub memory_limit: Option<u64>,
    /// Processes and threads.
    pub pids: u64,
}

/// Everything a backend needs to create a workspace container.
#[derive(Debug, Clone)]
pub struct WorkspaceSpec {
    /// Container id, `berth-<bot>`.
    pub id: String,
    /// The bot the workspace belongs to (stored as the `berth.bot` label).
    pub bot: String,
    pub image: ImageRef,
    /// Host directory holding the bridge binary and templates; mounted read-only at `/opt/berth`.
    pub runtime_dir: PathBuf,
    /// Host directory for the bridge socket; mounted at `/run/berth`.
    pub socket_dir: PathBuf,
    /// Host file that receives the bridge's stdout and stderr.
    pub log_path: PathBuf,
    pub network: Network,
    /// On the bridge network: refuse connections to private addresses (LAN, VPN, link-local,
    /// cloud metadata), DNS excepted.
    pub block_private_networks: bool,
    pub limits: Limits,
}

/// A workspace container as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub bot: Option<String>,
    pub image: String,
    pub running: bool,
    /// PID of the task's init process on the host, when running.
    pub pid: Option<u32>,
}

/// A change in a container's task that happened outside Berth's own calls (or inside them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    TaskStarted {
        id: String,
    },
    TaskExited {
        id: String,
        exit_status: u32,
    },
    ContainerDeleted {
        id: String,
    },
    /// The event stream was interrupted and resumed: state must be re-read (events do not replay).
    Resynced,
}

/// What a backend can do, so the UI can offer only what works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Versions are native snapshots (containerd) rather than archives of `/data`.
    pub native_versions: bool,
    /// Bridge networking (CNI) is available; otherwise only a bot set to the host's network
    /// can have a workspace.
    pub bridge_network: bool,
    /// A bot can choose the host's network for its workspace (a VM backend cannot share it).
    pub host_network: bool,
    /// A workspace on the bridge network can be kept off private networks
    /// ([`Runtime::set_private_networks_blocked`]).
    pub private_network_block: bool,
    /// Workspaces get resource limits and report live usage (a rootless containerd on cgroup v1
    /// without a delegated cgroup tree cannot).
    pub resource_limits: bool,
    /// How core knows that what answers on a workspace's bridge socket is its bridge.
    pub bridge_trust: BridgeTrust,
    /// A pull reports each layer ([`PullEvent::Resolved`], [`PullEvent::Downloading`]);
    /// otherwise only [`PullEvent::Overall`].
    pub layer_progress: bool,
    /// [`Runtime::set_limits`] works on an existing workspace; otherwise limits are fixed when
    /// the workspace is created.
    pub change_limits: bool,
    /// [`Runtime::events`] comes from the backend as things happen; otherwise it is a poll of
    /// the backend's state, so a change shows up to one poll interval late.
    pub live_events: bool,
}

/// How core knows that what answers on a workspace's bridge socket is the bridge. The bot can
/// replace the socket (it is root where the socket lives), so this is a security decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeTrust {
    /// The socket is a Unix socket on the host: core accepts a connection only when its
    /// listener (`SO_PEERCRED`) is the task's init process, the pid [`Runtime::start`] and
    /// [`ContainerStatus::pid`] report, in the host's pid namespace. containerd and the fake.
    CheckPeerPid,
    /// The backend carries the bridge's channel itself (a VM runtime relaying the socket has no
    /// listener pid on the host) and vouches that only the bridge answers on it. No check.
    RuntimeVouches,
}

/// A container backend. Object safe, so core holds an `Arc<dyn Runtime>` chosen at start-up.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    fn capabilities(&self) -> Capabilities;

    /// What the user can do to get bridge networking when [`Capabilities::bridge_network`] is
    /// false (shown in the error of a create that needs it).
    fn bridge_network_fix(&self) -> String {
        "this runtime has no bridge networking".into()
    }

    /// What the user should know about how this backend runs workspaces (for example that
    /// they run translated by Rosetta), shown with the connection's status.
    fn notes(&self) -> Vec<String> {
        vec![]
    }

    /// The backend's version; `Unavailable` when it does not answer.
    async fn version(&self) -> Result<String>;

    /// Makes `image` complete and unpacked locally according to `policy`, reporting progress.
    async fn ensure_image(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        sink: &dyn PullSink,
        cancel: &CancellationToken,
    ) -> Result<()>;

    /// Creates the container and its writable layer (not started). `AlreadyExists` if present.
    async fn create(&self, spec: &WorkspaceSpec) -> Result<()>;

    /// Starts the container's task and joins its network; returns the task's PID.
    async fn start(&self, id: &str) -> Result<u32>;

    /// Stops the task: SIGTERM, then SIGKILL after `grace`. Stopping a stopped container is fine.
    async fn stop(&self, id: &str, grace: Duration) -> Result<()>;

    /// Deletes the container, its task, its network attachment and its snapshots.
    async fn delete(&self, id: &str) -> Result<()>;

    /// One container's status; `NotFound` when it does not exist.
    async fn status(&self, id: &str) -> Result<ContainerStatus>;

    /// Every Berth workspace container in the namespace.
    async fn list(&self) -> Result<Vec<ContainerStatus>>;

    /// Task and container events, from now on; the stream reconnects by itself and yields
    /// [`RuntimeEvent::Resynced`] after a gap.
    fn events(&self) -> BoxStream<'static, RuntimeEvent>;

    /// Commits the container's writable layer as the version snapshot `name` (gc-rooted, with
    /// Berth's labels) and gives the container a fresh writable child of it. The task must not
    /// run (`Conflict`): committing the layer of a running task breaks the container.
    async fn commit_version(&self, _id: &str, _name: &str, _labels: &VersionLabels) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend has no native versions",
        ))
    }

    /// Gives the container a fresh writable layer on top of version snapshot `name` and removes
    /// the old writable layer. The task must not run (`Conflict`).
    async fn checkout_version(&self, _id: &str, _name: &str) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend has no native versions",
        ))
    }

    /// Every snapshot of the workspace (its versions and its writable layer), with parents; the
    /// writable layer has kind `Active`. Without sizes (`size` is `None`): measuring a writable
    /// layer walks every file in it (80 ms for 20,000 files), and most callers need names.
    async fn list_snapshots(&self, _id: &str) -> Result<Vec<SnapshotInfo>> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend has no native versions",
        ))
    }

    /// [`Runtime::list_snapshots`] with each snapshot's size, where the backend knows it.
    async fn list_snapshots_sized(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        self.list_snapshots(id).await
    }

    /// Deletes a version snapshot; `Conflict` when another snapshot builds on it.
    async fn delete_version(&self, _id: &str, _name: &str) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend has no native versions",
        ))
    }

    /// Repairs what a crash in the middle of a version operation left behind (a missing or an
    /// unused writable layer); returns a description of each repair.
    async fn repair_versions(&self, _id: &str) -> Result<Vec<String>> {
        Ok(vec![])
    }

    /// What reconciling versions needs of each workspace in `ids`, one entry per id: its
    /// interrupted version operations repaired ([`Runtime::repair_versions`]), then
    /// its snapshots ([`Runtime::list_snapshots`]). Every command opens Berth, and opening
    /// reconciles every workspace: a backend that can answers for all of them at once.
    async fn repair_and_list_versions(&self, ids: &[String]) -> Result<Vec<WorkspaceSnapshots>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let repairs = self.repair_versions(id).await;
            let snapshots = self.list_snapshots(id).await;
            out.push(WorkspaceSnapshots {
                id: id.clone(),
                repairs,
                snapshots,
            });
        }
        Ok(out)
    }

    /// Files added, modified and deleted between version `name` and the workspace's current
    /// state, computed without stopping the workspace.
    async fn changes_since(&self, _id: &str, _name: &str) -> Result<Vec<FileChange>> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend has no native versions",
        ))
    }

    /// Records new limits for workspace `id`; they apply from its next start.
    async fn set_limits(&self, _id: &str, _limits: &Limits) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend cannot change the limits of a workspace",
        ))
    }

    /// Records whether workspace `id` (on the bridge network) is kept off private networks; the
    /// choice applies at once to a running task and at every start.
    async fn set_private_networks_blocked(&self, _id: &str, _blocked: bool) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend cannot keep a workspace off private networks",
        ))
    }

    /// The workspace's resource use now.
    async fn usage(&self, _id: &str) -> Result<Usage> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "this backend cannot measure a workspace's usage",
        ))
    }

    /// The size of the workspace's writable layer (what it added to its image), `None` where
    /// the backend cannot tell. Apart from [`Runtime::usage`]: measuring it walks every file
    /// of the layer, so callers ask for it less often.
    async fn layer_bytes(&self, _id: &str) -> Result<Option<u64>> {
        Ok(None)
    }

    /// The Unix socket of the workspace's bridge on the host.
    fn bridge_socket(&self, spec_socket_dir: &std::path::Path) -> PathBuf {
        spec_socket_dir.join("bridge.sock")
    }
}

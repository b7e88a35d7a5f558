//! The data Berth shows to its users: what the desktop app sends over IPC and what the CLI prints
//! as JSON. The TypeScript twins in `ui/src/lib/ipc/generated/` are generated from these types by
//! `cargo test -p berth-core export_bindings` (ts-rs); never edit them by hand.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The state of a bot's workspace as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum WorkspaceState {
    /// No container exists for the bot.
    Absent,
    /// A create operation is running.
    Creating,
    /// The container exists, its task does not run.
    Stopped,
    /// The task runs and the bridge answered.
    Running,
    /// The last operation failed; `last_error` says why.
    Error,
}

/// How a workspace reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum NetworkMode {
    /// Its own network namespace on a CNI bridge with NAT (isolated from the host's loopback).
    Cni,
    /// The host's network namespace, chosen explicitly for the bot (`--network host`).
    Host,
}

/// A bot's resource limits for its workspace; `null` takes the default (4096 processes, half
/// the host's memory, no CPU cap beyond a CPU weight of half the host's processes').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Limits {
    /// Memory, in bytes.
    #[ts(type = "number | null")]
    pub memory: Option<u64>,
    /// CPU time in thousandths of a CPU (1500: one and a half CPUs).
    pub cpu_millis: Option<u32>,
    /// Processes and threads.
    pub pids: Option<u32>,
}

/// A running workspace's usage (`berth stats`, the Overview).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WorkspaceStats {
    /// CPU share since the previous reading, in percent of one CPU; `null` on the first.
    pub cpu_percent: Option<f64>,
    /// CPU time used since the workspace started, in nanoseconds.
    #[ts(type = "number")]
    pub cpu_nanos: u64,
    /// Memory in use, in bytes (without the inactive page cache).
    #[ts(type = "number")]
    pub memory: u64,
    #[ts(type = "number | null")]
    pub memory_limit: Option<u64>,
    /// Processes and threads.
    #[ts(type = "number")]
    pub pids: u64,
    /// Size of the writable layer (what the workspace added to its image), in bytes.
    #[ts(type = "number | null")]
    pub layer_bytes: Option<u64>,
}

/// When changed limits take effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum LimitsApply {
    /// There is no workspace: the next create uses them.
    NextCreate,
    /// The workspace is stopped: its next start uses them.
    NextStart,
    /// The workspace runs on the old limits until it is restarted (stop, then start).
    Restart,
    /// The backend fixes limits when it creates a workspace (Apple Container): they apply
    /// when the workspace is created again (delete, keeping the data, and create).
    Recreate,
}

/// When a change to a bot's network setting takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum NetworkApply {
    /// Applied to the running workspace already.
    Now,
    /// The workspace is stopped: its next start uses it.
    NextStart,
    /// There is no workspace on the bridge network: the next create uses it.
    NextCreate,
}

/// When to contact the registry before creating a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum PullPolicy {
    /// Pull only when the image is not complete locally (the default).
    #[default]
    IfNotPresent,
    /// Always resolve the reference at the registry and fetch what is missing.
    Always,
    /// Never contact the registry; fail when the image is not local.
    Never,
}

/// One bot and the state of its workspace (the sidebar row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BotSummary {
    pub name: String,
    pub state: WorkspaceState,
    /// The image of the workspace, or the image remembered for the next create.
    pub image: Option<String>,
    pub created_at: String,
}

/// Everything known about one bot's workspace (`berth info --json`, the Overview page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WorkspaceInfo {
    pub bot: String,
    pub state: WorkspaceState,
    /// The normalised image reference (`docker.io/library/debian:bookworm-slim`).
    pub image: Option<String>,
    /// containerd container id (`berth-<bot>`), when a container exists.
    pub container_id: Option<String>,
    pub network: Option<NetworkMode>,
    /// The bridge's version, when it answered.
    pub bridge_version: Option<String>,
    pub last_error: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    /// Set by create: whether kept data (`berth rm --keep-data`) was restored into `/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub data_restored: Option<bool>,
    /// Whether a kept archive of this bot's data exists.
    #[serde(default)]
    #[ts(optional)]
    pub has_kept_data: Option<bool>,
    /// The user gave this bot's next workspace the host's network (no isolation).
    #[serde(default)]
    pub host_network: bool,
    /// The bot's workspace is kept off private networks (LAN, VPN, link-local, cloud metadata).
    #[serde(default)]
    pub block_private_networks: bool,
    /// The bot's resource limits (what its workspace gets at its next start).
    #[serde(default)]
    pub limits: Limits,
}

/// Progress of one layer during a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum LayerStatus {
    Waiting,
    Downloading,
    /// Fetched in this pull.
    Done,
    /// Already in the content store; nothing fetched.
    Exists,
}

/// One row of the per-layer progress list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct LayerProgress {
    /// `sha256:…` of the compressed layer.
    pub digest: String,
    /// Bytes in the registry (the manifest's size).
    #[ts(type = "number")]
    pub total: u64,
    #[ts(type = "number")]
    pub done: u64,
    pub status: LayerStatus,
}

/// A snapshot of a running pull, pushed to the UI at most every 100 ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct PullProgress {
    pub image: String,
    pub layers: Vec<LayerProgress>,
    #[ts(type = "number")]
    pub total_bytes: u64,
    #[ts(type = "number")]
    pub done_bytes: u64,
    /// Average over the last seconds; 0 before the first bytes.
    #[ts(type = "number")]
    pub bytes_per_second: u64,
    /// Seconds left at the current speed; null when unknown.
    #[ts(type = "number | null")]
    pub eta_seconds: Option<u64>,
    /// The backend's own percentage, when it reports the pull as a whole (bytes may then be 0).
    pub percent: Option<f32>,
    /// Why `layers` is empty: the backend reports the pull as a whole, not per layer.
    pub layers_unavailable: Option<String>,
}

/// An event of a workspace create, in order: `resolving`, `pulling`*, `unpacking`*, `creating`,
/// `starting`, `waitingBridge`, `restoring` and `dataTransfer`* (only with kept data), then
/// exactly one of `complete` or `failed`. A change of image has `preserving`, `dataTransfer`*
/// and `removingOld` between `unpacking` and `creating`. No `pulling` event follows an
/// `unpacking` one, and no `dataTransfer` outlives its phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "phase", rename_all = "camelCase")]
#[ts(export)]
pub enum CreateEvent {
    Resolving {
        image: String,
    },
    Pulling(PullProgress),
    #[serde(rename_all = "camelCase")]
    Unpacking {
        layer: u32,
        layers: u32,
    },
    /// Change of image: the old workspace's `/data` is being written to the kept archive.
    Preserving,
    /// Change of image: the old workspace is being deleted (its data is kept).
    RemovingOld,
    Creating,
    Starting,
    WaitingBridge,
    /// Kept data is being restored into `/data`.
    Restoring,
    /// Bytes of the running data phase (`preserving` or `restoring`), at most ten a second;
    /// the last one is where the transfer ended.
    DataTransfer(crate::data::DataProgress),
    Complete {
        info: WorkspaceInfo,
    },
    Failed {
        error: ErrorBody,
    },
}

/// The closed set of error kinds the UI and CLI branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum ErrorCode {
    NotFound,
    AlreadyExists,
    InvalidArgument,
    Conflict,
    Unavailable,
    Unsupported,
    Cancelled,
    Internal,
}

/// An error as it crosses the IPC boundary: the UI branches on `code`, shows `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

/// One line of a bot's activity log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ActivityEntry {
    pub at: String,
    /// e.g. `created`, `started`, `stopped`, `deleted`, `failed`, `exited`.
    pub kind: String,
    pub message: String,
}

/// User settings (the Settings page; persisted in SQLite).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Settings {
    pub containerd_socket: String,
    pub namespace: String,
    pub default_image: String,
    pub pull_policy: PullPolicy,
    /// Start Berth's own containerd when none answers on the socket.
    pub managed_containerd: bool,
    /// Keep versions as archives of `/data` even where the backend has snapshots (they then
    /// capture only `/data`, but move to any backend).
    #[serde(default)]
    pub archive_versions: bool,
    /// The container backend to use from the next start (`containerd`, `apple`); none: the
    /// platform's default. The composition root reads it before it opens Berth.
    #[serde(default)]
    pub backend: Option<String>,
}

/// The connection to the container runtime (the status indicator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SystemStatus {
    pub connected: bool,
    pub socket: String,
    pub namespace: String,
    /// containerd's version when connected.
    pub version: Option<String>,
    /// Why it is not connected, and what to do.
    pub error: Option<String>,
    /// Berth could start its own containerd here.
    pub can_manage: bool,
    /// What this machine lacks for Berth's own containerd, with the command that fixes it.
    pub missing: Option<String>,
    /// The containerd Berth talks to is one Berth started.
    pub managed: bool,
    /// The containerd Berth talks to runs as a user, not as root.
    pub rootless: bool,
    /// Berth's own (rootless) containerd is this user's default: Berth runs as a normal user,
    /// who cannot use root's containerd.
    pub own_by_default: bool,
    /// Workspaces get resource limits and report live usage (false: a rootless containerd
    /// without cgroups of its own; the Limits and Usage panels say so).
    pub resource_limits: bool,
    pub network: NetworkMode,
    /// The container backend's name ("containerd", "Apple Container").
    pub backend: String,
    /// What this backend cannot do, each with why (empty while not connected).
    pub limitations: Vec<Limitation>,
    /// What the user should know about how this backend runs workspaces (e.g. under Rosetta).
    pub notes: Vec<String>,
}

/// A feature the container backend does not have; the UI shows it as unavailable with the
/// reason, never as a broken control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Limitation {
    pub feature: BackendFeature,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum BackendFeature {
    /// Download progress per layer.
    LayerProgress,
    /// Versions as snapshots of the whole container.
    NativeVersions,
    /// Changing an existing workspace's limits.
    ChangeLimits,
    /// Seeing state changes as they happen.
    LiveEvents,
    /// A workspace on the host's network.
    HostNetwork,
    /// Keeping a workspace off private networks.
    PrivateNetworkBlock,
}

/// A workspace state change pushed as the `workspace://changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct WorkspaceChanged {
    pub bot: String,
    pub state: WorkspaceState,
}

//! Berth's use cases, free of Tauri: bots, workspaces and their lifecycle, reconcile with the
//! runtime, exec through the bridge, settings and the managed containerd. The desktop app and
//! the `berth` CLI are thin layers over [`Berth`].
//!
//! Core never names a backend: whoever opens it (the app, the CLI, a test) passes a
//! [`Connector`], which core calls with the settings' socket and namespace on every (re)connect.

mod bots;
mod bridges;
pub mod data;
mod error;
mod exec;
pub mod files;
mod limits;
mod managed;
pub mod mcp_servers;
pub mod model;
mod names;
mod network;
mod paths;
mod progress;
mod reconcile;
mod settings;
pub mod skills;
mod socket_watch;
mod stats;
mod task_start;
pub mod terminals;
pub mod transfers;
mod version_ops;
pub mod versions;
mod workspaces;

pub use berth_bridge::{ExecRequest, ExitStatus};
pub use berth_runtime::{CancellationToken, Connector};
pub use error::{Error, Result};
pub use names::{container_id, validate_bot_name, BotName};
pub use paths::{default_data_dir, find_bridge_binary, saved_backend, Paths};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use berth_runtime::{Runtime, Target};
use model::{Settings, WorkspaceChanged};
use tokio::sync::broadcast;

/// How Berth is opened: where its data lives and overrides of the saved settings (CLI flags,
/// environment variables) that are not written back.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub data_dir: Option<PathBuf>,
    pub containerd_socket: Option<PathBuf>,
    pub namespace: Option<String>,
    pub bridge_binary: Option<PathBuf>,
    /// More of the environment an agent's `berth mcp serve` needs (the composition root's
    /// backend overrides, `BERTH_BACKEND` and `BERTH_CONTAINER_BIN`, when they were given).
    pub agent_env: Vec<(&'static str, String)>,
}

impl Options {
    /// The environment an agent's `berth mcp serve` needs to reach the Berth opened with these
    /// options: the overrides that were given (a default install needs none).
    pub fn agent_env(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(d) = &self.data_dir {
            v.push(("BERTH_DATA_DIR", d.display().to_string()));
        }
        if let Some(s) = &self.containerd_socket {
            v.push(("BERTH_CONTAINERD_SOCKET", s.display().to_string()));
        }
        if let Some(n) = &self.namespace {
            v.push(("BERTH_NAMESPACE", n.clone()));
        }
        v.extend(self.agent_env.iter().cloned());
        v
    }
}

/// The application core. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Berth {
    inner: Arc<Inner>,
}

struct Inner {
    store: berth_store::Store,
    paths: Paths,
    options: Options,
    connector: Arc<dyn Connector>,
    runtime: RwLock<Option<Arc<dyn Runtime>>>,
    /// Why the last connection attempt failed.
    runtime_error: RwLock<Option<String>>,
    /// Cancel tokens of running creates, by bot.
    operations: Mutex<HashMap<String, CancellationToken>>,
    /// One lifecycle operation at a time per bot.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    changes: broadcast::Sender<WorkspaceChanged>,
    /// Connections to running workspaces' bridges.
    bridges: bridges::Bridges,
    /// The last CPU reading of each workspace, for its CPU share.
    cpu: stats::CpuReadings,
    /// The last measured size of each workspace's writable layer.
    layer_sizes: stats::LayerSizes,
}

impl Berth {
    /// Opens the store and tries to connect to the backend through `connector`. A missing
    /// daemon is not an error here: [`Berth::status`] reports it and the app offers a fix.
    pub async fn open(options: Options, connector: Arc<dyn Connector>) -> Result<Self> {
        let data_dir = options.data_dir.clone().unwrap_or_else(default_data_dir);
        paths::create_private_dir(&data_dir).map_err(paths::io("creating the data directory"))?;
        let paths = Paths::new(&data_dir);
        let store = berth_store::Store::open(&paths.database())?;
        if let Some(bridge) = find_bridge_binary(options.bridge_binary.as_deref()) {
            paths::install_bridge(&paths, &bridge)?;
        }
        let (changes, _) = broadcast::channel(256);
        let berth = Self {
            inner: Arc::new(Inner {
                store,
                paths,
                options,
                connector,
                runtime: RwLock::new(None),
                runtime_error: RwLock::new(None),
                operations: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                changes,
                bridges: Default::default(),
                cpu: Default::default(),
                layer_sizes: Default::default(),
            }),
        };
        if !berth.connect().await {
            let s = berth.settings()?;
            let wants_managed = s.managed_containerd
                && s.containerd_socket == berth.managed_socket().display().to_string();
            if wants_managed && managed::can_manage(&berth) {
                if let Err(e) = berth.start_managed_containerd().await {
                    tracing::warn!(error = %e, "starting Berth's own containerd");
                }
            }
        }
        Ok(berth)
    }

    /// (Re)connects to the backend with the current settings; on success reconciles the store
    /// with what exists and follows the runtime's events.
    pub async fn connect(&self) -> bool {
        let s = self.settings().unwrap_or_else(|_| settings::defaults());
        let target = Target {
            endpoint: PathBuf::from(&s.containerd_socket),
            namespace: s.namespace.clone(),
            state_dir: self.inner.paths.net_dir(),
        };
        match self.inner.connector.connect(&target).await {
            Ok(rt) => {
                *self.inner.runtime.write().unwrap() = Some(rt.clone());
                *self.inner.runtime_error.write().unwrap() = None;
                if let Err(e) = self.reconcile().await {
                    tracing::warn!(error = %e, "reconcile failed");
                }
                if let Err(e) = self.reconcile_versions().await {
                    tracing::warn!(error = %e, "reconciling versions failed");
                }
                self.follow_events(rt);
                true
            }
            Err(e) => {
                *self.inner.runtime.write().unwrap() = None;
                *self.inner.runtime_error.write().unwrap() = Some(e.message);
                false
            }
        }
    }

    /// The connected runtime, or `Unavailable` with what to do.
    fn runtime(&self) -> Result<Arc<dyn Runtime>> {
        if let Some(rt) = self.inner.runtime.read().unwrap().clone() {
            return Ok(rt);
        }
        let why = self
            .inner
            .runtime_error
            .read()
            .unwrap()
            .clone()
            .unwrap_or_default();
        let fix = if managed::can_manage(self) {
            "run Berth's own (`berth system start`, or the button in the app's banner)"
        } else {
            "start it (`sudo systemctl start containerd`) or set its socket in Settings"
        };
        Err(Error::unavailable(format!(
            "containerd is not connected ({why}); {fix}"
        )))
    }

    /// Workspace state changes, for the UI's live updates.
    pub fn subscribe(&self) -> broadcast::Receiver<WorkspaceChanged> {
        self.inner.changes.subscribe()
    }

    fn notify(&self, bot: &str, state: model::WorkspaceState) {
        if state != model::WorkspaceState::Running {
            self.inner.bridges.forget_bot(bot);
        }
        let _ = self.inner.changes.send(WorkspaceChanged {
            bot: bot.to_string(),
            state,
        });
    }

    fn event(&self, bot: &str, kind: &str, message: impl AsRef<str>) {
        if let Err(e) = self.inner.store.add_event(bot, kind, message.as_ref()) {
            tracing::warn!(error = %e, "recording activity failed");
        }
    }

    fn lock_for(&self, bot: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner
            .locks
            .lock()
            .unwrap()
            .entry(bot.to_string())
            .or_default()
            .clone()
    }

    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The saved settings with this session's overrides applied.
    pub fn settings(&self) -> Result<Settings> {
        let mut s = settings::load(&self.inner.store, &self.default_socket())?;
        s.backend = paths::saved_backend(&self.inner.paths.data_dir);
        if let Some(sock) = &self.inner.options.containerd_socket {
            s.containerd_socket = sock.display().to_string();
        }
        if let Some(ns) = &self.inner.options.namespace {
            s.namespace = ns.clone();
        }
        Ok(s)
    }
}

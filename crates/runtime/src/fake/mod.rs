//! A scripted, in-memory [`Runtime`] for deterministic tests of core (cargo feature `fake`):
//! no containerd, no root, no sleeps.
//!
//! - It **records** every call (operation and arguments, in order): [`FakeRuntime::calls`],
//!   [`FakeRuntime::ops`].
//! - It **fails as scripted**: [`FakeRuntime::fail_next`] makes the next call of an operation
//!   return a given error.
//! - It **holds** an operation at a chosen [`Point`] until the test releases it
//!   ([`FakeRuntime::hold`]), so a test can cancel, delete or call something else at exactly
//!   that moment.
//! - It **emits** the events a backend would (task started and exited, container deleted) and
//!   whatever the test scripts with [`FakeRuntime::emit`] (e.g. `Resynced` after a gap).
//! - It keeps a coherent **model** of images, containers, tasks and snapshots, so status, list
//!   and versions agree with what was done, and the test can change it behind core's back
//!   ([`FakeRuntime::remove_container`], [`FakeRuntime::remove_snapshot`]).
//!
//! Its tasks run the real bridge as a normal process (see `task.rs`), so core's wait for the
//! bridge is the real one; [`FakeRuntime::silent_tasks`] makes bridges that never answer.
//! Versions are metadata only: committing does not copy the task's data directory.

mod backend;
mod hold;
mod model;
mod task;

pub use hold::{Hold, Point};
pub use model::LABEL_WORKSPACE;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::{CancellationToken, Connector, Result, RuntimeError, RuntimeEvent, Target};
use backend::FakeConnector;
use hold::Gates;
use model::Model;
use task::Task;

/// The operations of [`Runtime`], as the fake records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Version,
    EnsureImage,
    Create,
    Start,
    Stop,
    Delete,
    Status,
    List,
    CommitVersion,
    CheckoutVersion,
    ListSnapshots,
    ListSnapshotsSized,
    DeleteVersion,
    RepairVersions,
    ChangesSince,
    SetLimits,
    SetPrivateNetworksBlocked,
    Usage,
    LayerBytes,
}

impl Op {
    /// Whether the operation changes something (as opposed to reading).
    pub fn mutates(self) -> bool {
        use Op::*;
        matches!(
            self,
            EnsureImage
                | Create
                | Start
                | Stop
                | Delete
                | CommitVersion
                | CheckoutVersion
                | DeleteVersion
                | SetLimits
                | SetPrivateNetworksBlocked
        )
    }
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: Op,
    /// The arguments that identify what was asked (container id, image, snapshot name…).
    pub args: Vec<String>,
}

/// The fake backend. Share it as `Arc<FakeRuntime>`; [`FakeRuntime::connector`] hands it to core.
pub struct FakeRuntime {
    state_dir: PathBuf,
    model: Mutex<Model>,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<Op, VecDeque<RuntimeError>>>,
    gates: Gates,
    events: broadcast::Sender<RuntimeEvent>,
    silent: AtomicBool,
    no_bridge_network: AtomicBool,
    muted: AtomicBool,
    usage: Mutex<crate::Usage>,
    layer_bytes: Mutex<Option<u64>>,
    next_pid: AtomicU32,
    targets: Mutex<Vec<Target>>,
}

impl FakeRuntime {
    /// A fake whose per-container data directories live under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            state_dir: state_dir.into(),
            model: Mutex::default(),
            calls: Mutex::default(),
            failures: Mutex::default(),
            gates: Gates::default(),
            events: broadcast::channel(256).0,
            silent: AtomicBool::new(false),
            no_bridge_network: AtomicBool::new(false),
            muted: AtomicBool::new(false),
            usage: Mutex::default(),
            layer_bytes: Mutex::default(),
            next_pid: AtomicU32::new(1000),
            targets: Mutex::default(),
        })
    }

    /// A connector that always connects to this fake (and records the targets it was given).
    pub fn connector(self: &Arc<Self>) -> Arc<dyn Connector> {
        Arc::new(FakeConnector(self.clone()))
    }

    /// Every target core connected with, oldest first.
    pub fn targets(&self) -> Vec<Target> {
        self.targets.lock().unwrap().clone()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The operations that change something, in order (reads left out).
    pub fn ops(&self) -> Vec<Op> {
        self.calls()
            .into_iter()
            .map(|c| c.op)
            .filter(|o| o.mutates())
            .collect()
    }

    /// Makes the next call of `op` fail with `error` (after any hold at its start).
    pub fn fail_next(&self, op: Op, error: RuntimeError) {
        let mut failures = self.failures.lock().unwrap();
        failures.entry(op).or_default().push_back(error);
    }

    /// Holds the next operation that reaches `point` until the returned handle releases it.
    pub fn hold(&self, point: Point) -> Hold {
        self.gates.arm(point)
    }

    /// Sends `event` to every subscriber of [`Runtime::events`].
    pub fn emit(&self, event: RuntimeEvent) {
        if !self.muted.load(Ordering::SeqCst) {
            let _ = self.events.send(event);
        }
    }

    /// Stops sending events (`true`), as when core has not heard yet what another process did.
    pub fn mute_events(&self, muted: bool) {
        self.muted.store(muted, Ordering::SeqCst);
    }

    /// From now on tasks have no process, so their bridge never answers.
    pub fn silent_tasks(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Whether the fake offers bridge networking (it does unless told otherwise).
    pub fn bridge_network(&self, available: bool) {
        self.no_bridge_network.store(!available, Ordering::SeqCst);
    }

    pub(super) fn has_bridge_network(&self) -> bool {
        !self.no_bridge_network.load(Ordering::SeqCst)
    }

    /// What [`crate::Runtime::usage`] reports from now on (for every workspace).
    pub fn set_usage(&self, usage: crate::Usage) {
        *self.usage.lock().unwrap() = usage;
    }

    pub(super) fn current_usage(&self) -> crate::Usage {
        *self.usage.lock().unwrap()
    }

    /// What [`crate::Runtime::layer_bytes`] reports from now on (for every workspace).
    pub fn set_layer_bytes(&self, bytes: Option<u64>) {
        *self.layer_bytes.lock().unwrap() = bytes;
    }

    pub(super) fn current_layer_bytes(&self) -> Option<u64> {
        *self.layer_bytes.lock().unwrap()
    }

    /// The limits container `id` has (from its create or a later change).
    pub fn limits(&self, id: &str) -> Option<crate::Limits> {
        let model = self.model.lock().unwrap();
        model.containers.get(id).map(|c| c.spec.limits)
    }

    /// Whether container `id` is kept off private networks, when it exists.
    pub fn private_networks_blocked(&self, id: &str) -> Option<bool> {
        let model = self.model.lock().unwrap();
        model
            .containers
            .get(id)
            .map(|c| c.spec.block_private_networks)
    }

    /// Ids of the containers that exist.
    pub fn containers(&self) -> Vec<String> {
        self.model
            .lock()
            .unwrap()
            .containers
            .keys()
            .cloned()
            .collect()
    }

    /// Names of the snapshots that exist (writable layers and versions).
    pub fn snapshots(&self) -> Vec<String> {
        self.model
            .lock()
            .unwrap()
            .snapshots
            .keys()
            .cloned()
            .collect()
    }

    /// Images made complete by `ensure_image` (they outlive workspaces, as in containerd).
    pub fn images(&self) -> Vec<String> {
        self.model.lock().unwrap().images.iter().cloned().collect()
    }

    /// No container and no snapshot is left.
    pub fn is_empty(&self) -> bool {
        let m = self.model.lock().unwrap();
        m.containers.is_empty() && m.snapshots.is_empty()
    }

    /// Where container `id`'s task has its `/data`.
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join(id).join("data")
    }

    /// Removes a container without telling anyone (as `ctr` or a crash would).
    pub async fn remove_container(&self, id: &str) {
        let task = self.model.lock().unwrap().delete(id);
        if let Some(t) = task {
            t.stop().await;
        }
    }

    /// Ends a container's task without telling anyone.
    pub async fn kill_task(&self, id: &str) {
        let task = self.model.lock().unwrap().take_task(id).ok().flatten();
        if let Some(t) = task {
            t.stop().await;
        }
    }

    /// Removes a snapshot without telling anyone (its children keep their parent's name).
    pub fn remove_snapshot(&self, name: &str) {
        self.model.lock().unwrap().snapshots.remove(name);
    }

    /// Records the call, passes a hold at its start, then fails if so scripted.
    async fn enter(&self, op: Op, args: &[&str]) -> Result<()> {
        let args = args.iter().map(|a| a.to_string()).collect();
        self.calls.lock().unwrap().push(Call { op, args });
        self.gates.pass(Point::Before(op)).await;
        self.scripted(op)
    }

    fn scripted(&self, op: Op) -> Result<()> {
        let mut failures = self.failures.lock().unwrap();
        match failures.get_mut(&op).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Passes a hold inside `ensure_image`; a cancel while held ends the pull, as in containerd.
    async fn pass_cancellable(&self, point: Point, cancel: &CancellationToken) -> Result<()> {
        tokio::select! {
            _ = self.gates.pass(point) => {}
            _ = cancel.cancelled() => return Err(RuntimeError::cancelled()),
        }
        if cancel.is_cancelled() {
            return Err(RuntimeError::cancelled());
        }
        Ok(())
    }

    fn new_task(&self, id: &str) -> Result<Task> {
        if self.silent.load(Ordering::SeqCst) {
            return Ok(Task::silent(self.next_pid.fetch_add(1, Ordering::SeqCst)));
        }
        let spec = self.model.lock().unwrap().container(id)?.spec.clone();
        Task::bridge(&spec, &self.data_dir(id))
    }
}

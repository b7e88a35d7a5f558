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

mod hold;
mod model;
mod task;

pub use hold::{Hold, Point};
pub use model::LABEL_WORKSPACE;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use tokio::sync::broadcast;

use crate::{
    CancellationToken, Capabilities, Connector, ContainerStatus, FileChange, ImageRef, PullEvent,
    PullPolicy, PullSink, Result, Runtime, RuntimeError, RuntimeEvent, SnapshotInfo, Target,
    VersionLabels, WorkspaceSpec,
};
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
    DeleteVersion,
    RepairVersions,
    ChangesSince,
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
        let _ = self.events.send(event);
    }

    /// From now on tasks have no process, so their bridge never answers.
    pub fn silent_tasks(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
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

struct FakeConnector(Arc<FakeRuntime>);

#[async_trait::async_trait]
impl Connector for FakeConnector {
    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>> {
        self.0.targets.lock().unwrap().push(target.clone());
        Ok(self.0.clone())
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_versions: true,
            bridge_network: false,
        }
    }

    async fn version(&self) -> Result<String> {
        self.enter(Op::Version, &[]).await?;
        Ok("fake".into())
    }

    async fn ensure_image(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        sink: &dyn PullSink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let name = image.to_string();
        let args = [name.as_str(), &format!("{policy:?}")];
        self.calls.lock().unwrap().push(Call {
            op: Op::EnsureImage,
            args: args.iter().map(|a| a.to_string()).collect(),
        });
        self.pass_cancellable(Point::Before(Op::EnsureImage), cancel)
            .await?;
        self.scripted(Op::EnsureImage)?;
        let present = self.model.lock().unwrap().images.contains(&name);
        if policy == PullPolicy::Never && !present {
            return Err(RuntimeError::not_found(format!(
                "{name} is not present locally"
            )));
        }
        let digest = format!("sha256:layer-of-{name}");
        sink.event(PullEvent::Resolved {
            image: name.clone(),
            layers: vec![(digest.clone(), 1000)],
        });
        sink.event(PullEvent::Downloading {
            digest: digest.clone(),
            done: 500,
        });
        self.pass_cancellable(Point::Downloading, cancel).await?;
        sink.event(PullEvent::LayerDone {
            digest,
            existed: present,
        });
        sink.event(PullEvent::Unpacking {
            layer: 1,
            layers: 1,
        });
        self.pass_cancellable(Point::Unpacking, cancel).await?;
        self.model.lock().unwrap().images.insert(name);
        Ok(())
    }

    async fn create(&self, spec: &WorkspaceSpec) -> Result<()> {
        self.enter(Op::Create, &[&spec.id, &spec.image.to_string()])
            .await?;
        self.model.lock().unwrap().create(spec)
    }

    async fn start(&self, id: &str) -> Result<u32> {
        self.enter(Op::Start, &[id]).await?;
        if self.model.lock().unwrap().status(id)?.running {
            return Err(RuntimeError::conflict(format!(
                "the task of {id} already runs"
            )));
        }
        let mut task = self.new_task(id)?;
        let pid = task.running_pid().unwrap_or_default();
        self.model.lock().unwrap().set_task(id, task)?;
        self.emit(RuntimeEvent::TaskStarted { id: id.into() });
        Ok(pid)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<()> {
        self.enter(Op::Stop, &[id]).await?;
        let task = self.model.lock().unwrap().take_task(id)?;
        if let Some(t) = task {
            t.stop().await;
            self.emit(RuntimeEvent::TaskExited {
                id: id.into(),
                exit_status: 137,
            });
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.enter(Op::Delete, &[id]).await?;
        let (existed, task) = {
            let mut m = self.model.lock().unwrap();
            let existed = m.containers.contains_key(id);
            (existed, m.delete(id))
        };
        if let Some(t) = task {
            t.stop().await;
        }
        let _ = std::fs::remove_dir_all(self.state_dir.join(id));
        if existed {
            self.emit(RuntimeEvent::ContainerDeleted { id: id.into() });
        }
        Ok(())
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        self.enter(Op::Status, &[id]).await?;
        self.model.lock().unwrap().status(id)
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>> {
        self.enter(Op::List, &[]).await?;
        let mut m = self.model.lock().unwrap();
        let ids: Vec<String> = m.containers.keys().cloned().collect();
        ids.iter().map(|id| m.status(id)).collect()
    }

    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        let rx = self.events.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    async fn commit_version(&self, id: &str, name: &str, labels: &VersionLabels) -> Result<()> {
        self.enter(Op::CommitVersion, &[id, name]).await?;
        self.model.lock().unwrap().commit_version(id, name, labels)
    }

    async fn checkout_version(&self, id: &str, name: &str) -> Result<()> {
        self.enter(Op::CheckoutVersion, &[id, name]).await?;
        self.model.lock().unwrap().checkout_version(id, name)
    }

    async fn list_snapshots(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        self.enter(Op::ListSnapshots, &[id]).await?;
        self.model.lock().unwrap().list_snapshots(id)
    }

    async fn delete_version(&self, id: &str, name: &str) -> Result<()> {
        self.enter(Op::DeleteVersion, &[id, name]).await?;
        self.model.lock().unwrap().delete_version(id, name)
    }

    async fn repair_versions(&self, id: &str) -> Result<Vec<String>> {
        self.enter(Op::RepairVersions, &[id]).await?;
        Ok(vec![])
    }

    async fn changes_since(&self, id: &str, name: &str) -> Result<Vec<FileChange>> {
        self.enter(Op::ChangesSince, &[id, name]).await?;
        Ok(vec![])
    }
}

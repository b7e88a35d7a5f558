//! A bot's workspace: create (one operation with phases, cancellable, leaving nothing behind on
//! failure), info, start, stop, delete. Change of image (keeping `/data`) is in [`change_image`].

mod change_image;
mod data_phase;
mod operation;

use std::time::Duration;

use berth_bridge::BridgeClient;
use berth_runtime::{CancellationToken, ImageRef, Network, PullPolicy as RtPolicy, WorkspaceSpec};

use crate::bots::{parse_state, state_str};
use crate::model::{CreateEvent, NetworkMode, PullPolicy, Settings, WorkspaceInfo, WorkspaceState};
use crate::progress::Aggregator;
use crate::{container_id, Berth, Error, Result};
use data_phase::DataPhase;
use operation::Operation;

/// Where a create's phases go.
pub(crate) type Emit<'a> = &'a (dyn Fn(CreateEvent) + Send + Sync);

/// How long SIGTERM has before SIGKILL on stop.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a started bridge has to answer.
const BRIDGE_TIMEOUT: Duration = Duration::from_secs(30);

impl Berth {
    /// Everything known about the bot's workspace, with the state read live from the runtime.
    pub async fn info(&self, bot: &str) -> Result<WorkspaceInfo> {
        let b = self.require_bot(bot)?;
        let row = self.inner.store.get_workspace(bot)?;
        let mut info = WorkspaceInfo {
            bot: bot.to_string(),
            state: WorkspaceState::Absent,
            image: b.image_pref.clone(),
            container_id: None,
            network: None,
            bridge_version: None,
            last_error: None,
            created_at: None,
            updated_at: None,
            data_restored: None,
            has_kept_data: Some(self.kept_data(bot).is_some()),
        };
        if let Some(w) = &row {
            info.state = parse_state(&w.state);
            info.image = Some(w.image.clone());
            info.container_id = Some(w.container_id.clone());
            info.network = w.network.as_deref().map(|n| {
                if n == "host" {
                    NetworkMode::Host
                } else {
                    NetworkMode::Cni
                }
            });
            info.last_error = w.last_error.clone();
            info.created_at = Some(w.created_at.clone());
            info.updated_at = Some(w.updated_at.clone());
        }
        if self.is_creating(bot) {
            info.state = WorkspaceState::Creating;
            return Ok(info);
        }
        if let (Some(w), Ok(rt)) = (&row, self.runtime()) {
            info.state = match rt.status(&w.container_id).await {
                Ok(s) if s.running => WorkspaceState::Running,
                Ok(_) => WorkspaceState::Stopped,
                Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => WorkspaceState::Absent,
                Err(e) => return Err(e.into()),
            };
            if info.state == WorkspaceState::Running {
                let socket = self.inner.paths.bridge_socket(&w.container_id);
                if let Ok(c) = BridgeClient::connect(&socket).await {
                    info.bridge_version = c.health().await.ok().map(|h| h.version);
                }
            }
        }
        Ok(info)
    }

    /// Creates and starts the bot's workspace, reporting each phase through `emit`. Returns once
    /// the bridge answers. On failure or cancel nothing of the workspace remains.
    pub async fn create_workspace(
        &self,
        bot: &str,
        image: Option<&str>,
        policy: Option<PullPolicy>,
        emit: Emit<'_>,
    ) -> Result<WorkspaceInfo> {
        let result = self.create_inner(bot, image, policy, emit).await;
        finish(emit, result)
    }

    async fn create_inner(
        &self,
        bot: &str,
        image: Option<&str>,
        policy: Option<PullPolicy>,
        emit: Emit<'_>,
    ) -> Result<WorkspaceInfo> {
        let b = self.require_bot(bot)?;
        let rt = self.runtime()?;
        let op = Operation::create(self, bot)?;
        let lock = self.lock_for(bot);
        let held = lock.lock().await;
        let id = self
            .inner
            .store
            .get_workspace(bot)?
            .map_or_else(|| container_id(bot), |w| w.container_id);
        ensure_absent(&*rt, bot, &id).await?;
        let settings = self.settings()?;
        let wanted = image
            .map(str::to_string)
            .or(b.image_pref)
            .unwrap_or(settings.default_image.clone());
        let (image, policy) = request(&wanted, policy, &settings)?;
        self.notify(bot, WorkspaceState::Creating);
        self.event(bot, "create", format!("creating workspace from {image}"));
        let spec = self.workspace_spec(&*rt, bot, &id, image);
        let outcome = match self.pull(&*rt, &spec.image, policy, &op.cancel, emit).await {
            Ok(()) => self.build(&*rt, &spec, &op.cancel, emit).await,
            Err(e) => Err(e),
        };
        let restored = self.settle(&*rt, &spec, outcome).await?;
        drop(held);
        drop(op);
        let mut info = self.info(bot).await?;
        info.data_restored = Some(restored);
        Ok(info)
    }

    /// What the new workspace will be: container `id` of `bot` on `image`, on the CNI bridge
    /// when the runtime has one.
    fn workspace_spec(
        &self,
        rt: &dyn berth_runtime::Runtime,
        bot: &str,
        id: &str,
        image: ImageRef,
    ) -> WorkspaceSpec {
        let network = if rt.capabilities().bridge_network {
            Network::Bridge
        } else {
            Network::Host
        };
        WorkspaceSpec {
            id: id.to_string(),
            bot: bot.to_string(),
            image,
            runtime_dir: self.inner.paths.runtime_dir(),
            socket_dir: self.inner.paths.socket_dir(id),
            log_path: self.inner.paths.log_file(id),
            network,
        }
    }

    /// Resolves, pulls and unpacks `image` (phases `resolving`, `pulling`, `unpacking`).
    async fn pull(
        &self,
        rt: &dyn berth_runtime::Runtime,
        image: &ImageRef,
        policy: RtPolicy,
        cancel: &CancellationToken,
        emit: Emit<'_>,
    ) -> Result<()> {
        if !self.inner.paths.runtime_dir().join("bridge").is_file() {
            return Err(Error::new(
                crate::model::ErrorCode::Unavailable,
                "the bridge binary is not installed; build it with scripts/build-bridge.sh",
            ));
        }
        emit(CreateEvent::Resolving {
            image: image.to_string(),
        });
        let sink = Aggregator::new(emit);
        rt.ensure_image(image, policy, &sink, cancel)
            .await
            .map_err(|e| Error::from(e).context("image pull failed"))?;
        check(cancel)
    }

    /// The part of a create after the image is local: container, start, bridge, and the kept
    /// data restored before the workspace counts as ready. Returns the bridge's version and
    /// whether data was restored. The archive is removed only after a successful restore.
    async fn build(
        &self,
        rt: &dyn berth_runtime::Runtime,
        spec: &WorkspaceSpec,
        cancel: &CancellationToken,
        emit: Emit<'_>,
    ) -> Result<(String, bool)> {
        let bridge_version = self.run_create(rt, spec, cancel, emit).await?;
        if self.kept_data(&spec.bot).is_none() {
            return Ok((bridge_version, false));
        }
        emit(CreateEvent::Restoring);
        let phase = DataPhase::new(emit);
        let restored = self
            .restore_into(&spec.bot, &spec.id, &|p| phase.report(p), cancel)
            .await;
        phase.finish();
        Ok((bridge_version, restored?))
    }

    /// Records a built workspace as running, or removes whatever a failed one left behind.
    /// Returns whether kept data was restored.
    async fn settle(
        &self,
        rt: &dyn berth_runtime::Runtime,
        spec: &WorkspaceSpec,
        outcome: Result<(String, bool)>,
    ) -> Result<bool> {
        let bot = &spec.bot;
        match outcome {
            Ok((bridge_version, restored)) => {
                let store = &self.inner.store;
                let image = spec.image.to_string();
                store.upsert_workspace(bot, &spec.id, &image, "running")?;
                let network = if spec.network == Network::Host {
                    "host"
                } else {
                    "cni"
                };
                store.set_workspace_network(bot, Some(network))?;
                store.set_image_pref(bot, &image)?;
                store.touch_recent_image(&spec.image.short())?;
                self.event(
                    bot,
                    "created",
                    format!("workspace running (bridge {bridge_version})"),
                );
                self.notify(bot, WorkspaceState::Running);
                Ok(restored)
            }
            Err(e) => {
                // Leave nothing behind: container, task, writable layer, socket directory.
                if let Err(cleanup) = rt.delete(&spec.id).await {
                    tracing::warn!(error = %cleanup, "cleanup after a failed create");
                }
                let _ = std::fs::remove_dir_all(&spec.socket_dir);
                let kind = if e.code == crate::model::ErrorCode::Cancelled {
                    "cancelled"
                } else {
                    "failed"
                };
                self.event(bot, kind, format!("create {kind}: {}", e.message));
                self.notify(bot, WorkspaceState::Absent);
                Err(e)
            }
        }
    }

    /// Container, start, bridge (phases `creating`, `starting`, `waitingBridge`).
    async fn run_create(
        &self,
        rt: &dyn berth_runtime::Runtime,
        spec: &WorkspaceSpec,
        cancel: &CancellationToken,
        emit: Emit<'_>,
    ) -> Result<String> {
        emit(CreateEvent::Creating);
        std::fs::create_dir_all(&spec.socket_dir)
            .map_err(crate::paths::io("creating the socket directory"))?;
        let _ = std::fs::remove_file(spec.socket_dir.join("bridge.sock"));
        rt.create(spec)
            .await
            .map_err(|e| Error::from(e).context("creating the container failed"))?;
        check(cancel)?;
        emit(CreateEvent::Starting);
        rt.start(&spec.id)
            .await
            .map_err(|e| Error::from(e).context("starting the workspace failed"))?;
        check(cancel)?;
        emit(CreateEvent::WaitingBridge);
        self.wait_bridge(&spec.id, cancel).await
    }

    async fn wait_bridge(&self, id: &str, cancel: &CancellationToken) -> Result<String> {
        let socket = self.inner.paths.bridge_socket(id);
        let ready = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::cancelled()),
            r = BridgeClient::wait_ready(&socket, BRIDGE_TIMEOUT) => r,
        };
        let log = self.inner.paths.log_file(id);
        ready.map(|(_, h)| h.version).map_err(|e| {
            Error::unavailable(format!(
                "the workspace's bridge did not answer: {e} (see {})",
                log.display()
            ))
        })
    }

    /// Cancels a running create or change of image; false when none runs.
    pub fn cancel_create(&self, bot: &str) -> bool {
        operation::cancel(self, bot)
    }

    fn workspace_row(&self, bot: &str) -> Result<berth_store::WorkspaceRow> {
        self.require_bot(bot)?;
        self.inner
            .store
            .get_workspace(bot)?
            .ok_or_else(|| Error::not_found(format!("{bot} has no workspace; create one first")))
    }

    pub async fn start(&self, bot: &str) -> Result<WorkspaceInfo> {
        let rt = self.runtime()?;
        let lock = self.lock_for(bot);
        let held = lock.lock().await;
        self.start_locked(&*rt, bot).await?;
        drop(held);
        self.info(bot).await
    }

    /// Starts the workspace and waits for its bridge; the caller holds the bot's lock.
    async fn start_locked(&self, rt: &dyn berth_runtime::Runtime, bot: &str) -> Result<()> {
        let w = self.workspace_row(bot)?;
        std::fs::create_dir_all(self.inner.paths.socket_dir(&w.container_id))
            .map_err(crate::paths::io("socket dir"))?;
        let _ = std::fs::remove_file(self.inner.paths.bridge_socket(&w.container_id));
        let started = async {
            rt.start(&w.container_id).await?;
            self.wait_bridge(&w.container_id, &CancellationToken::new())
                .await
        }
        .await;
        match started {
            Ok(_) => {
                self.set_state(bot, WorkspaceState::Running, None)?;
                self.event(bot, "started", "workspace started");
                Ok(())
            }
            Err(e) => {
                self.event(bot, "failed", format!("start failed: {}", e.message));
                Err(e)
            }
        }
    }

    pub async fn stop(&self, bot: &str) -> Result<WorkspaceInfo> {
        let rt = self.runtime()?;
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let w = self.workspace_row(bot)?;
        rt.stop(&w.container_id, STOP_GRACE).await?;
        self.set_state(bot, WorkspaceState::Stopped, None)?;
        self.event(bot, "stopped", "workspace stopped");
        drop(_held);
        self.info(bot).await
    }

    /// Deletes the workspace: cancels a running create, then removes the container, its task,
    /// network attachment and snapshots. Idempotent.
    pub async fn delete_workspace(&self, bot: &str) -> Result<()> {
        self.require_bot(bot)?;
        let rt = self.runtime()?;
        self.cancel_create(bot);
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        self.delete_locked(&*rt, bot).await
    }

    /// Deletes the workspace; the caller holds the bot's lock.
    async fn delete_locked(&self, rt: &dyn berth_runtime::Runtime, bot: &str) -> Result<()> {
        let id = self
            .inner
            .store
            .get_workspace(bot)?
            .map_or_else(|| container_id(bot), |w| w.container_id);
        rt.delete(&id).await?;
        let _ = std::fs::remove_dir_all(self.inner.paths.socket_dir(&id));
        // The runtime removed every snapshot of the workspace, versions included.
        let versions = self.inner.store.delete_versions(bot)?;
        if self.inner.store.get_workspace(bot)?.is_some() {
            self.inner.store.delete_workspace(bot)?;
            self.event(
                bot,
                "deleted",
                format!("workspace deleted with {versions} version(s)"),
            );
        }
        self.notify(bot, WorkspaceState::Absent);
        Ok(())
    }

    pub(crate) fn set_state(
        &self,
        bot: &str,
        state: WorkspaceState,
        error: Option<&str>,
    ) -> Result<()> {
        self.inner
            .store
            .set_workspace_state(bot, state_str(state), error)?;
        self.notify(bot, state);
        Ok(())
    }
}

fn check(cancel: &CancellationToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(Error::cancelled())
    } else {
        Ok(())
    }
}

/// Emits the operation's last event (`complete` or `failed`) and passes its result on.
fn finish(emit: Emit<'_>, result: Result<WorkspaceInfo>) -> Result<WorkspaceInfo> {
    match &result {
        Ok(info) => emit(CreateEvent::Complete { info: info.clone() }),
        Err(e) => emit(CreateEvent::Failed { error: e.body() }),
    }
    result
}

/// The image to pull and how, from the request and the settings.
fn request(
    image: &str,
    policy: Option<PullPolicy>,
    settings: &Settings,
) -> Result<(ImageRef, RtPolicy)> {
    let image = ImageRef::parse(image)?;
    let policy = match policy.unwrap_or(settings.pull_policy) {
        PullPolicy::IfNotPresent => RtPolicy::IfNotPresent,
        PullPolicy::Always => RtPolicy::Always,
        PullPolicy::Never => RtPolicy::Never,
    };
    Ok((image, policy))
}

/// Refuses to create over an existing container.
async fn ensure_absent(rt: &dyn berth_runtime::Runtime, bot: &str, id: &str) -> Result<()> {
    match rt.status(id).await {
        Ok(_) => Err(Error::new(
            crate::model::ErrorCode::AlreadyExists,
            format!("{bot} already has a workspace"),
        )),
        Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

//! A bot's workspace: create (one operation with phases, cancellable, leaving nothing behind on
//! failure), info, start, stop, delete.

use std::time::Duration;

use berth_bridge::BridgeClient;
use berth_runtime::{CancellationToken, ImageRef, Network, PullPolicy as RtPolicy, WorkspaceSpec};

use crate::bots::{parse_state, state_str};
use crate::model::{CreateEvent, NetworkMode, PullPolicy, WorkspaceInfo, WorkspaceState};
use crate::progress::Aggregator;
use crate::{container_id, Berth, Error, Result};

/// How long SIGTERM has before SIGKILL on stop.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a started bridge has to answer.
const BRIDGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Removes the operation's cancel token however the create ends.
struct OperationGuard<'a>(&'a Berth, String);
impl Drop for OperationGuard<'_> {
    fn drop(&mut self) {
        self.0.inner.operations.lock().unwrap().remove(&self.1);
    }
}

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
        emit: &(dyn Fn(CreateEvent) + Send + Sync),
    ) -> Result<WorkspaceInfo> {
        let result = self.create_inner(bot, image, policy, emit).await;
        match &result {
            Ok(info) => emit(CreateEvent::Complete { info: info.clone() }),
            Err(e) => emit(CreateEvent::Failed { error: e.body() }),
        }
        result
    }

    async fn create_inner(
        &self,
        bot: &str,
        image: Option<&str>,
        policy: Option<PullPolicy>,
        emit: &(dyn Fn(CreateEvent) + Send + Sync),
    ) -> Result<WorkspaceInfo> {
        let b = self.require_bot(bot)?;
        let rt = self.runtime()?;
        let cancel = CancellationToken::new();
        {
            let mut ops = self.inner.operations.lock().unwrap();
            if ops.contains_key(bot) {
                return Err(Error::conflict(format!(
                    "a workspace for {bot} is already being created"
                )));
            }
            ops.insert(bot.to_string(), cancel.clone());
        }
        let _guard = OperationGuard(self, bot.to_string());
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let settings = self.settings()?;
        let id = self
            .inner
            .store
            .get_workspace(bot)?
            .map_or_else(|| container_id(bot), |w| w.container_id);
        match rt.status(&id).await {
            Ok(_) => {
                return Err(Error::new(
                    crate::model::ErrorCode::AlreadyExists,
                    format!("{bot} already has a workspace"),
                ))
            }
            Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let wanted = image
            .map(str::to_string)
            .or(b.image_pref)
            .unwrap_or(settings.default_image.clone());
        let image = ImageRef::parse(&wanted)?;
        let policy = match policy.unwrap_or(settings.pull_policy) {
            PullPolicy::IfNotPresent => RtPolicy::IfNotPresent,
            PullPolicy::Always => RtPolicy::Always,
            PullPolicy::Never => RtPolicy::Never,
        };
        self.notify(bot, WorkspaceState::Creating);
        self.event(bot, "create", format!("creating workspace from {image}"));
        let network = if rt.capabilities().bridge_network {
            Network::Bridge
        } else {
            Network::Host
        };
        let spec = WorkspaceSpec {
            id: id.clone(),
            bot: bot.to_string(),
            image: image.clone(),
            runtime_dir: self.inner.paths.runtime_dir(),
            socket_dir: self.inner.paths.socket_dir(&id),
            log_path: self.inner.paths.log_file(&id),
            network,
        };
        let outcome = self.run_create(&*rt, &spec, policy, &cancel, emit).await;
        // Kept data goes back before the workspace is reported ready; the archive is removed
        // only after a successful restore, so a failure keeps it.
        let outcome = match outcome {
            Ok(v) if self.kept_data(bot).is_some() => {
                emit(CreateEvent::Restoring);
                self.restore_into(bot, &id).await.map(|r| (v, r))
            }
            Ok(v) => Ok((v, false)),
            Err(e) => Err(e),
        };
        match outcome {
            Ok((bridge_version, restored)) => {
                let store = &self.inner.store;
                store.upsert_workspace(bot, &id, &image.to_string(), "running")?;
                store.set_workspace_network(
                    bot,
                    Some(if network == Network::Host {
                        "host"
                    } else {
                        "cni"
                    }),
                )?;
                store.set_image_pref(bot, &image.to_string())?;
                store.touch_recent_image(&image.short())?;
                self.event(
                    bot,
                    "created",
                    format!("workspace running (bridge {bridge_version})"),
                );
                self.notify(bot, WorkspaceState::Running);
                drop(_held);
                drop(_guard);
                let mut info = self.info(bot).await?;
                info.data_restored = Some(restored);
                Ok(info)
            }
            Err(e) => {
                // Leave nothing behind: container, task, writable layer, socket directory.
                if let Err(cleanup) = rt.delete(&id).await {
                    tracing::warn!(error = %cleanup, "cleanup after a failed create");
                }
                let _ = std::fs::remove_dir_all(self.inner.paths.socket_dir(&id));
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

    async fn run_create(
        &self,
        rt: &dyn berth_runtime::Runtime,
        spec: &WorkspaceSpec,
        policy: RtPolicy,
        cancel: &CancellationToken,
        emit: &(dyn Fn(CreateEvent) + Send + Sync),
    ) -> Result<String> {
        let bridge = spec.runtime_dir.join("bridge");
        if !bridge.is_file() {
            return Err(Error::new(
                crate::model::ErrorCode::Unavailable,
                "the bridge binary is not installed; build it with scripts/build-bridge.sh",
            ));
        }
        emit(CreateEvent::Resolving {
            image: spec.image.to_string(),
        });
        let sink = Aggregator::new(emit);
        rt.ensure_image(&spec.image, policy, &sink, cancel)
            .await
            .map_err(|e| Error::from(e).context("image pull failed"))?;
        check(cancel)?;
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

    /// Cancels a running create; Ok(false) when none runs.
    pub fn cancel_create(&self, bot: &str) -> bool {
        match self.inner.operations.lock().unwrap().get(bot) {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
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
        let _held = lock.lock().await;
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
            }
            Err(e) => {
                self.event(bot, "failed", format!("start failed: {}", e.message));
                return Err(e);
            }
        }
        drop(_held);
        self.info(bot).await
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

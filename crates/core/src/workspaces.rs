//! A bot's workspace: info, start, stop, delete; create ([`create`]: one operation with phases,
//! cancellable, leaving nothing behind on failure) and change of image keeping `/data`
//! ([`change_image`]).

mod change_image;
mod create;
mod data_phase;
mod operation;

use std::time::Duration;

use berth_bridge::{BridgeClient, BridgeError};
use berth_runtime::CancellationToken;

use crate::bots::{parse_state, state_str};
use crate::model::{CreateEvent, NetworkMode, WorkspaceInfo, WorkspaceState};
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
            host_network: b.host_network,
            block_private_networks: b.block_private_networks,
            limits: crate::limits::to_model(b.limits),
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
                if let Ok(ch) = self.bridge_of(bot, &w.container_id).await {
                    info.bridge_version = BridgeClient::new(&ch)
                        .health()
                        .await
                        .ok()
                        .map(|h| h.version);
                }
            }
        }
        Ok(info)
    }

    /// Waits for the bridge of the task just started (`pid`, from the runtime's start) to
    /// answer; returns its version.
    async fn wait_bridge(
        &self,
        rt: &dyn berth_runtime::Runtime,
        id: &str,
        pid: u32,
        cancel: &CancellationToken,
    ) -> Result<String> {
        let socket = self.bridge_socket(id);
        let peer = crate::bridges::expected_peer(rt, pid);
        let ready = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::cancelled()),
            r = crate::bridges::wait_ready(&socket, peer, BRIDGE_TIMEOUT) => r,
        };
        let log = self.inner.paths.log_file(id);
        ready.map(|(_, h)| h.version).map_err(|e| match e {
            BridgeError::NotTheBridge(_) => Error::from(e),
            e => Error::unavailable(format!(
                "the workspace's bridge did not answer: {e} (see {})",
                log.display()
            )),
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
    pub(crate) async fn start_locked(
        &self,
        rt: &dyn berth_runtime::Runtime,
        bot: &str,
    ) -> Result<()> {
        let w = self.workspace_row(bot)?;
        self.prepare_start(&w.container_id)?;
        let started = async {
            let pid = rt.start(&w.container_id).await?;
            self.wait_bridge(rt, &w.container_id, pid, &CancellationToken::new())
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
        self.forget_stats(&id);
        let _ = std::fs::remove_dir_all(self.inner.paths.socket_dir(&id));
        // The runtime removed every snapshot of the workspace, versions included.
        let versions = self.inner.store.delete_versions(bot)?;
        self.delete_archive_versions(bot);
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

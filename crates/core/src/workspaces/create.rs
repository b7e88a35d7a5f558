//! Create: one operation with phases (`resolving`, `pulling`, `unpacking`, `creating`,
//! `starting`, `waitingBridge`, `restoring` with kept data, then `complete` or `failed`),
//! cancellable at any point; on failure or cancel it deletes whatever it made. Its pieces (pull,
//! build, settle) are shared with the change of image.

use berth_runtime::{CancellationToken, ImageRef, Network, PullPolicy as RtPolicy, WorkspaceSpec};

use crate::model::{CreateEvent, PullPolicy, Settings, WorkspaceInfo, WorkspaceState};
use crate::progress::Aggregator;
use crate::{container_id, Berth, Error, Result};

use super::{check, DataPhase, Emit, Operation};

impl Berth {
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
        let network = network_for(&*rt, &b)?;
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
            .or(b.image_pref.clone())
            .unwrap_or(settings.default_image.clone());
        let (image, policy) = request(&wanted, policy, &settings)?;
        self.notify(bot, WorkspaceState::Creating);
        self.event(bot, "create", format!("creating workspace from {image}"));
        let spec = self.workspace_spec(&b, &id, image, network);
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

    /// What the new workspace will be: container `id` of `bot` on `image` and `network`, with
    /// the bot's limits.
    pub(super) fn workspace_spec(
        &self,
        bot: &berth_store::BotRow,
        id: &str,
        image: ImageRef,
        network: Network,
    ) -> WorkspaceSpec {
        WorkspaceSpec {
            id: id.to_string(),
            bot: bot.name.clone(),
            image,
            runtime_dir: self.inner.paths.runtime_dir(),
            socket_dir: self.inner.paths.socket_dir(id),
            log_path: self.inner.paths.log_file(id),
            network,
            block_private_networks: bot.block_private_networks && network == Network::Bridge,
            limits: crate::limits::to_runtime(bot.limits),
        }
    }

    /// Resolves, pulls and unpacks `image` (phases `resolving`, `pulling`, `unpacking`).
    pub(super) async fn pull(
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
        let sink = Aggregator::new(emit, rt.capabilities().layer_progress);
        rt.ensure_image(image, policy, &sink, cancel)
            .await
            .map_err(|e| Error::from(e).context("image pull failed"))?;
        check(cancel)
    }

    /// The part of a create after the image is local: container, start, bridge, and the kept
    /// data restored before the workspace counts as ready. Returns the bridge's version and
    /// whether data was restored. The archive is removed only after a successful restore.
    pub(super) async fn build(
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
    pub(super) async fn settle(
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
        self.prepare_start(&spec.id)?;
        rt.create(spec)
            .await
            .map_err(|e| Error::from(e).context("creating the container failed"))?;
        check(cancel)?;
        emit(CreateEvent::Starting);
        let pid = rt
            .start(&spec.id)
            .await
            .map_err(|e| Error::from(e).context("starting the workspace failed"))?;
        check(cancel)?;
        emit(CreateEvent::WaitingBridge);
        self.wait_bridge(rt, &spec.id, pid, cancel).await
    }
}

/// Emits the operation's last event (`complete` or `failed`) and passes its result on.
/// The network of the bot's next workspace: the host's when the user chose it for this bot,
/// else the runtime's isolated bridge. Never a silent fallback to the host: without the bridge
/// the create (or change of image) fails before it changes anything, saying how to fix it.
pub(super) fn network_for(
    rt: &dyn berth_runtime::Runtime,
    bot: &berth_store::BotRow,
) -> Result<Network> {
    if bot.host_network && !rt.capabilities().host_network {
        Err(Error::new(
            crate::model::ErrorCode::Unsupported,
            format!(
                "{} is set to use this computer's network, which this container backend cannot \
                 give a workspace (each one is a virtual machine with its own network); turn it \
                 off (`berth network {} --network bridge` or the checkbox) to create the workspace",
                bot.name, bot.name
            ),
        ))
    } else if bot.host_network {
        Ok(Network::Host)
    } else if rt.capabilities().bridge_network {
        Ok(Network::Bridge)
    } else {
        Err(Error::unavailable(format!(
            "no isolated network for the workspace: {}; or give {} the host's network \
             (`berth create {} --network host`), which shares the host's network and services \
             with the bot",
            rt.bridge_network_fix(),
            bot.name,
            bot.name
        )))
    }
}

pub(super) fn finish(emit: Emit<'_>, result: Result<WorkspaceInfo>) -> Result<WorkspaceInfo> {
    match &result {
        Ok(info) => emit(CreateEvent::Complete { info: info.clone() }),
        Err(e) => emit(CreateEvent::Failed { error: e.body() }),
    }
    result
}

/// The image to pull and how, from the request and the settings.
pub(super) fn request(
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

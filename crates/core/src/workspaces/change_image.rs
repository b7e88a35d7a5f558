//! Change of image: the bot's workspace recreated on another image, keeping `/data`, as one
//! operation with the phases of create plus `preserving` and `removingOld`.
//!
//! The order is chosen so that a failure loses nothing and changes as little as possible: the new
//! image is pulled first (a bad reference or a failed pull leaves the old workspace running,
//! untouched); then `/data` is written to the kept archive (atomically; a failure or cancel
//! leaves no archive and the old workspace as it was); only then is the old workspace deleted,
//! the new one created and the archive restored into it. If that fails, the archive stays as the
//! bot's kept data (the Data page; the next create restores it) and the error says so.

use crate::model::{CreateEvent, PullPolicy, WorkspaceInfo, WorkspaceState};
use crate::{container_id, Berth, Error, Result};

use super::create::{finish, request};
use super::{check, DataPhase, Emit, Operation};

impl Berth {
    /// Recreates the bot's workspace on `image` keeping `/data`, reporting each phase through
    /// `emit`; cancellable with [`Berth::cancel_create`]. A stopped workspace is started for
    /// its data. Versions of the old workspace are deleted with it.
    pub async fn change_image(
        &self,
        bot: &str,
        image: &str,
        policy: Option<PullPolicy>,
        emit: Emit<'_>,
    ) -> Result<WorkspaceInfo> {
        let result = self.change_inner(bot, image, policy, emit).await;
        if let Err(e) = &result {
            self.event(
                bot,
                "failed",
                format!("change of image failed: {}", e.message),
            );
        }
        finish(emit, result)
    }

    async fn change_inner(
        &self,
        bot: &str,
        image: &str,
        policy: Option<PullPolicy>,
        emit: Emit<'_>,
    ) -> Result<WorkspaceInfo> {
        let b = self.require_bot(bot)?;
        let rt = self.runtime()?;
        let network = super::create::network_for(&*rt, &b)?;
        let mut op = Operation::change_image(self, bot)?;
        let lock = self.lock_for(bot);
        let held = lock.lock().await;
        let old = self.workspace_row(bot)?;
        if let Some(k) = self.kept_data(bot) {
            return Err(Error::conflict(format!(
                "{bot} already has kept data ({}); restore or delete it on the Data page \
                 first, so that it is not overwritten",
                k.path.display()
            )));
        }
        let (image, policy) = request(image, policy, &self.settings()?)?;
        self.event(
            bot,
            "change-image",
            format!("changing image from {} to {image}", old.image),
        );
        // 1. The new image, while the old workspace runs on untouched.
        self.pull(&*rt, &image, policy, &op.cancel, emit)
            .await
            .map_err(|e| {
                Error::new(e.code, format!("{}; the workspace is unchanged", e.message))
            })?;
        // 2. Its data, into the kept archive.
        self.preserve_for_change(&*rt, bot, &op.cancel, emit)
            .await?;
        // 3. From here the old workspace goes; the bot is "creating" until the new one runs.
        op.promote(bot);
        let kept_note =
            |e: Error| Error::new(e.code, format!("{}; {}", e.message, self.kept_note(bot)));
        emit(CreateEvent::RemovingOld);
        self.delete_locked(&*rt, bot).await.map_err(kept_note)?;
        self.notify(bot, WorkspaceState::Creating);
        let spec = self.workspace_spec(&b, &container_id(bot), image, network);
        let outcome = self.build(&*rt, &spec, &op.cancel, emit).await;
        let restored = self.settle(&*rt, &spec, outcome).await.map_err(kept_note)?;
        drop(held);
        drop(op);
        let mut info = self.info(bot).await?;
        info.data_restored = Some(restored);
        Ok(info)
    }

    /// Writes `/data` of the old workspace (started first if stopped) to the kept archive
    /// (phase `preserving`). A failure or cancel leaves no archive.
    async fn preserve_for_change(
        &self,
        rt: &dyn berth_runtime::Runtime,
        bot: &str,
        cancel: &crate::CancellationToken,
        emit: Emit<'_>,
    ) -> Result<()> {
        emit(CreateEvent::Preserving);
        if self.info(bot).await?.state != WorkspaceState::Running {
            self.start_locked(rt, bot)
                .await
                .map_err(|e| e.context("starting the workspace to keep its data"))?;
        }
        let phase = DataPhase::new(emit);
        let kept = self.preserve_with(bot, &|p| phase.report(p), cancel).await;
        phase.finish();
        kept.map_err(|e| e.context("keeping /data failed; the workspace is unchanged"))?;
        if let Err(e) = check(cancel) {
            let _ = self.delete_kept_data(bot);
            return Err(e);
        }
        Ok(())
    }

    /// What an error after the old workspace's delete adds: where `/data` is now.
    fn kept_note(&self, bot: &str) -> String {
        format!(
            "the old workspace was deleted and its /data is kept in {} (Data page); \
             creating the workspace again restores it",
            self.kept_data_path(bot).display()
        )
    }
}

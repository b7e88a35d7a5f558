//! Kept data: a deleted workspace's `/data` kept as `<data dir>/backups/<bot>.tar.gz` (written
//! atomically by export), restored when the bot's workspace is created again.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use berth_bridge::FilesClient;
use berth_runtime::CancellationToken;

use super::import::{import_file, ImportOptions};
use super::ProgressFn;
use crate::{Berth, Error, Result};

/// A kept archive of a deleted workspace's `/data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptData {
    pub path: PathBuf,
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modified_ms: u64,
}

impl Berth {
    /// Writes `/data` of the running workspace to the kept-data archive (atomically).
    pub async fn preserve_data(&self, bot: &str, progress: ProgressFn<'_>) -> Result<KeptData> {
        self.preserve_with(bot, progress, &CancellationToken::new())
            .await
    }

    /// [`Berth::preserve_data`], cancellable (a cancelled preserve leaves no archive).
    pub(crate) async fn preserve_with(
        &self,
        bot: &str,
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<KeptData> {
        let path = self.kept_data_path(bot);
        self.export_data(bot, &path, progress, cancel).await?;
        self.event(bot, "preserved", format!("data kept in {}", path.display()));
        self.kept_data(bot)
            .ok_or_else(|| Error::internal("the kept archive vanished"))
    }

    /// Where the kept data of `bot` lives. `bot` must be a valid bot name (the callers that take
    /// one from outside check it first, so no name can reach outside `backups/`).
    pub fn kept_data_path(&self, bot: &str) -> PathBuf {
        self.inner
            .paths
            .database()
            .with_file_name("backups")
            .join(format!("{bot}.tar.gz"))
    }

    /// The kept archive of `bot`, if any (only a complete, renamed archive counts).
    pub fn kept_data(&self, bot: &str) -> Option<KeptData> {
        crate::validate_bot_name(bot).ok()?;
        let path = self.kept_data_path(bot);
        let m = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
        let modified_ms = m
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis() as u64;
        Some(KeptData {
            path,
            size: m.len(),
            modified_ms,
        })
    }

    /// Deletes the kept archive of `bot`; Ok(false) when there was none.
    pub fn delete_kept_data(&self, bot: &str) -> Result<bool> {
        crate::validate_bot_name(bot)?;
        match std::fs::remove_file(self.kept_data_path(bot)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::internal(format!("deleting the kept data: {e}"))),
        }
    }

    /// Restores the kept archive into the just-created workspace `id` (before the store knows
    /// it is running); removes the archive only after success. `progress` gets the archive's
    /// bytes sent of its size.
    pub(crate) async fn restore_into(
        &self,
        bot: &str,
        id: &str,
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<bool> {
        let Some(kept) = self.kept_data(bot) else {
            return Ok(false);
        };
        let opts = ImportOptions {
            replace: true,
            ..Default::default()
        };
        let c = FilesClient::new(&self.bridge_of(bot, id).await?);
        import_file(&c, &kept.path, &opts, progress, cancel)
            .await
            .map_err(|e| e.context("restoring the kept data"))?;
        std::fs::remove_file(&kept.path)
            .map_err(|e| Error::internal(format!("removing the restored archive: {e}")))?;
        self.event(bot, "restored", "kept data restored");
        Ok(true)
    }

    /// Replaces `/data` of the running workspace with the kept archive, then deletes it.
    /// Ok(false) when there is no kept data.
    pub async fn restore_kept_data(&self, bot: &str, progress: ProgressFn<'_>) -> Result<bool> {
        let Some(kept) = self.kept_data(bot) else {
            return Ok(false);
        };
        let opts = ImportOptions {
            replace: true,
            ..Default::default()
        };
        self.import_data(bot, &kept.path, &opts, progress, &CancellationToken::new())
            .await
            .map_err(|e| e.context("restoring the kept data"))?;
        std::fs::remove_file(&kept.path)
            .map_err(|e| Error::internal(format!("removing the restored archive: {e}")))?;
        self.event(bot, "restored", "kept data restored");
        Ok(true)
    }

    /// Deletes the workspace; with `keep_data` first writes its `/data` to the kept archive
    /// (starting a stopped workspace for it). The workspace is not deleted if preserving fails.
    pub async fn delete_workspace_keeping(
        &self,
        bot: &str,
        keep_data: bool,
        progress: ProgressFn<'_>,
    ) -> Result<Option<KeptData>> {
        let mut kept = None;
        if keep_data {
            let info = self.info(bot).await?;
            match info.state {
                crate::model::WorkspaceState::Running => {}
                crate::model::WorkspaceState::Absent => {
                    return Err(Error::not_found(format!(
                        "{bot} has no workspace to keep data from"
                    )))
                }
                _ => {
                    self.start(bot)
                        .await
                        .map_err(|e| e.context("starting the workspace to preserve its data"))?;
                }
            }
            kept = Some(self.preserve_data(bot, progress).await?);
        }
        self.delete_workspace(bot).await?;
        Ok(kept)
    }
}

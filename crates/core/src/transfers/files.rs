//! Files transfers by id: paths dropped on the window (kept here, never sent to the web view),
//! uploads of a drop, chunked uploads from the web view's file input, downloads and watches.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Transfers;
use crate::files::{FilesChanged, OnExists, SavedFile, TransferItem, TransferSummary};
use crate::{Berth, Error, Result};

/// Where a transfer's progress rows go.
pub type Emit = Arc<dyn Fn(TransferItem) + Send + Sync>;

/// What the window is told about a drop: its id and the items' display names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub drop_id: String,
    pub names: Vec<String>,
}

fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

impl Transfers {
    /// Keeps the real paths of a drop under a new id; `None` for an empty drop.
    pub fn add_drop(&self, paths: Vec<PathBuf>) -> Option<Dropped> {
        if paths.is_empty() {
            return None;
        }
        let names = paths.iter().map(|p| display_name(p)).collect();
        let (mut reg, now) = self.registry();
        let drop_id = reg.new_id("drop");
        reg.drops.put(drop_id.clone(), paths, now);
        Some(Dropped { drop_id, names })
    }

    /// The paths of a drop, left in place.
    pub fn dropped(&self, drop_id: &str) -> Option<Vec<PathBuf>> {
        self.registry().0.drops.get(drop_id).cloned()
    }

    /// The paths of a drop, taken (a drop is used once); `again` says what to drop again.
    pub fn take_drop(&self, drop_id: &str, again: &str) -> Result<Vec<PathBuf>> {
        self.registry()
            .0
            .drops
            .take(drop_id)
            .ok_or_else(|| Error::not_found(format!("that drop is gone; drop {again} again")))
    }

    /// Names of a drop that already exist in `dir` (for the replace / skip / keep both choice).
    pub async fn drop_conflicts(
        &self,
        berth: &Berth,
        bot: &str,
        drop_id: &str,
        dir: &str,
    ) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .dropped(drop_id)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        berth.file_existing_names(bot, dir, &names).await
    }

    /// Uploads what was dropped into `dest_dir`, cancellable under `transfer_id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_dropped(
        &self,
        berth: &Berth,
        bot: &str,
        drop_id: &str,
        transfer_id: &str,
        dest_dir: &str,
        on_exists: OnExists,
        emit: Emit,
    ) -> Result<TransferSummary> {
        let paths = self.take_drop(drop_id, "the files")?;
        let running = self.start(transfer_id);
        berth
            .upload(bot, &paths, dest_dir, on_exists, running.token(), emit)
            .await
    }

    /// Downloads `paths` to `dest`, cancellable under `transfer_id`.
    pub async fn download(
        &self,
        berth: &Berth,
        bot: &str,
        paths: &[String],
        dest: &Path,
        transfer_id: &str,
        emit: Emit,
    ) -> Result<TransferSummary> {
        let running = self.start(transfer_id);
        berth
            .download(bot, paths, dest, running.token(), emit)
            .await
    }

    /// Starts a chunked upload of `name` into `dir`; its id, or `None` when the name exists and
    /// `on_exists` is `Skip`.
    pub async fn upload_begin(
        &self,
        berth: &Berth,
        bot: &str,
        dir: &str,
        name: &str,
        on_exists: OnExists,
    ) -> Result<Option<String>> {
        let Some(pipe) = berth.upload_pipe(bot, dir, name, on_exists).await? else {
            return Ok(None);
        };
        let (mut reg, now) = self.registry();
        let id = reg.new_id("upload");
        let shared = Arc::new(tokio::sync::Mutex::new(Some(pipe)));
        reg.pipes.put(id.clone(), shared, now);
        Ok(Some(id))
    }

    /// Writes one chunk of upload `id`.
    pub async fn upload_chunk(&self, id: &str, data: &[u8]) -> Result<()> {
        let pipe = self.pipe(id)?;
        let mut pipe = pipe.lock().await;
        let r = match pipe.as_mut() {
            Some(p) => p.write(data).await,
            None => Err(no_upload()),
        };
        let (mut reg, now) = self.registry();
        reg.pipes.touch(id, now);
        r
    }

    /// Commits (`abort = false`) or abandons upload `id`.
    pub async fn upload_end(&self, id: &str, abort: bool) -> Result<Option<SavedFile>> {
        let pipe = self.registry().0.pipes.take(id).ok_or_else(no_upload)?;
        let pipe = pipe.lock().await.take().ok_or_else(no_upload)?;
        if abort {
            drop(pipe);
            return Ok(None);
        }
        Ok(Some(pipe.finish().await?))
    }

    fn pipe(&self, id: &str) -> Result<super::SharedPipe> {
        let (mut reg, now) = self.registry();
        reg.pipes.touch(id, now);
        reg.pipes.get(id).cloned().ok_or_else(no_upload)
    }

    /// Watches `paths` until [`Transfers::cancel`] of the returned id (or until `emit` returns
    /// false: nobody listens any more). Runs in the background; must be called on a tokio
    /// runtime.
    pub fn watch(
        &self,
        berth: &Berth,
        bot: &str,
        paths: Vec<String>,
        emit: impl Fn(FilesChanged) -> bool + Send + 'static,
    ) -> String {
        let id = self.registry().0.new_id("watch");
        let running = self.start(&id);
        let (berth, bot) = (berth.clone(), bot.to_string());
        tokio::spawn(async move {
            let token = running.token().clone();
            if let Err(e) = berth.file_watch(&bot, &paths, token, emit).await {
                tracing::debug!(error = %e.message, "watch ended");
            }
            drop(running);
        });
        id
    }
}

fn no_upload() -> Error {
    Error::not_found("no such upload")
}

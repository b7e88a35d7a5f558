//! Versions kept as archives of `/data`, for a backend without native snapshots (Apple
//! Container) or when the user chose them (the `archive_versions` setting).
//!
//! A version is `<data dir>/versions/<bot>/vN.tar.gz`, written by the data export (temp file,
//! fsync, rename: a crash leaves the complete archive or none). Its row's `snapshot` is
//! `archive:vN.tar.gz`, so each version keeps the kind it was made with when the setting
//! changes. The version the current state builds on is in `current` next to the archives
//! (written the same way). Rollback is an import that replaces `/data` (validated before
//! anything changes, applied in one exchange). Only `/data` is captured: whatever the bot
//! changed elsewhere in its container is not in a version, and the list says so.

use std::path::PathBuf;

use berth_runtime::{CancellationToken, FileChange, Runtime};
use berth_store::VersionRow;

use super::listing;
use crate::data::ImportOptions;
use crate::model::WorkspaceState;
use crate::versions::{RollbackResult, VersionInfo, VersionList, VersionSource};
use crate::{Berth, Error, Result};

/// Marks a version row kept as an archive (followed by the archive's file name).
pub(super) const PREFIX: &str = "archive:";
/// Shown with every archive version list.
const ONLY_DATA: &str =
    "Versions are archives of /data here: changes elsewhere in the workspace are not captured.";

impl Berth {
    /// Whether this bot's new versions are archives: the backend has no snapshots, or the user
    /// chose archives.
    pub(super) fn archive_mode(&self, rt: &dyn Runtime) -> Result<bool> {
        Ok(!rt.capabilities().native_versions || self.settings()?.archive_versions)
    }

    fn versions_dir(&self, bot: &str) -> PathBuf {
        self.inner.paths.data_dir.join("versions").join(bot)
    }

    /// The archive of a version row, when it is one (never a path outside the bot's folder:
    /// the name is checked to be `vN.tar.gz`).
    fn archive_of(&self, row: &VersionRow) -> Option<PathBuf> {
        let file = row.snapshot.strip_prefix(PREFIX)?;
        (file == archive_name(row.number)).then(|| self.versions_dir(&row.bot).join(file))
    }

    fn current_archive_version(&self, bot: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.versions_dir(bot).join("current")).ok()?;
        text.trim().parse().ok()
    }

    fn set_current_archive_version(&self, bot: &str, version: Option<u32>) -> Result<()> {
        let path = self.versions_dir(bot).join("current");
        let text = version.map(|v| v.to_string()).unwrap_or_default();
        crate::paths::write_private_atomically(&path, text.as_bytes())
            .map_err(|e| Error::internal(format!("recording the current version: {e}")))
    }

    /// The list, from the rows and the archives on disk.
    pub(super) fn archive_list(&self, bot: &str) -> Result<VersionList> {
        let rows = self.inner.store.list_versions(bot)?;
        let current = self.current_archive_version(bot);
        let mut versions: Vec<VersionInfo> = rows
            .iter()
            .map(|r| {
                let archive = self.archive_of(r);
                let size = archive
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok())
                    .map(|m| m.len());
                // A snapshot version from before the setting changed keeps its own state.
                let missing = if archive.is_some() {
                    size.is_none()
                } else {
                    r.missing
                };
                super::tree::info_of(r, size, r.parent, current == Some(r.number), missing)
            })
            .collect();
        super::tree::link_children(&mut versions);
        Ok(VersionList {
            available: true,
            unavailable_reason: None,
            current,
            unsaved_bytes: None,
            versions,
            only_data: Some(ONLY_DATA.into()),
        })
    }

    /// Saves `/data` of the running workspace as the next version; returns its number.
    pub(super) async fn archive_save(
        &self,
        bot: &str,
        name: Option<&str>,
        source: VersionSource,
    ) -> Result<u32> {
        let number = self.inner.store.next_version_number(bot)?;
        let file = archive_name(number);
        let path = self.versions_dir(bot).join(&file);
        crate::paths::create_private_dir(&self.versions_dir(bot))
            .map_err(|e| Error::internal(format!("creating the versions folder: {e}")))?;
        self.export_data(bot, &path, &|_| {}, &CancellationToken::new())
            .await
            .map_err(|e| e.context("saving /data as a version"))?;
        let parent = self.current_archive_version(bot);
        let added = self.inner.store.add_version(
            bot,
            number,
            name,
            &format!("{PREFIX}{file}"),
            parent,
            source.as_str(),
        );
        if let Err(e) = added {
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        self.set_current_archive_version(bot, Some(number))?;
        Ok(number)
    }

    /// Replaces `/data` with version `row`'s archive, saving the current state first when
    /// `save`. The caller holds the bot's lock; a stopped workspace is started for it and
    /// stopped again.
    pub(super) async fn archive_rollback(
        &self,
        rt: &dyn Runtime,
        bot: &str,
        row: &VersionRow,
        save: bool,
    ) -> Result<RollbackResult> {
        let version = row.number;
        let archive = self.existing_archive(row)?;
        let id = &self.workspace_row_v(bot)?.container_id;
        let was_running = rt.status(id).await?.running;
        if !was_running {
            self.start_locked(rt, bot)
                .await
                .map_err(|e| e.context("starting the workspace to roll /data back"))?;
        }
        let result = async {
            let saved = if save {
                let name = format!("before rollback to v{version}");
                self.archive_save_if_changed(bot, &name).await?
            } else {
                None
            };
            let opts = ImportOptions {
                replace: true,
                ..Default::default()
            };
            self.import_data(bot, &archive, &opts, &|_| {}, &CancellationToken::new())
                .await
                .map_err(|e| e.context(format!("restoring v{version}")))?;
            self.set_current_archive_version(bot, Some(version))?;
            Ok::<_, Error>(saved)
        }
        .await;
        if !was_running {
            rt.stop(id, super::STOP_GRACE).await?;
            self.set_state(bot, WorkspaceState::Stopped, None)?;
        }
        let saved = result?;
        Ok(RollbackResult {
            rolled_back_to: version,
            saved,
            state: if was_running {
                WorkspaceState::Running
            } else {
                WorkspaceState::Stopped
            },
        })
    }

    /// Saves a "before rollback" version unless `/data` equals the current version (which
    /// would only add a duplicate).
    async fn archive_save_if_changed(&self, bot: &str, name: &str) -> Result<Option<u32>> {
        let number = self
            .archive_save(bot, Some(name), VersionSource::BeforeRollback)
            .await?;
        let Some(previous) = self.previous_current(bot, number)? else {
            return Ok(Some(number));
        };
        let new_row = self.version_row(bot, number)?;
        let (a, b) = (
            self.existing_archive(&new_row)?,
            self.existing_archive(&previous)?,
        );
        let same = tokio::task::spawn_blocking(move || {
            Ok::<_, Error>(listing::diff(&listing_of(&a)?, &listing_of(&b)?, 1).is_empty())
        })
        .await
        .map_err(Error::internal)??;
        if !same {
            return Ok(Some(number));
        }
        self.archive_delete(&new_row)?;
        self.set_current_archive_version(bot, Some(previous.number))?;
        Ok(None)
    }

    /// The version that was current before `number` was saved, if its archive exists.
    fn previous_current(&self, bot: &str, number: u32) -> Result<Option<VersionRow>> {
        let row = self.version_row(bot, number)?;
        let Some(parent) = row.parent else {
            return Ok(None);
        };
        Ok(self
            .inner
            .store
            .get_version(bot, parent)?
            .filter(|r| self.archive_of(r).is_some_and(|p| p.is_file())))
    }

    /// Removes a version's archive and row. Archives are whole copies: nothing builds on one.
    pub(super) fn archive_delete(&self, row: &VersionRow) -> Result<()> {
        if let Some(path) = self.archive_of(row) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::internal(format!("deleting {}: {e}", path.display()))),
            }
        }
        self.inner.store.delete_version(&row.bot, row.number)?;
        if self.current_archive_version(&row.bot) == Some(row.number) {
            self.set_current_archive_version(&row.bot, None)?;
        }
        Ok(())
    }

    /// Changes since version `row`: its archive's listing against a fresh archive of `/data`
    /// (written beside the versions and removed again).
    pub(super) async fn archive_changes(
        &self,
        bot: &str,
        row: &VersionRow,
    ) -> Result<Vec<FileChange>> {
        let then_path = self.existing_archive(row)?;
        let now_path = self
            .versions_dir(bot)
            .join(format!(".now-{}.tar.gz", std::process::id()));
        self.export_data(bot, &now_path, &|_| {}, &CancellationToken::new())
            .await
            .map_err(|e| e.context("reading /data now"))?;
        let listed = tokio::task::spawn_blocking(move || {
            let r = (|| Ok::<_, Error>((listing_of(&then_path)?, listing_of(&now_path)?)))();
            let _ = std::fs::remove_file(&now_path);
            r
        })
        .await
        .map_err(Error::internal)?;
        let (then, now) = listed?;
        Ok(listing::diff(&then, &now, super::MAX_CHANGES))
    }

    /// Removes every archive of a bot whose workspace is deleted (with its version rows).
    pub(crate) fn delete_archive_versions(&self, bot: &str) {
        let _ = std::fs::remove_dir_all(self.versions_dir(bot));
    }

    /// Marks archive versions whose file vanished as missing, and unmarks those back.
    pub(super) fn reconcile_archive_versions(&self, bot: &str) -> Result<()> {
        for r in self.inner.store.list_versions(bot)? {
            let Some(path) = self.archive_of(&r) else {
                continue;
            };
            let exists = path.is_file();
            if exists == r.missing {
                self.inner
                    .store
                    .set_version_missing(bot, r.number, !exists)?;
            }
        }
        Ok(())
    }

    fn existing_archive(&self, row: &VersionRow) -> Result<PathBuf> {
        let v = row.number;
        let path = self.archive_of(row).ok_or_else(|| {
            Error::conflict(format!(
                "v{v} is a snapshot of the container backend, not an archive of /data"
            ))
        })?;
        if !path.is_file() {
            return Err(Error::conflict(format!(
                "v{v}'s archive {} no longer exists; it cannot be restored",
                path.display()
            )));
        }
        Ok(path)
    }
}

fn archive_name(number: u32) -> String {
    format!("v{number}.tar.gz")
}

fn listing_of(path: &std::path::Path) -> Result<listing::Listing> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::internal(format!("opening {}: {e}", path.display())))?;
    listing::list(std::io::BufReader::new(f))
        .map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))
}

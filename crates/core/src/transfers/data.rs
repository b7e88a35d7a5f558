//! Data transfers by id: archives picked in a dialog or dropped (kept here under an archive id
//! between the preview and the import), and cancellable exports and imports of `/data`.

use std::path::{Path, PathBuf};

use super::Transfers;
use crate::data::{ArchivePreview, ExportReport, ImportOptions, ImportReport, ProgressFn};
use crate::{Berth, Error, Result};

fn is_targz(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

impl Transfers {
    /// Validates the archive, counts conflicts with `/data` and keeps it under a new id.
    pub async fn preview_archive(
        &self,
        berth: &Berth,
        bot: &str,
        path: PathBuf,
    ) -> Result<ArchivePreview> {
        if !is_targz(&path) {
            return Err(Error::invalid(format!(
                "{} is not a .tar.gz or .tgz archive",
                path.display()
            )));
        }
        let max = crate::data::validate::DEFAULT_MAX_EXPANDED;
        let s = berth.inspect_archive(&path, max).await?;
        let conflicts = berth.data_conflicts(bot, &s.paths).await?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let (mut reg, now) = self.registry();
        let archive_id = reg.new_id("archive");
        reg.archives.put(archive_id.clone(), path, now);
        Ok(ArchivePreview {
            archive_id,
            name,
            entries: s.entries,
            files: s.files,
            dirs: s.dirs,
            links: s.links,
            bytes: s.bytes,
            conflicts,
        })
    }

    /// Previews the one .tar.gz of a drop.
    pub async fn preview_dropped_archive(
        &self,
        berth: &Berth,
        bot: &str,
        drop_id: &str,
    ) -> Result<ArchivePreview> {
        let paths = self.take_drop(drop_id, "the archive")?;
        let [path] = <[PathBuf; 1]>::try_from(paths)
            .map_err(|_| Error::invalid("drop one .tar.gz archive to import it"))?;
        self.preview_archive(berth, bot, path).await
    }

    /// Imports a previewed archive into `/data` (merge, or `replace`), all-or-nothing,
    /// cancellable under `transfer_id`. The archive id stays valid until an import succeeds.
    pub async fn import_archive(
        &self,
        berth: &Berth,
        bot: &str,
        archive_id: &str,
        replace: bool,
        transfer_id: &str,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let path = self
            .registry()
            .0
            .archives
            .get(archive_id)
            .cloned()
            .ok_or_else(|| Error::not_found("that archive is gone; choose it again"))?;
        let running = self.start(transfer_id);
        let opts = ImportOptions {
            replace,
            ..Default::default()
        };
        let r = berth
            .import_data(bot, &path, &opts, progress, running.token())
            .await?;
        self.registry().0.archives.take(archive_id);
        Ok(r.into())
    }

    /// Exports `/data` to `dest`, cancellable under `transfer_id`.
    pub async fn export(
        &self,
        berth: &Berth,
        bot: &str,
        dest: &Path,
        transfer_id: &str,
        progress: ProgressFn<'_>,
    ) -> Result<ExportReport> {
        let running = self.start(transfer_id);
        berth
            .export_data(bot, dest, progress, running.token())
            .await
    }
}

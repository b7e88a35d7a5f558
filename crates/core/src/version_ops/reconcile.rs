//! Reconcile at open: containerd is the truth about which versions exist. A version whose
//! snapshot vanished is marked missing (and shown so), one that reappeared is unmarked, and
//! labelled versions the database does not know (e.g. after it was removed) are adopted.

use berth_runtime::{ErrorKind, SnapshotInfo, SnapshotKind, WorkspaceSnapshots};
use berth_store::{VersionRow, WorkspaceRow};

use crate::{Berth, Result};

impl Berth {
    /// Reconciles every workspace's versions with the runtime (and the archive versions of
    /// backends without native snapshots with their files).
    pub async fn reconcile_versions(&self) -> Result<()> {
        let rt = self.runtime()?;
        let workspaces = self.inner.store.list_workspaces()?;
        for w in &workspaces {
            self.reconcile_archive_versions(&w.bot)?;
        }
        if !rt.capabilities().native_versions {
            return Ok(());
        }
        let ids: Vec<String> = workspaces.iter().map(|w| w.container_id.clone()).collect();
        let mut found: std::collections::HashMap<String, WorkspaceSnapshots> = rt
            .repair_and_list_versions(&ids)
            .await?
            .into_iter()
            .map(|f| (f.id.clone(), f))
            .collect();
        for w in &workspaces {
            if let Some(f) = found.remove(&w.container_id) {
                self.reconcile_snapshots(w, f)?;
            }
        }
        Ok(())
    }

    /// One workspace's native versions: the repairs of interrupted version operations
    /// recorded, then the rows matched with the snapshots. A workspace whose container is gone
    /// is skipped.
    fn reconcile_snapshots(&self, w: &WorkspaceRow, found: WorkspaceSnapshots) -> Result<()> {
        match found.repairs {
            Ok(done) => {
                for what in done {
                    self.event(&w.bot, "version-repaired", what);
                }
            }
            Err(e) => tracing::warn!(bot = %w.bot, error = %e, "repairing versions"),
        }
        let snaps = match found.snapshots {
            Ok(s) => s,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let rows = self.inner.store.list_versions(&w.bot)?;
        self.mark_missing(&w.bot, &rows, &snaps)?;
        self.adopt_unknown(&w.bot, &rows, &snaps)
    }

    /// Marks the rows whose snapshot vanished, and unmarks those whose snapshot is back.
    fn mark_missing(&self, bot: &str, rows: &[VersionRow], snaps: &[SnapshotInfo]) -> Result<()> {
        for r in rows {
            let exists = snaps.iter().any(|s| s.name == r.snapshot);
            if exists != r.missing {
                continue;
            }
            self.inner
                .store
                .set_version_missing(bot, r.number, !exists)?;
            let what = if exists {
                "is back"
            } else {
                "is missing: its snapshot vanished from containerd"
            };
            self.event(bot, "version-missing", format!("v{} {what}", r.number));
        }
        Ok(())
    }

    /// Adds a row for each committed snapshot labelled as a version that no row names.
    fn adopt_unknown(&self, bot: &str, rows: &[VersionRow], snaps: &[SnapshotInfo]) -> Result<()> {
        for s in snaps.iter().filter(|s| s.kind == SnapshotKind::Committed) {
            let Some(number) = s.version() else { continue };
            if rows
                .iter()
                .any(|r| r.snapshot == s.name || r.number == number)
            {
                continue;
            }
            let name = s
                .labels
                .get(berth_runtime::LABEL_VERSION_NAME)
                .map(String::as_str);
            let source = s
                .labels
                .get(berth_runtime::LABEL_VERSION_SOURCE)
                .map_or("adopted", String::as_str);
            let parent = s
                .parent
                .as_ref()
                .and_then(|p| snaps.iter().find(|x| &x.name == p))
                .and_then(SnapshotInfo::version);
            self.inner
                .store
                .add_version(bot, number, name, &s.name, parent, source)?;
            self.event(
                bot,
                "version-adopted",
                format!("found v{number} in containerd"),
            );
        }
        Ok(())
    }
}

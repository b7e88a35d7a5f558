//! Versions of a bot's workspace: save (snapshot), list (a tree, [`tree`]), rollback, rename,
//! delete, changes since a version, and reconcile with containerd at open ([`reconcile`]).
//! Operations that change a workspace hold its per-bot lock, so two snapshots cannot
//! interleave; the task is stopped around every commit (committing the layer of a running task
//! breaks the container) and started again when it ran before.

use std::time::{Duration, Instant};

use berth_runtime::{Runtime, VersionLabels};
use berth_store::VersionRow;

use crate::model::{ErrorCode, WorkspaceState};
use crate::versions::{
    RollbackResult, VersionChangeKind, VersionChanges, VersionFileChange, VersionInfo, VersionList,
    VersionSource,
};
use crate::{Berth, Error, Result};

mod archive;
mod listing;
mod reconcile;
mod tree;

use tree::{build_list, current_active};

/// "Changes since" lists at most this many paths.
const MAX_CHANGES: usize = 5000;
const STOP_GRACE: Duration = Duration::from_secs(10);
const BRIDGE_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_NAME: usize = 100;
/// What the snapshotter reports for a writable layer with nothing in it (its root directory).
const EMPTY_LAYER: u64 = 4096;

impl Berth {
    /// The workspace's versions with lineage, sizes and the current position.
    pub async fn versions(&self, bot: &str) -> Result<VersionList> {
        let w = self.workspace_row_v(bot)?;
        let rt = self.runtime()?;
        if self.archive_mode(&*rt)? {
            return self.archive_list(bot);
        }
        let snaps = rt.list_snapshots_sized(&w.container_id).await?;
        let rows = self.inner.store.list_versions(bot)?;
        Ok(build_list(&rows, &snaps))
    }

    /// Saves the workspace's current state as a new version; returns it.
    pub async fn snapshot(&self, bot: &str, name: Option<&str>) -> Result<VersionInfo> {
        let name = clean_name(name)?;
        let rt = self.runtime()?;
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let w = self.workspace_row_v(bot)?;
        if self.archive_mode(&*rt)? {
            let number = self
                .archive_save(bot, name.as_deref(), VersionSource::Manual)
                .await?;
            drop(_held);
            return self.saved(bot, number, name).await;
        }
        let t0 = Instant::now();
        let was_running = self.stop_for_commit(&*rt, bot, &w.container_id).await?;
        let t1 = Instant::now();
        let saved = self
            .commit(
                &*rt,
                bot,
                &w.container_id,
                name.as_deref(),
                VersionSource::Manual,
            )
            .await;
        let t2 = Instant::now();
        let restarted = self
            .restart_after(&*rt, bot, &w.container_id, was_running)
            .await;
        let number = saved?;
        restarted?;
        tracing::info!(
            bot,
            version = number,
            stop_ms = (t1 - t0).as_millis() as u64,
            commit_ms = (t2 - t1).as_millis() as u64,
            restart_ms = t2.elapsed().as_millis() as u64,
            "version saved"
        );
        drop(_held);
        self.saved(bot, number, name).await
    }

    async fn saved(&self, bot: &str, number: u32, name: Option<String>) -> Result<VersionInfo> {
        let label = name.unwrap_or_else(|| format!("Version {number}"));
        self.event(bot, "version-saved", format!("saved v{number} ({label})"));
        self.version_info(bot, number).await
    }

    /// Returns the workspace to exactly version `version`. Unless `save` is false, the current
    /// state is first saved as a version ("before rollback to vN"), so nothing is lost.
    pub async fn rollback(&self, bot: &str, version: u32, save: bool) -> Result<RollbackResult> {
        let rt = self.runtime()?;
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let w = self.workspace_row_v(bot)?;
        let target = self.version_row(bot, version)?;
        if target.snapshot.starts_with(archive::PREFIX) {
            let r = self.archive_rollback(&*rt, bot, &target, save).await?;
            self.rolled_back(bot, version, r.saved);
            return Ok(r);
        }
        let rt = self.versions_runtime()?;
        // Sized: the writable layer's size tells whether there is anything to save first.
        let snaps = rt.list_snapshots_sized(&w.container_id).await?;
        if !snaps.iter().any(|s| s.name == target.snapshot) {
            return Err(Error::conflict(format!(
                "v{version}'s snapshot no longer exists in containerd; it cannot be restored"
            )));
        }
        // Saving an unchanged state would only add a duplicate of the current version.
        let active = current_active(&snaps);
        let unchanged =
            active.is_some_and(|a| a.size.is_some_and(|s| s <= EMPTY_LAYER) && a.parent.is_some());
        let t0 = Instant::now();
        let was_running = self.stop_for_commit(&*rt, bot, &w.container_id).await?;
        let t1 = Instant::now();
        let result = async {
            let saved = if save && !unchanged {
                let name = format!("before rollback to v{version}");
                Some(
                    self.commit(
                        &*rt,
                        bot,
                        &w.container_id,
                        Some(&name),
                        VersionSource::BeforeRollback,
                    )
                    .await?,
                )
            } else {
                None
            };
            rt.checkout_version(&w.container_id, &target.snapshot)
                .await?;
            Ok::<_, Error>(saved)
        }
        .await;
        let t2 = Instant::now();
        let restarted = self
            .restart_after(&*rt, bot, &w.container_id, was_running)
            .await;
        let saved = result?;
        restarted?;
        tracing::info!(
            bot,
            version,
            saved = saved.unwrap_or(0),
            stop_ms = (t1 - t0).as_millis() as u64,
            switch_ms = (t2 - t1).as_millis() as u64,
            restart_ms = t2.elapsed().as_millis() as u64,
            "rolled back"
        );
        self.rolled_back(bot, version, saved);
        let state = if was_running {
            WorkspaceState::Running
        } else {
            WorkspaceState::Stopped
        };
        Ok(RollbackResult {
            rolled_back_to: version,
            saved,
            state,
        })
    }

    fn rolled_back(&self, bot: &str, version: u32, saved: Option<u32>) {
        let note = saved
            .map(|n| format!("; the previous state is v{n}"))
            .unwrap_or_default();
        self.event(
            bot,
            "version-rollback",
            format!("rolled back to v{version}{note}"),
        );
    }

    /// Sets (or with `None` / blank clears) a version's name.
    pub async fn rename_version(
        &self,
        bot: &str,
        version: u32,
        name: Option<&str>,
    ) -> Result<VersionInfo> {
        let name = clean_name(name)?;
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        self.workspace_row_v(bot)?;
        self.version_row(bot, version)?;
        self.inner
            .store
            .rename_version(bot, version, name.as_deref())?;
        let label = name.unwrap_or_else(|| format!("Version {version}"));
        self.event(
            bot,
            "version-renamed",
            format!("v{version} is now called {label:?}"),
        );
        drop(_held);
        self.version_info(bot, version).await
    }

    /// Deletes a version. `Conflict` explaining what builds on it when others do.
    pub async fn delete_version(&self, bot: &str, version: u32) -> Result<()> {
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let w = self.workspace_row_v(bot)?;
        let row = self.version_row(bot, version)?;
        if row.snapshot.starts_with(archive::PREFIX) {
            self.archive_delete(&row)?;
            self.event(bot, "version-deleted", format!("deleted v{version}"));
            return Ok(());
        }
        let rt = self.versions_runtime()?;
        let snaps = rt.list_snapshots(&w.container_id).await?;
        if snaps.iter().any(|s| s.name == row.snapshot) {
            let list = build_list(&self.inner.store.list_versions(bot)?, &snaps);
            let v = list.versions.iter().find(|v| v.version == version);
            let mut on_it: Vec<String> = v
                .map(|v| v.children.iter().map(|c| format!("v{c}")).collect())
                .unwrap_or_default();
            if list.current == Some(version) {
                on_it.push("the workspace's current state".into());
            }
            if !on_it.is_empty() {
                return Err(Error::conflict(format!(
                    "v{version} cannot be deleted because {} build{} on it; delete those first{}",
                    on_it.join(" and "),
                    if on_it.len() == 1 { "s" } else { "" },
                    if list.current == Some(version) {
                        " or roll back to another version"
                    } else {
                        ""
                    }
                )));
            }
            rt.delete_version(&w.container_id, &row.snapshot).await?;
        }
        self.inner.store.delete_version(bot, version)?;
        self.event(bot, "version-deleted", format!("deleted v{version}"));
        Ok(())
    }

    /// Files added, modified and deleted since `version`, without stopping the workspace.
    pub async fn version_changes(&self, bot: &str, version: u32) -> Result<VersionChanges> {
        let w = self.workspace_row_v(bot)?;
        let row = self.version_row(bot, version)?;
        let started = Instant::now();
        let changes = if row.snapshot.starts_with(archive::PREFIX) {
            self.archive_changes(bot, &row).await?
        } else {
            if row.missing {
                return Err(Error::conflict(format!(
                    "v{version}'s snapshot no longer exists in containerd"
                )));
            }
            let rt = self.versions_runtime()?;
            rt.changes_since(&w.container_id, &row.snapshot).await?
        };
        let truncated = changes.len() >= MAX_CHANGES;
        let changes = changes
            .into_iter()
            .map(|c| VersionFileChange {
                path: c.path,
                kind: match c.kind {
                    berth_runtime::FileChangeKind::Added => VersionChangeKind::Added,
                    berth_runtime::FileChangeKind::Modified => VersionChangeKind::Modified,
                    berth_runtime::FileChangeKind::Deleted => VersionChangeKind::Deleted,
                },
                is_dir: c.is_dir,
                size: c.size,
            })
            .collect();
        Ok(VersionChanges {
            version,
            changes,
            truncated,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    // ---- helpers ----

    fn versions_runtime(&self) -> Result<std::sync::Arc<dyn Runtime>> {
        let rt = self.runtime()?;
        if !rt.capabilities().native_versions {
            return Err(Error::new(
                ErrorCode::Unsupported,
                "this container backend has no native snapshots yet",
            ));
        }
        Ok(rt)
    }

    fn workspace_row_v(&self, bot: &str) -> Result<berth_store::WorkspaceRow> {
        self.require_bot(bot)?;
        if self.is_creating(bot) {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is being created"
            )));
        }
        self.inner
            .store
            .get_workspace(bot)?
            .ok_or_else(|| Error::not_found(format!("{bot} has no workspace; create one first")))
    }

    fn version_row(&self, bot: &str, version: u32) -> Result<VersionRow> {
        self.inner
            .store
            .get_version(bot, version)?
            .ok_or_else(|| Error::not_found(format!("{bot} has no version {version}")))
    }

    async fn version_info(&self, bot: &str, version: u32) -> Result<VersionInfo> {
        self.versions(bot)
            .await?
            .versions
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| Error::internal(format!("v{version} vanished")))
    }

    /// Stops the task when it runs; returns whether it did.
    async fn stop_for_commit(&self, rt: &dyn Runtime, bot: &str, id: &str) -> Result<bool> {
        let running = rt.status(id).await?.running;
        if running {
            // Recorded first, so the task's exit is not logged as the workspace stopping on its own.
            self.set_state(bot, WorkspaceState::Stopped, None)?;
            if let Err(e) = rt.stop(id, STOP_GRACE).await {
                self.set_state(bot, WorkspaceState::Running, None)?;
                return Err(e.into());
            }
        }
        Ok(running)
    }

    /// Starts the task again (when it ran before) and waits for its bridge; records the state.
    async fn restart_after(
        &self,
        rt: &dyn Runtime,
        bot: &str,
        id: &str,
        was_running: bool,
    ) -> Result<()> {
        if !was_running {
            self.set_state(bot, WorkspaceState::Stopped, None)?;
            return Ok(());
        }
        self.prepare_start(id)?;
        let socket = self.bridge_socket(id);
        let started = async {
            let pid = rt.start(id).await?;
            let peer = crate::bridges::expected_peer(rt, pid);
            crate::bridges::wait_ready(&socket, peer, BRIDGE_TIMEOUT)
                .await
                .map(|_| ())
                .map_err(|e| match e {
                    berth_bridge::BridgeError::NotTheBridge(_) => Error::from(e),
                    e => Error::unavailable(format!("the workspace's bridge did not answer: {e}")),
                })
        }
        .await;
        match started {
            Ok(()) => self.set_state(bot, WorkspaceState::Running, None),
            Err(e) => {
                self.set_state(bot, WorkspaceState::Error, Some(&e.message))?;
                Err(e.context("restarting the workspace after the version operation"))
            }
        }
    }

    /// Commits the (stopped) writable layer as a new version and records it.
    async fn commit(
        &self,
        rt: &dyn Runtime,
        bot: &str,
        id: &str,
        name: Option<&str>,
        source: VersionSource,
    ) -> Result<u32> {
        let number = self.inner.store.next_version_number(bot)?;
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let snapshot = format!("{id}-v{number}-{millis:x}");
        let parent = current_active(&rt.list_snapshots(id).await?)
            .and_then(|a| a.parent.clone())
            .and_then(|p| {
                self.inner
                    .store
                    .list_versions(bot)
                    .ok()?
                    .into_iter()
                    .find(|r| r.snapshot == p)
            })
            .map(|r| r.number);
        let labels = VersionLabels {
            bot: bot.into(),
            number,
            name: name.map(str::to_string),
            source: source.as_str().into(),
        };
        rt.commit_version(id, &snapshot, &labels).await?;
        self.inner
            .store
            .add_version(bot, number, name, &snapshot, parent, source.as_str())?;
        Ok(number)
    }
}

fn clean_name(name: Option<&str>) -> Result<Option<String>> {
    let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "a version name has at most {MAX_NAME} characters and no control characters"
        )));
    }
    Ok(Some(n.to_string()))
}

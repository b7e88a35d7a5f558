//! The `workspaces` table: at most one workspace per bot, keyed by the bot's name
//! and removed with it. It records what Berth last knew of the container; containerd stays the
//! truth and the app reconciles at start.

use crate::error::{is_constraint, Result, StoreError};
use crate::time::now_rfc3339;
use crate::Store;
use rusqlite::{ffi, params, OptionalExtension, Row};

/// A workspace as stored. Timestamps are RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRow {
    pub bot: String,
    pub container_id: String,
    pub image: String,
    pub state: String,
    pub network: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_started_at: Option<String>,
    pub last_stopped_at: Option<String>,
}

impl WorkspaceRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<WorkspaceRow> {
        Ok(WorkspaceRow {
            bot: r.get(0)?,
            container_id: r.get(1)?,
            image: r.get(2)?,
            state: r.get(3)?,
            network: r.get(4)?,
            last_error: r.get(5)?,
            created_at: r.get(6)?,
            updated_at: r.get(7)?,
            last_started_at: r.get(8)?,
            last_stopped_at: r.get(9)?,
        })
    }
}

const COLUMNS: &str = "bot, container_id, image, state, network, last_error, created_at, \
                       updated_at, last_started_at, last_stopped_at";

/// The state names that stamp `last_started_at` / `last_stopped_at`.
const RUNNING: &str = "running";
const STOPPED: &str = "stopped";

fn not_found(bot: &str) -> StoreError {
    StoreError::NotFound(format!("workspace of bot {bot:?}"))
}

impl Store {
    /// Records the bot's workspace, replacing container id, image and state of an existing row
    /// (its `created_at` and `network` are kept; `last_error` is cleared, since the row now
    /// describes a fresh container). `NotFound` when the bot does not exist.
    pub fn upsert_workspace(
        &self,
        bot: &str,
        container_id: &str,
        image: &str,
        state: &str,
    ) -> Result<()> {
        let now = now_rfc3339();
        self.conn()
            .execute(
                "INSERT INTO workspaces (bot, container_id, image, state, created_at, updated_at,
                                         last_started_at, last_stopped_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5,
                         CASE WHEN ?4 = ?6 THEN ?5 END, CASE WHEN ?4 = ?7 THEN ?5 END)
                 ON CONFLICT (bot) DO UPDATE SET
                     container_id = excluded.container_id,
                     image = excluded.image,
                     state = excluded.state,
                     last_error = NULL,
                     updated_at = excluded.updated_at,
                     last_started_at = coalesce(excluded.last_started_at, last_started_at),
                     last_stopped_at = coalesce(excluded.last_stopped_at, last_stopped_at)",
                params![bot, container_id, image, state, now, RUNNING, STOPPED],
            )
            .map_err(|e| {
                if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                    StoreError::NotFound(format!("bot {bot:?}"))
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    /// Sets the workspace's state and last error (`None` clears it) and bumps `updated_at`;
    /// `"running"` also stamps `last_started_at`, `"stopped"` stamps `last_stopped_at`.
    /// `NotFound` when the bot has no workspace.
    pub fn set_workspace_state(
        &self,
        bot: &str,
        state: &str,
        last_error: Option<&str>,
    ) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE workspaces SET
                 state = ?2,
                 last_error = ?3,
                 updated_at = ?4,
                 last_started_at = CASE WHEN ?2 = ?5 THEN ?4 ELSE last_started_at END,
                 last_stopped_at = CASE WHEN ?2 = ?6 THEN ?4 ELSE last_stopped_at END
             WHERE bot = ?1",
            params![bot, state, last_error, now_rfc3339(), RUNNING, STOPPED],
        )?;
        if n == 0 {
            return Err(not_found(bot));
        }
        Ok(())
    }

    /// Sets (or with `None` clears) the network the workspace is attached to.
    /// `NotFound` when the bot has no workspace.
    pub fn set_workspace_network(&self, bot: &str, network: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE workspaces SET network = ?2, updated_at = ?3 WHERE bot = ?1",
            params![bot, network, now_rfc3339()],
        )?;
        if n == 0 {
            return Err(not_found(bot));
        }
        Ok(())
    }

    /// The bot's workspace, or `None`.
    pub fn get_workspace(&self, bot: &str) -> Result<Option<WorkspaceRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM workspaces WHERE bot = ?1"),
                [bot],
                WorkspaceRow::from_row,
            )
            .optional()?)
    }

    /// All workspaces, ordered by bot name.
    pub fn list_workspaces(&self) -> Result<Vec<WorkspaceRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM workspaces ORDER BY bot"))?;
        let rows = stmt.query_map([], WorkspaceRow::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets the bot's workspace (the bot stays). `NotFound` when it has none.
    pub fn delete_workspace(&self, bot: &str) -> Result<()> {
        let n = self
            .conn()
            .execute("DELETE FROM workspaces WHERE bot = ?1", [bot])?;
        if n == 0 {
            return Err(not_found(bot));
        }
        Ok(())
    }
}

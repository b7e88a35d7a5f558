//! The `bots` table: one row per bot, keyed by its name. Renaming cascades to the bot's
//! workspace row (foreign key `ON UPDATE CASCADE`) and rewrites its events, which carry the
//! name as plain text so the activity log survives deletion.

use crate::error::{is_constraint, Result, StoreError};
use crate::time::now_rfc3339;
use crate::Store;
use rusqlite::{ffi, params, OptionalExtension, Row};

/// A bot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotRow {
    pub name: String,
    pub created_at: String,
    /// The image the user last chose for this bot's workspace, if any.
    pub image_pref: Option<String>,
    /// The bot's next workspace shares the host's network (set explicitly by the user).
    pub host_network: bool,
    /// The bot's workspace is kept off private networks (on the bridge network).
    pub block_private_networks: bool,
    pub limits: BotLimits,
    /// Where its workspace keeps skills; `None` is the default (`/data/.skills`).
    pub skills_root: Option<String>,
}

/// A bot's resource limits; `None` takes the runtime's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BotLimits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Thousandths of a CPU.
    pub cpu_millis: Option<u32>,
    pub pids: Option<u32>,
}

impl BotRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<BotRow> {
        Ok(BotRow {
            name: r.get(0)?,
            created_at: r.get(1)?,
            image_pref: r.get(2)?,
            host_network: r.get::<_, Option<String>>(3)?.as_deref() == Some("host"),
            limits: BotLimits {
                memory: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                cpu_millis: r.get(5)?,
                pids: r.get(6)?,
            },
            block_private_networks: r.get(7)?,
            skills_root: r.get(8)?,
        })
    }
}

const COLUMNS: &str =
    "name, created_at, image_pref, network, memory, cpu_millis, pids, block_private, skills_root";

impl Store {
    /// Adds a bot. `AlreadyExists` when the name is taken.
    pub fn create_bot(&self, name: &str) -> Result<BotRow> {
        let row = BotRow {
            name: name.to_owned(),
            created_at: now_rfc3339(),
            image_pref: None,
            host_network: false,
            block_private_networks: false,
            limits: BotLimits::default(),
            skills_root: None,
        };
        self.conn()
            .execute(
                "INSERT INTO bots (name, created_at) VALUES (?1, ?2)",
                params![row.name, row.created_at],
            )
            .map_err(|e| {
                if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
                    StoreError::AlreadyExists(format!("bot {name:?}"))
                } else {
                    e.into()
                }
            })?;
        Ok(row)
    }

    /// All bots, ordered by name.
    pub fn list_bots(&self) -> Result<Vec<BotRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM bots ORDER BY name"))?;
        let rows = stmt.query_map([], BotRow::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One bot, or `None`.
    pub fn get_bot(&self, name: &str) -> Result<Option<BotRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM bots WHERE name = ?1"),
                [name],
                BotRow::from_row,
            )
            .optional()?)
    }

    /// Renames a bot, its workspace row and its events in one transaction.
    /// `NotFound` when `old` is absent, `AlreadyExists` when `new` is taken.
    pub fn rename_bot(&self, old: &str, new: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = |name: &str| -> rusqlite::Result<bool> {
            tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM bots WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
        };
        if !exists(old)? {
            return Err(StoreError::NotFound(format!("bot {old:?}")));
        }
        if old == new {
            return Ok(());
        }
        if exists(new)? {
            return Err(StoreError::AlreadyExists(format!("bot {new:?}")));
        }
        tx.execute(
            "UPDATE bots SET name = ?2 WHERE name = ?1",
            params![old, new],
        )?;
        tx.execute(
            "UPDATE events SET bot = ?2 WHERE bot = ?1",
            params![old, new],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a bot and (by cascade) its workspace row; its events stay. `NotFound` if absent.
    pub fn delete_bot(&self, name: &str) -> Result<()> {
        let n = self
            .conn()
            .execute("DELETE FROM bots WHERE name = ?1", [name])?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {name:?}")));
        }
        Ok(())
    }

    /// Records the image the user prefers for this bot. `NotFound` if the bot is absent.
    pub fn set_image_pref(&self, bot: &str, image: &str) -> Result<()> {
        self.update_image_pref(bot, Some(image))
    }

    /// Forgets the bot's preferred image. `NotFound` if the bot is absent.
    pub fn clear_image_pref(&self, bot: &str) -> Result<()> {
        self.update_image_pref(bot, None)
    }

    /// Chooses the host's network (`true`) or the isolated bridge for the bot's next workspace.
    /// `NotFound` if the bot is absent.
    pub fn set_host_network(&self, bot: &str, host: bool) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE bots SET network = ?2 WHERE name = ?1",
            params![bot, host.then_some("host")],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {bot:?}")));
        }
        Ok(())
    }

    /// Keeps the bot's workspace off private networks (`true`) or not. `NotFound` if the bot is
    /// absent.
    pub fn set_block_private_networks(&self, bot: &str, blocked: bool) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE bots SET block_private = ?2 WHERE name = ?1",
            params![bot, blocked],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {bot:?}")));
        }
        Ok(())
    }

    /// Sets where the bot's workspace keeps its skills (`None`: the default). `NotFound` if the
    /// bot is absent.
    pub fn set_skills_root(&self, bot: &str, root: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE bots SET skills_root = ?2 WHERE name = ?1",
            params![bot, root],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {bot:?}")));
        }
        Ok(())
    }

    /// Records the bot's resource limits. `NotFound` if the bot is absent.
    pub fn set_limits(&self, bot: &str, limits: &BotLimits) -> Result<()> {
        let memory = limits.memory.map(|m| i64::try_from(m).unwrap_or(i64::MAX));
        let n = self.conn().execute(
            "UPDATE bots SET memory = ?2, cpu_millis = ?3, pids = ?4 WHERE name = ?1",
            params![bot, memory, limits.cpu_millis, limits.pids],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {bot:?}")));
        }
        Ok(())
    }

    fn update_image_pref(&self, bot: &str, image: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE bots SET image_pref = ?2 WHERE name = ?1",
            params![bot, image],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("bot {bot:?}")));
        }
        Ok(())
    }
}

//! The `versions` table: the versions of a bot's workspace (numbers, names, sources, lineage)
//! and `version_counters`, which makes numbers max+1 and never reused. containerd holds the
//! snapshots themselves; `missing` records that one vanished (reconcile), so it is shown, not
//! silently dropped.

use crate::error::{is_constraint, Result, StoreError};
use crate::time::now_rfc3339;
use crate::Store;
use rusqlite::{ffi, params, OptionalExtension, Row};

/// A version as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub bot: String,
    pub number: u32,
    pub name: Option<String>,
    pub snapshot: String,
    pub parent: Option<u32>,
    pub source: String,
    pub created_at: String,
    pub missing: bool,
}

impl VersionRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
        Ok(VersionRow {
            bot: r.get(0)?,
            number: r.get(1)?,
            name: r.get(2)?,
            snapshot: r.get(3)?,
            parent: r.get(4)?,
            source: r.get(5)?,
            created_at: r.get(6)?,
            missing: r.get::<_, i64>(7)? != 0,
        })
    }
}

const COLUMNS: &str = "bot, number, name, snapshot, parent, source, created_at, missing";

fn not_found(bot: &str, number: u32) -> StoreError {
    StoreError::NotFound(format!("version {number} of bot {bot:?}"))
}

impl Store {
    /// Hands out the bot's next version number (max+1 over everything ever handed out).
    /// `NotFound` when the bot does not exist.
    pub fn next_version_number(&self, bot: &str) -> Result<u32> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let from_rows: u32 = tx.query_row(
            "SELECT coalesce(max(number), 0) FROM versions WHERE bot = ?1",
            [bot],
            |r| r.get(0),
        )?;
        let last: Option<u32> = tx
            .query_row(
                "SELECT last FROM version_counters WHERE bot = ?1",
                [bot],
                |r| r.get(0),
            )
            .optional()?;
        let next = last.unwrap_or(0).max(from_rows) + 1;
        tx.execute(
            "INSERT INTO version_counters (bot, last) VALUES (?1, ?2)
             ON CONFLICT (bot) DO UPDATE SET last = excluded.last",
            params![bot, next],
        )
        .map_err(|e| {
            if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                StoreError::NotFound(format!("bot {bot:?}"))
            } else {
                e.into()
            }
        })?;
        tx.commit()?;
        Ok(next)
    }

    /// Records a version. `AlreadyExists` when the number is taken.
    pub fn add_version(
        &self,
        bot: &str,
        number: u32,
        name: Option<&str>,
        snapshot: &str,
        parent: Option<u32>,
        source: &str,
    ) -> Result<VersionRow> {
        let created_at = now_rfc3339();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO versions (bot, number, name, snapshot, parent, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![bot, number, name, snapshot, parent, source, created_at],
        )
        .map_err(|e| {
            if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
                StoreError::AlreadyExists(format!("version {number} of bot {bot:?}"))
            } else if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                StoreError::NotFound(format!("bot {bot:?}"))
            } else {
                e.into()
            }
        })?;
        // Keep the counter ahead of adopted numbers too.
        conn.execute(
            "INSERT INTO version_counters (bot, last) VALUES (?1, ?2)
             ON CONFLICT (bot) DO UPDATE SET last = max(last, excluded.last)",
            params![bot, number],
        )?;
        Ok(VersionRow {
            bot: bot.into(),
            number,
            name: name.map(str::to_string),
            snapshot: snapshot.into(),
            parent,
            source: source.into(),
            created_at,
            missing: false,
        })
    }

    /// The bot's versions, by number.
    pub fn list_versions(&self, bot: &str) -> Result<Vec<VersionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM versions WHERE bot = ?1 ORDER BY number"
        ))?;
        let rows = stmt.query_map([bot], VersionRow::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn get_version(&self, bot: &str, number: u32) -> Result<Option<VersionRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM versions WHERE bot = ?1 AND number = ?2"),
                params![bot, number],
                VersionRow::from_row,
            )
            .optional()?)
    }

    /// Sets (or with `None` clears) a version's name. `NotFound` when it does not exist.
    pub fn rename_version(&self, bot: &str, number: u32, name: Option<&str>) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE versions SET name = ?3 WHERE bot = ?1 AND number = ?2",
            params![bot, number, name],
        )?;
        if n == 0 {
            return Err(not_found(bot, number));
        }
        Ok(())
    }

    pub fn set_version_missing(&self, bot: &str, number: u32, missing: bool) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE versions SET missing = ?3 WHERE bot = ?1 AND number = ?2",
            params![bot, number, missing as i64],
        )?;
        if n == 0 {
            return Err(not_found(bot, number));
        }
        Ok(())
    }

    /// Forgets one version. `NotFound` when it does not exist.
    pub fn delete_version(&self, bot: &str, number: u32) -> Result<()> {
        let n = self.conn().execute(
            "DELETE FROM versions WHERE bot = ?1 AND number = ?2",
            params![bot, number],
        )?;
        if n == 0 {
            return Err(not_found(bot, number));
        }
        Ok(())
    }

    /// Forgets every version of the bot (its workspace was deleted); the counter stays, so
    /// numbers are not reused. Returns how many were removed.
    pub fn delete_versions(&self, bot: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM versions WHERE bot = ?1", [bot])?)
    }
}

#[cfg(test)]
mod tests {
    use crate::Store;

    #[test]
    fn numbers_are_max_plus_one_and_never_reused() {
        let s = Store::open_in_memory().unwrap();
        s.create_bot("a").unwrap();
        assert_eq!(s.next_version_number("a").unwrap(), 1);
        s.add_version("a", 1, Some("first"), "snap-1", None, "manual")
            .unwrap();
        assert_eq!(s.next_version_number("a").unwrap(), 2);
        s.add_version("a", 2, None, "snap-2", Some(1), "manual")
            .unwrap();
        s.delete_version("a", 2).unwrap();
        assert_eq!(
            s.next_version_number("a").unwrap(),
            3,
            "a deleted number is not reused"
        );
        s.delete_versions("a").unwrap();
        assert_eq!(s.next_version_number("a").unwrap(), 4);
        assert!(s.next_version_number("nobody").is_err());
    }

    #[test]
    fn rename_missing_and_cascade_on_bot_rename_and_delete() {
        let s = Store::open_in_memory().unwrap();
        s.create_bot("a").unwrap();
        s.add_version("a", 1, None, "snap-1", None, "manual")
            .unwrap();
        assert!(s
            .add_version("a", 1, None, "snap-x", None, "manual")
            .is_err());
        s.rename_version("a", 1, Some("named")).unwrap();
        s.set_version_missing("a", 1, true).unwrap();
        let v = s.get_version("a", 1).unwrap().unwrap();
        assert_eq!((v.name.as_deref(), v.missing), (Some("named"), true));
        assert!(s.rename_version("a", 9, None).is_err());
        s.rename_bot("a", "b").unwrap();
        assert_eq!(s.list_versions("b").unwrap().len(), 1);
        assert_eq!(s.next_version_number("b").unwrap(), 2);
        s.delete_bot("b").unwrap();
        assert!(s.list_versions("b").unwrap().is_empty());
    }
}

//! The `settings` table: a flat string key/value store for user preferences. Interpreting
//! values (and defaults for missing keys) is the caller's business.

use crate::error::Result;
use crate::Store;
use rusqlite::{params, OptionalExtension};

impl Store {
    /// The value for `key`, or `None` when unset.
    pub fn get_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets `key` to `value`, replacing any previous value.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Removes `key`; returns whether it was set.
    pub fn delete_setting(&self, key: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM settings WHERE key = ?1", [key])?
            > 0)
    }

    /// Every setting, ordered by key.
    pub fn all_settings(&self) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, value FROM settings ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

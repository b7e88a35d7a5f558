//! The `events` table: the per-bot activity log (lifecycle changes, errors). Rows carry the
//! bot's name as text with no foreign key, so the log outlives a deleted bot; a rename rewrites
//! them (see `rename_bot`). `id` increases with insertion, so it orders events exactly even
//! when two share a millisecond.

use crate::error::Result;
use crate::time::now_rfc3339;
use crate::Store;
use rusqlite::params;

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub bot: String,
    pub at: String,
    pub kind: String,
    pub message: String,
}

impl Store {
    /// Appends an event for `bot` (which need not exist) and returns it.
    pub fn add_event(&self, bot: &str, kind: &str, message: &str) -> Result<EventRow> {
        let at = now_rfc3339();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO events (bot, at, kind, message) VALUES (?1, ?2, ?3, ?4)",
            params![bot, at, kind, message],
        )?;
        Ok(EventRow {
            id: conn.last_insert_rowid(),
            bot: bot.to_owned(),
            at,
            kind: kind.to_owned(),
            message: message.to_owned(),
        })
    }

    /// The bot's newest `limit` events, newest first.
    pub fn list_events(&self, bot: &str, limit: usize) -> Result<Vec<EventRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, bot, at, kind, message FROM events
             WHERE bot = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![bot, clamp(limit)], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                bot: r.get(1)?,
                at: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// SQLite takes a signed 64-bit LIMIT; `usize::MAX` would not fit.
pub(crate) fn clamp(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

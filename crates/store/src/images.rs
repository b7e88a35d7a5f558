//! The `recent_images` table: image references the user used lately, for suggestions in the
//! create dialog. Touching an image moves it to the front.

use crate::error::Result;
use crate::events::clamp;
use crate::time::now_rfc3339;
use crate::Store;
use rusqlite::params;

impl Store {
    /// Marks `image` as used now.
    pub fn touch_recent_image(&self, image: &str) -> Result<()> {
        // REPLACE deletes and re-inserts, giving the row the highest rowid: that breaks ties
        // between touches within one millisecond in favour of the latest.
        self.conn().execute(
            "INSERT OR REPLACE INTO recent_images (image, used_at) VALUES (?1, ?2)",
            params![image, now_rfc3339()],
        )?;
        Ok(())
    }

    /// Up to `limit` recently used images, newest first.
    pub fn recent_images(&self, limit: usize) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT image FROM recent_images ORDER BY used_at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([clamp(limit)], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets `image`; returns whether it was listed.
    pub fn forget_recent_image(&self, image: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM recent_images WHERE image = ?1", [image])?
            > 0)
    }
}

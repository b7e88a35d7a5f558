//! `berth-store`: Berth's SQLite persistence (bots, workspaces, lifecycle events, settings,
//! recently used images). Synchronous and Tauri-free; callers on an async runtime should use
//! `spawn_blocking` for anything hot.
//!
//! containerd remains the truth for what exists; this database records what Berth
//! knows about it and what the user chose. One module per table; timestamps are RFC 3339 UTC
//! strings with milliseconds, always produced here.

mod bots;
mod error;
mod events;
mod images;
mod mcp_servers;
mod migrate;
mod settings;
pub mod time;
mod versions;
mod workspaces;

pub use bots::{BotLimits, BotRow};
pub use error::{Result, StoreError, StoreErrorKind};
pub use events::EventRow;
pub use mcp_servers::McpServerRow;
pub use migrate::SCHEMA_VERSION;
pub use versions::VersionRow;
pub use workspaces::WorkspaceRow;

use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A handle to the database. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// Creates missing parent directories. Fails with [`StoreError::TooNew`] — without writing
    /// to the file — when a newer Berth wrote it.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        make_private(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Check before anything that writes: switching to WAL rewrites the file header.
        migrate::check_not_too_new(&conn)?;
        // WAL lets readers run while a writer commits; the pragma answers with the new mode.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        Self::finish(conn)
    }

    /// An empty, migrated database that lives only as long as this handle (for tests).
    pub fn open_in_memory() -> Result<Store> {
        Self::finish(Connection::open_in_memory()?)
    }

    fn finish(mut conn: Connection) -> Result<Store> {
        conn.pragma_update(None, "foreign_keys", true)?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        migrate::user_version(&self.conn())
    }

    /// The connection. A panic while holding the lock cannot leave SQLite half-written (every
    /// multi-statement change is a transaction), so a poisoned lock is simply taken over.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;

/// The database and its WAL files readable by their owner only. SQLite gives the WAL and shared
/// memory files the database file's mode, so fixing the database before WAL mode is enough for
/// new files; existing ones (from an older Berth) are fixed too.
fn make_private(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

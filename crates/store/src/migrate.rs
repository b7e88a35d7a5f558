//! Schema migrations: SQL files embedded at build time, applied in order, each in its own
//! transaction, with progress recorded in `PRAGMA user_version` (0 = empty database).
//!
//! A database whose version is newer than any migration this build knows was written by a newer
//! Berth; we refuse it before writing anything, so a downgrade never damages the user's data.

use crate::error::{Result, StoreError};
use rusqlite::{Connection, TransactionBehavior};

/// The migrations, in order; the version after applying `MIGRATIONS[i]` is `i + 1`.
/// Append new files here; never edit or reorder one that has shipped.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_versions.sql"),
    include_str!("../migrations/0003_bot_settings.sql"),
    include_str!("../migrations/0004_block_private_networks.sql"),
    include_str!("../migrations/0005_mcp_servers.sql"),
    include_str!("../migrations/0006_skills_root.sql"),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The database's current schema version.
pub fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Fails with `TooNew` when the database is newer than this build. Reads only.
pub fn check_not_too_new(conn: &Connection) -> Result<()> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Applies every pending migration. Each runs under an IMMEDIATE transaction that re-reads the
/// version, so two processes opening the same file at once cannot both apply one migration.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[current as usize])?;
        // user_version is transactional: it commits or rolls back with the schema change.
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}

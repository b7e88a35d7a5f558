//! The `mcp_servers` table: per bot, the MCP servers to run inside its workspace.

use crate::error::{is_constraint, Result, StoreError};
use crate::Store;
use rusqlite::{ffi, params, Row};

/// An in-workspace MCP server as stored; `args` and `env` are JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerRow {
    pub bot: String,
    pub name: String,
    pub command: String,
    pub args: String,
    pub env: String,
    pub cwd: Option<String>,
}

impl McpServerRow {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<McpServerRow> {
        Ok(McpServerRow {
            bot: r.get(0)?,
            name: r.get(1)?,
            command: r.get(2)?,
            args: r.get(3)?,
            env: r.get(4)?,
            cwd: r.get(5)?,
        })
    }
}

impl Store {
    /// The bot's servers, by name.
    pub fn list_mcp_servers(&self, bot: &str) -> Result<Vec<McpServerRow>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT bot, name, command, args, env, cwd FROM mcp_servers WHERE bot = ?1 ORDER BY name",
        )?;
        let rows = st.query_map([bot], McpServerRow::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Adds servers in one transaction; with `replace`, a server of the same name is replaced,
    /// otherwise it is `AlreadyExists` and nothing is written. `NotFound` when the bot does
    /// not exist.
    pub fn put_mcp_servers(&self, servers: &[McpServerRow], replace: bool) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for s in servers {
            let verb = if replace {
                "INSERT OR REPLACE"
            } else {
                "INSERT"
            };
            tx.execute(
                &format!("{verb} INTO mcp_servers (bot, name, command, args, env, cwd) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![s.bot, s.name, s.command, s.args, s.env, s.cwd],
            )
            .map_err(|e| {
                if is_constraint(&e, ffi::SQLITE_CONSTRAINT_FOREIGNKEY) {
                    StoreError::NotFound(format!("bot {:?}", s.bot))
                } else if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) {
                    StoreError::AlreadyExists(format!("MCP server {:?} of bot {:?}", s.name, s.bot))
                } else {
                    e.into()
                }
            })?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a server; `NotFound` when there is none of that name.
    pub fn delete_mcp_server(&self, bot: &str, name: &str) -> Result<()> {
        let n = self.conn().execute(
            "DELETE FROM mcp_servers WHERE bot = ?1 AND name = ?2",
            params![bot, name],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!(
                "MCP server {name:?} of bot {bot:?}"
            )));
        }
        Ok(())
    }
}

//! Berth for agents: `berth mcp serve BOT`, an MCP server (the official Rust SDK, `rmcp`) that
//! gives a local agent — Claude Desktop, Claude Code, Cursor — the bot's workspace: its files,
//! commands and skills.

mod capture;
mod probe;
mod proxied;
pub mod proxy;
pub mod schema;
mod server;
mod text;
mod tools;

pub use probe::probe;
pub use server::{serve_stdio, BerthMcp, Opener, ServeOptions};

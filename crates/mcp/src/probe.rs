//! Trying an in-workspace MCP server: the app's "probe" and `berth mcp probe`.

use std::sync::Arc;

use berth_core::mcp_servers::{McpProbe, McpToolInfo};
use berth_core::Berth;

use crate::proxy::start;

/// Starts `name` of the bot's servers, lists its tools and stops it: the app's and
/// `berth mcp probe`'s check that a server works.
pub async fn probe(berth: &Berth, bot: &str, name: &str) -> berth_core::Result<McpProbe> {
    let server = berth
        .mcp_servers(bot)?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| berth_core::Error::not_found(format!("{bot} has no MCP server {name:?}")))?;
    let started = std::time::Instant::now();
    let r = start(berth, bot, &server, Arc::new(|| {})).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(match r {
        Ok(run) => McpProbe {
            name: name.to_string(),
            ok: true,
            error: None,
            tools: run
                .tools()
                .iter()
                .map(|t| McpToolInfo {
                    name: t.name.to_string(),
                    description: t.description.as_deref().unwrap_or("").to_string(),
                    read_only: t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true),
                })
                .collect(),
            stderr: run.stderr.lines(),
            elapsed_ms,
        },
        Err(e) => McpProbe {
            name: name.to_string(),
            ok: false,
            error: Some(e),
            tools: vec![],
            stderr: vec![],
            elapsed_ms,
        },
    })
}

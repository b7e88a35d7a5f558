//! Agents: the configuration to paste into a local agent, and the bot's in-workspace MCP
//! servers (list, add or replace, remove, import, probe). Each command is one core call.

use berth_core::mcp_servers::{self, AgentConfig, McpProbe, McpServer};
use berth_core::BotName;
use tauri::State;

use crate::error::IpcResult;
use crate::AppState;

/// `berth` next to the app's executable: where the package installs both (`/usr/bin`), and
/// where a build puts both (`target/<profile>`).
#[tauri::command]
pub async fn agent_config(state: State<'_, AppState>, bot: BotName) -> IpcResult<AgentConfig> {
    state.berth.check_bot(&bot)?;
    let exe = std::env::current_exe().map_err(|e| berth_core::Error::internal(e.to_string()))?;
    let berth = exe.with_file_name("berth");
    Ok(mcp_servers::agent_config(
        &bot,
        &berth,
        &crate::options().agent_env(),
    ))
}

#[tauri::command]
pub async fn mcp_server_list(
    state: State<'_, AppState>,
    bot: BotName,
) -> IpcResult<Vec<McpServer>> {
    Ok(state.berth.mcp_servers(&bot)?)
}

/// Adds a server; with `replace`, one of the same name is replaced (the editor's save).
#[tauri::command]
pub async fn mcp_server_put(
    state: State<'_, AppState>,
    bot: BotName,
    server: McpServer,
    replace: bool,
) -> IpcResult<()> {
    Ok(state.berth.mcp_servers_add(&bot, &[server], replace)?)
}

#[tauri::command]
pub async fn mcp_server_delete(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
) -> IpcResult<()> {
    Ok(state.berth.mcp_server_remove(&bot, &name)?)
}

/// Adds every server of a pasted `{"mcpServers": …}` configuration (all or none).
#[tauri::command]
pub async fn mcp_server_import(
    state: State<'_, AppState>,
    bot: BotName,
    json: String,
    replace: bool,
) -> IpcResult<Vec<McpServer>> {
    let servers = mcp_servers::parse_config(&json)?;
    state.berth.mcp_servers_add(&bot, &servers, replace)?;
    Ok(servers)
}

#[tauri::command]
pub async fn mcp_server_probe(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
) -> IpcResult<McpProbe> {
    Ok(berth_mcp::probe(&state.berth, &bot, &name).await?)
}

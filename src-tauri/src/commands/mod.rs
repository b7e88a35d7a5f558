//! The IPC commands: each parses its arguments, calls one core function and maps the error.
//! Features add their commands in a submodule of their own (`commands/<feature>.rs`).

pub mod agents;
pub mod change_image;
pub mod data;
mod dialog;
pub mod files;
pub mod skills;
pub mod terminal;
pub mod versions;

use berth_core::model::{
    ActivityEntry, BotSummary, CreateEvent, Limits, LimitsApply, NetworkApply, PullPolicy,
    Settings, SystemStatus, WorkspaceInfo, WorkspaceStats,
};
use berth_core::BotName;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::IpcResult;
use crate::AppState;

#[tauri::command]
pub async fn system_status(state: State<'_, AppState>) -> IpcResult<SystemStatus> {
    Ok(state.berth.status().await)
}

#[tauri::command]
pub async fn managed_containerd_start(state: State<'_, AppState>) -> IpcResult<SystemStatus> {
    Ok(state.berth.start_managed_containerd().await?)
}

/// Stops Berth's own containerd with its running workspaces; the status afterwards.
#[tauri::command]
pub async fn managed_containerd_stop(state: State<'_, AppState>) -> IpcResult<SystemStatus> {
    state.berth.stop_managed_containerd().await?;
    Ok(state.berth.status().await)
}

#[tauri::command]
pub async fn settings_get(state: State<'_, AppState>) -> IpcResult<Settings> {
    Ok(state.berth.settings()?)
}

#[tauri::command]
pub async fn settings_set(state: State<'_, AppState>, settings: Settings) -> IpcResult<Settings> {
    Ok(state.berth.set_settings(settings).await?)
}

#[tauri::command]
pub async fn bot_list(state: State<'_, AppState>) -> IpcResult<Vec<BotSummary>> {
    Ok(state.berth.bots()?)
}

#[tauri::command]
pub async fn bot_create(state: State<'_, AppState>, name: String) -> IpcResult<BotSummary> {
    Ok(state.berth.create_bot(&name)?)
}

#[tauri::command]
pub async fn bot_rename(
    state: State<'_, AppState>,
    name: BotName,
    new_name: String,
) -> IpcResult<BotSummary> {
    Ok(state.berth.rename_bot(&name, &new_name)?)
}

#[tauri::command]
pub async fn bot_delete(state: State<'_, AppState>, name: BotName) -> IpcResult<()> {
    Ok(state.berth.delete_bot(&name).await?)
}

/// Gives the bot's next workspace the host's network (`host`) or the isolated bridge.
#[tauri::command]
pub async fn bot_set_network(
    state: State<'_, AppState>,
    bot: BotName,
    host: bool,
) -> IpcResult<()> {
    Ok(state.berth.set_host_network(&bot, host)?)
}

/// Keeps the bot's workspace off private networks, or not; says when it takes effect.
#[tauri::command]
pub async fn bot_set_block_private(
    state: State<'_, AppState>,
    bot: BotName,
    blocked: bool,
) -> IpcResult<NetworkApply> {
    Ok(state
        .berth
        .set_block_private_networks(&bot, blocked)
        .await?)
}

/// Sets the bot's resource limits; says when they take effect.
#[tauri::command]
pub async fn bot_set_limits(
    state: State<'_, AppState>,
    bot: BotName,
    limits: Limits,
) -> IpcResult<LimitsApply> {
    Ok(state.berth.set_limits(&bot, limits).await?)
}

#[tauri::command]
pub async fn workspace_info(state: State<'_, AppState>, bot: BotName) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.info(&bot).await?)
}

/// A running workspace's usage; the CPU share is measured since the previous call.
#[tauri::command]
pub async fn workspace_stats(
    state: State<'_, AppState>,
    bot: BotName,
) -> IpcResult<WorkspaceStats> {
    Ok(state.berth.stats(&bot).await?)
}

/// Progress goes through the channel; the command resolves once the workspace is ready.
#[tauri::command]
pub async fn workspace_create(
    state: State<'_, AppState>,
    bot: BotName,
    image: Option<String>,
    pull_policy: Option<PullPolicy>,
    on_progress: Channel<CreateEvent>,
) -> IpcResult<WorkspaceInfo> {
    let emit = move |event: CreateEvent| {
        let _ = on_progress.send(event);
    };
    Ok(state
        .berth
        .create_workspace(&bot, image.as_deref(), pull_policy, &emit)
        .await?)
}

#[tauri::command]
pub async fn workspace_cancel(state: State<'_, AppState>, bot: BotName) -> IpcResult<()> {
    state.berth.cancel_create(&bot);
    Ok(())
}

#[tauri::command]
pub async fn workspace_start(state: State<'_, AppState>, bot: BotName) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.start(&bot).await?)
}

#[tauri::command]
pub async fn workspace_stop(state: State<'_, AppState>, bot: BotName) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.stop(&bot).await?)
}

#[tauri::command]
pub async fn workspace_delete(state: State<'_, AppState>, bot: BotName) -> IpcResult<()> {
    Ok(state.berth.delete_workspace(&bot).await?)
}

#[tauri::command]
pub async fn activity_list(
    state: State<'_, AppState>,
    bot: BotName,
) -> IpcResult<Vec<ActivityEntry>> {
    Ok(state.berth.activity(&bot)?)
}

#[tauri::command]
pub async fn image_recent(state: State<'_, AppState>) -> IpcResult<Vec<String>> {
    Ok(state.berth.recent_images()?)
}

#[cfg(test)]
mod tests {
    /// A command that names a bot takes a [`berth_core::BotName`], whose check runs while the
    /// arguments are read; a `String` would reach core unchecked.
    #[test]
    fn bot_arguments_are_bot_names() {
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("change_image.rs", include_str!("change_image.rs")),
            ("data.rs", include_str!("data.rs")),
            ("files.rs", include_str!("files.rs")),
            ("terminal.rs", include_str!("terminal.rs")),
            ("versions.rs", include_str!("versions.rs")),
        ];
        for (file, text) in sources {
            let unchecked = concat!("bot: ", "String");
            assert!(!text.contains(unchecked), "{file} takes {unchecked}");
        }
    }
}

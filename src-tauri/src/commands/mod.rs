//! The IPC commands: each parses its arguments, calls one core function and maps the error.
//! Features add their commands in a submodule of their own (`commands/<feature>.rs`).

pub mod change_image;
pub mod data;
mod dialog;
pub mod files;
pub mod terminal;
pub mod versions;

use berth_core::model::{
    ActivityEntry, BotSummary, CreateEvent, PullPolicy, Settings, SystemStatus, WorkspaceInfo,
};
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
    name: String,
    new_name: String,
) -> IpcResult<BotSummary> {
    Ok(state.berth.rename_bot(&name, &new_name)?)
}

#[tauri::command]
pub async fn bot_delete(state: State<'_, AppState>, name: String) -> IpcResult<()> {
    Ok(state.berth.delete_bot(&name).await?)
}

#[tauri::command]
pub async fn workspace_info(state: State<'_, AppState>, bot: String) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.info(&bot).await?)
}

/// Progress goes through the channel; the command resolves once the workspace is ready.
#[tauri::command]
pub async fn workspace_create(
    state: State<'_, AppState>,
    bot: String,
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
pub async fn workspace_cancel(state: State<'_, AppState>, bot: String) -> IpcResult<()> {
    state.berth.cancel_create(&bot);
    Ok(())
}

#[tauri::command]
pub async fn workspace_start(state: State<'_, AppState>, bot: String) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.start(&bot).await?)
}

#[tauri::command]
pub async fn workspace_stop(state: State<'_, AppState>, bot: String) -> IpcResult<WorkspaceInfo> {
    Ok(state.berth.stop(&bot).await?)
}

#[tauri::command]
pub async fn workspace_delete(state: State<'_, AppState>, bot: String) -> IpcResult<()> {
    Ok(state.berth.delete_workspace(&bot).await?)
}

#[tauri::command]
pub async fn activity_list(
    state: State<'_, AppState>,
    bot: String,
) -> IpcResult<Vec<ActivityEntry>> {
    Ok(state.berth.activity(&bot)?)
}

#[tauri::command]
pub async fn image_recent(state: State<'_, AppState>) -> IpcResult<Vec<String>> {
    Ok(state.berth.recent_images()?)
}

//! Versions: save, list, roll back, rename, delete, changes since a version. Each
//! command is one core call.

use berth_core::versions::{RollbackResult, VersionChanges, VersionInfo, VersionList};
use berth_core::BotName;
use tauri::State;

use crate::error::IpcResult;
use crate::AppState;

#[tauri::command]
pub async fn version_list(state: State<'_, AppState>, bot: BotName) -> IpcResult<VersionList> {
    Ok(state.berth.versions(&bot).await?)
}

#[tauri::command]
pub async fn version_save(
    state: State<'_, AppState>,
    bot: BotName,
    name: Option<String>,
) -> IpcResult<VersionInfo> {
    Ok(state.berth.snapshot(&bot, name.as_deref()).await?)
}

#[tauri::command]
pub async fn version_rollback(
    state: State<'_, AppState>,
    bot: BotName,
    version: u32,
    save: bool,
) -> IpcResult<RollbackResult> {
    Ok(state.berth.rollback(&bot, version, save).await?)
}

#[tauri::command]
pub async fn version_rename(
    state: State<'_, AppState>,
    bot: BotName,
    version: u32,
    name: Option<String>,
) -> IpcResult<VersionInfo> {
    Ok(state
        .berth
        .rename_version(&bot, version, name.as_deref())
        .await?)
}

#[tauri::command]
pub async fn version_delete(
    state: State<'_, AppState>,
    bot: BotName,
    version: u32,
) -> IpcResult<()> {
    Ok(state.berth.delete_version(&bot, version).await?)
}

#[tauri::command]
pub async fn version_changes(
    state: State<'_, AppState>,
    bot: BotName,
    version: u32,
) -> IpcResult<VersionChanges> {
    Ok(state.berth.version_changes(&bot, version).await?)
}

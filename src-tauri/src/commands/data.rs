//! Data in and out: export `/data` to a file picked in a native save dialog, import a
//! .tar.gz chosen in a native open dialog or dropped on the window (the Files feature's drop
//! handler; the path stays here under an archive id), kept data of deleted workspaces, and
//! delete keeping data. Progress (bytes) goes through a `Channel`; export/import cancel by id.

use berth_core::data::{ArchivePreview, DataProgress, ExportReport, ImportReport, KeptDataInfo};
use berth_core::BotName;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use super::files::transfers;
use crate::error::IpcResult;
use crate::AppState;

/// Exports `/data` to a file picked in a save dialog; `null` when the dialog was cancelled.
#[tauri::command]
pub async fn data_export<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    transfer_id: String,
    on_progress: Channel<DataProgress>,
) -> IpcResult<Option<ExportReport>> {
    let Some(dest) = super::dialog::save(&app, &format!("{bot}-data.tar.gz")).await? else {
        return Ok(None);
    };
    let progress = move |n| {
        let _ = on_progress.send(n);
    };
    Ok(Some(
        transfers(&app)
            .export(&state.berth, &bot, &dest, &transfer_id, &progress)
            .await?,
    ))
}

/// Cancels a running export or import; false when none runs under that id.
#[tauri::command]
pub async fn data_cancel<R: Runtime>(app: AppHandle<R>, transfer_id: String) -> IpcResult<bool> {
    Ok(transfers(&app).cancel(&transfer_id))
}

/// Opens a file dialog for a .tar.gz and previews it; `null` when cancelled.
#[tauri::command]
pub async fn data_pick_archive<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
) -> IpcResult<Option<ArchivePreview>> {
    let Some(path) = super::dialog::pick_targz(&app).await? else {
        return Ok(None);
    };
    Ok(Some(
        transfers(&app)
            .preview_archive(&state.berth, &bot, path)
            .await?,
    ))
}

/// Previews a .tar.gz dropped on the window (`files://drop`).
#[tauri::command]
pub async fn data_preview_drop<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    drop_id: String,
) -> IpcResult<ArchivePreview> {
    Ok(transfers(&app)
        .preview_dropped_archive(&state.berth, &bot, &drop_id)
        .await?)
}

/// Imports a previewed archive into `/data` (merge, or `replace`), all-or-nothing.
#[tauri::command]
pub async fn data_import<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    archive_id: String,
    replace: bool,
    transfer_id: String,
    on_progress: Channel<DataProgress>,
) -> IpcResult<ImportReport> {
    let progress = move |n| {
        let _ = on_progress.send(n);
    };
    Ok(transfers(&app)
        .import_archive(
            &state.berth,
            &bot,
            &archive_id,
            replace,
            &transfer_id,
            &progress,
        )
        .await?)
}

/// The bot's kept data (from a delete that kept it), if any.
#[tauri::command]
pub async fn data_kept(
    state: State<'_, AppState>,
    bot: BotName,
) -> IpcResult<Option<KeptDataInfo>> {
    Ok(state.berth.kept_data(&bot).as_ref().map(KeptDataInfo::from))
}

/// Deletes the bot's kept data; false when there was none.
#[tauri::command]
pub async fn data_kept_delete(state: State<'_, AppState>, bot: BotName) -> IpcResult<bool> {
    Ok(state.berth.delete_kept_data(&bot)?)
}

/// Restores the kept data into the running workspace (replacing `/data`); false when none.
#[tauri::command]
pub async fn data_restore(
    state: State<'_, AppState>,
    bot: BotName,
    on_progress: Channel<DataProgress>,
) -> IpcResult<bool> {
    Ok(state
        .berth
        .restore_kept_data(&bot, &move |n| {
            let _ = on_progress.send(n);
        })
        .await?)
}

/// Deletes the workspace; with `keep_data` first preserves `/data` (progress in bytes).
#[tauri::command]
pub async fn workspace_delete_keeping(
    state: State<'_, AppState>,
    bot: BotName,
    keep_data: bool,
    on_progress: Channel<DataProgress>,
) -> IpcResult<Option<KeptDataInfo>> {
    let kept = state
        .berth
        .delete_workspace_keeping(&bot, keep_data, &move |n| {
            let _ = on_progress.send(n);
        })
        .await?;
    Ok(kept.as_ref().map(KeptDataInfo::from))
}

//! Files commands: thin calls into `berth_core::files`. Host paths never come from
//! the web view: uploads come from the view's file input as bytes (chunk commands) or from the
//! window's native drop event (real paths, kept in core's [`Transfers`] under a drop id);
//! downloads go to a path the user picks in a native save dialog opened on the Rust side.
//! Progress goes through `Channel`s; transfers and watches are cancelled by id.

use berth_core::BotName;
use std::path::PathBuf;
use std::sync::Arc;

use berth_core::files::{
    DirListing, ExtractSummary, FileInfo, FilesChanged, OnExists, SavedFile, TextFile,
    TransferItem, TransferSummary,
};
use berth_core::transfers::Transfers;
use serde::Serialize;
use tauri::ipc::{Channel, Request, Response};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::error::IpcResult;
use crate::AppState;

/// The app's one transfers registry (drops, chunked uploads, cancel tokens; the Data commands
/// use it too), created on first use with its expiry sweep.
pub(crate) fn transfers<R: Runtime>(app: &AppHandle<R>) -> Transfers {
    if let Some(t) = app.try_state::<Transfers>() {
        return t.inner().clone();
    }
    let t = Transfers::new();
    // Two first calls at once: `manage` keeps the first registry; the other's sweep ends with it.
    tauri::async_runtime::spawn(t.clone().expire_periodically());
    app.manage(t);
    app.state::<Transfers>().inner().clone()
}

fn progress_to(channel: Channel<TransferItem>) -> Arc<dyn Fn(TransferItem) + Send + Sync> {
    Arc::new(move |t| {
        let _ = channel.send(t);
    })
}

/// What the window hears when files are dropped on it (`files://drop`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DroppedFiles {
    /// Pass to `files_upload_dropped`.
    pub drop_id: String,
    /// Display names of the dropped items.
    pub names: Vec<String>,
    /// Where they were dropped, in logical pixels of the window.
    pub x: f64,
    pub y: f64,
}

/// The native drop handler: keeps the real paths under a new id and tells the window.
pub fn on_drop<R: Runtime>(
    app: &AppHandle<R>,
    paths: Vec<PathBuf>,
    x: f64,
    y: f64,
) -> Option<DroppedFiles> {
    let d = transfers(app).add_drop(paths)?;
    let ev = DroppedFiles {
        drop_id: d.drop_id,
        names: d.names,
        x,
        y,
    };
    let _ = app.emit("files://drop", ev.clone());
    Some(ev)
}

/// Handles a window event; only `DragDrop::Drop` matters.
pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &tauri::WindowEvent) {
    if let tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, position }) = event {
        let scale = window.scale_factor().unwrap_or(1.0);
        let p = position.to_logical::<f64>(scale);
        on_drop(window.app_handle(), paths.clone(), p.x, p.y);
    }
}

#[tauri::command]
pub async fn files_list(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
) -> IpcResult<DirListing> {
    Ok(state.berth.file_list(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_stat(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
) -> IpcResult<FileInfo> {
    Ok(state.berth.file_stat(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_read_text(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
) -> IpcResult<TextFile> {
    Ok(state.berth.file_read_text(&bot, &path).await?)
}

/// Raw bytes (image preview) as an `ArrayBuffer`.
#[tauri::command]
pub async fn files_read_bytes(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
) -> IpcResult<Response> {
    Ok(Response::new(
        state.berth.file_read_bytes(&bot, &path).await?,
    ))
}

#[tauri::command]
pub async fn files_save_text(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
    content: String,
    expected_revision: Option<String>,
) -> IpcResult<SavedFile> {
    Ok(state
        .berth
        .file_save_text(&bot, &path, content, expected_revision)
        .await?)
}

#[tauri::command]
pub async fn files_create(
    state: State<'_, AppState>,
    bot: BotName,
    dir: String,
    name: String,
) -> IpcResult<SavedFile> {
    Ok(state.berth.file_create(&bot, &dir, &name).await?)
}

#[tauri::command]
pub async fn files_mkdir(
    state: State<'_, AppState>,
    bot: BotName,
    dir: String,
    name: String,
) -> IpcResult<FileInfo> {
    Ok(state.berth.file_mkdir(&bot, &dir, &name).await?)
}

#[tauri::command]
pub async fn files_rename(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
    new_name: String,
    overwrite: bool,
) -> IpcResult<FileInfo> {
    Ok(state
        .berth
        .file_rename(&bot, &path, &new_name, overwrite)
        .await?)
}

#[tauri::command]
pub async fn files_move(
    state: State<'_, AppState>,
    bot: BotName,
    from: String,
    to: String,
    overwrite: bool,
) -> IpcResult<FileInfo> {
    Ok(state.berth.file_move(&bot, &from, &to, overwrite).await?)
}

#[tauri::command]
pub async fn files_delete(
    state: State<'_, AppState>,
    bot: BotName,
    paths: Vec<String>,
    recursive: bool,
) -> IpcResult<()> {
    Ok(state.berth.file_delete(&bot, &paths, recursive).await?)
}

#[tauri::command]
pub async fn files_extract(
    state: State<'_, AppState>,
    bot: BotName,
    path: String,
) -> IpcResult<ExtractSummary> {
    Ok(state.berth.file_extract(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_existing(
    state: State<'_, AppState>,
    bot: BotName,
    dir: String,
    names: Vec<String>,
) -> IpcResult<Vec<String>> {
    Ok(state.berth.file_existing_names(&bot, &dir, &names).await?)
}

/// Watches `paths` until `files_cancel(id)`; changes go to `on_change`. Returns the id.
#[tauri::command]
pub async fn files_watch<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    paths: Vec<String>,
    on_change: Channel<FilesChanged>,
) -> IpcResult<String> {
    Ok(transfers(&app).watch(&state.berth, &bot, paths, move |ev| {
        on_change.send(ev).is_ok()
    }))
}

/// Stops a watch or cancels a transfer.
#[tauri::command]
pub async fn files_cancel<R: Runtime>(app: AppHandle<R>, id: String) -> IpcResult<()> {
    transfers(&app).cancel(&id);
    Ok(())
}

/// Uploads what was dropped (`files://drop`) into `dest_dir`; folders are walked in core.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn files_upload_dropped<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    drop_id: String,
    transfer_id: String,
    dest_dir: String,
    on_exists: OnExists,
    on_progress: Channel<TransferItem>,
) -> IpcResult<TransferSummary> {
    let emit = progress_to(on_progress);
    Ok(transfers(&app)
        .upload_dropped(
            &state.berth,
            &bot,
            &drop_id,
            &transfer_id,
            &dest_dir,
            on_exists,
            emit,
        )
        .await?)
}

/// Names of a drop that already exist in `dir` (for the replace / skip / keep both choice).
#[tauri::command]
pub async fn files_drop_conflicts<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    drop_id: String,
    dir: String,
) -> IpcResult<Vec<String>> {
    Ok(transfers(&app)
        .drop_conflicts(&state.berth, &bot, &drop_id, &dir)
        .await?)
}

/// Starts a chunked upload from the web view's file input. Returns the upload id, or `null`
/// when the name exists and `on_exists` is `skip`.
#[tauri::command]
pub async fn files_upload_begin<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    dir: String,
    name: String,
    on_exists: OnExists,
) -> IpcResult<Option<String>> {
    Ok(transfers(&app)
        .upload_begin(&state.berth, &bot, &dir, &name, on_exists)
        .await?)
}

/// One chunk of a chunked upload: the raw request body; the id in the `x-upload-id` header.
#[tauri::command]
pub async fn files_upload_chunk<R: Runtime>(
    app: AppHandle<R>,
    request: Request<'_>,
) -> IpcResult<()> {
    let id = request
        .headers()
        .get("x-upload-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| berth_core::Error::invalid("missing x-upload-id"))?;
    let tauri::ipc::InvokeBody::Raw(data) = request.body() else {
        return Err(berth_core::Error::invalid("a chunk must be raw bytes").into());
    };
    Ok(transfers(&app).upload_chunk(id, data).await?)
}

/// Commits (`abort = false`) or abandons a chunked upload.
#[tauri::command]
pub async fn files_upload_end<R: Runtime>(
    app: AppHandle<R>,
    id: String,
    abort: bool,
) -> IpcResult<Option<SavedFile>> {
    Ok(transfers(&app).upload_end(&id, abort).await?)
}

/// Downloads `paths` (one file as is; a folder or several as `.tar.gz`) to a place the user
/// picks in a native save dialog. `null` when the dialog was cancelled.
#[tauri::command]
pub async fn files_download<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    paths: Vec<String>,
    suggested_name: String,
    transfer_id: String,
    on_progress: Channel<TransferItem>,
) -> IpcResult<Option<TransferSummary>> {
    let Some(dest) = super::dialog::save(&app, &suggested_name).await? else {
        return Ok(None);
    };
    let emit = progress_to(on_progress);
    Ok(Some(
        transfers(&app)
            .download(&state.berth, &bot, &paths, &dest, &transfer_id, emit)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use tauri::Listener;

    /// A synthetic native drop: the paths are kept under the announced id, the window hears
    /// `files://drop` with names and position, and an empty drop is ignored.
    #[test]
    fn drop_handler_keeps_paths_and_announces_them() {
        let app = tauri::test::mock_builder()
            .build(tauri::test::mock_context(tauri::test::noop_assets()))
            .unwrap();
        let handle = app.handle().clone();
        let (tx, rx) = mpsc::channel();
        handle.listen("files://drop", move |e| {
            let _ = tx.send(e.payload().to_string());
        });
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a file.txt");
        let folder = dir.path().join("folder");
        std::fs::write(&a, b"x").unwrap();
        std::fs::create_dir(&folder).unwrap();
        let ev = on_drop(&handle, vec![a.clone(), folder.clone()], 12.0, 34.5).expect("handled");
        assert_eq!(ev.names, ["a file.txt", "folder"]);
        assert_eq!((ev.x, ev.y), (12.0, 34.5));
        let kept = transfers(&handle).dropped(&ev.drop_id);
        assert_eq!(kept, Some(vec![a, folder]));
        let payload: serde_json::Value =
            serde_json::from_str(&rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap())
                .unwrap();
        assert_eq!(payload["dropId"], ev.drop_id.as_str());
        assert_eq!(payload["names"][1], "folder");
        assert!(on_drop(&handle, vec![], 0.0, 0.0).is_none());
        let ev2 = on_drop(&handle, vec![dir.path().join("b")], 0.0, 0.0).unwrap();
        assert_ne!(ev2.drop_id, ev.drop_id);
    }
}

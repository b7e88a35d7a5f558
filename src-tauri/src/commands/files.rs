//! Files commands (issue 3): thin calls into `berth_core::files`. Host paths never come from
//! the web view: uploads come from the view's file input as bytes (chunk commands) or from the
//! window's native drop event (real paths, kept here under a drop id); downloads go to a path
//! the user picks in a native save dialog opened on the Rust side. Progress goes through
//! `Channel`s; transfers and watches are cancelled by id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::files::{
    DirListing, ExtractSummary, FileInfo, FilesChanged, OnExists, SavedFile, TextFile, TransferItem, TransferSummary,
    UploadPipe,
};
use berth_core::CancellationToken;
use serde::Serialize;
use tauri::ipc::{Channel, Request, Response};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::error::IpcResult;
use crate::AppState;

/// Transfers, watches, dropped paths and chunked uploads of this app.
#[derive(Default)]
pub struct FilesState {
    next: AtomicU64,
    cancels: Mutex<HashMap<String, CancellationToken>>,
    drops: Mutex<HashMap<String, Vec<PathBuf>>>,
    pipes: tokio::sync::Mutex<HashMap<String, UploadPipe>>,
}

impl FilesState {
    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

fn files_state<R: Runtime>(app: &AppHandle<R>) -> Arc<FilesState> {
    struct Holder(Arc<FilesState>);
    if let Some(h) = app.try_state::<Holder>() {
        return h.0.clone();
    }
    app.manage(Holder(Arc::new(FilesState::default())));
    app.state::<Holder>().0.clone()
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

/// The native drop handler: remembers the real paths under a new id and tells the window.
pub fn on_drop<R: Runtime>(app: &AppHandle<R>, paths: Vec<PathBuf>, x: f64, y: f64) -> Option<DroppedFiles> {
    if paths.is_empty() {
        return None;
    }
    let st = files_state(app);
    let drop_id = st.id("drop");
    let names = paths
        .iter()
        .map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| p.display().to_string()))
        .collect();
    st.drops.lock().unwrap().insert(drop_id.clone(), paths);
    let ev = DroppedFiles { drop_id, names, x, y };
    let _ = app.emit("files://drop", ev.clone());
    Some(ev)
}

/// The real paths of a drop, taken (the Data page imports a dropped .tar.gz; issue 6).
pub(crate) fn take_drop<R: Runtime>(app: &AppHandle<R>, drop_id: &str) -> Option<Vec<PathBuf>> {
    files_state(app).drops.lock().unwrap().remove(drop_id)
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
pub async fn files_list(state: State<'_, AppState>, bot: String, path: String) -> IpcResult<DirListing> {
    Ok(state.berth.file_list(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_stat(state: State<'_, AppState>, bot: String, path: String) -> IpcResult<FileInfo> {
    Ok(state.berth.file_stat(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_read_text(state: State<'_, AppState>, bot: String, path: String) -> IpcResult<TextFile> {
    Ok(state.berth.file_read_text(&bot, &path).await?)
}

/// Raw bytes (image preview) as an `ArrayBuffer`.
#[tauri::command]
pub async fn files_read_bytes(state: State<'_, AppState>, bot: String, path: String) -> IpcResult<Response> {
    Ok(Response::new(state.berth.file_read_bytes(&bot, &path).await?))
}

#[tauri::command]
pub async fn files_save_text(
    state: State<'_, AppState>,
    bot: String,
    path: String,
    content: String,
    expected_revision: Option<String>,
) -> IpcResult<SavedFile> {
    Ok(state.berth.file_save_text(&bot, &path, content, expected_revision).await?)
}

#[tauri::command]
pub async fn files_create(state: State<'_, AppState>, bot: String, dir: String, name: String) -> IpcResult<SavedFile> {
    Ok(state.berth.file_create(&bot, &dir, &name).await?)
}

#[tauri::command]
pub async fn files_mkdir(state: State<'_, AppState>, bot: String, dir: String, name: String) -> IpcResult<FileInfo> {
    Ok(state.berth.file_mkdir(&bot, &dir, &name).await?)
}

#[tauri::command]
pub async fn files_rename(
    state: State<'_, AppState>,
    bot: String,
    path: String,
    new_name: String,
    overwrite: bool,
) -> IpcResult<FileInfo> {
    Ok(state.berth.file_rename(&bot, &path, &new_name, overwrite).await?)
}

#[tauri::command]
pub async fn files_move(state: State<'_, AppState>, bot: String, from: String, to: String, overwrite: bool) -> IpcResult<FileInfo> {
    Ok(state.berth.file_move(&bot, &from, &to, overwrite).await?)
}

#[tauri::command]
pub async fn files_delete(state: State<'_, AppState>, bot: String, paths: Vec<String>, recursive: bool) -> IpcResult<()> {
    Ok(state.berth.file_delete(&bot, &paths, recursive).await?)
}

#[tauri::command]
pub async fn files_extract(state: State<'_, AppState>, bot: String, path: String) -> IpcResult<ExtractSummary> {
    Ok(state.berth.file_extract(&bot, &path).await?)
}

#[tauri::command]
pub async fn files_existing(state: State<'_, AppState>, bot: String, dir: String, names: Vec<String>) -> IpcResult<Vec<String>> {
    Ok(state.berth.file_existing_names(&bot, &dir, &names).await?)
}

/// Watches `paths` until `files_unwatch(id)`; changes go to `on_change`. Returns the id.
#[tauri::command]
pub async fn files_watch<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    paths: Vec<String>,
    on_change: Channel<FilesChanged>,
) -> IpcResult<String> {
    let st = files_state(&app);
    let id = st.id("watch");
    let cancel = CancellationToken::new();
    st.cancels.lock().unwrap().insert(id.clone(), cancel.clone());
    let berth = state.berth.clone();
    let (st2, id2) = (st.clone(), id.clone());
    tauri::async_runtime::spawn(async move {
        let r = berth.file_watch(&bot, &paths, cancel, move |ev| on_change.send(ev).is_ok());
        if let Err(e) = r.await {
            tracing::debug!(error = %e.message, "watch ended");
        }
        st2.cancels.lock().unwrap().remove(&id2);
    });
    Ok(id)
}

/// Stops a watch or cancels a transfer.
#[tauri::command]
pub async fn files_cancel<R: Runtime>(app: AppHandle<R>, id: String) -> IpcResult<()> {
    if let Some(c) = files_state(&app).cancels.lock().unwrap().remove(&id) {
        c.cancel();
    }
    Ok(())
}

/// Uploads what was dropped (`files://drop`) into `dest_dir`; folders are walked here.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn files_upload_dropped<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    drop_id: String,
    transfer_id: String,
    dest_dir: String,
    on_exists: OnExists,
    on_progress: Channel<TransferItem>,
) -> IpcResult<TransferSummary> {
    let st = files_state(&app);
    let paths = st
        .drops
        .lock()
        .unwrap()
        .remove(&drop_id)
        .ok_or_else(|| berth_core::Error::not_found("that drop is gone; drop the files again"))?;
    let cancel = CancellationToken::new();
    st.cancels.lock().unwrap().insert(transfer_id.clone(), cancel.clone());
    let emit: Arc<dyn Fn(TransferItem) + Send + Sync> = Arc::new(move |t| {
        let _ = on_progress.send(t);
    });
    let r = state.berth.upload(&bot, &paths, &dest_dir, on_exists, &cancel, emit).await;
    st.cancels.lock().unwrap().remove(&transfer_id);
    Ok(r?)
}

/// Names of a drop that already exist in `dir` (for the replace / skip / keep both choice).
#[tauri::command]
pub async fn files_drop_conflicts<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    drop_id: String,
    dir: String,
) -> IpcResult<Vec<String>> {
    let names: Vec<String> = files_state(&app)
        .drops
        .lock()
        .unwrap()
        .get(&drop_id)
        .map(|v| v.iter().filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string())).collect())
        .unwrap_or_default();
    Ok(state.berth.file_existing_names(&bot, &dir, &names).await?)
}

/// Starts a chunked upload from the web view's file input. Returns the upload id, or `null`
/// when the name exists and `on_exists` is `skip`.
#[tauri::command]
pub async fn files_upload_begin<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    dir: String,
    name: String,
    on_exists: OnExists,
) -> IpcResult<Option<String>> {
    let Some(pipe) = state.berth.upload_pipe(&bot, &dir, &name, on_exists).await? else {
        return Ok(None);
    };
    let st = files_state(&app);
    let id = st.id("upload");
    st.pipes.lock().await.insert(id.clone(), pipe);
    Ok(Some(id))
}

/// One chunk of a chunked upload: the raw request body; the id in the `x-upload-id` header.
#[tauri::command]
pub async fn files_upload_chunk<R: Runtime>(app: AppHandle<R>, request: Request<'_>) -> IpcResult<()> {
    let id = request
        .headers()
        .get("x-upload-id")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| berth_core::Error::invalid("missing x-upload-id"))?
        .to_string();
    let tauri::ipc::InvokeBody::Raw(data) = request.body() else {
        return Err(berth_core::Error::invalid("a chunk must be raw bytes").into());
    };
    let st = files_state(&app);
    let mut pipes = st.pipes.lock().await;
    let pipe = pipes.get_mut(&id).ok_or_else(|| berth_core::Error::not_found("no such upload"))?;
    Ok(pipe.write(data).await?)
}

/// Commits (`abort = false`) or abandons a chunked upload.
#[tauri::command]
pub async fn files_upload_end<R: Runtime>(app: AppHandle<R>, id: String, abort: bool) -> IpcResult<Option<SavedFile>> {
    let pipe = files_state(&app).pipes.lock().await.remove(&id);
    let Some(pipe) = pipe else {
        return Err(berth_core::Error::not_found("no such upload").into());
    };
    if abort {
        drop(pipe);
        return Ok(None);
    }
    Ok(Some(pipe.finish().await?))
}

/// Downloads `paths` (one file as is; a folder or several as `.tar.gz`) to a place the user
/// picks in a native save dialog. `null` when the dialog was cancelled.
#[tauri::command]
pub async fn files_download<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    paths: Vec<String>,
    suggested_name: String,
    transfer_id: String,
    on_progress: Channel<TransferItem>,
) -> IpcResult<Option<TransferSummary>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_file_name(&suggested_name).save_file(move |p| {
        let _ = tx.send(p);
    });
    let Some(Some(picked)) = rx.await.ok() else {
        return Ok(None);
    };
    let dest = picked
        .into_path()
        .map_err(|e| berth_core::Error::invalid(format!("cannot save there: {e}")))?;
    let st = files_state(&app);
    let cancel = CancellationToken::new();
    st.cancels.lock().unwrap().insert(transfer_id.clone(), cancel.clone());
    let emit: Arc<dyn Fn(TransferItem) + Send + Sync> = Arc::new(move |t| {
        let _ = on_progress.send(t);
    });
    let r = state.berth.download(&bot, &paths, &dest, &cancel, emit).await;
    st.cancels.lock().unwrap().remove(&transfer_id);
    Ok(Some(r?))
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
        let app = tauri::test::mock_builder().build(tauri::test::mock_context(tauri::test::noop_assets())).unwrap();
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
        let kept = files_state(&handle).drops.lock().unwrap().get(&ev.drop_id).cloned();
        assert_eq!(kept, Some(vec![a, folder]));
        let payload: serde_json::Value =
            serde_json::from_str(&rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap()).unwrap();
        assert_eq!(payload["dropId"], ev.drop_id.as_str());
        assert_eq!(payload["names"][1], "folder");
        assert!(on_drop(&handle, vec![], 0.0, 0.0).is_none());
        let ev2 = on_drop(&handle, vec![dir.path().join("b")], 0.0, 0.0).unwrap();
        assert_ne!(ev2.drop_id, ev.drop_id);
    }
}

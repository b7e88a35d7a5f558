//! Data in and out (issue 6): export `/data` to a file picked in a native save dialog, import a
//! .tar.gz chosen in a native open dialog or dropped on the window (the Files feature's drop
//! handler; the path stays here under an archive id), kept data of deleted workspaces, and
//! delete keeping data. Progress (bytes) goes through a `Channel`; export/import cancel by id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_core::data::{
    ArchivePreview, DataProgress, ExportReport, ImportOptions, ImportReport, KeptDataInfo,
};
use berth_core::CancellationToken;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use crate::error::IpcResult;
use crate::AppState;

/// Chosen archives (by id) and running transfers (cancel tokens by id).
#[derive(Default)]
struct DataState {
    next: AtomicU64,
    archives: Mutex<HashMap<String, PathBuf>>,
    cancels: Mutex<HashMap<String, CancellationToken>>,
}

fn data_state<R: Runtime>(app: &AppHandle<R>) -> Arc<DataState> {
    struct Holder(Arc<DataState>);
    if let Some(h) = app.try_state::<Holder>() {
        return h.0.clone();
    }
    app.manage(Holder(Arc::new(DataState::default())));
    app.state::<Holder>().0.clone()
}

fn is_targz(p: &std::path::Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// Validates the archive, counts conflicts with `/data` and remembers it under a new id.
async fn preview<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    bot: &str,
    path: PathBuf,
) -> IpcResult<ArchivePreview> {
    if !is_targz(&path) {
        return Err(berth_core::Error::invalid(format!(
            "{} is not a .tar.gz or .tgz archive",
            path.display()
        ))
        .into());
    }
    let s = state
        .berth
        .inspect_archive(&path, berth_core::data::validate::DEFAULT_MAX_EXPANDED)
        .await?;
    let conflicts = state.berth.data_conflicts(bot, &s.paths).await?;
    let st = data_state(app);
    let id = format!("archive-{}", st.next.fetch_add(1, Ordering::Relaxed) + 1);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    st.archives.lock().unwrap().insert(id.clone(), path);
    Ok(ArchivePreview {
        archive_id: id,
        name,
        entries: s.entries,
        files: s.files,
        dirs: s.dirs,
        links: s.links,
        bytes: s.bytes,
        conflicts,
    })
}

/// Exports `/data` to a file picked in a save dialog; `null` when the dialog was cancelled.
#[tauri::command]
pub async fn data_export<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    transfer_id: String,
    on_progress: Channel<DataProgress>,
) -> IpcResult<Option<ExportReport>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_file_name(format!("{bot}-data.tar.gz"))
        .save_file(move |p| {
            let _ = tx.send(p);
        });
    let Some(Some(picked)) = rx.await.ok() else {
        return Ok(None);
    };
    let dest = picked
        .into_path()
        .map_err(|e| berth_core::Error::invalid(e.to_string()))?;
    let st = data_state(&app);
    let cancel = CancellationToken::new();
    st.cancels
        .lock()
        .unwrap()
        .insert(transfer_id.clone(), cancel.clone());
    let r = state
        .berth
        .export_data(
            &bot,
            &dest,
            &move |n| {
                let _ = on_progress.send(n);
            },
            &cancel,
        )
        .await;
    st.cancels.lock().unwrap().remove(&transfer_id);
    Ok(Some(r?))
}

/// Cancels a running export or import; false when none runs under that id.
#[tauri::command]
pub async fn data_cancel<R: Runtime>(app: AppHandle<R>, transfer_id: String) -> IpcResult<bool> {
    Ok(
        match data_state(&app).cancels.lock().unwrap().get(&transfer_id) {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        },
    )
}

/// Opens a file dialog for a .tar.gz and previews it; `null` when cancelled.
#[tauri::command]
pub async fn data_pick_archive<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
) -> IpcResult<Option<ArchivePreview>> {
    use tauri_plugin_dialog::DialogExt;
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .add_filter("tar.gz", &["gz", "tgz"])
        .pick_file(move |p| {
            let _ = tx.send(p);
        });
    let Some(Some(picked)) = rx.await.ok() else {
        return Ok(None);
    };
    let path = picked
        .into_path()
        .map_err(|e| berth_core::Error::invalid(e.to_string()))?;
    Ok(Some(preview(&app, &state, &bot, path).await?))
}

/// Previews a .tar.gz dropped on the window (`files://drop`).
#[tauri::command]
pub async fn data_preview_drop<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    drop_id: String,
) -> IpcResult<ArchivePreview> {
    let paths = super::files::take_drop(&app, &drop_id)
        .ok_or_else(|| berth_core::Error::not_found("that drop is gone; drop the archive again"))?;
    let [path] = <[PathBuf; 1]>::try_from(paths)
        .map_err(|_| berth_core::Error::invalid("drop one .tar.gz archive to import it"))?;
    preview(&app, &state, &bot, path).await
}

/// Imports a previewed archive into `/data` (merge, or `replace`), all-or-nothing.
#[tauri::command]
pub async fn data_import<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: String,
    archive_id: String,
    replace: bool,
    transfer_id: String,
    on_progress: Channel<DataProgress>,
) -> IpcResult<ImportReport> {
    let st = data_state(&app);
    let path = st
        .archives
        .lock()
        .unwrap()
        .get(&archive_id)
        .cloned()
        .ok_or_else(|| berth_core::Error::not_found("that archive is gone; choose it again"))?;
    let cancel = CancellationToken::new();
    st.cancels
        .lock()
        .unwrap()
        .insert(transfer_id.clone(), cancel.clone());
    let opts = ImportOptions {
        replace,
        ..Default::default()
    };
    let r = state
        .berth
        .import_data(
            &bot,
            &path,
            &opts,
            &move |n| {
                let _ = on_progress.send(n);
            },
            &cancel,
        )
        .await;
    st.cancels.lock().unwrap().remove(&transfer_id);
    if r.is_ok() {
        st.archives.lock().unwrap().remove(&archive_id);
    }
    Ok(r?.into())
}

/// The bot's kept data (from a delete that kept it), if any.
#[tauri::command]
pub async fn data_kept(state: State<'_, AppState>, bot: String) -> IpcResult<Option<KeptDataInfo>> {
    Ok(state.berth.kept_data(&bot).as_ref().map(KeptDataInfo::from))
}

/// Deletes the bot's kept data; false when there was none.
#[tauri::command]
pub async fn data_kept_delete(state: State<'_, AppState>, bot: String) -> IpcResult<bool> {
    Ok(state.berth.delete_kept_data(&bot)?)
}

/// Restores the kept data into the running workspace (replacing `/data`); false when none.
#[tauri::command]
pub async fn data_restore(
    state: State<'_, AppState>,
    bot: String,
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
    bot: String,
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

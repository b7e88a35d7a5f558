//! Native file dialogs opened from Rust (the web view has no dialog permission): the chosen
//! path stays on the Rust side.

use std::path::PathBuf;

use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::{DialogExt, FilePath};

use crate::error::IpcResult;

/// A save dialog suggesting `name`; `None` when it was cancelled.
pub(crate) async fn save<R: Runtime>(app: &AppHandle<R>, name: &str) -> IpcResult<Option<PathBuf>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog().file().set_file_name(name).save_file(move |p| {
        let _ = tx.send(p);
    });
    path_of(rx.await.ok().flatten())
}

/// An open dialog for one .tar.gz / .tgz; `None` when it was cancelled.
pub(crate) async fn pick_targz<R: Runtime>(app: &AppHandle<R>) -> IpcResult<Option<PathBuf>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .add_filter("tar.gz", &["gz", "tgz"])
        .pick_file(move |p| {
            let _ = tx.send(p);
        });
    path_of(rx.await.ok().flatten())
}

fn path_of(picked: Option<FilePath>) -> IpcResult<Option<PathBuf>> {
    let Some(picked) = picked else {
        return Ok(None);
    };
    let path = picked
        .into_path()
        .map_err(|e| berth_core::Error::invalid(format!("cannot use that place: {e}")))?;
    Ok(Some(path))
}

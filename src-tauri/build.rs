//! Points tauri-build at the root `tauri.conf.json` and declares every command, so each gets
//! its own `allow-<command>` permission for the capability file.

/// Every IPC command; `src/lib.rs` has a test that this matches `generate_handler!`.
pub const COMMANDS: &[&str] = &[
    "system_status",
    "managed_containerd_start",
    "managed_containerd_stop",
    "settings_get",
    "settings_set",
    "bot_list",
    "bot_create",
    "bot_rename",
    "bot_delete",
    "bot_set_network",
    "bot_set_limits",
    "bot_set_block_private",
    "workspace_info",
    "workspace_stats",
    "workspace_create",
    "workspace_cancel",
    "workspace_start",
    "workspace_stop",
    "workspace_delete",
    "activity_list",
    "image_recent",
    "workspace_change_image",
    "data_export",
    "data_cancel",
    "data_pick_archive",
    "data_preview_drop",
    "data_import",
    "data_kept",
    "data_kept_delete",
    "data_restore",
    "workspace_delete_keeping",
    "files_list",
    "files_stat",
    "files_read_text",
    "files_read_bytes",
    "files_save_text",
    "files_create",
    "files_mkdir",
    "files_rename",
    "files_move",
    "files_delete",
    "files_extract",
    "files_existing",
    "files_watch",
    "files_cancel",
    "files_upload_dropped",
    "files_drop_conflicts",
    "files_upload_begin",
    "files_upload_chunk",
    "files_upload_end",
    "files_download",
    "terminal_open",
    "terminal_attach",
    "terminal_write",
    "terminal_resize",
    "terminal_rename",
    "terminal_close",
    "terminal_list",
    "terminal_open_link",
    "version_list",
    "version_save",
    "version_rollback",
    "version_rename",
    "version_delete",
    "version_changes",
];

fn main() {
    // The UI is embedded at compile time: a new `ui/dist` must rebuild the app, or it shows the
    // old bundle (or a blank window when the old bundle's hashed assets are gone).
    println!("cargo:rerun-if-changed=../ui/dist");
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}

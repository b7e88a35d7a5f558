//! Points tauri-build at the root `tauri.conf.json` and declares every command, so each gets
//! its own `allow-<command>` permission for the capability file.

/// Every IPC command; `src/lib.rs` has a test that this matches `generate_handler!`.
pub const COMMANDS: &[&str] = &[
    "system_status",
    "managed_containerd_start",
    "settings_get",
    "settings_set",
    "bot_list",
    "bot_create",
    "bot_rename",
    "bot_delete",
    "workspace_info",
    "workspace_create",
    "workspace_cancel",
    "workspace_start",
    "workspace_stop",
    "workspace_delete",
    "activity_list",
    "image_recent",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}

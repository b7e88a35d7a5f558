//! Berth's desktop app: opens the core, forwards its state changes to the window as
//! `workspace://changed` events, and exposes thin IPC commands (one core call each).

mod commands;
mod error;

use tauri::{Emitter, Manager};

/// What every command reaches through `State`.
pub struct AppState {
    pub berth: berth_core::Berth,
}

/// Core options from the environment (the CLI's variables), so the app and `berth` agree.
fn options() -> berth_core::Options {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    berth_core::Options {
        data_dir: var("BERTH_DATA_DIR").map(Into::into),
        containerd_socket: var("BERTH_CONTAINERD_SOCKET").map(Into::into),
        namespace: var("BERTH_NAMESPACE").and_then(|v| v.into_string().ok()),
        bridge_binary: var("BERTH_BRIDGE_BINARY").map(Into::into),
    }
}

/// Registers every command; shared by the app and the IPC tests.
pub fn builder<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::system_status,
        commands::managed_containerd_start,
        commands::settings_get,
        commands::settings_set,
        commands::bot_list,
        commands::bot_create,
        commands::bot_rename,
        commands::bot_delete,
        commands::workspace_info,
        commands::workspace_create,
        commands::workspace_cancel,
        commands::workspace_start,
        commands::workspace_stop,
        commands::workspace_delete,
        commands::activity_list,
        commands::image_recent,
    ])
}

/// Forwards core state changes to every window.
fn forward_changes<R: tauri::Runtime>(app: tauri::AppHandle<R>, berth: &berth_core::Berth) {
    let mut rx = berth.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(change) => {
                    let _ = app.emit("workspace://changed", change);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let started = std::time::Instant::now();
    builder(tauri::Builder::default())
        .setup(move |app| {
            let berth = tauri::async_runtime::block_on(berth_core::Berth::open(options()))
                .map_err(|e| Box::<dyn std::error::Error>::from(e.message))?;
            forward_changes(app.handle().clone(), &berth);
            app.manage(AppState { berth });
            tracing::info!(ms = started.elapsed().as_millis() as u64, "Berth ready");
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Berth");
}

#[cfg(test)]
mod tests {
    /// Every command is declared in build.rs (its permission) and granted in the capability.
    #[test]
    fn every_command_has_a_permission_and_a_grant() {
        let build = include_str!("../build.rs");
        let capability = include_str!("../capabilities/main.json");
        let lib = include_str!("lib.rs");
        let handlers: Vec<&str> = lib
            .lines()
            .filter_map(|l| l.trim().strip_prefix("commands::"))
            .map(|l| l.trim_end_matches(','))
            .collect();
        assert_eq!(handlers.len(), 16);
        for cmd in handlers {
            assert!(build.contains(&format!("\"{cmd}\"")), "{cmd} missing from build.rs");
            let grant = format!("\"allow-{}\"", cmd.replace('_', "-"));
            assert!(capability.contains(&grant), "{grant} missing from capabilities/main.json");
        }
    }
}

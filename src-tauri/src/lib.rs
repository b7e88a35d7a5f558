//! Berth's desktop app: opens the core, forwards its state changes to the window as
//! `workspace://changed` events, and exposes thin IPC commands (one core call each).

mod commands;
mod error;
mod webview;

use tauri::{Emitter, Manager};

/// What every command reaches through `State`.
pub struct AppState {
    pub berth: berth_core::Berth,
}

/// Core options from the environment (the CLI's variables), so the app and `berth` agree.
pub(crate) fn options() -> berth_core::Options {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    berth_core::Options {
        data_dir: var("BERTH_DATA_DIR").map(Into::into),
        containerd_socket: var("BERTH_CONTAINERD_SOCKET").map(Into::into),
        namespace: var("BERTH_NAMESPACE").and_then(|v| v.into_string().ok()),
        bridge_binary: var("BERTH_BRIDGE_BINARY").map(Into::into),
        // An agent's `berth mcp serve` must use the backend this app was told to use.
        agent_env: ["BERTH_BACKEND", "BERTH_CONTAINER_BIN"]
            .into_iter()
            .filter_map(|k| Some((k, var(k)?.into_string().ok()?)))
            .collect(),
    }
}

/// The container backend: `BERTH_BACKEND`, else the one chosen in Settings, else the
/// platform's (`berth_backends::Backend::choose`). A bad saved choice is logged and the
/// platform's default used, so the window still opens and Settings can fix it.
fn connector() -> std::sync::Arc<dyn berth_core::Connector> {
    use berth_backends::Backend;
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let data_dir = options()
        .data_dir
        .unwrap_or_else(berth_core::default_data_dir);
    let backend = Backend::choose(var("BERTH_BACKEND").as_deref(), &data_dir).unwrap_or_else(|e| {
        tracing::error!("{e}; using {}", Backend::platform_default().name());
        Backend::platform_default()
    });
    backend.connector(var("BERTH_CONTAINER_BIN").map(Into::into))
}

/// Registers every command; shared by the app and the IPC tests.
pub fn builder<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::system_status,
        commands::managed_containerd_start,
        commands::managed_containerd_stop,
        commands::settings_get,
        commands::settings_set,
        commands::bot_list,
        commands::bot_create,
        commands::bot_rename,
        commands::bot_delete,
        commands::bot_set_network,
        commands::bot_set_limits,
        commands::bot_set_block_private,
        commands::workspace_info,
        commands::workspace_stats,
        commands::workspace_create,
        commands::workspace_cancel,
        commands::workspace_start,
        commands::workspace_stop,
        commands::workspace_delete,
        commands::activity_list,
        commands::image_recent,
        commands::change_image::workspace_change_image,
        commands::data::data_export,
        commands::data::data_cancel,
        commands::data::data_pick_archive,
        commands::data::data_preview_drop,
        commands::data::data_import,
        commands::data::data_kept,
        commands::data::data_kept_delete,
        commands::data::data_restore,
        commands::data::workspace_delete_keeping,
        commands::files::files_list,
        commands::files::files_stat,
        commands::files::files_read_text,
        commands::files::files_read_bytes,
        commands::files::files_save_text,
        commands::files::files_create,
        commands::files::files_mkdir,
        commands::files::files_rename,
        commands::files::files_move,
        commands::files::files_delete,
        commands::files::files_extract,
        commands::files::files_existing,
        commands::files::files_watch,
        commands::files::files_cancel,
        commands::files::files_upload_dropped,
        commands::files::files_drop_conflicts,
        commands::files::files_upload_begin,
        commands::files::files_upload_chunk,
        commands::files::files_upload_end,
        commands::files::files_download,
        commands::terminal::terminal_open,
        commands::terminal::terminal_attach,
        commands::terminal::terminal_write,
        commands::terminal::terminal_resize,
        commands::terminal::terminal_rename,
        commands::terminal::terminal_close,
        commands::terminal::terminal_list,
        commands::terminal::terminal_open_link,
        commands::versions::version_list,
        commands::versions::version_save,
        commands::versions::version_rollback,
        commands::versions::version_rename,
        commands::versions::version_delete,
        commands::versions::version_changes,
        commands::skills::skill_list,
        commands::skills::skill_read,
        commands::skills::skill_check,
        commands::skills::skill_save,
        commands::skills::skill_new,
        commands::skills::skill_rename,
        commands::skills::skill_delete,
        commands::skills::skill_add_dropped,
        commands::skills::skill_root_get,
        commands::skills::skill_root_set,
        commands::agents::agent_config,
        commands::agents::mcp_server_list,
        commands::agents::mcp_server_put,
        commands::agents::mcp_server_delete,
        commands::agents::mcp_server_import,
        commands::agents::mcp_server_probe,
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
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = std::time::Instant::now();
    // Core opens (database, containerd, reconcile) while GTK and WebKit start: the window's page
    // is served only once `setup` returns, so doing both one after the other would delay its
    // first paint by the whole open.
    let opening = std::thread::spawn(|| {
        tauri::async_runtime::block_on(berth_core::Berth::open(options(), connector()))
    });
    builder(tauri::Builder::default())
        // Files: native save dialog opened from Rust only (no dialog permission for the view),
        // and the window's native drop events (real paths) for uploads.
        .plugin(tauri_plugin_dialog::init())
        .on_window_event(commands::files::on_window_event)
        .setup(move |app| {
            if let Some(window) = app.get_webview_window("main") {
                webview::configure(&window);
            }
            let berth = opening
                .join()
                .map_err(|_| Box::<dyn std::error::Error>::from("opening Berth panicked"))?
                .map_err(|e| Box::<dyn std::error::Error>::from(e.message))?;
            forward_changes(app.handle().clone(), &berth);
            app.manage(AppState { berth });
            tracing::info!(ms = started.elapsed().as_millis() as u64, "Berth ready");
            Ok(())
        })
        .run(tauri::generate_context!())
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
            .map(|l| l.trim_end_matches(',').rsplit("::").next().unwrap())
            .collect();
        let declared = build
            .lines()
            .filter(|l| l.trim().starts_with('"') && l.trim().ends_with("\","))
            .count();
        assert_eq!(
            handlers.len(),
            declared,
            "generate_handler! and build.rs COMMANDS differ"
        );
        for cmd in handlers {
            assert!(
                build.contains(&format!("\"{cmd}\"")),
                "{cmd} missing from build.rs"
            );
            let grant = format!("\"allow-{}\"", cmd.replace('_', "-"));
            assert!(
                capability.contains(&grant),
                "{grant} missing from capabilities/main.json"
            );
        }
    }
}

#[cfg(test)]
mod ipc_tests {
    use serde_json::{json, Value};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

    /// An app over a real core whose containerd socket does not exist.
    fn app(dir: &std::path::Path) -> tauri::App<tauri::test::MockRuntime> {
        let options = berth_core::Options {
            data_dir: Some(dir.to_path_buf()),
            containerd_socket: Some(dir.join("no-such.sock")),
            namespace: Some("ipc-test".into()),
            bridge_binary: None,
            agent_env: vec![],
        };
        let berth =
            tauri::async_runtime::block_on(berth_core::Berth::open(options, super::connector()))
                .unwrap();
        super::builder(mock_builder())
            .manage(super::AppState { berth })
            .build(mock_context(noop_assets()))
            .unwrap()
    }

    fn invoke(
        app: &tauri::App<tauri::test::MockRuntime>,
        cmd: &str,
        body: Value,
    ) -> Result<Value, Value> {
        use tauri::Manager;
        let webview = match app.get_webview_window("main") {
            Some(w) => w,
            None => tauri::WebviewWindowBuilder::new(app, "main", Default::default())
                .build()
                .unwrap(),
        };
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: body.into(),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&webview, request).map(|r| r.deserialize::<Value>().unwrap())
    }

    #[test]
    fn commands_take_camel_case_arguments_and_return_camel_case_data() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let bot = invoke(&app, "bot_create", json!({"name": "ipc-bot"})).unwrap();
        assert_eq!(bot["name"], "ipc-bot");
        assert_eq!(bot["state"], "absent");
        assert!(bot["createdAt"].is_string());
        let renamed = invoke(
            &app,
            "bot_rename",
            json!({"name": "ipc-bot", "newName": "ipc-bot-2"}),
        )
        .unwrap();
        assert_eq!(renamed["name"], "ipc-bot-2");
        let list = invoke(&app, "bot_list", json!({})).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
    }

    #[test]
    fn errors_cross_the_boundary_as_code_and_message() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let err = invoke(&app, "bot_create", json!({"name": "Not Valid"})).unwrap_err();
        assert_eq!(err["code"], "InvalidArgument");
        assert!(err["message"]
            .as_str()
            .unwrap()
            .contains("invalid bot name"));
        invoke(&app, "bot_create", json!({"name": "dup"})).unwrap();
        let err = invoke(&app, "bot_create", json!({"name": "dup"})).unwrap_err();
        assert_eq!(err["code"], "AlreadyExists");
        // No containerd behind the socket: a clear Unavailable that names the socket.
        let err = invoke(&app, "workspace_start", json!({"bot": "dup"})).unwrap_err();
        assert_eq!(err["code"], "Unavailable");
        assert!(
            err["message"].as_str().unwrap().contains("no-such.sock"),
            "{err}"
        );
        let status = invoke(&app, "system_status", json!({})).unwrap();
        assert_eq!(status["connected"], false);
        assert!(status["error"].as_str().unwrap().contains("no-such.sock"));
    }
}

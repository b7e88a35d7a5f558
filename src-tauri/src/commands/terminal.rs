//! Terminal commands. Sessions live in core ([`Terminals`]), not in the web view: output goes
//! to the view's `Channel` as raw bytes (status changes as JSON on the same channel), and a
//! view that comes back (page switch, reload) re-attaches with a new channel and gets the
//! scrollback first.

use berth_core::terminals::{TerminalInfo, TerminalSink, Terminals};
use berth_core::BotName;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::{AppHandle, Manager, Runtime, State};

use crate::error::IpcResult;
use crate::AppState;

/// The app's one registry, created on first use (it follows workspace changes from then on).
fn terminals<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> Terminals {
    if let Some(t) = app.try_state::<Terminals>() {
        return t.inner().clone();
    }
    // Two first calls at once: `manage` keeps the first registry and ignores the second.
    app.manage(Terminals::new(state.berth.clone()));
    app.state::<Terminals>().inner().clone()
}

struct ChannelSink(Channel<InvokeResponseBody>);

impl TerminalSink for ChannelSink {
    fn output(&self, data: &[u8]) -> bool {
        self.0.send(InvokeResponseBody::Raw(data.to_vec())).is_ok()
    }
    fn status(&self, info: &TerminalInfo) -> bool {
        match serde_json::to_string(info) {
            Ok(json) => self.0.send(InvokeResponseBody::Json(json)).is_ok(),
            Err(_) => true,
        }
    }
}

#[tauri::command]
pub async fn terminal_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    rows: u16,
    cols: u16,
    on_output: Channel<InvokeResponseBody>,
) -> IpcResult<TerminalInfo> {
    Ok(terminals(&app, &state)
        .open(&bot, rows, cols, Box::new(ChannelSink(on_output)))
        .await?)
}

#[tauri::command]
pub async fn terminal_attach<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    on_output: Channel<InvokeResponseBody>,
) -> IpcResult<TerminalInfo> {
    Ok(terminals(&app, &state).attach(&id, Box::new(ChannelSink(on_output)))?)
}

#[tauri::command]
pub async fn terminal_write<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    data: String,
) -> IpcResult<()> {
    Ok(terminals(&app, &state).write(&id, data.as_bytes()).await?)
}

#[tauri::command]
pub async fn terminal_resize<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    rows: u16,
    cols: u16,
) -> IpcResult<()> {
    Ok(terminals(&app, &state).resize(&id, rows, cols).await?)
}

#[tauri::command]
pub async fn terminal_rename<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    title: String,
) -> IpcResult<TerminalInfo> {
    Ok(terminals(&app, &state).rename(&id, &title)?)
}

#[tauri::command]
pub async fn terminal_close<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> IpcResult<()> {
    Ok(terminals(&app, &state).close(&id)?)
}

#[tauri::command]
pub async fn terminal_list<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: Option<String>,
) -> IpcResult<Vec<TerminalInfo>> {
    Ok(terminals(&app, &state).list(bot.as_deref()))
}

#[tauri::command]
pub async fn terminal_open_link(url: String) -> IpcResult<()> {
    Ok(berth_core::terminals::open_link(&url)?)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;

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

    /// The terminal commands are registered, take camelCase arguments and fail with codes.
    #[test]
    fn terminal_commands_answer_with_codes() {
        let dir = tempfile::tempdir().unwrap();
        let options = berth_core::Options {
            data_dir: Some(dir.path().to_path_buf()),
            containerd_socket: Some(dir.path().join("no-such.sock")),
            namespace: Some("ipc-term".into()),
            bridge_binary: None,
            agent_env: vec![],
        };
        let berth =
            tauri::async_runtime::block_on(berth_core::Berth::open(options, crate::connector()))
                .unwrap();
        let app = crate::builder(mock_builder())
            .manage(crate::AppState { berth })
            .build(mock_context(noop_assets()))
            .unwrap();
        assert_eq!(
            invoke(&app, "terminal_list", json!({"bot": null})).unwrap(),
            json!([])
        );
        let err = invoke(
            &app,
            "terminal_write",
            json!({"id": "term-404", "data": "x"}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "NotFound");
        let err = invoke(
            &app,
            "terminal_resize",
            json!({"id": "term-404", "rows": 0, "cols": 80}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "InvalidArgument");
        let err = invoke(
            &app,
            "terminal_rename",
            json!({"id": "term-404", "title": "x"}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "NotFound");
        let err = invoke(
            &app,
            "terminal_open_link",
            json!({"url": "file:///etc/passwd"}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "InvalidArgument");
    }
}

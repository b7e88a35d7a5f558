//! Change of image: the workspace recreated on another image keeping `/data`. Phases
//! go through the same `Channel<CreateEvent>` as create; `workspace_cancel` cancels it.

use berth_core::model::{CreateEvent, PullPolicy, WorkspaceInfo};
use berth_core::BotName;
use tauri::ipc::Channel;
use tauri::State;

use crate::error::IpcResult;
use crate::AppState;

/// Resolves once the new workspace is ready; on failure the error says where `/data` is.
#[tauri::command]
pub async fn workspace_change_image(
    state: State<'_, AppState>,
    bot: BotName,
    image: String,
    pull_policy: Option<PullPolicy>,
    on_progress: Channel<CreateEvent>,
) -> IpcResult<WorkspaceInfo> {
    let emit = move |event: CreateEvent| {
        let _ = on_progress.send(event);
    };
    Ok(state
        .berth
        .change_image(&bot, &image, pull_policy, &emit)
        .await?)
}

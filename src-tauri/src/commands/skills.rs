//! Skills: list, read, check, save, new, rename, delete, and add what was dropped on the
//! window. Each command is one core call.

use berth_core::files::{SavedFile, TextFile};
use berth_core::skills::{format, SkillInfo};
use berth_core::BotName;
use tauri::{AppHandle, Runtime, State};

use super::files::transfers;
use crate::error::IpcResult;
use crate::AppState;

#[tauri::command]
pub async fn skill_list(state: State<'_, AppState>, bot: BotName) -> IpcResult<Vec<SkillInfo>> {
    Ok(state.berth.skills_list(&bot).await?)
}

#[tauri::command]
pub async fn skill_read(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
) -> IpcResult<TextFile> {
    Ok(state.berth.skill_text(&bot, &name).await?)
}

/// Why `text` is not a valid skill named `name`, or `None`: the editor's live validation.
#[tauri::command]
pub fn skill_check(name: String, text: String) -> Option<String> {
    format::parse(&name, &text).err()
}

#[tauri::command]
pub async fn skill_save(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
    content: String,
    expected_revision: Option<String>,
) -> IpcResult<SavedFile> {
    Ok(state
        .berth
        .skill_save(&bot, &name, content, expected_revision)
        .await?)
}

#[tauri::command]
pub async fn skill_new(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
) -> IpcResult<SavedFile> {
    Ok(state.berth.skill_new(&bot, &name).await?)
}

#[tauri::command]
pub async fn skill_rename(
    state: State<'_, AppState>,
    bot: BotName,
    name: String,
    new_name: String,
) -> IpcResult<SkillInfo> {
    Ok(state.berth.skill_rename(&bot, &name, &new_name).await?)
}

#[tauri::command]
pub async fn skill_delete(state: State<'_, AppState>, bot: BotName, name: String) -> IpcResult<()> {
    Ok(state.berth.skill_remove(&bot, &name).await?)
}

/// Adds each dropped folder, SKILL.md or archive as a skill; stops at the first refused one.
#[tauri::command]
pub async fn skill_add_dropped<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    bot: BotName,
    drop_id: String,
) -> IpcResult<Vec<SkillInfo>> {
    let paths = transfers(&app).take_drop(&drop_id, "the skill")?;
    let mut added = Vec::new();
    for p in paths {
        added.push(state.berth.skill_add(&bot, &p).await?);
    }
    Ok(added)
}

/// Where the bot's workspace keeps its skills.
#[tauri::command]
pub async fn skill_root_get(state: State<'_, AppState>, bot: BotName) -> IpcResult<String> {
    Ok(state.berth.skills_root(&bot)?)
}

/// Sets where the bot's workspace keeps its skills (`null`: the default); returns it.
#[tauri::command]
pub async fn skill_root_set(
    state: State<'_, AppState>,
    bot: BotName,
    root: Option<String>,
) -> IpcResult<String> {
    Ok(state.berth.set_skills_root(&bot, root.as_deref())?)
}

//! Bots: create, list, rename, delete (which deletes the workspace first).

use crate::model::{ActivityEntry, BotSummary, WorkspaceState};
use crate::{validate_bot_name, Berth, Error, Result};

impl Berth {
    pub fn bots(&self) -> Result<Vec<BotSummary>> {
        let store = &self.inner.store;
        let workspaces = store.list_workspaces()?;
        Ok(store
            .list_bots()?
            .into_iter()
            .map(|b| {
                let ws = workspaces.iter().find(|w| w.bot == b.name);
                let state = if self.is_creating(&b.name) {
                    WorkspaceState::Creating
                } else {
                    ws.map_or(WorkspaceState::Absent, |w| parse_state(&w.state))
                };
                BotSummary {
                    image: ws.map(|w| w.image.clone()).or(b.image_pref.clone()),
                    name: b.name,
                    state,
                    created_at: b.created_at,
                }
            })
            .collect())
    }

    pub fn create_bot(&self, name: &str) -> Result<BotSummary> {
        validate_bot_name(name)?;
        let row = self
            .inner
            .store
            .create_bot(name)
            .map_err(|e| match e.kind() {
                berth_store::StoreErrorKind::AlreadyExists => Error::new(
                    crate::model::ErrorCode::AlreadyExists,
                    format!("a bot named {name:?} already exists"),
                ),
                _ => e.into(),
            })?;
        self.event(name, "bot-created", format!("bot {name} created"));
        self.notify(name, WorkspaceState::Absent);
        Ok(BotSummary {
            name: row.name,
            state: WorkspaceState::Absent,
            image: None,
            created_at: row.created_at,
        })
    }

    /// `NotFound` unless the bot exists (a store lookup; the runtime is not asked).
    pub fn check_bot(&self, name: &str) -> Result<()> {
        self.require_bot(name).map(drop)
    }

    pub(crate) fn require_bot(&self, name: &str) -> Result<berth_store::BotRow> {
        self.inner
            .store
            .get_bot(name)?
            .ok_or_else(|| Error::not_found(format!("no bot named {name:?}")))
    }

    /// Renames a bot. Its workspace keeps its container id, so a running workspace is untouched.
    pub fn rename_bot(&self, name: &str, new_name: &str) -> Result<BotSummary> {
        validate_bot_name(new_name)?;
        self.require_bot(name)?;
        if self.is_creating(name) {
            return Err(Error::conflict(format!(
                "{name} is being created; rename it afterwards"
            )));
        }
        self.inner.store.rename_bot(name, new_name)?;
        self.event(new_name, "bot-renamed", format!("renamed from {name}"));
        self.notify(name, WorkspaceState::Absent);
        self.bots()?
            .into_iter()
            .find(|b| b.name == new_name)
            .ok_or_else(|| Error::internal("renamed bot vanished"))
    }

    /// Deletes the bot's workspace (container, task, snapshots) and then the bot.
    pub async fn delete_bot(&self, name: &str) -> Result<()> {
        self.require_bot(name)?;
        self.delete_workspace(name).await?;
        self.inner.store.delete_bot(name)?;
        self.event(name, "bot-deleted", format!("bot {name} deleted"));
        self.notify(name, WorkspaceState::Absent);
        Ok(())
    }

    /// The bot's activity log, newest first.
    pub fn activity(&self, bot: &str) -> Result<Vec<ActivityEntry>> {
        Ok(self
            .inner
            .store
            .list_events(bot, 200)?
            .into_iter()
            .map(|e| ActivityEntry {
                at: e.at,
                kind: e.kind,
                message: e.message,
            })
            .collect())
    }

    pub fn recent_images(&self) -> Result<Vec<String>> {
        Ok(self.inner.store.recent_images(10)?)
    }

    pub(crate) fn is_creating(&self, bot: &str) -> bool {
        self.inner.operations.lock().unwrap().contains_key(bot)
    }
}

pub(crate) fn parse_state(s: &str) -> WorkspaceState {
    match s {
        "running" => WorkspaceState::Running,
        "stopped" => WorkspaceState::Stopped,
        "creating" => WorkspaceState::Creating,
        "error" => WorkspaceState::Error,
        _ => WorkspaceState::Absent,
    }
}

pub(crate) fn state_str(s: WorkspaceState) -> &'static str {
    match s {
        WorkspaceState::Running => "running",
        WorkspaceState::Stopped => "stopped",
        WorkspaceState::Creating => "creating",
        WorkspaceState::Error => "error",
        WorkspaceState::Absent => "absent",
    }
}

//! containerd is the truth for what exists: at connect, and whenever the event stream had a
//! gap, the store is brought in line with it; task events keep it current in between.

use std::sync::Arc;

use berth_runtime::{Runtime, RuntimeEvent};
use futures::StreamExt;

use crate::bots::{parse_state, state_str};
use crate::model::WorkspaceState;
use crate::{Berth, Result};

impl Berth {
    /// Brings every workspace row in line with the runtime and adopts Berth containers the
    /// store does not know (e.g. after the database was removed).
    pub async fn reconcile(&self) -> Result<()> {
        let rt = self.runtime()?;
        let live = rt.list().await?;
        let store = &self.inner.store;
        for w in store.list_workspaces()? {
            if self.is_creating(&w.bot) {
                continue;
            }
            let actual = match live.iter().find(|c| c.id == w.container_id) {
                None => {
                    store.delete_workspace(&w.bot)?;
                    self.event(
                        &w.bot,
                        "vanished",
                        format!("container {} no longer exists", w.container_id),
                    );
                    self.notify(&w.bot, WorkspaceState::Absent);
                    continue;
                }
                Some(c) if c.running => WorkspaceState::Running,
                Some(_) => WorkspaceState::Stopped,
            };
            if parse_state(&w.state) != actual {
                store.set_workspace_state(&w.bot, state_str(actual), None)?;
                self.notify(&w.bot, actual);
            }
        }
        let known: std::collections::HashSet<String> = store
            .list_workspaces()?
            .into_iter()
            .map(|w| w.container_id)
            .collect();
        for c in &live {
            let Some(bot) = &c.bot else { continue };
            if known.contains(&c.id) {
                continue;
            }
            if crate::validate_bot_name(bot).is_err() {
                continue;
            }
            if store.get_bot(bot)?.is_none() {
                store.create_bot(bot)?;
            }
            if store.get_workspace(bot)?.is_none() {
                let state = if c.running { "running" } else { "stopped" };
                store.upsert_workspace(bot, &c.id, &c.image, state)?;
                self.event(bot, "adopted", format!("found existing container {}", c.id));
            }
        }
        Ok(())
    }

    /// Follows the runtime's events in the background until the runtime is replaced.
    pub(crate) fn follow_events(&self, rt: Arc<dyn Runtime>) {
        let me = self.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // Subscribed here, not in the task: an event between connect and the task's first
        // poll would otherwise be lost.
        let mut events = rt.events();
        handle.spawn(async move {
            while let Some(event) = events.next().await {
                let current = me.inner.runtime.read().unwrap().clone();
                if !current.is_some_and(|c| Arc::ptr_eq(&c, &rt)) {
                    return;
                }
                if let Err(e) = me.on_event(event).await {
                    tracing::warn!(error = %e, "handling a runtime event");
                }
            }
        });
    }

    async fn on_event(&self, event: RuntimeEvent) -> Result<()> {
        let id = match event {
            RuntimeEvent::Resynced => return self.reconcile().await,
            RuntimeEvent::TaskStarted { id } | RuntimeEvent::ContainerDeleted { id } => id,
            RuntimeEvent::TaskExited {
                ref id,
                exit_status,
            } => {
                if let Some(w) = self.row_by_container(id)? {
                    if !self.is_creating(&w.bot) && w.state == "running" {
                        self.event(
                            &w.bot,
                            "exited",
                            format!("workspace stopped (exit status {exit_status})"),
                        );
                    }
                }
                id.clone()
            }
        };
        let Some(w) = self.row_by_container(&id)? else {
            return Ok(());
        };
        // A lifecycle operation in progress sets the state itself when it ends.
        let lock = self.lock_for(&w.bot);
        let Ok(_held) = lock.try_lock() else {
            return Ok(());
        };
        let rt = self.runtime()?;
        let actual = match rt.status(&id).await {
            Ok(s) if s.running => WorkspaceState::Running,
            Ok(_) => WorkspaceState::Stopped,
            Err(e) if e.kind == berth_runtime::ErrorKind::NotFound => {
                self.inner.store.delete_workspace(&w.bot)?;
                self.notify(&w.bot, WorkspaceState::Absent);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if parse_state(&w.state) != actual {
            self.set_state(&w.bot, actual, None)?;
        }
        Ok(())
    }

    fn row_by_container(&self, id: &str) -> Result<Option<berth_store::WorkspaceRow>> {
        Ok(self
            .inner
            .store
            .list_workspaces()?
            .into_iter()
            .find(|w| w.container_id == id))
    }
}

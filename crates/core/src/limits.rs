//! A bot's resource limits: memory, CPUs and processes for its workspace, checked, stored with
//! the bot and handed to the runtime (at create, and as a change to an existing workspace that
//! applies from its next start). `None` keeps the runtime's default.

use berth_store::BotLimits;

use crate::model::{Limits, LimitsApply, WorkspaceState};
use crate::{Berth, Error, Result};

/// Less memory than this cannot run the bridge and a shell.
pub const MIN_MEMORY: u64 = 32 * 1024 * 1024;
/// The bridge needs threads of its own; fewer processes would starve it.
pub const MIN_PIDS: u32 = 32;
/// A hundredth of a CPU.
pub const MIN_CPU_MILLIS: u32 = 10;

impl Berth {
    /// Sets `bot`'s limits and says when they take effect. Bad values are refused before
    /// anything changes.
    pub async fn set_limits(&self, bot: &str, limits: Limits) -> Result<LimitsApply> {
        check(&limits)?;
        self.require_bot(bot)?;
        if self.is_creating(bot) {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is being created; change its limits afterwards"
            )));
        }
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let stored = to_store(limits);
        let applies = match self.inner.store.get_workspace(bot)? {
            None => LimitsApply::NextCreate,
            Some(_) if !self.runtime()?.capabilities().change_limits => LimitsApply::Recreate,
            Some(w) => {
                let rt = self.runtime()?;
                rt.set_limits(&w.container_id, &to_runtime(stored))
                    .await
                    .map_err(|e| Error::from(e).context("changing the limits failed"))?;
                match self.info(bot).await?.state {
                    WorkspaceState::Running => LimitsApply::Restart,
                    _ => LimitsApply::NextStart,
                }
            }
        };
        self.inner.store.set_limits(bot, &stored)?;
        self.event(bot, "limits", describe(&limits));
        Ok(applies)
    }
}

/// Refuses limits no workspace could run with.
pub fn check(l: &Limits) -> Result<()> {
    if l.memory.is_some_and(|m| m < MIN_MEMORY) {
        return Err(Error::invalid(format!(
            "a memory limit below {} MiB cannot run the workspace",
            MIN_MEMORY >> 20
        )));
    }
    if l.pids.is_some_and(|p| p < MIN_PIDS) {
        return Err(Error::invalid(format!(
            "a process limit below {MIN_PIDS} cannot run the workspace"
        )));
    }
    if l.cpu_millis.is_some_and(|c| c < MIN_CPU_MILLIS) {
        return Err(Error::invalid(
            "a CPU limit below 0.01 CPUs cannot run the workspace",
        ));
    }
    Ok(())
}

/// The limits as the activity log shows them.
pub fn describe(l: &Limits) -> String {
    let memory = l
        .memory
        .map_or("default".into(), |m| format!("{} MiB", m >> 20));
    let cpus = l
        .cpu_millis
        .map_or("default".into(), |c| format!("{}", f64::from(c) / 1000.0));
    let pids = l.pids.map_or("default".into(), |p| p.to_string());
    format!("limits: memory {memory}, CPUs {cpus}, processes {pids}")
}

pub(crate) fn to_model(l: BotLimits) -> Limits {
    Limits {
        memory: l.memory,
        cpu_millis: l.cpu_millis,
        pids: l.pids,
    }
}

fn to_store(l: Limits) -> BotLimits {
    BotLimits {
        memory: l.memory,
        cpu_millis: l.cpu_millis,
        pids: l.pids,
    }
}

pub(crate) fn to_runtime(l: BotLimits) -> berth_runtime::Limits {
    berth_runtime::Limits {
        memory: l.memory,
        cpu_millis: l.cpu_millis,
        pids: l.pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_no_workspace_could_run_with_are_refused() {
        let ok = Limits {
            memory: Some(MIN_MEMORY),
            cpu_millis: Some(MIN_CPU_MILLIS),
            pids: Some(MIN_PIDS),
        };
        check(&ok).unwrap();
        check(&Limits::default()).unwrap();
        for bad in [
            Limits {
                memory: Some(MIN_MEMORY - 1),
                ..ok
            },
            Limits {
                cpu_millis: Some(0),
                ..ok
            },
            Limits {
                pids: Some(MIN_PIDS - 1),
                ..ok
            },
        ] {
            let e = check(&bad).unwrap_err();
            assert_eq!(e.code, crate::model::ErrorCode::InvalidArgument, "{bad:?}");
        }
        assert_eq!(
            describe(&Limits {
                memory: Some(2 << 30),
                cpu_millis: Some(1500),
                pids: None
            }),
            "limits: memory 2048 MiB, CPUs 1.5, processes default"
        );
    }
}

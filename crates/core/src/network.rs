//! A bot's network settings: the isolated bridge or the host's network (for its next
//! workspace), and, on the bridge, whether it is kept off private networks (applied at once to
//! a running workspace).

use crate::model::{NetworkApply, WorkspaceState};
use crate::{Berth, Error, Result};

impl Berth {
    /// Gives the bot's next workspace the host's network (`true`: no isolation from the host, its
    /// loopback services or the LAN) or the isolated bridge. A workspace that exists keeps its
    /// network until it is created again (delete and create, or change of image).
    pub fn set_host_network(&self, name: &str, host: bool) -> Result<()> {
        let bot = self.require_bot(name)?;
        if host && bot.block_private_networks {
            return Err(Error::invalid(format!(
                "{name} is kept off private networks, which only the isolated network can do; \
                 turn that off first"
            )));
        }
        self.inner.store.set_host_network(name, host)?;
        let what = if host {
            "the host's network"
        } else {
            "the isolated bridge network"
        };
        self.event(name, "network", format!("next workspace: {what}"));
        Ok(())
    }

    /// Keeps the bot's workspace off private networks — RFC 1918, shared (100.64/10) and
    /// link-local addresses (cloud metadata at 169.254.169.254 included), IPv6 unique-local and
    /// link-local — DNS excepted, or lets it reach them again. Needs the isolated network.
    pub async fn set_block_private_networks(
        &self,
        bot: &str,
        blocked: bool,
    ) -> Result<NetworkApply> {
        let row = self.require_bot(bot)?;
        if blocked && row.host_network {
            return Err(Error::invalid(format!(
                "{bot} uses the host's network, which cannot be kept off private networks; \
                 give it the isolated network first"
            )));
        }
        if self.is_creating(bot) {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is being created; change its network afterwards"
            )));
        }
        let lock = self.lock_for(bot);
        let _held = lock.lock().await;
        let on_bridge = self
            .inner
            .store
            .get_workspace(bot)?
            .filter(|w| w.network.as_deref() != Some("host"));
        let applies = match on_bridge {
            None => NetworkApply::NextCreate,
            Some(w) => {
                let rt = self.runtime()?;
                rt.set_private_networks_blocked(&w.container_id, blocked)
                    .await
                    .map_err(|e| Error::from(e).context("changing the network setting failed"))?;
                match self.info(bot).await?.state {
                    WorkspaceState::Running => NetworkApply::Now,
                    _ => NetworkApply::NextStart,
                }
            }
        };
        self.inner.store.set_block_private_networks(bot, blocked)?;
        let what = if blocked {
            "kept off private networks"
        } else {
            "private networks reachable"
        };
        self.event(bot, "network", what);
        Ok(applies)
    }
}

//! The one place where core connects to a workspace's bridge, and the connections it keeps.
//!
//! Every call into a running workspace (exec, terminals, files, data) used to ask containerd
//! for the task's status, probe the bridge and dial a new connection. [`Bridges`] keeps one
//! connection per running workspace instead, keyed by container id: the first call checks the
//! workspace is running and dials; later calls reuse the connection. An entry is dropped when
//! core hears that the workspace left `running` (stop, delete, rename, a task exit seen in the
//! runtime's events), and when a call on it fails with a transport error; the next call then
//! takes the checked path again, which gives the clear "not running; start it first" error for
//! a stopped workspace.
//!
//! Every dial names the process that must be listening ([`ExpectedPeer`]): the bot is root in
//! its workspace and can put its own listener at the socket's path, so a connection whose
//! listener is not the task's init process (the bridge) is refused, never used.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_bridge::{BridgeChannel, BridgeClient, BridgeError, ExpectedPeer, Health};
use berth_runtime::{BridgeTrust, Runtime};

use crate::model::{ErrorCode, WorkspaceState};
use crate::{Berth, Error, Result};

/// The longest [`wait_ready`] waits before it tries again while a bridge starts (a change in the
/// socket's directory makes it try at once).
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// Connections to running workspaces' bridges, by container id.
#[derive(Default)]
pub(crate) struct Bridges {
    conns: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    /// The bot the workspace belonged to when it was dialled (entries are found by bot).
    bot: String,
    channel: BridgeChannel,
}

impl Bridges {
    /// The kept connection of `bot`'s workspace.
    fn cached(&self, bot: &str) -> Option<(String, BridgeChannel)> {
        let conns = self.conns.lock().unwrap();
        conns
            .iter()
            .find(|(_, e)| e.bot == bot)
            .map(|(id, e)| (id.clone(), e.channel.clone()))
    }

    fn keep(&self, bot: &str, id: &str, channel: BridgeChannel) {
        let entry = Entry {
            bot: bot.to_string(),
            channel,
        };
        self.conns.lock().unwrap().insert(id.to_string(), entry);
    }

    /// Drops the connection of `bot`'s workspace (it stopped, was deleted or renamed).
    pub(crate) fn forget_bot(&self, bot: &str) {
        self.conns.lock().unwrap().retain(|_, e| e.bot != bot);
    }

    fn forget(&self, id: &str) {
        self.conns.lock().unwrap().remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.conns.lock().unwrap().len()
    }
}

/// Who must listen on the bridge socket of a task whose init process has host pid `pid`: that
/// process, unless the runtime vouches for the channel itself.
pub(crate) fn expected_peer(rt: &dyn Runtime, pid: u32) -> ExpectedPeer {
    match rt.capabilities().bridge_trust {
        BridgeTrust::CheckPeerPid => ExpectedPeer::Pid(pid),
        BridgeTrust::RuntimeVouches => ExpectedPeer::VouchedByRuntime,
    }
}

/// What a kept connection to container `id`'s bridge expects: the task's init process, looked
/// up again whenever the channel (re)connects, so a channel kept across a restart made by
/// another process accepts the new bridge, and still only it.
fn kept_peer(rt: Arc<dyn Runtime>, id: &str) -> ExpectedPeer {
    if rt.capabilities().bridge_trust == BridgeTrust::RuntimeVouches {
        return ExpectedPeer::VouchedByRuntime;
    }
    let id = id.to_string();
    ExpectedPeer::Current(Arc::new(move || {
        let (rt, id) = (rt.clone(), id.clone());
        Box::pin(async move {
            let s = rt.status(&id).await.map_err(|e| e.to_string())?;
            s.pid
                .filter(|_| s.running)
                .ok_or_else(|| "none: the workspace is not running".to_string())
        })
    }))
}

/// Dials the bridge listening on `socket`, refusing a listener that is not `peer`. Every
/// connection core makes to a bridge starts here.
pub(crate) async fn dial(socket: &Path, peer: ExpectedPeer) -> Result<BridgeChannel, BridgeError> {
    BridgeChannel::connect(socket, peer).await
}

/// Dials and asks for health until the bridge answers or `timeout` passes, again whenever the
/// socket's directory changes and at least every 50 ms; used
/// right after a task starts, when the socket may not exist yet. A listener that is not `peer`
/// ends the wait at once: it will not turn into the bridge by waiting.
pub(crate) async fn wait_ready(
    socket: &Path,
    peer: ExpectedPeer,
    timeout: Duration,
) -> Result<(BridgeChannel, Health), BridgeError> {
    let deadline = Instant::now() + timeout;
    // Set before the first dial: a socket created after it failed wakes the retry at once.
    let mut created = crate::socket_watch::DirWatch::new(socket.parent().unwrap_or(socket));
    loop {
        let attempt = async {
            let channel = dial(socket, peer.clone()).await?;
            let health = BridgeClient::new(&channel).health().await?;
            Ok::<_, BridgeError>((channel, health))
        };
        let last_err = match tokio::time::timeout_at(deadline.into(), attempt).await {
            Ok(Ok(ready)) => return Ok(ready),
            Ok(Err(e @ BridgeError::NotTheBridge(_))) => return Err(e),
            Ok(Err(e)) => e,
            Err(_) => BridgeError::Unavailable("timed out connecting".into()),
        };
        if Instant::now() + RETRY_EVERY >= deadline {
            return Err(BridgeError::Unavailable(format!(
                "bridge at {} not ready after {timeout:?}: {}",
                socket.display(),
                last_err.message()
            )));
        }
        created.changed(RETRY_EVERY).await;
    }
}

/// A connection handed out for one call, with whether it came from the cache.
pub(crate) struct Conn {
    pub channel: BridgeChannel,
    id: String,
    reused: bool,
}

impl Berth {
    /// A connection to the bot's running workspace's bridge: the kept one, or (after checking
    /// the workspace runs) a new one that is kept.
    pub(crate) async fn bridge(&self, bot: &str) -> Result<Conn> {
        if let Some((id, channel)) = self.inner.bridges.cached(bot) {
            return Ok(Conn {
                channel,
                id,
                reused: true,
            });
        }
        let info = self.info(bot).await?;
        if info.state != WorkspaceState::Running {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is not running; start it first"
            )));
        }
        let id = info.container_id.unwrap_or_default();
        let channel = self.bridge_of(bot, &id).await?;
        Ok(Conn {
            channel,
            id,
            reused: false,
        })
    }

    /// The kept connection to container `id`'s bridge, dialled and kept if there is none. For
    /// callers that know the task runs (the health probe of `info`, restore during create).
    /// A new dial asks the runtime for the task's pid, the only listener it accepts.
    pub(crate) async fn bridge_of(&self, bot: &str, id: &str) -> Result<BridgeChannel> {
        if let Some((cached_id, channel)) = self.inner.bridges.cached(bot) {
            if cached_id == id {
                return Ok(channel);
            }
        }
        let rt = self.runtime()?;
        // Checked here for a clear error; the kept channel looks the pid up on every connect.
        let status = rt.status(id).await?;
        let vouched = rt.capabilities().bridge_trust == BridgeTrust::RuntimeVouches;
        if !status.running || (status.pid.is_none() && !vouched) {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is not running; start it first"
            )));
        }
        let socket = self.bridge_socket(id);
        let channel = dial(&socket, kept_peer(rt, id)).await?;
        self.inner.bridges.keep(bot, id, channel.clone());
        Ok(channel)
    }

    /// Runs `op` on the bot's bridge connection. When a kept connection fails with a transport
    /// error (the bridge went away since it was dialled), the connection is dropped and `op`
    /// runs once more on the checked path: on a fresh connection, or not at all when the
    /// workspace no longer runs ("not running; start it first").
    pub(crate) async fn with_bridge<T, F, Fut>(&self, bot: &str, op: F) -> Result<T>
    where
        F: Fn(BridgeChannel) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let conn = self.bridge(bot).await?;
        match op(conn.channel.clone()).await {
            Err(e) if e.code == ErrorCode::Unavailable => {
                self.inner.bridges.forget(&conn.id);
                if !conn.reused {
                    return Err(e);
                }
                let conn = self.bridge(bot).await?;
                op(conn.channel).await
            }
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that reports every connection made to it (and keeps them open).
    fn listener(dir: &Path) -> (std::path::PathBuf, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let socket = dir.join("bridge.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                open.push(s);
                let _ = tx.send(());
            }
        });
        (socket, rx)
    }

    /// A kept connection is found by bot, replaced per container id and dropped by bot; dialling
    /// an absent socket fails as `Unavailable` (what makes `with_bridge` take the checked path).
    #[tokio::test]
    async fn keeps_one_connection_per_workspace_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, mut accepted) = listener(dir.path());
        let bridges = Bridges::default();
        let me = ExpectedPeer::Pid(std::process::id());
        let ch = dial(&socket, me.clone()).await.unwrap();
        accepted.recv().await.expect("dialling connects at once");
        bridges.keep("bot", "berth-bot", ch);
        bridges.keep("bot", "berth-bot", dial(&socket, me.clone()).await.unwrap());
        assert_eq!(bridges.len(), 1, "one entry per container id");
        let (id, _) = bridges.cached("bot").expect("kept");
        assert_eq!(id, "berth-bot");
        assert!(bridges.cached("other").is_none());
        bridges.keep(
            "other",
            "berth-other",
            dial(&socket, me.clone()).await.unwrap(),
        );
        bridges.forget_bot("bot");
        assert!(bridges.cached("bot").is_none());
        assert!(bridges.cached("other").is_some());
        bridges.forget("berth-other");
        assert_eq!(bridges.len(), 0);
        let gone = dial(&dir.path().join("nothing.sock"), me)
            .await
            .unwrap_err();
        assert_eq!(Error::from(gone).code, ErrorCode::Unavailable);
    }
}

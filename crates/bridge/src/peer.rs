//! Who may answer on a bridge's socket.
//!
//! The socket lives in a directory the workspace can write (`/run/berth`), and the bot is root
//! there: it can rename the socket aside, listen at the same path and relay every call, reading
//! and changing what the host sends and receives. So the host checks each connection it makes:
//! `SO_PEERCRED` on a connected Unix stream socket gives the credentials of the process that
//! called `listen()` on the other end, with the pid translated into the caller's pid namespace;
//! the bridge is the init process of the workspace's task, whose host pid the runtime reports.
//! A listener bound by any other process of the workspace has another pid and is refused.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::UnixStream;

/// The pid of the workspace task's init process now, or why there is none (asked on every
/// connection a kept channel makes, so a reconnect after a restart expects the new task).
pub type PidLookup =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> + Send + Sync>;

/// Who must be listening on a bridge's socket for the host to talk to it. Required by every
/// connect, so no path can skip the decision.
#[derive(Clone)]
pub enum ExpectedPeer {
    /// The socket is a Unix socket on the host and its listener must be the process with this
    /// pid in the host's pid namespace: the workspace task's init process, the bridge.
    Pid(u32),
    /// As `Pid`, with the pid looked up again for every connection: a channel that is kept and
    /// reconnects after its workspace restarted accepts the new task's bridge (and only it).
    Current(PidLookup),
    /// No check: the runtime carries the channel itself and vouches that only the bridge
    /// answers on it (a VM runtime relaying the socket has no listener pid the host could see),
    /// or the caller started the bridge itself (test harnesses, manual probes).
    VouchedByRuntime,
}

impl std::fmt::Debug for ExpectedPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedPeer::Pid(p) => write!(f, "Pid({p})"),
            ExpectedPeer::Current(_) => f.write_str("Current"),
            ExpectedPeer::VouchedByRuntime => f.write_str("VouchedByRuntime"),
        }
    }
}

impl ExpectedPeer {
    /// The expectation for a connection made now (`Current` looked up).
    pub(crate) async fn resolve(&self) -> Result<ExpectedPeer, NotTheBridge> {
        match self {
            ExpectedPeer::Current(lookup) => match lookup().await {
                Ok(pid) => Ok(ExpectedPeer::Pid(pid)),
                Err(why) => Err(NotTheBridge {
                    found: "not checked".into(),
                    expected: why,
                }),
            },
            other => Ok(other.clone()),
        }
    }
}

/// A connection refused because its listener is not the expected process.
#[derive(Debug, thiserror::Error)]
#[error(
    "the workspace's bridge socket is not served by its bridge (pid {found}, expected {expected}): \
     refusing to talk to it"
)]
pub(crate) struct NotTheBridge {
    /// The listener's pid as the kernel reported it, or why there was none.
    found: String,
    /// The task's pid, or why there is none.
    expected: String,
}

/// Accepts `stream` only when its listener is `peer`; fails closed when the credentials cannot
/// be read. A pid of 0 means the listener is in a pid namespace the host cannot see into, and
/// is never the expected one.
pub(crate) fn check(stream: &UnixStream, peer: ExpectedPeer) -> Result<(), NotTheBridge> {
    let ExpectedPeer::Pid(expected) = peer else {
        return Ok(());
    };
    let found = match stream.peer_cred() {
        Ok(cred) => match cred.pid() {
            Some(pid) if expected != 0 && i64::from(pid) == i64::from(expected) => return Ok(()),
            Some(0) => "0, outside this pid namespace".to_string(),
            Some(pid) => pid.to_string(),
            None => "unknown".to_string(),
        },
        Err(e) => format!("unreadable: {e}"),
    };
    Err(NotTheBridge {
        found,
        expected: expected.to_string(),
    })
}

/// Whether `err` (or what caused it) is a refused peer; its message when so.
pub(crate) fn refusal(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<NotTheBridge>() {
            return Some(refused.to_string());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener bound by this process: accepted only when this process's pid is expected.
    #[tokio::test]
    async fn only_the_expected_listener_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bridge.sock");
        let _listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let me = std::process::id();
        let stream = UnixStream::connect(&socket).await.unwrap();
        assert!(check(&stream, ExpectedPeer::Pid(me)).is_ok());
        assert!(check(&stream, ExpectedPeer::VouchedByRuntime).is_ok());
        let err = check(&stream, ExpectedPeer::Pid(me + 1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the workspace's bridge socket is not served by its bridge (pid {me}, expected {}): \
                 refusing to talk to it",
                me + 1
            )
        );
        assert!(
            check(&stream, ExpectedPeer::Pid(0)).is_err(),
            "0 is never a bridge"
        );
    }
}

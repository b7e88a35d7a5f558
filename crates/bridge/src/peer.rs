//! Who may answer on a bridge's socket.
//!
//! The socket lives in a directory the workspace can write (`/run/berth`), and the bot is root
//! there: it can rename the socket aside, listen at the same path and relay every call, reading
//! and changing what the host sends and receives. So the host checks each connection it makes:
//! `SO_PEERCRED` on a connected Unix stream socket gives the credentials of the process that
//! called `listen()` on the other end, with the pid translated into the caller's pid namespace;
//! the bridge is the init process of the workspace's task, whose host pid the runtime reports.
//! A listener bound by any other process of the workspace has another pid and is refused.

use tokio::net::UnixStream;

/// Who must be listening on a bridge's socket for the host to talk to it. Required by every
/// connect, so no path can skip the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedPeer {
    /// The socket is a Unix socket on the host and its listener must be the process with this
    /// pid in the host's pid namespace: the workspace task's init process, the bridge.
    Pid(u32),
    /// No check: the runtime carries the channel itself and vouches that only the bridge
    /// answers on it (a VM runtime relaying the socket has no listener pid the host could see),
    /// or the caller started the bridge itself (test harnesses, manual probes).
    VouchedByRuntime,
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
    expected: u32,
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
    Err(NotTheBridge { found, expected })
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

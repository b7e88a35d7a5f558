//! The host talks only to the real bridge: the bot (root in its workspace) moves the bridge's
//! socket aside and relays from a listener of its own at the same path. A core that dials
//! afterwards refuses the relay with a clear error and sends it nothing; the real bridge,
//! the fake's task, is accepted.

mod common;

use berth_bridge::ExecRequest;
use berth_core::model::ErrorCode;
use berth_runtime::Runtime;
use common::{guard, Harness};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// A faithful relay bound by this test process at `at`, forwarding to `to`; reports how many
/// bytes each connection carried from the host.
fn relay(at: &std::path::Path, to: std::path::PathBuf) -> mpsc::UnboundedReceiver<u64> {
    let listener = UnixListener::bind(at).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut host, _)) = listener.accept().await {
            let tx = tx.clone();
            let to = to.clone();
            tokio::spawn(async move {
                let mut bridge = UnixStream::connect(&to).await.unwrap();
                let (from_host, _) = tokio::io::copy_bidirectional(&mut host, &mut bridge)
                    .await
                    .unwrap_or_default();
                let _ = tx.send(from_host);
            });
        }
    });
    rx
}

async fn echo(berth: &berth_core::Berth) -> berth_core::Result<Vec<u8>> {
    let mut out = Vec::new();
    let req = ExecRequest::new(["echo", "hi"]);
    let status = berth
        .exec(
            "a",
            req,
            None::<tokio::io::Empty>,
            &mut out,
            tokio::io::sink(),
        )
        .await?;
    assert!(status.success());
    Ok(out)
}

#[tokio::test]
async fn a_relay_at_the_bridge_socket_is_refused() {
    let Some(h) = Harness::new("a_relay_at_the_bridge_socket_is_refused").await else {
        return;
    };
    h.create("a").await;
    let bridge_pid = h.fake.status("berth-a").await.unwrap().pid.unwrap();
    // The real bridge is accepted by a core that dials it afresh.
    let before = h.reopen().await;
    assert_eq!(guard(echo(&before)).await.unwrap(), b"hi\n");

    let socket = h.berth.paths().bridge_socket("berth-a");
    let aside = socket.with_file_name("real.sock");
    std::fs::rename(&socket, &aside).unwrap();
    let mut carried = relay(&socket, aside.clone());

    // A new core (a new CLI process, the app after a restart) dials the relay.
    let after = h.reopen().await;
    let err = guard(echo(&after)).await.unwrap_err();
    let want = format!(
        "the workspace's bridge socket is not served by its bridge (pid {}, expected {bridge_pid}): \
         refusing to talk to it",
        std::process::id()
    );
    assert_eq!(err.message, want);
    assert_eq!(err.code, ErrorCode::Internal);
    // The call that retries once on a lost connection does not get through either.
    let err = guard(after.file_list("a", "/")).await.unwrap_err();
    assert_eq!(err.message, want);
    // A refused dial closes its connection before sending anything: the relay sees it end empty.
    let n = guard(carried.recv()).await.unwrap();
    assert_eq!(n, 0, "the host sent the relay something");

    // A connection kept from before the swap is to the real bridge, and stays usable.
    assert_eq!(guard(echo(&before)).await.unwrap(), b"hi\n");
    while let Ok(n) = carried.try_recv() {
        assert_eq!(n, 0, "the host sent the relay something");
    }
}

/// Another process restarts the workspace (core has not heard of it: no events): the kept
/// connection reconnects to the new task's bridge, whose pid it looks up then, and is
/// accepted; it is not stuck expecting the old task's pid.
#[tokio::test]
async fn a_kept_connection_follows_a_restart_made_elsewhere() {
    let Some(h) = Harness::new("peer_restart_elsewhere").await else {
        return;
    };
    h.create("a").await;
    assert_eq!(guard(echo(&h.berth)).await.unwrap(), b"hi\n");
    let before = h.fake.status("berth-a").await.unwrap().pid.unwrap();
    h.fake.mute_events(true);
    h.fake
        .stop("berth-a", std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let after = h.fake.start("berth-a").await.unwrap();
    assert_ne!(before, after);
    let answered = guard(async {
        // The new bridge may not listen yet: the first calls can find no socket.
        loop {
            match echo(&h.berth).await {
                Err(e) if e.code == ErrorCode::Unavailable && !e.message.contains("not served") => {
                    tokio::task::yield_now().await
                }
                r => break r,
            }
        }
    })
    .await;
    assert_eq!(answered.unwrap(), b"hi\n");
}

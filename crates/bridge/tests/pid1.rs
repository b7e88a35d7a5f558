//! The bridge as the real PID 1 of a pid namespace, as in a container: orphans are reaped by
//! init itself (no subreaper), exec statuses stay correct, and SIGTERM (which PID 1 would
//! ignore without a handler) stops it.

mod common;

use std::time::Duration;

use berth_bridge::ExecRequest;
use common::{eventually, Bridge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaps_orphans_and_keeps_exit_codes_as_pid1() {
    let Some(b) = Bridge::start_as_pid1().await else {
        return;
    };
    assert_eq!(b.health.pid, 1);

    let out = b.sh("sleep 0.5 </dev/null >/dev/null 2>&1 & echo $!").await;
    let orphan = out.stdout_str().trim().to_string();
    // Inside the namespace: the orphan now belongs to PID 1 (the bridge).
    let ppid = b.sh(&format!("cut -d' ' -f4 /proc/{orphan}/stat")).await;
    assert_eq!(
        ppid.stdout_str().trim(),
        "1",
        "orphan not re-parented to the bridge"
    );
    // Once it exits, no zombie may remain under PID 1.
    let check = format!("test -e /proc/{orphan} && cut -d' ' -f3 /proc/{orphan}/stat || echo gone");
    let mut last = String::new();
    for _ in 0..100 {
        last = b.sh(&check).await.stdout_str();
        if last.trim() == "gone" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        last.trim(),
        "gone",
        "orphan {orphan} left behind (state {last})"
    );

    // The global reaper must not steal statuses from exec sessions.
    for code in [0, 1, 42, 255] {
        assert_eq!(b.sh(&format!("exit {code}")).await.status.code, Some(code));
    }
    let out = b
        .run(ExecRequest::new(["sh", "-c", "kill -INT $$"]), None)
        .await
        .unwrap();
    assert_eq!(out.status.signal, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_pid1() {
    let Some(mut b) = Bridge::start_as_pid1().await else {
        return;
    };
    let unshare = b.pid();
    // The bridge is unshare's only child; signal it directly (from outside its namespace).
    let children =
        std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).unwrap();
    let bridge: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    // A process that ignores nothing special but must be stopped with the bridge.
    let client = b.client.clone();
    let call = tokio::spawn(async move {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        client
            .exec(
                ExecRequest::new(["sleep", "300"]),
                None::<&'static [u8]>,
                &mut o,
                &mut e,
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SAFETY: signalling a process this test started.
    assert_eq!(unsafe { kill(bridge, 15) }, 0);
    let mut proc = b.child.take().unwrap();
    assert!(
        eventually(Duration::from_secs(8), || proc
            .try_wait()
            .unwrap()
            .is_some())
        .await,
        "PID 1 ignored SIGTERM"
    );
    // unshare exits with its child's status.
    assert_eq!(proc.wait().unwrap().code(), Some(0));
    let _ = call.await;
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

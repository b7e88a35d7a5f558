//! The bridge as the real PID 1 of a pid namespace, as in a container: orphans are reaped by
//! init itself (no subreaper), exec statuses stay correct, and SIGTERM (which PID 1 would
//! ignore without a handler) stops it.

mod common;

use std::time::Duration;

use berth_bridge::{BridgeError, ExecRequest};
use common::{proc_state, Bridge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reaps_orphans_and_keeps_exit_codes_as_pid1() {
    let Some(b) = Bridge::start_as_pid1().await else {
        return;
    };
    assert_eq!(b.health.pid, 1);

    // The orphan lives until the test writes to its fifo, so it is surely alive while its
    // parent is checked.
    let gate = common::fifo(b.dir.path(), "gate");
    let out = b
        .sh(&format!(
            "cat {} >/dev/null 2>&1 </dev/null & echo $!",
            gate.display()
        ))
        .await;
    let orphan = out.stdout_str().trim().to_string();
    // Inside the namespace: the orphan now belongs to PID 1 (the bridge).
    let ppid = b.sh(&format!("cut -d' ' -f4 /proc/{orphan}/stat")).await;
    assert_eq!(
        ppid.stdout_str().trim(),
        "1",
        "orphan not re-parented to the bridge"
    );
    common::release(&gate);
    // Once it exits, no zombie may remain under PID 1. Reaping by another process announces
    // nothing, so this re-checks until a deadline.
    let check = format!("test -e /proc/{orphan} && cut -d' ' -f3 /proc/{orphan}/stat || echo gone");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let last = loop {
        let last = b.sh(&check).await.stdout_str();
        if last.trim() == "gone" || std::time::Instant::now() > deadline {
            break last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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
    // A process that ignores nothing special but must be stopped with the bridge; it says
    // when it runs.
    let client = b.client.clone();
    let (stdout, mut printed) = common::published();
    let call = tokio::spawn(async move {
        client
            .exec(
                ExecRequest::new(["sh", "-c", "echo ready; exec sleep 300"]),
                None::<&'static [u8]>,
                stdout,
                tokio::io::sink(),
            )
            .await
    });
    common::line_with(&mut printed, "ready", Duration::from_secs(10)).await;
    let exec_d = common::children(bridge as u32);
    assert_eq!(exec_d.len(), 1, "the bridge's children: {exec_d:?}");
    // SAFETY: signalling a process this test started.
    assert_eq!(unsafe { kill(bridge, 15) }, 0);
    let mut proc = b.child.take().unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = common::exited(&mut proc, Duration::from_secs(10));
        if status.is_none() {
            let _ = proc.kill();
            let _ = proc.wait();
        }
        status
    })
    .await
    .unwrap()
    .expect("PID 1 ignored SIGTERM");
    // unshare exits with its child's status.
    assert_eq!(
        status.code(),
        Some(0),
        "PID 1 did not end cleanly on SIGTERM"
    );
    assert!(
        proc_state(exec_d[0]).is_none(),
        "the exec'd process outlived the bridge: {:?}",
        proc_state(exec_d[0])
    );
    // The client saw the process die of SIGTERM, or lost the connection with the bridge.
    match tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the exec call ended")
        .unwrap()
    {
        Ok(st) => assert_eq!(st.signal, Some(15), "{st:?}"),
        Err(e) => assert!(matches!(e, BridgeError::Unavailable(_)), "{e:?}"),
    }
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

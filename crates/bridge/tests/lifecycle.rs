//! The bridge as a process: health, socket handling, template seeding, reaping, shutdown.

mod common;

use std::time::Duration;

use berth_bridge::{BridgeClient, BridgeError, ExecRequest, ExpectedPeer};
use common::{eventually, proc_state, Bridge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_version_pid_and_uptime() {
    let b = Bridge::start().await;
    assert_eq!(b.health.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(b.health.pid, b.pid());
    // Time passing is what is measured here: the uptime grows by at least the pause.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let h = b.client.health().await.unwrap();
    assert!(
        h.uptime_ms >= b.health.uptime_ms + 100,
        "{h:?} vs {:?}",
        b.health
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced_and_socket_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let b = Bridge::start_with(|dir| {
        std::fs::create_dir_all(dir.join("run/berth")).unwrap();
        std::fs::write(dir.join("run/berth/bridge.sock"), b"stale").unwrap();
    })
    .await;
    let mode = std::fs::metadata(b.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_without_bridge_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    assert!(matches!(
        BridgeClient::connect(&sock, ExpectedPeer::Pid(1))
            .await
            .unwrap_err(),
        BridgeError::Unavailable(_)
    ));
    let started = std::time::Instant::now();
    let err = BridgeClient::wait_ready(&sock, ExpectedPeer::Pid(1), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::Unavailable(_)));
    assert!(
        started.elapsed() >= Duration::from_millis(250)
            && started.elapsed() < Duration::from_secs(3)
    );
}

/// The bot's attack: move the socket aside and listen at its path. A listener bound by another
/// process (here the test itself) is refused before a byte is sent, also by `wait_ready`, which
/// does not wait on; the real bridge, moved back, is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_is_not_the_bridge_is_refused() {
    use tokio::io::AsyncReadExt;
    let b = Bridge::start().await;
    let bridge = ExpectedPeer::Pid(b.pid());
    let aside = b.dir.path().join("run/berth/moved.sock");
    std::fs::rename(b.socket(), &aside).unwrap();
    let impostor = tokio::net::UnixListener::bind(b.socket()).unwrap();
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = impostor.accept().await {
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got).await;
            let _ = heard_tx.send(got);
        }
    });

    let err = BridgeClient::connect(&b.socket(), bridge.clone())
        .await
        .unwrap_err();
    let me = std::process::id();
    assert_eq!(
        err,
        BridgeError::NotTheBridge(format!(
            "the workspace's bridge socket is not served by its bridge (pid {me}, expected {}): \
             refusing to talk to it",
            b.pid()
        ))
    );
    assert_eq!(
        heard.recv().await.unwrap(),
        b"",
        "nothing was sent to the impostor"
    );
    let err = BridgeClient::wait_ready(&b.socket(), bridge.clone(), Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::NotTheBridge(_)), "{err:?}");

    std::fs::rename(&aside, b.socket()).unwrap();
    let client = BridgeClient::connect(&b.socket(), bridge).await.unwrap();
    assert_eq!(client.health().await.unwrap().version, b.health.version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_seed_data_without_overwriting() {
    let b = Bridge::start_with(|dir| {
        let t = dir.join("templates");
        std::fs::create_dir_all(t.join("skills/deep")).unwrap();
        std::fs::write(t.join("README.md"), "template readme").unwrap();
        std::fs::write(t.join("keep.txt"), "template version").unwrap();
        std::fs::write(t.join("skills/deep/a.sh"), "#!/bin/sh\necho a\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            t.join("skills/deep/a.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("README.md", t.join("link")).unwrap();
        // Existing bot data: the file and the directory must survive untouched.
        std::fs::create_dir_all(dir.join("data/skills")).unwrap();
        std::fs::write(dir.join("data/keep.txt"), "bot's own").unwrap();
        std::fs::write(dir.join("data/skills/mine"), "bot skill").unwrap();
    })
    .await;
    let d = b.data();
    let read = |p: &str| std::fs::read_to_string(d.join(p)).unwrap();
    assert_eq!(read("README.md"), "template readme");
    assert_eq!(read("keep.txt"), "bot's own");
    assert_eq!(read("skills/mine"), "bot skill");
    assert_eq!(read("skills/deep/a.sh"), "#!/bin/sh\necho a\n");
    assert_eq!(
        std::fs::read_link(d.join("link")).unwrap().to_str(),
        Some("README.md")
    );
    // Mode is kept, so seeded scripts run.
    let out = b
        .run(ExecRequest::new(["./skills/deep/a.sh"]), None)
        .await
        .unwrap();
    assert_eq!(out.stdout, b"a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_templates_dir_still_creates_data() {
    let b = Bridge::start_with(|dir| std::fs::remove_dir(dir.join("templates")).unwrap()).await;
    assert!(b.data().is_dir());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(b.data()).unwrap().permissions().mode() & 0o777,
        0o755
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_reaped() {
    let b = Bridge::start().await;
    // Double fork: the exec'd shell exits at once, its background child is orphaned and must be
    // re-parented to the bridge (subreaper here, PID 1 in a container) and reaped when it exits.
    // The orphan lives until the test writes to its fifo, so it is surely alive while its
    // parent is checked.
    let gate = common::fifo(b.dir.path(), "gate");
    let out = b
        .sh(&format!(
            "cat {} >/dev/null 2>&1 </dev/null & echo $!",
            gate.display()
        ))
        .await;
    assert!(out.status.success());
    let orphan: u32 = out.stdout_str().trim().parse().unwrap();
    let (state, ppid) = proc_state(orphan).expect("orphan still running");
    assert_ne!(state, 'Z');
    assert_eq!(ppid, b.pid(), "orphan was not re-parented to the bridge");
    common::release(&gate);
    // After it exits, no zombie may remain. Reaping by another process announces nothing, so
    // this re-checks until a deadline.
    assert!(
        eventually(Duration::from_secs(5), || proc_state(orphan).is_none()).await,
        "orphan left behind: {:?}",
        proc_state(orphan)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_children_and_exits_zero() {
    let mut b = Bridge::start().await;
    let client = b.client.clone();
    let (stdout, mut printed) = common::published();
    let call = tokio::spawn(async move {
        client
            .exec(
                ExecRequest::new(["sh", "-c", "echo $$ ready; exec sleep 300"]),
                None::<&'static [u8]>,
                stdout,
                tokio::io::sink(),
            )
            .await
    });
    let child: u32 = common::line_with(&mut printed, " ready", Duration::from_secs(10))
        .await
        .parse()
        .unwrap();
    // SAFETY: signalling the bridge process this test started.
    unsafe { libc_kill(b.pid() as i32, 15) };
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
    .expect("the bridge ignored SIGTERM");
    assert_eq!(status.code(), Some(0));
    assert!(
        proc_state(child).is_none(),
        "exec'd child survived the bridge's shutdown"
    );
    // The client saw the child die of SIGTERM (or lost the connection with the bridge).
    match tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the exec call ended")
        .unwrap()
    {
        Ok(st) => assert_eq!(st.signal, Some(15)),
        Err(e) => assert!(matches!(e, BridgeError::Unavailable(_)), "{e:?}"),
    }
    assert!(!b.socket().exists(), "socket file left behind");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

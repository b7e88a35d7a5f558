//! A workspace's whole life through `berth_core::Berth`: create with its phases, exec, stop,
//! start, delete; and its network namespace.

use std::time::Duration;

use berth_core::model::{
    CreateEvent, ErrorCode, LayerStatus, NetworkMode, WorkspaceChanged, WorkspaceState,
};
use berth_tests::{create, exec, sh, TestEnv, BUSYBOX};

/// The documented order: resolving, pulling*, unpacking*, creating, starting, waitingBridge,
/// complete.
fn phase(e: &CreateEvent) -> u8 {
    match e {
        CreateEvent::Resolving { .. } => 0,
        CreateEvent::Pulling(_) => 1,
        CreateEvent::Unpacking { .. } => 2,
        // Only in a change of image (tests/tests/change_image.rs).
        CreateEvent::Preserving | CreateEvent::RemovingOld => 2,
        CreateEvent::Creating => 3,
        CreateEvent::Starting => 4,
        CreateEvent::WaitingBridge => 5,
        // Only with kept data (tests/tests/data.rs); between the bridge and complete.
        CreateEvent::Restoring | CreateEvent::DataTransfer(_) => 5,
        CreateEvent::Complete { .. } => 6,
        CreateEvent::Failed { .. } => 7,
    }
}

/// Waits (bounded) until the states notified for `bot` hold `want` in order (other states may
/// come between); a notification arrives after the change it reports.
async fn notified_in_order(
    rx: &mut tokio::sync::broadcast::Receiver<WorkspaceChanged>,
    bot: &str,
    want: &[WorkspaceState],
) {
    let (mut seen, mut matched) = (vec![], 0);
    while matched < want.len() {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Ok(c)) if c.bot == bot => {
                matched += usize::from(c.state == want[matched]);
                seen.push(c.state);
            }
            Ok(Ok(_)) => {}
            other => panic!(
                "notifications {seen:?} lack {:?} in order {want:?}: {other:?}",
                want[matched]
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_exec_stop_start_delete() {
    let Some(env) = TestEnv::new("lifecycle") else {
        return;
    };
    let berth = env.berth().await;
    let mut changes = berth.subscribe();
    let bot = format!("lc-{}", berth_tests::suffix());
    let id = format!("berth-{bot}");
    // A copy no namespace holds yet, so the create really downloads.
    let image = env.fresh_image(BUSYBOX);

    let (info, events) = create(&berth, &bot, &image).await;
    let info = info.expect("create");
    // Phases in order, each once, pulling before unpacking and nothing after the end.
    let phases: Vec<u8> = events.iter().map(phase).collect();
    assert!(
        phases.windows(2).all(|w| w[0] <= w[1]),
        "phases out of order: {phases:?}"
    );
    for once in [0, 3, 4, 5, 6] {
        assert_eq!(
            phases.iter().filter(|p| **p == once).count(),
            1,
            "phase {once} not exactly once: {phases:?}"
        );
    }
    assert!(
        phases.contains(&1) && phases.contains(&2),
        "no pulling or unpacking in a fresh namespace: {phases:?}"
    );
    let pulls: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let CreateEvent::Pulling(p) = e {
                Some(p)
            } else {
                None
            }
        })
        .collect();
    assert!(
        pulls.windows(2).all(|w| w[0].done_bytes <= w[1].done_bytes),
        "pull progress went back"
    );
    let last = pulls.last().unwrap();
    assert!(
        last.total_bytes > 0 && last.done_bytes == last.total_bytes,
        "pull did not end complete: {last:?}"
    );
    assert!(
        last.layers.iter().all(|l| l.status == LayerStatus::Done),
        "{last:?}"
    );
    let CreateEvent::Complete { info: completed } = events.last().unwrap() else {
        unreachable!()
    };
    assert_eq!(completed, &info);

    assert_eq!(info.state, WorkspaceState::Running);
    assert_eq!(info.container_id.as_deref(), Some(id.as_str()));
    assert_eq!(info.image.as_deref(), Some(image.as_str()));
    assert_eq!(info.network, Some(NetworkMode::Cni));
    assert!(
        info.bridge_version.is_some(),
        "bridge did not answer: {info:?}"
    );
    assert_eq!(
        berth
            .bots()
            .unwrap()
            .iter()
            .find(|b| b.name == bot)
            .unwrap()
            .state,
        WorkspaceState::Running
    );
    assert!(env.containers().contains(&id));
    assert!(
        env.tasks().contains(&(id.clone(), "RUNNING".into())),
        "{:?}",
        env.tasks()
    );
    assert!(
        env.leases().is_empty(),
        "create left leases: {:?}",
        env.leases()
    );

    // exec: stdin, stdout, stderr, exit code, and /data as the working directory.
    let ran = exec(
        &berth,
        &bot,
        &["sh", "-c", "cat; echo oops >&2; exit 3"],
        Some(b"hello\nworld\n"),
    )
    .await
    .unwrap();
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str(), ran.status.code),
        ("hello\nworld\n", "oops\n", Some(3))
    );
    assert_eq!(sh(&berth, &bot, "pwd").await, "/data\n");
    let ran = exec(&berth, &bot, &["no-such-program"], None).await;
    assert!(
        ran.as_ref().is_err() || ran.as_ref().unwrap().status.code != Some(0),
        "{ran:?}"
    );
    sh(&berth, &bot, "echo kept > /data/note").await;
    // The writable layer's size, measured by the snapshotter (apart from the cgroup's figures).
    sh(&berth, &bot, "head -c 1048576 /dev/zero > /data/mib").await;
    let layer = berth.stats(&bot).await.expect("stats").layer_bytes;
    assert!(layer.is_some_and(|b| b >= 1 << 20), "{layer:?}");
    sh(&berth, &bot, "rm /data/mib").await;

    // The bridge (PID 1) ends on SIGTERM: stop must not wait for the 10 s SIGKILL grace.
    let t0 = std::time::Instant::now();
    let stopped = berth.stop(&bot).await.expect("stop");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t0.elapsed()
    );
    assert_eq!(stopped.state, WorkspaceState::Stopped);
    assert!(
        !env.tasks().iter().any(|(t, s)| *t == id && s == "RUNNING"),
        "task still runs: {:?}",
        env.tasks()
    );
    assert_eq!(
        berth
            .bots()
            .unwrap()
            .iter()
            .find(|b| b.name == bot)
            .unwrap()
            .state,
        WorkspaceState::Stopped
    );
    let err = exec(&berth, &bot, &["true"], None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err:?}");

    let started = berth.start(&bot).await.expect("start");
    assert_eq!(started.state, WorkspaceState::Running);
    assert_eq!(
        sh(&berth, &bot, "cat /data/note").await,
        "kept\n",
        "data lost across stop/start"
    );

    berth.delete_workspace(&bot).await.expect("delete");
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Absent
    );
    env.assert_no_workspace(&bot, "after delete");
    assert!(
        !berth.paths().socket_dir(&id).exists(),
        "socket dir left behind"
    );
    // The image stays for the next create; delete is idempotent.
    assert!(env.images().contains(&image));
    berth.delete_workspace(&bot).await.expect("second delete");

    let want = [
        WorkspaceState::Creating,
        WorkspaceState::Running,
        WorkspaceState::Stopped,
        WorkspaceState::Running,
        WorkspaceState::Absent,
    ];
    notified_in_order(&mut changes, &bot, &want).await;
    berth.delete_bot(&bot).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_network_is_its_own() {
    let Some(env) = TestEnv::new("network") else {
        return;
    };
    let berth = env.berth().await;
    if berth.status().await.network != NetworkMode::Cni {
        berth_tests::unavailable(
            "workspace_network_is_its_own",
            "CNI plugins are not installed",
        );
        return;
    }
    let bot = format!("net-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");

    let addr = sh(&berth, &bot, "ip -4 -o addr show dev eth0").await;
    assert!(
        addr.contains("inet 10.89."),
        "eth0 has no 10.89.x address: {addr:?}"
    );
    let id = format!("berth-{bot}");
    assert!(
        berth_tests::masquerade_rule_present(),
        "no NAT rule for the workspace subnet"
    );
    assert!(
        !berth_tests::network_leftovers(&env.ns, &id).is_empty(),
        "no address reserved for a running workspace"
    );
    let lo = sh(&berth, &bot, "ip -o link show dev lo").await;
    assert!(lo.contains("UP"), "loopback is down: {lo:?}");

    // A server on the host's loopback: inside the namespace 127.0.0.1 is the workspace's own.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let applets = sh(&berth, &bot, "busybox --list").await;
    assert!(applets.lines().any(|a| a == "nc"), "busybox has no nc");
    // (busybox 1.35's wget segfaults on a refused connection to 127.0.0.1; nc does not.)
    let ran = exec(
        &berth,
        &bot,
        &["sh", "-c", &format!("nc -w 3 127.0.0.1 {port} </dev/null")],
        None,
    )
    .await
    .unwrap();
    assert_ne!(
        ran.status.code,
        Some(0),
        "reached the host's loopback: {ran:?}"
    );
    assert!(
        ran.stderr.contains("refused"),
        "expected connection refused: {ran:?}"
    );
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host listener saw a connection: {other:?}"),
    }
    // Positive control: the same client does reach a server on the workspace's own loopback.
    let ran = exec(
        &berth,
        &bot,
        // busybox httpd listens before it goes to the background, so it answers once it returned.
        &["sh", "-c", "mkdir -p /tmp/www && echo inside > /tmp/www/x && httpd -p 127.0.0.1:8080 -h /tmp/www && \
           printf 'GET /x HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080 | tail -n 1"],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (ran.status.code, ran.stdout.as_str()),
        (Some(0), "inside\n"),
        "{ran:?}"
    );

    berth.delete_workspace(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
    assert_eq!(
        berth_tests::network_leftovers(&env.ns, &id),
        Vec::<String>::new(),
        "network left after delete"
    );
}

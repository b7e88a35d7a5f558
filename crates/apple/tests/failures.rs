//! What goes wrong, through the fake `container`: the preflight's refusals, a create that fails
//! after the container was made, a cancelled or failed pull, a hung call, a service that stops
//! answering (and the `Resynced` after it), and what Apple cannot do.

mod common;

use std::sync::Arc;
use std::time::Duration;

use berth_apple::{AppleConnector, AppleOptions, MAX_SOCKET_PATH};
use berth_runtime::{
    CancellationToken, Connector, ErrorKind, ImageRef, Network, PullEvent, PullPolicy, RuntimeEvent,
};
use common::{gone, strs, wait_event, wait_until, Fake, Sink, IMAGE, VERSIONS};

#[tokio::test]
async fn preflight_refuses_0_x_naming_both_versions() {
    let fake = Fake::new("0.12", &[]);
    let err = fake
        .connector(Fake::options())
        .connect(&fake.target())
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.message.contains("version 0.12.3"), "{err}");
    assert!(err.message.contains("1.0.0 or newer"), "{err}");
}

#[test]
fn the_fake_runs_as_a_program() {
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake/container");
    let out = std::process::Command::new(&fake)
        .arg("--version")
        .env("FAKE_CONTAINER_VERSION", "1.1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "container CLI version 1.1.0 (build: release, commit: 5973b9c)\n"
    );
}

#[tokio::test]
async fn preflight_wants_the_system_service() {
    for v in VERSIONS {
        let fake = Fake::new(v, &["FAKE_CONTAINER_SYSTEM=stopped"]);
        let err = fake
            .connector(Fake::options())
            .connect(&fake.target())
            .await
            .err()
            .unwrap();
        assert_eq!(err.kind, ErrorKind::Unavailable, "{v}");
        assert!(
            err.message.contains("run `container system start`"),
            "{v}: {err}"
        );
    }
}

#[tokio::test]
async fn preflight_without_the_program_says_how_to_install_it() {
    let t = tempfile::tempdir().unwrap();
    let missing = AppleConnector::new(Some(t.path().join("container")));
    let target = Fake::new("1.2", &[]).target();
    let err = missing.connect(&target).await.err().unwrap();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.contains("BERTH_CONTAINER_BIN"), "{err}");
    assert!(missing.own_daemon().is_none());
    assert_eq!(missing.name(), "Apple Container");
}

#[tokio::test]
async fn a_stopped_service_after_connect_is_unavailable() {
    let fake = Fake::new("1.1", &[]);
    let rt = fake.connect().await;
    fake.set_env(Some("export FAKE_CONTAINER_SYSTEM=stopped\n"));
    let err = rt.list().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert_eq!(
        err.message,
        "Apple's container system service is not running: run `container system start`"
    );
    assert_eq!(rt.version().await.unwrap_err().kind, ErrorKind::Unavailable);
}

#[tokio::test]
async fn a_create_that_fails_after_making_the_container_removes_it() {
    for (v, fail) in [
        ("1.0", "create"),
        ("1.2", "create"),
        ("1.1", "create-unlabelled"),
    ] {
        let fake = Fake::new(v, &[&format!("FAKE_CONTAINER_FAIL={fail}")]);
        let rt = fake.connect().await;
        let spec = fake.spec("alice");
        let err = rt.create(&spec).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal, "{v} {fail}: {err}");
        assert!(
            fake.calls()
                .contains(&strs(&["delete", "-f", "berth-alice"])),
            "{v} {fail}"
        );
        fake.set_env(Some("export FAKE_CONTAINER_FAIL=\n"));
        assert!(
            fake.run(&["list", "--all", "--format", "json"]).trim() == "[]",
            "{v} {fail}"
        );
        rt.create(&spec).await.unwrap();
    }
}

#[tokio::test]
async fn a_cancelled_pull_kills_its_process_group() {
    let fake = Fake::new("1.2", &["FAKE_CONTAINER_HANG=pull"]);
    let rt = fake.connect().await;
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let sink = Sink {
        on_event: Some(Box::new(move |e| {
            if matches!(e, PullEvent::Overall(_)) {
                c.cancel();
            }
        })),
        ..Sink::default()
    };
    let image = ImageRef::parse(IMAGE).unwrap();
    let err = rt
        .ensure_image(&image, PullPolicy::Always, &sink, &cancel)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    assert!(matches!(
        sink.events.lock().unwrap()[0],
        PullEvent::Resolved { .. }
    ));
    let pids = std::fs::read_to_string(fake.state.join("hang.pid")).unwrap();
    for pid in pids.split_whitespace() {
        let pid: i32 = pid.parse().unwrap();
        wait_until(&format!("pid {pid} to be killed"), || gone(pid)).await;
    }
}

#[tokio::test]
async fn a_failed_pull_says_why() {
    let fake = Fake::new("1.0", &["FAKE_CONTAINER_FAIL=pull"]);
    let rt = fake.connect().await;
    let image = ImageRef::parse(IMAGE).unwrap();
    let sink = Sink::default();
    let err = rt
        .ensure_image(
            &image,
            PullPolicy::IfNotPresent,
            &sink,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("connection reset"), "{err}");
    assert!(
        !err.message.contains("[1/2]"),
        "progress lines are not the error: {err}"
    );
}

#[tokio::test]
async fn a_hung_call_is_killed_at_its_deadline() {
    let fake = Fake::new("1.2", &[]);
    let options = AppleOptions {
        query_timeout: Duration::from_secs(2),
        ..Fake::options()
    };
    let rt = fake
        .connector(options)
        .connect(&fake.target())
        .await
        .unwrap();
    fake.set_env(Some("export FAKE_CONTAINER_HANG=list\n"));
    let err = rt.list().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.contains("did not finish within 2 s"), "{err}");
    let pids = std::fs::read_to_string(fake.state.join("hang.pid")).unwrap();
    for pid in pids.split_whitespace() {
        let pid: i32 = pid.parse().unwrap();
        wait_until(&format!("pid {pid} to be killed"), || gone(pid)).await;
    }
}

#[tokio::test]
async fn a_failed_stop_falls_back_to_kill() {
    let fake = Fake::new("1.1", &[]);
    let rt = fake.connect().await;
    let spec = fake.spec("alice");
    rt.create(&spec).await.unwrap();
    rt.start(&spec.id).await.unwrap();
    fake.set_env(Some("export FAKE_CONTAINER_FAIL=stop\n"));
    rt.stop(&spec.id, Duration::from_secs(1)).await.unwrap();
    assert!(fake
        .calls()
        .contains(&strs(&["kill", "-s", "SIGKILL", "berth-alice"])));
    assert!(!rt.status(&spec.id).await.unwrap().running);
}

#[tokio::test]
async fn polling_resyncs_after_a_gap() {
    let fake = Fake::new("1.2", &[]);
    let rt: Arc<dyn berth_runtime::Runtime> = fake.connect().await;
    let spec = fake.spec("alice");
    rt.create(&spec).await.unwrap();
    let lists = fake.list_calls();
    let mut events = rt.events();
    fake.wait_for_poll_baseline(lists).await;
    rt.start(&spec.id).await.unwrap();
    wait_event(&mut events, |e| {
        matches!(e, RuntimeEvent::TaskStarted { .. })
    })
    .await;

    fake.set_env(Some("export FAKE_CONTAINER_SYSTEM=stopped\n"));
    let before = fake.list_calls();
    // A poll made while the service is down (it fails) … The fake logs a call once it runs, and
    // the poll that was in flight when the environment changed read the old one (it may be
    // logged only now): polls are sequential, so the second `list` logged from here on began
    // after the change, and fails.
    wait_until("a failed poll", || fake.list_calls() > before + 1).await;
    // … and the workspace stops meanwhile: no TaskExited can be trusted, a Resynced comes.
    fake.set_env(None);
    fake.run(&["stop", "berth-alice"]);
    let e = wait_event(&mut events, |_| true).await;
    assert_eq!(e, RuntimeEvent::Resynced);
}

#[tokio::test]
async fn what_apple_cannot_do_is_refused_at_create() {
    let fake = Fake::new("1.2", &[]);
    let rt = fake.connect().await;
    let mut host = fake.spec("alice");
    host.network = Network::Host;
    let err = rt.create(&host).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(err.message.contains("own network"), "{err}");
    let mut private = fake.spec("alice");
    private.block_private_networks = true;
    assert_eq!(
        rt.create(&private).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );
    let limits = rt
        .set_limits("berth-alice", &Default::default())
        .await
        .unwrap_err();
    assert_eq!(limits.kind, ErrorKind::Unsupported);
    assert!(
        limits.message.contains("fixed when it is created"),
        "{limits}"
    );
    assert!(!fake.calls().iter().any(|c| c[0] == "create"));
}

#[tokio::test]
async fn a_long_socket_dir_gets_a_short_private_socket() {
    let fake = Fake::new("1.2", &[]);
    let rt = fake.connect().await;
    let mut spec = fake.spec("alice");
    spec.socket_dir = fake.dir.path().join("x".repeat(120)).join("berth-alice");
    let host = rt.bridge_socket(&spec.socket_dir);
    assert!(host.as_os_str().len() <= MAX_SOCKET_PATH);
    assert!(host.starts_with("/tmp"), "{}", host.display());
    // A stale socket file left there is removed before create.
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(host.parent().unwrap())
        .unwrap();
    std::fs::write(&host, b"").unwrap();
    rt.create(&spec).await.unwrap();
    let create = fake.calls().into_iter().find(|c| c[0] == "create").unwrap();
    let publish = format!("{}:/run/berth/bridge.sock", host.display());
    assert!(create.contains(&publish), "{create:?}");
    rt.delete(&spec.id).await.unwrap();
}

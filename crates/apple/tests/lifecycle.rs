//! The whole workspace lifecycle through the fake `container` of each release: preflight, pull
//! with progress, create, start, status, list, events by polling, usage, stop, delete, with the
//! exact argument list of every call.

mod common;

use std::time::Duration;

use berth_runtime::{
    BridgeTrust, CancellationToken, ErrorKind, ImageRef, OverallProgress, PullEvent, PullPolicy,
    Runtime, RuntimeEvent,
};
use common::{strs, wait_event, Fake, Sink, IMAGE};

#[tokio::test]
async fn lifecycle_1_0() {
    lifecycle("1.0").await;
}

#[tokio::test]
async fn lifecycle_1_1() {
    lifecycle("1.1").await;
}

#[tokio::test]
async fn lifecycle_1_2() {
    lifecycle("1.2").await;
}

async fn lifecycle(version: &str) {
    let fake = Fake::new(version, &[]);
    let rt = fake.connect().await;
    assert_eq!(
        fake.calls(),
        [
            strs(&["--version"]),
            strs(&["system", "status", "--format", "json"])
        ]
    );
    assert!(rt
        .version()
        .await
        .unwrap()
        .contains(&format!("{version}.0")));
    let caps = rt.capabilities();
    assert_eq!(caps.bridge_trust, BridgeTrust::RuntimeVouches);
    assert!(
        !caps.native_versions && !caps.layer_progress && !caps.live_events && !caps.change_limits
    );
    let lists = fake.list_calls();
    let mut events = rt.events();
    fake.wait_for_poll_baseline(lists).await;

    pull(&fake, &*rt).await;
    let spec = fake.spec("alice");
    let id = spec.id.clone();
    let n = fake.calls().len();
    rt.create(&spec).await.unwrap();
    let socket = spec.socket_dir.join("bridge.sock");
    assert_eq!(rt.bridge_socket(&spec.socket_dir), socket);
    let create = fake.calls()[n..]
        .iter()
        .find(|c| c[0] == "create")
        .cloned()
        .unwrap();
    assert_eq!(create, golden_create(&spec, &socket));
    assert!(spec.socket_dir.is_dir(), "the socket's directory is made");
    let note = std::fs::read_to_string(&spec.log_path).unwrap();
    assert!(note.contains(&format!("container logs {id}")), "{note}");
    let again = rt.create(&spec).await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::AlreadyExists);

    let stopped = rt.status(&id).await.unwrap();
    assert!(!stopped.running && stopped.pid.is_none());
    assert_eq!(rt.start(&id).await.unwrap(), 0);
    assert!(fake.calls().contains(&strs(&["start", &id])));
    let s = rt.status(&id).await.unwrap();
    assert!(s.running);
    assert_eq!(s.pid, Some(0));
    assert_eq!(s.bot.as_deref(), Some("alice"));
    assert_eq!(s.image, IMAGE);
    assert_eq!(rt.start(&id).await.unwrap_err().kind, ErrorKind::Conflict);
    wait_event(&mut events, |e| {
        *e == RuntimeEvent::TaskStarted { id: id.clone() }
    })
    .await;

    foreign_containers_are_not_ours(&fake, &*rt, &id).await;

    let usage = rt.usage(&id).await.unwrap();
    assert!(fake
        .calls()
        .contains(&strs(&["stats", "--no-stream", "--format", "json", &id])));
    assert_eq!(usage.cpu_nanos, 1_873_402_000);
    assert_eq!(usage.memory, 73_400_320);
    assert_eq!(usage.memory_limit, Some(2_147_483_648));
    assert_eq!(usage.pids, 4);
    assert_eq!(rt.layer_bytes(&id).await.unwrap(), None);

    rt.stop(&id, Duration::from_secs(3)).await.unwrap();
    assert!(fake
        .calls()
        .contains(&strs(&["stop", "-s", "SIGTERM", "-t", "3", &id])));
    assert!(!rt.status(&id).await.unwrap().running);
    wait_event(&mut events, |e| {
        *e == RuntimeEvent::TaskExited {
            id: id.clone(),
            exit_status: 0,
        }
    })
    .await;
    let n = fake.calls().len();
    rt.stop(&id, Duration::from_secs(3)).await.unwrap();
    assert!(
        !fake.calls()[n..].iter().any(|c| c[0] == "stop"),
        "a stopped one is not stopped again"
    );
    assert_eq!(rt.usage(&id).await.unwrap_err().kind, ErrorKind::Conflict);

    rt.delete(&id).await.unwrap();
    assert!(fake.calls().contains(&strs(&["delete", "-f", &id])));
    assert_eq!(rt.status(&id).await.unwrap_err().kind, ErrorKind::NotFound);
    wait_event(&mut events, |e| {
        *e == RuntimeEvent::ContainerDeleted { id: id.clone() }
    })
    .await;
    rt.delete(&id).await.unwrap();
    rt.stop(&id, Duration::ZERO).await.unwrap();
    assert_eq!(rt.start(&id).await.unwrap_err().kind, ErrorKind::NotFound);
}

/// Pull policy and progress: `Resolved` first, then whole-image progress with `done` never going
/// back, then `Unpacking`; a present image is not pulled again.
async fn pull(fake: &Fake, rt: &dyn Runtime) {
    let image = ImageRef::parse(IMAGE).unwrap();
    let cancel = CancellationToken::new();
    let never = rt
        .ensure_image(&image, PullPolicy::Never, &(), &cancel)
        .await
        .unwrap_err();
    assert_eq!(never.kind, ErrorKind::NotFound);
    assert!(never.message.contains("pull policy"), "{never}");

    let sink = Sink::default();
    rt.ensure_image(&image, PullPolicy::IfNotPresent, &sink, &cancel)
        .await
        .unwrap();
    let calls = fake.calls();
    assert!(calls.contains(&strs(&["image", "inspect", IMAGE])));
    let platform = common::platform();
    let pull = [
        "image",
        "pull",
        "--progress",
        "plain",
        "--platform",
        &platform,
        IMAGE,
    ];
    assert!(calls.contains(&strs(&pull)), "{calls:?}");
    let events = sink.events.into_inner().unwrap();
    assert_eq!(
        events[0],
        PullEvent::Resolved {
            image: IMAGE.into(),
            layers: vec![]
        }
    );
    let overall: Vec<OverallProgress> = events
        .iter()
        .filter_map(|e| match e {
            PullEvent::Overall(o) => Some(*o),
            _ => None,
        })
        .collect();
    assert_eq!(overall.len(), 5, "{events:?}");
    assert!(overall.windows(2).all(|w| w[0].done <= w[1].done));
    let last = overall.last().unwrap();
    assert_eq!(last.percent, Some(100.0));
    assert_eq!(last.total, last.done);
    assert!(overall[1].eta_seconds.is_some_and(|s| s > 0));
    assert_eq!(
        events.last(),
        Some(&PullEvent::Unpacking {
            layer: 1,
            layers: 1
        })
    );

    let n = fake.calls().len();
    rt.ensure_image(&image, PullPolicy::IfNotPresent, &(), &cancel)
        .await
        .unwrap();
    rt.ensure_image(&image, PullPolicy::Never, &(), &cancel)
        .await
        .unwrap();
    assert!(!fake.calls()[n..]
        .iter()
        .any(|c| c[..2] == ["image", "pull"]));
    rt.ensure_image(&image, PullPolicy::Always, &(), &cancel)
        .await
        .unwrap();
    assert!(fake.calls()[n..]
        .iter()
        .any(|c| c[..2] == ["image", "pull"]));
}

/// Containers without Berth's labels or of another namespace are not listed nor touched.
async fn foreign_containers_are_not_ours(fake: &Fake, rt: &dyn Runtime, ours: &str) {
    let runtime = fake.dir.path().join("runtime");
    let mount = format!(
        "type=bind,source={},target=/opt/berth,readonly",
        runtime.display()
    );
    fake.run(&[
        "create",
        "--name",
        "postgres",
        "docker.io/library/postgres:17",
    ]);
    fake.run(&[
        "create",
        "--name",
        "berth-carol",
        "--label",
        "berth.workspace=1",
        "--label",
        "berth.bot=carol",
        "--label",
        "berth.namespace=berth-test",
        "--mount",
        &mount,
        IMAGE,
    ]);
    fake.run(&["start", "berth-carol"]);
    let list = rt.list().await.unwrap();
    assert_eq!(
        list.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [ours]
    );
    assert!(fake
        .calls()
        .contains(&strs(&["list", "--all", "--format", "json"])));
    assert_eq!(
        rt.status("berth-carol").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        rt.delete("berth-carol").await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    assert_eq!(
        rt.delete("postgres").await.unwrap_err().kind,
        ErrorKind::Conflict
    );
    rt.stop("berth-carol", Duration::ZERO).await.unwrap();
    assert!(
        fake.run(&["inspect", "berth-carol"])
            .contains("\"running\""),
        "left alone"
    );
    let mut carol = fake.spec("carol");
    carol.id = "berth-carol".into();
    let err = rt.create(&carol).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists);
    assert!(
        err.message
            .contains("not a Berth workspace of namespace berth"),
        "{err}"
    );
}

#[rustfmt::skip]
fn golden_create(spec: &berth_runtime::WorkspaceSpec, socket: &std::path::Path) -> Vec<String> {
    let mount = format!(
        "type=bind,source={},target=/opt/berth,readonly",
        spec.runtime_dir.display()
    );
    let publish = format!("{}:/run/berth/bridge.sock", socket.display());
    let platform = common::platform();
    strs(&[
        "create", "--name", "berth-alice",
        "--label", "berth.workspace=1", "--label", "berth.bot=alice",
        "--label", "berth.namespace=berth", "--label", "berth.network=bridge",
        "--entrypoint", "/opt/berth/bridge", "--uid", "0", "--gid", "0",
        "--env", "BERTH_BRIDGE_SOCKET=/run/berth/bridge.sock",
        "--env", "BERTH_TEMPLATES_DIR=/opt/berth/templates",
        "--env", "HOME=/root",
        "--mount", &mount,
        "--publish-socket", &publish,
        "--cap-drop", "CAP_NET_RAW", "--cap-drop", "CAP_MKNOD",
        "--cap-drop", "CAP_AUDIT_WRITE", "--cap-drop", "CAP_SETFCAP",
        "--platform", &platform,
        IMAGE,
    ])
}

//! Bad input and bad timing: each ends with an error that says what failed, and leaves nothing
//! behind (no container, no writable layer, no image, no lease).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::model::{CreateEvent, ErrorCode, PullPolicy, WorkspaceState};
use berth_core::{Berth, Options};
use berth_tests::{create, exec, TestEnv, BUSYBOX};

fn failed_code(events: &[CreateEvent]) -> ErrorCode {
    match events.last() {
        Some(CreateEvent::Failed { error }) => error.code,
        other => panic!("create did not end with a failed event: {other:?}"),
    }
}

/// Bad references and registries: the error kind, a message naming the culprit, nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_images_fail_clearly_and_leave_nothing() {
    let Some(env) = TestEnv::new("bad-images") else {
        return;
    };
    let berth = env.berth().await;
    let missing = env.image("berth-test/no-such-image:1");
    let cases: [(&str, &str, ErrorCode, &str); 4] = [
        (
            "malformed",
            "UPPER/Case:x",
            ErrorCode::InvalidArgument,
            "UPPER/Case:x",
        ),
        (
            "bad-tag",
            "busybox:-x",
            ErrorCode::InvalidArgument,
            "bad tag",
        ),
        (
            "not-in-registry",
            &missing,
            ErrorCode::NotFound,
            "berth-test/no-such-image",
        ),
        (
            "registry-down",
            "127.0.0.1:1/x:1",
            ErrorCode::Unavailable,
            "127.0.0.1:1",
        ),
    ];
    for (bot, image, code, named) in cases {
        let (result, events) = create(&berth, bot, image).await;
        let err = result.expect_err(bot);
        assert_eq!(err.code, code, "{bot}: {err:?}");
        assert!(
            err.message.contains(named),
            "{bot}: message does not name {named:?}: {}",
            err.message
        );
        assert_eq!(failed_code(&events), code);
        assert_eq!(
            berth.info(bot).await.unwrap().state,
            WorkspaceState::Absent,
            "{bot}"
        );
        env.assert_no_workspace(bot, bot);
    }
    env.assert_namespace_empty("after failed creates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_socket_missing() {
    // Needs no services: the point is that there is no containerd.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-containerd.sock");
    let berth = Berth::open(
        Options {
            data_dir: Some(dir.path().join("data")),
            containerd_socket: Some(socket.clone()),
            namespace: Some("t-nosocket".into()),
            bridge_binary: None,
            agent_env: vec![],
        },
        berth_tests::connector(),
    )
    .await
    .expect("open works without containerd");
    let status = berth.status().await;
    assert!(!status.connected);
    assert_eq!(status.socket, socket.display().to_string());
    let why = status.error.expect("status says why");
    assert!(
        why.contains(&socket.display().to_string()),
        "status error does not name the socket: {why}"
    );
    berth
        .create_bot("lonely")
        .expect("bots work without containerd");
    let (result, events) = create(&berth, "lonely", "127.0.0.1:5000/berth-test/busybox:1").await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(
        err.message.contains(&socket.display().to_string()),
        "message does not name the socket: {}",
        err.message
    );
    assert_eq!(failed_code(&events), ErrorCode::Unavailable);
    assert_eq!(
        berth.info("lonely").await.unwrap().state,
        WorkspaceState::Absent
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_duplicates_and_wrong_states() {
    let Some(env) = TestEnv::new("bad-names") else {
        return;
    };
    let berth = env.berth().await;
    for bad in [
        "",
        "-a",
        "a-",
        "Upper",
        "a_b",
        "../x",
        "a b",
        "a/b",
        &"x".repeat(64),
    ] {
        let err = berth.create_bot(bad).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad:?}");
        assert!(err.message.contains("invalid bot name"), "{}", err.message);
    }
    assert!(
        berth.bots().unwrap().is_empty(),
        "an invalid bot was stored"
    );

    let unknown = berth
        .create_workspace("nobody", Some(&env.image(BUSYBOX)), None, &|_| {})
        .await
        .unwrap_err();
    assert_eq!(unknown.code, ErrorCode::NotFound, "{unknown:?}");
    assert!(unknown.message.contains("nobody"));
    let err = exec(&berth, "nobody", &["true"], None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err:?}");

    let bot = format!("dup-{}", berth_tests::suffix());
    berth.create_bot(&bot).unwrap();
    let err = berth.create_bot(&bot).unwrap_err();
    assert_eq!(err.code, ErrorCode::AlreadyExists, "{err:?}");
    assert!(err.message.contains(&bot));

    // exec without a workspace, then with a stopped one: Conflict, saying what to do.
    let err = exec(&berth, &bot, &["true"], None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err:?}");
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    // A second workspace for the same bot: AlreadyExists, the first untouched.
    let (second, events) = create(&berth, &bot, &env.image(BUSYBOX)).await;
    assert_eq!(second.unwrap_err().code, ErrorCode::AlreadyExists);
    assert_eq!(failed_code(&events), ErrorCode::AlreadyExists);
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Running,
        "the first workspace was harmed"
    );
    berth.stop(&bot).await.unwrap();
    let err = exec(&berth, &bot, &["true"], None).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err:?}");
    assert!(err.message.contains("not running"), "{}", err.message);
    berth.delete_bot(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
    assert!(berth.bots().unwrap().is_empty());
}

/// Starts a create in the background that stops inside its emit callback at the first event of
/// `phase` until released (the test runs on another worker meanwhile).
struct HeldCreate {
    task: tokio::task::JoinHandle<(
        berth_core::Result<berth_core::model::WorkspaceInfo>,
        Vec<CreateEvent>,
    )>,
    release: mpsc::Sender<()>,
}

async fn held_create(berth: &Berth, bot: &str, image: &str, phase: &'static str) -> HeldCreate {
    let (reached_tx, reached_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let berth = berth.clone();
    let (bot, image) = (bot.to_string(), image.to_string());
    let task = tokio::spawn(async move {
        let events = Arc::new(Mutex::new(Vec::new()));
        let reached = Mutex::new(Some(reached_tx));
        let release = Mutex::new(release_rx);
        let ev = events.clone();
        let emit = move |e: CreateEvent| {
            let name = serde_json::to_value(&e).unwrap()["phase"]
                .as_str()
                .unwrap()
                .to_string();
            ev.lock().unwrap().push(e);
            if name == phase {
                if let Some(tx) = reached.lock().unwrap().take() {
                    let _ = tx.send(());
                    // Blocks this worker thread on purpose: the create is frozen in this phase.
                    let _ = release
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(60));
                }
            }
        };
        let r = berth
            .create_workspace(&bot, Some(&image), Some(PullPolicy::IfNotPresent), &emit)
            .await;
        let events = events.lock().unwrap().clone();
        (r, events)
    });
    tokio::time::timeout(Duration::from_secs(60), reached_rx)
        .await
        .unwrap_or_else(|_| panic!("create never reached {phase}"))
        .unwrap_or_else(|_| panic!("create ended before {phase}"));
    HeldCreate {
        task,
        release: release_tx,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_create_while_one_runs_conflicts() {
    let Some(env) = TestEnv::new("bad-concurrent") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("cc-{}", berth_tests::suffix());
    berth.create_bot(&bot).unwrap();
    let held = held_create(&berth, &bot, &env.image(BUSYBOX), "resolving").await;
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Creating
    );
    assert_eq!(berth.bots().unwrap()[0].state, WorkspaceState::Creating);
    let (second, events) = create(&berth, &bot, &env.image(BUSYBOX)).await;
    let err = second.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "{err:?}");
    assert!(
        err.message.contains("already being created"),
        "{}",
        err.message
    );
    assert_eq!(failed_code(&events), ErrorCode::Conflict);
    held.release.send(()).unwrap();
    let (first, _) = held.task.await.unwrap();
    assert_eq!(
        first.expect("the first create").state,
        WorkspaceState::Running
    );
    berth.delete_bot(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_during_create_cancels_it_and_leaves_nothing() {
    let Some(env) = TestEnv::new("bad-delete") else {
        return;
    };
    let berth = env.berth().await;
    let image = env.image(BUSYBOX);
    // Before the pull (nothing may be pulled), after the container exists, after the task runs.
    for phase in ["resolving", "creating", "waitingBridge"] {
        let bot = format!("dc-{}", berth_tests::suffix());
        berth.create_bot(&bot).unwrap();
        let held = held_create(&berth, &bot, &image, phase).await;
        let mut deleter = {
            let berth = berth.clone();
            let bot = bot.clone();
            tokio::spawn(async move { berth.delete_workspace(&bot).await })
        };
        // Delete cancels at once, then waits for the create to give up. Not finishing is only
        // observable over a span: a wrong early finish shows within it, and a slow machine only
        // slows the delete, so this cannot fail wrongly.
        let early = tokio::time::timeout(Duration::from_millis(300), &mut deleter).await;
        assert!(
            early.is_err(),
            "{phase}: delete finished while the create held its lock: {early:?}"
        );
        held.release.send(()).unwrap();
        let (result, events) = tokio::time::timeout(Duration::from_secs(60), held.task)
            .await
            .unwrap()
            .unwrap();
        let err = result.expect_err(phase);
        assert_eq!(err.code, ErrorCode::Cancelled, "{phase}: {err:?}");
        assert_eq!(failed_code(&events), ErrorCode::Cancelled);
        deleter.await.unwrap().expect("delete");
        assert_eq!(
            berth.info(&bot).await.unwrap().state,
            WorkspaceState::Absent,
            "{phase}"
        );
        env.assert_no_workspace(&bot, phase);
        assert!(
            !berth.paths().socket_dir(&format!("berth-{bot}")).exists(),
            "{phase}: socket dir left"
        );
        if phase == "resolving" {
            env.assert_namespace_empty("delete before the pull");
        }
    }
}

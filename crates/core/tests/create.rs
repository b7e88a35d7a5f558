//! Create on the fake runtime: the happy path, scripted failures, cancel at every phase and
//! delete during a create. Each cancel or failure must leave nothing behind (no container, no
//! snapshot, no store row, no socket directory) and report its phases in order.

mod common;

use berth_core::model::{ErrorCode, WorkspaceState};
use berth_runtime::fake::Hold;
use berth_runtime::RuntimeError;
use common::{assert_phases, guard, Harness, Op, Point};

#[tokio::test]
async fn create_runs_every_phase_and_asks_the_runtime_in_order() {
    let Some(h) = Harness::new("create_runs_every_phase").await else {
        return;
    };
    let phases = h.create("a").await;
    let mut want: Vec<&str> = common::ORDER[..6].to_vec();
    want.push("complete");
    assert_eq!(phases.distinct(), want);
    assert_eq!(h.fake.ops(), [Op::EnsureImage, Op::Create, Op::Start]);
    let create = h
        .fake
        .calls()
        .into_iter()
        .find(|c| c.op == Op::Create)
        .unwrap();
    assert_eq!(create.args, ["berth-a", "docker.io/test/image:1", "bridge"]);
    assert_eq!(h.fake.containers(), ["berth-a"]);
    assert_eq!(h.state("a").await, WorkspaceState::Running);
    // Core connected with what its settings say.
    let target = &h.fake.targets()[0];
    assert_eq!(target.namespace, "fake");
    assert!(target.endpoint.ends_with("data/fake.sock"), "{target:?}");
    assert!(target.state_dir.ends_with("data/net"), "{target:?}");
}

/// Holds the create at `point` (or, with `None`, lets it wait for a bridge that never answers),
/// cancels it there and checks what is left.
async fn cancel_at(test: &str, point: Option<Point>, last: &str) {
    let Some(h) = Harness::new(test).await else {
        return;
    };
    let mut hold: Option<Hold> = point.map(|p| h.fake.hold(p));
    if point.is_none() {
        h.fake.silent_tasks(true);
    }
    let (phases, task) = h.spawn_create("a");
    match &mut hold {
        Some(hold) => guard(hold.reached()).await,
        None => phases.reached("waitingBridge").await,
    }
    assert!(h.berth.cancel_create("a"), "a create is running");
    if let Some(hold) = hold {
        hold.release();
    }
    let err = guard(task).await.unwrap().expect_err("cancelled");
    assert_eq!(err.code, ErrorCode::Cancelled, "{err:?}");
    assert_phases(&phases.distinct(), last, "failed");
    assert!(
        h.fake.is_empty(),
        "left behind: {:?} {:?}",
        h.fake.containers(),
        h.fake.snapshots()
    );
    assert_eq!(h.state("a").await, WorkspaceState::Absent);
    assert!(!h.berth.paths().socket_dir("berth-a").exists());
    assert!(!h.berth.cancel_create("a"), "the operation is unregistered");
}

#[tokio::test]
async fn cancel_while_resolving() {
    cancel_at(
        "cancel_while_resolving",
        Some(Point::Before(Op::EnsureImage)),
        "resolving",
    )
    .await;
}

#[tokio::test]
async fn cancel_while_pulling() {
    cancel_at("cancel_while_pulling", Some(Point::Downloading), "pulling").await;
}

#[tokio::test]
async fn cancel_while_unpacking() {
    cancel_at(
        "cancel_while_unpacking",
        Some(Point::Unpacking),
        "unpacking",
    )
    .await;
}

#[tokio::test]
async fn cancel_while_creating() {
    cancel_at(
        "cancel_while_creating",
        Some(Point::Before(Op::Create)),
        "creating",
    )
    .await;
}

#[tokio::test]
async fn cancel_while_starting() {
    cancel_at(
        "cancel_while_starting",
        Some(Point::Before(Op::Start)),
        "starting",
    )
    .await;
}

#[tokio::test]
async fn cancel_while_waiting_for_the_bridge() {
    cancel_at("cancel_while_waiting_for_the_bridge", None, "waitingBridge").await;
}

#[tokio::test]
async fn delete_during_create_cancels_it_and_waits_for_its_cleanup() {
    let Some(h) = Harness::new("delete_during_create").await else {
        return;
    };
    let mut start = h.fake.hold(Point::Before(Op::Start));
    let (phases, task) = h.spawn_create("a");
    guard(start.reached()).await;
    let delete = h.berth.delete_workspace("a");
    tokio::pin!(delete);
    // One poll runs the delete as far as it can go: it cancels the create, then must wait for
    // the bot's lock, which the held create has. Without the wait it would call the runtime now.
    assert!(futures::poll!(&mut delete).is_pending());
    assert_eq!(h.fake.ops(), [Op::EnsureImage, Op::Create, Op::Start]);
    start.release();
    guard(&mut delete).await.expect("delete");
    let err = guard(task)
        .await
        .unwrap()
        .expect_err("the create was cancelled");
    assert_eq!(err.code, ErrorCode::Cancelled);
    assert_phases(&phases.distinct(), "starting", "failed");
    // The create's own cleanup first, then the delete's (idempotent) one.
    let ops = h.fake.ops();
    assert_eq!(&ops[3..], [Op::Delete, Op::Delete], "{ops:?}");
    assert!(h.fake.is_empty());
    assert_eq!(h.state("a").await, WorkspaceState::Absent);
}

#[tokio::test]
async fn a_container_that_cannot_be_created_leaves_nothing() {
    let Some(h) = Harness::new("create_fails").await else {
        return;
    };
    h.fake
        .fail_next(Op::Create, RuntimeError::conflict("name in use"));
    let phases = common::Phases::new();
    let sink = phases.sink();
    let err = guard(
        h.berth
            .create_workspace("a", Some("test/image:1"), None, &*sink),
    )
    .await
    .expect_err("create fails");
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(
        err.message.contains("creating the container failed"),
        "{err:?}"
    );
    assert!(err.message.contains("name in use"), "{err:?}");
    assert_phases(&phases.distinct(), "creating", "failed");
    assert_eq!(h.fake.ops(), [Op::EnsureImage, Op::Create, Op::Delete]);
    assert!(h.fake.is_empty());
    assert_eq!(h.state("a").await, WorkspaceState::Absent);
    // The failure is recorded, and the bot can be created afterwards.
    let activity = h.berth.activity("a").unwrap();
    assert!(activity.iter().any(|e| e.kind == "failed"), "{activity:?}");
    h.create("a").await;
}

#[tokio::test]
async fn a_failed_pull_creates_nothing() {
    let Some(h) = Harness::new("pull_fails").await else {
        return;
    };
    h.fake
        .fail_next(Op::EnsureImage, RuntimeError::unavailable("registry down"));
    let phases = common::Phases::new();
    let sink = phases.sink();
    let err = guard(
        h.berth
            .create_workspace("a", Some("test/image:1"), None, &*sink),
    )
    .await
    .expect_err("create fails");
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(
        err.message.contains("image pull failed: registry down"),
        "{err:?}"
    );
    assert_phases(&phases.distinct(), "resolving", "failed");
    assert!(!h.fake.ops().contains(&Op::Create));
    assert!(h.fake.is_empty() && h.fake.images().is_empty());
}

#[tokio::test]
async fn a_second_create_of_the_same_bot_is_refused_and_changes_nothing() {
    let Some(h) = Harness::new("second_create").await else {
        return;
    };
    h.create("a").await;
    let before = h.fake.ops();
    let err = guard(h.berth.create_workspace("a", None, None, &|_| {}))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::AlreadyExists);
    assert_eq!(h.fake.ops(), before);
    assert_eq!(h.state("a").await, WorkspaceState::Running);
}

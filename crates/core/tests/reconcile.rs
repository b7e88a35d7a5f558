//! The runtime is the truth: after an event gap (`Resynced`) the store is corrected from
//! `list()`, and containers the store does not know are adopted at connect.

mod common;

use std::collections::BTreeMap;

use berth_core::model::WorkspaceState;
use berth_runtime::RuntimeEvent;
use common::{guard, Harness};

#[tokio::test]
async fn after_an_event_gap_the_store_follows_the_runtime() {
    let Some(h) = Harness::new("reconcile_after_gap").await else {
        return;
    };
    h.create("a").await;
    h.create("b").await;
    // A core connected after the creates, so no event of theirs is still on its way to it.
    let berth = h.reopen_fresh().await;
    let mut rx = berth.subscribe();
    // Behind core's back, with no event: a's container goes, b's task ends.
    h.fake.remove_container("berth-a").await;
    h.fake.kill_task("berth-b").await;
    h.fake.emit(RuntimeEvent::Resynced);
    let mut seen = BTreeMap::new();
    guard(async {
        while seen.len() < 2 {
            let c = rx.recv().await.expect("core's changes");
            seen.insert(c.bot, c.state);
        }
    })
    .await;
    let want = BTreeMap::from([
        ("a".to_string(), WorkspaceState::Absent),
        ("b".to_string(), WorkspaceState::Stopped),
    ]);
    assert_eq!(seen, want);
    let info = berth.info("a").await.unwrap();
    assert_eq!(
        info.container_id, None,
        "the row of the vanished container is gone"
    );
    let activity = berth.activity("a").unwrap();
    assert!(
        activity.iter().any(|e| e.kind == "vanished"),
        "{activity:?}"
    );
    assert_eq!(
        berth.info("b").await.unwrap().state,
        WorkspaceState::Stopped
    );
}

#[tokio::test]
async fn containers_the_store_does_not_know_are_adopted_at_connect() {
    let Some(h) = Harness::new("reconcile_adopts").await else {
        return;
    };
    h.create("a").await;
    let fresh = h.reopen_fresh().await;
    let bots: Vec<String> = fresh.bots().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(bots, ["a"]);
    let info = fresh.info("a").await.unwrap();
    assert_eq!(info.state, WorkspaceState::Running);
    assert_eq!(info.container_id.as_deref(), Some("berth-a"));
    assert_eq!(info.image.as_deref(), Some("docker.io/test/image:1"));
}

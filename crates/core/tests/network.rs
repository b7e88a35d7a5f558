//! The workspace's network on the fake runtime: never a silent fallback to the host's network.
//! Without bridge networking a create (or change of image) fails before it changes anything and
//! says how to fix it; the host's network is only ever the bot's explicit choice.

mod common;

use berth_core::model::{ErrorCode, NetworkApply, NetworkMode, WorkspaceState};
use common::{guard, Harness, Op};

#[tokio::test]
async fn without_bridge_networking_a_create_fails_with_the_fix_and_changes_nothing() {
    let Some(h) = Harness::new("no_bridge_network").await else {
        return;
    };
    h.fake.bridge_network(false);
    let err = guard(
        h.berth
            .create_workspace("a", Some("test/image:1"), None, &|_| {}),
    )
    .await
    .expect_err("no silent fallback to the host network");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    assert!(err.message.contains("no isolated network"), "{err:?}");
    assert!(err.message.contains("--network host"), "{err:?}");
    // Nothing was pulled or created.
    assert_eq!(h.fake.ops(), []);
    assert!(h.fake.is_empty());
    let info = h.berth.info("a").await.unwrap();
    assert_eq!(info.state, WorkspaceState::Absent);
    assert!(!info.host_network);
}

#[tokio::test]
async fn the_host_network_is_used_only_when_chosen_for_the_bot() {
    let Some(h) = Harness::new("host_network_chosen").await else {
        return;
    };
    h.fake.bridge_network(false);
    h.berth.set_host_network("a", true).unwrap();
    h.create("a").await;
    let create = h.fake.calls().into_iter().find(|c| c.op == Op::Create);
    assert_eq!(create.unwrap().args[2], "host");
    let info = h.berth.info("a").await.unwrap();
    assert_eq!(info.network, Some(NetworkMode::Host));
    assert!(info.host_network);
    // Another bot did not choose it: still refused.
    let err = guard(
        h.berth
            .create_workspace("b", Some("test/image:1"), None, &|_| {}),
    )
    .await
    .expect_err("b has no choice of host network");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    // Back to the bridge for the next workspace of a.
    h.berth.set_host_network("a", false).unwrap();
    assert!(!h.berth.info("a").await.unwrap().host_network);
}

#[tokio::test]
async fn a_change_of_image_without_bridge_networking_leaves_the_workspace() {
    let Some(h) = Harness::new("change_image_no_bridge").await else {
        return;
    };
    h.create("a").await;
    let before = h.fake.ops().len();
    h.fake.bridge_network(false);
    let err = guard(h.berth.change_image("a", "test/other:2", None, &|_| {}))
        .await
        .expect_err("refused before the old workspace goes");
    assert_eq!(err.code, ErrorCode::Unavailable, "{err:?}");
    assert_eq!(h.fake.ops().len(), before, "the runtime was asked nothing");
    assert_eq!(h.fake.containers(), ["berth-a"]);
    assert_eq!(h.state("a").await, WorkspaceState::Running);
    assert!(h.berth.kept_data("a").is_none(), "no data was moved aside");
}

#[tokio::test]
async fn choosing_a_network_for_an_unknown_bot_is_refused() {
    let Some(h) = Harness::new("network_unknown_bot").await else {
        return;
    };
    let err = h.berth.set_host_network("nobody", true).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err:?}");
}

#[tokio::test]
async fn keeping_off_private_networks_reaches_the_workspace_when_it_can_take_it() {
    let Some(h) = Harness::new("block_private").await else {
        return;
    };
    // No workspace: remembered for the create, which hands it to the runtime.
    let applies = h.berth.set_block_private_networks("a", true).await.unwrap();
    assert_eq!(applies, NetworkApply::NextCreate);
    assert_eq!(h.fake.ops(), []);
    h.create("a").await;
    assert_eq!(h.fake.private_networks_blocked("berth-a"), Some(true));
    assert!(h.berth.info("a").await.unwrap().block_private_networks);

    // Running: applied at once.
    let applies = h
        .berth
        .set_block_private_networks("a", false)
        .await
        .unwrap();
    assert_eq!(applies, NetworkApply::Now);
    assert_eq!(h.fake.private_networks_blocked("berth-a"), Some(false));
    // Stopped: at the next start.
    h.berth.stop("a").await.unwrap();
    let applies = h.berth.set_block_private_networks("a", true).await.unwrap();
    assert_eq!(applies, NetworkApply::NextStart);
    assert_eq!(h.fake.private_networks_blocked("berth-a"), Some(true));
}

#[tokio::test]
async fn the_host_network_and_keeping_off_private_networks_exclude_each_other() {
    let Some(h) = Harness::new("block_private_host").await else {
        return;
    };
    h.fake.bridge_network(false);
    h.berth.set_host_network("a", true).unwrap();
    h.create("a").await;
    let before = h.fake.ops();
    let err = h
        .berth
        .set_block_private_networks("a", true)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err:?}");
    assert!(err.message.contains("host's network"), "{err:?}");
    assert_eq!(h.fake.ops(), before, "the runtime was asked nothing");
    assert!(!h.berth.info("a").await.unwrap().block_private_networks);

    // The other way round: a blocked bot cannot be given the host's network.
    h.berth.set_host_network("b", false).unwrap();
    h.berth.set_block_private_networks("b", true).await.unwrap();
    let err = h.berth.set_host_network("b", true).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err:?}");
    assert!(!h.berth.info("b").await.unwrap().host_network);

    // A failing runtime leaves the setting as it was.
    h.fake.bridge_network(true);
    h.create("b").await;
    h.fake.fail_next(
        Op::SetPrivateNetworksBlocked,
        berth_runtime::RuntimeError::internal("iptables-restore: boom"),
    );
    let err = h
        .berth
        .set_block_private_networks("b", false)
        .await
        .unwrap_err();
    assert!(err.message.contains("boom"), "{err:?}");
    assert!(h.berth.info("b").await.unwrap().block_private_networks);
}

//! A bot's resources on the fake runtime: limits stored with the bot, given to the runtime at
//! create, changed on an existing workspace (and said when they apply), bad values refused
//! before anything changes; live usage with its CPU share.

mod common;

use berth_core::model::{ErrorCode, Limits, LimitsApply};
use common::{Harness, Op};

fn chosen() -> Limits {
    Limits {
        memory: Some(512 << 20),
        cpu_millis: Some(1500),
        pids: Some(256),
    }
}

fn runtime(l: Limits) -> berth_runtime::Limits {
    berth_runtime::Limits {
        memory: l.memory,
        cpu_millis: l.cpu_millis,
        pids: l.pids,
    }
}

#[tokio::test]
async fn limits_reach_the_workspace_and_say_when_they_apply() {
    let Some(h) = Harness::new("limits_apply").await else {
        return;
    };
    let applies = h.berth.set_limits("a", chosen()).await.unwrap();
    assert_eq!(applies, LimitsApply::NextCreate);
    assert_eq!(h.berth.info("a").await.unwrap().limits, chosen());
    h.create("a").await;
    assert_eq!(h.fake.limits("berth-a"), Some(runtime(chosen())));

    let more = Limits {
        pids: None,
        ..chosen()
    };
    let applies = h.berth.set_limits("a", more).await.unwrap();
    assert_eq!(
        applies,
        LimitsApply::Restart,
        "running: a restart applies them"
    );
    assert_eq!(h.fake.limits("berth-a"), Some(runtime(more)));
    assert_eq!(h.berth.info("a").await.unwrap().limits, more);

    h.berth.stop("a").await.unwrap();
    let applies = h.berth.set_limits("a", Limits::default()).await.unwrap();
    assert_eq!(applies, LimitsApply::NextStart);
    assert_eq!(h.fake.limits("berth-a"), Some(Default::default()));
}

#[tokio::test]
async fn bad_limits_change_nothing() {
    let Some(h) = Harness::new("limits_bad").await else {
        return;
    };
    h.create("a").await;
    let before = h.fake.ops().len();
    let tiny = Limits {
        memory: Some(1 << 20),
        ..Default::default()
    };
    let err = h.berth.set_limits("a", tiny).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument, "{err:?}");
    assert!(err.message.contains("memory"), "{err:?}");
    assert_eq!(h.fake.ops().len(), before, "the runtime was asked nothing");
    assert_eq!(h.berth.info("a").await.unwrap().limits, Limits::default());
    let err = h.berth.set_limits("nobody", chosen()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{err:?}");
}

#[tokio::test]
async fn a_runtime_that_refuses_the_change_leaves_the_stored_limits() {
    let Some(h) = Harness::new("limits_refused").await else {
        return;
    };
    h.create("a").await;
    h.fake.fail_next(
        Op::SetLimits,
        berth_runtime::RuntimeError::internal("spec unreadable"),
    );
    let err = h.berth.set_limits("a", chosen()).await.unwrap_err();
    assert!(err.message.contains("spec unreadable"), "{err:?}");
    assert_eq!(h.berth.info("a").await.unwrap().limits, Limits::default());
}

#[tokio::test]
async fn stats_of_a_running_workspace_give_the_cpu_share_from_the_second_reading() {
    let Some(h) = Harness::new("stats").await else {
        return;
    };
    let err = h.berth.stats("a").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "no workspace: {err:?}");
    h.create("a").await;
    let usage = berth_runtime::Usage {
        cpu_nanos: 1_000,
        memory: 10 << 20,
        memory_limit: Some(64 << 20),
        pids: 3,
    };
    h.fake.set_usage(usage);
    h.fake.set_layer_bytes(Some(4096));
    let first = h.berth.stats("a").await.unwrap();
    assert_eq!(first.cpu_percent, None);
    assert_eq!(
        (
            first.memory,
            first.memory_limit,
            first.pids,
            first.layer_bytes
        ),
        (10 << 20, Some(64 << 20), 3, Some(4096))
    );
    h.fake.set_usage(berth_runtime::Usage {
        cpu_nanos: u64::MAX / 4,
        ..usage
    });
    let second = h.berth.stats("a").await.unwrap();
    assert!(second.cpu_percent.is_some_and(|p| p > 0.0), "{second:?}");
    h.berth.stop("a").await.unwrap();
    let err = h.berth.stats("a").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict, "stopped: {err:?}");
}

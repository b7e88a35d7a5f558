//! Per-bot serialisation, proved with held operations rather than timing: a second operation
//! on the same bot does not reach the runtime while the first is held, and an operation on
//! another bot does.

mod common;

use berth_core::model::WorkspaceState;
use common::{guard, Harness, Op, Point};

#[tokio::test]
async fn two_operations_on_one_bot_run_one_after_the_other() {
    let Some(h) = Harness::new("serial_one_bot").await else {
        return;
    };
    h.create("a").await;
    let mut stop = h.fake.hold(Point::Before(Op::Stop));
    let first = tokio::spawn({
        let berth = h.berth.clone();
        async move { berth.stop("a").await }
    });
    guard(stop.reached()).await;
    let mut start = h.fake.hold(Point::Before(Op::Start));
    let second = h.berth.start("a");
    tokio::pin!(second);
    // One poll runs the start as far as it can go without the held stop finishing: it must be
    // waiting for the bot's lock, before its runtime call.
    assert!(futures::poll!(&mut second).is_pending());
    assert!(!start.is_reached(), "the start ran while the stop was held");
    stop.release();
    let info = guard(first).await.unwrap().unwrap();
    assert_eq!(info.state, WorkspaceState::Stopped);
    // Now the start goes on.
    tokio::select! {
        _ = guard(start.reached()) => {}
        r = &mut second => panic!("the start ended without asking the runtime: {r:?}"),
    }
    start.release();
    let info = guard(second).await.unwrap();
    assert_eq!(info.state, WorkspaceState::Running);
    let ops = h.fake.ops();
    assert_eq!(ops[3..], [Op::Stop, Op::Start], "{ops:?}");
}

#[tokio::test]
async fn operations_on_two_bots_run_in_parallel() {
    let Some(h) = Harness::new("serial_two_bots").await else {
        return;
    };
    h.create("a").await;
    h.create("b").await;
    let mut stop_a = h.fake.hold(Point::Before(Op::Stop));
    let a = tokio::spawn({
        let berth = h.berth.clone();
        async move { berth.stop("a").await }
    });
    guard(stop_a.reached()).await;
    let mut stop_b = h.fake.hold(Point::Before(Op::Stop));
    let b = tokio::spawn({
        let berth = h.berth.clone();
        async move { berth.stop("b").await }
    });
    // b's stop reaches the runtime while a's is still held there.
    guard(stop_b.reached()).await;
    assert!(stop_a.is_reached() && stop_b.is_reached());
    let held: Vec<String> = h
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.op == Op::Stop)
        .flat_map(|c| c.args)
        .collect();
    assert_eq!(held, ["berth-a", "berth-b"]);
    stop_b.release();
    guard(b).await.unwrap().unwrap();
    stop_a.release();
    guard(a).await.unwrap().unwrap();
    assert_eq!(h.state("a").await, WorkspaceState::Stopped);
    assert_eq!(h.state("b").await, WorkspaceState::Stopped);
}

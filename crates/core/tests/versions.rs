//! Versions on the fake runtime: numbering (max+1, never reused), the tree, delete refused while
//! something builds on a version, adoption of labelled snapshots the database lost, and
//! snapshots that vanished (`missing`).

mod common;

use berth_core::model::ErrorCode;
use berth_core::versions::VersionSource;
use common::{guard, Harness, Op};

#[tokio::test]
async fn versions_are_numbered_max_plus_one_and_never_reused() {
    let Some(h) = Harness::new("version_numbering").await else {
        return;
    };
    h.create("a").await;
    let v1 = guard(h.berth.snapshot("a", Some("first"))).await.unwrap();
    let v2 = guard(h.berth.snapshot("a", None)).await.unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v2.parent, Some(1), "v2 was taken on top of v1");
    // The task is stopped around each commit and started again.
    let ops = h.fake.ops();
    let commit = ops.iter().position(|o| *o == Op::CommitVersion).unwrap();
    assert_eq!(
        &ops[commit - 1..=commit + 1],
        [Op::Stop, Op::CommitVersion, Op::Start]
    );
    guard(h.berth.rollback("a", 1, false)).await.unwrap();
    guard(h.berth.delete_version("a", 2)).await.unwrap();
    let v3 = guard(h.berth.snapshot("a", None)).await.unwrap();
    assert_eq!(
        v3.version, 3,
        "the number of a deleted version is not reused"
    );
    let snaps = h.fake.snapshots();
    assert!(
        snaps.iter().any(|s| s.starts_with("berth-a-v3-")),
        "{snaps:?}"
    );
    assert!(
        !snaps.iter().any(|s| s.starts_with("berth-a-v2-")),
        "{snaps:?}"
    );
    let list = guard(h.berth.versions("a")).await.unwrap();
    let numbers: Vec<u32> = list.versions.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [1, 3]);
    assert_eq!(list.current, Some(3));
    assert_eq!(list.versions[0].children, [3]);
}

#[tokio::test]
async fn a_version_others_build_on_cannot_be_deleted() {
    let Some(h) = Harness::new("version_delete_conflict").await else {
        return;
    };
    h.create("a").await;
    guard(h.berth.snapshot("a", None)).await.unwrap();
    guard(h.berth.snapshot("a", None)).await.unwrap();
    let before = h.fake.snapshots();
    let e = guard(h.berth.delete_version("a", 1)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert!(e.message.contains("v2"), "{e:?}");
    let e = guard(h.berth.delete_version("a", 2)).await.unwrap_err();
    assert!(e.message.contains("current state"), "{e:?}");
    assert_eq!(
        h.fake.snapshots(),
        before,
        "a refused delete changes nothing"
    );
    assert!(!h.fake.ops().contains(&Op::DeleteVersion));
    // After a rollback to v1 nothing builds on v2 any more.
    let r = guard(h.berth.rollback("a", 1, false)).await.unwrap();
    assert_eq!(r.saved, None);
    guard(h.berth.delete_version("a", 2)).await.unwrap();
    let list = guard(h.berth.versions("a")).await.unwrap();
    assert_eq!(list.current, Some(1));
    assert_eq!(list.versions.len(), 1);
}

#[tokio::test]
async fn labelled_snapshots_the_database_lost_are_adopted() {
    let Some(h) = Harness::new("version_adoption").await else {
        return;
    };
    h.create("a").await;
    guard(h.berth.snapshot("a", Some("named"))).await.unwrap();
    guard(h.berth.snapshot("a", None)).await.unwrap();
    guard(h.berth.snapshot("a", None)).await.unwrap();
    guard(h.berth.delete_version("a", 3)).await.unwrap_err(); // current: stays
                                                              // A core with an empty database over the same runtime.
    let fresh = h.reopen_fresh().await;
    let list = guard(fresh.versions("a"))
        .await
        .expect("the workspace was adopted");
    let got: Vec<(u32, Option<u32>, Option<String>, VersionSource)> = list
        .versions
        .iter()
        .map(|v| (v.version, v.parent, v.name.clone(), v.source))
        .collect();
    assert_eq!(
        got,
        [
            (1, None, Some("named".into()), VersionSource::Manual),
            (2, Some(1), None, VersionSource::Manual),
            (3, Some(2), None, VersionSource::Manual),
        ]
    );
    assert_eq!(list.current, Some(3));
    let activity = fresh.activity("a").unwrap();
    let adopted = activity
        .iter()
        .filter(|e| e.kind == "version-adopted")
        .count();
    assert_eq!(adopted, 3, "{activity:?}");
    // Numbering goes on after the highest adopted number.
    let v = guard(fresh.snapshot("a", None)).await.unwrap();
    assert_eq!(v.version, 4);
}

#[tokio::test]
async fn a_vanished_snapshot_is_marked_missing_and_cannot_be_restored() {
    let Some(h) = Harness::new("version_missing").await else {
        return;
    };
    h.create("a").await;
    guard(h.berth.snapshot("a", None)).await.unwrap();
    guard(h.berth.snapshot("a", None)).await.unwrap();
    let v1 = h
        .fake
        .snapshots()
        .into_iter()
        .find(|s| s.starts_with("berth-a-v1-"))
        .unwrap();
    h.fake.remove_snapshot(&v1);
    guard(h.berth.reconcile_versions()).await.unwrap();
    let list = guard(h.berth.versions("a")).await.unwrap();
    let missing: Vec<(u32, bool)> = list
        .versions
        .iter()
        .map(|v| (v.version, v.missing))
        .collect();
    assert_eq!(missing, [(1, true), (2, false)]);
    let activity = h.berth.activity("a").unwrap();
    assert!(
        activity.iter().any(|e| e.kind == "version-missing"),
        "{activity:?}"
    );
    let before = h.fake.ops();
    let e = guard(h.berth.rollback("a", 1, true)).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert_eq!(h.fake.ops(), before, "a refused rollback stops nothing");
    // Deleting a missing version only forgets it.
    guard(h.berth.delete_version("a", 1)).await.unwrap();
    assert!(!h.fake.ops().contains(&Op::DeleteVersion));
}

/// Opening (which every CLI command does) reconciles each workspace's versions by name: the
/// sizes, which walk all of a writable layer's files (80 ms for 20,000), only for the list.
#[tokio::test]
async fn opening_measures_no_snapshot_sizes() {
    let Some(h) = Harness::new("version_open_unsized").await else {
        return;
    };
    h.create("a").await;
    guard(h.berth.snapshot("a", None)).await.unwrap();
    let ops = || h.fake.calls().into_iter().map(|c| c.op).collect::<Vec<_>>();
    let before = ops().len();
    let _again = h.reopen().await;
    let at_open = ops()[before..].to_vec();
    assert!(at_open.contains(&Op::ListSnapshots), "{at_open:?}");
    assert!(!at_open.contains(&Op::ListSnapshotsSized), "{at_open:?}");
    guard(h.berth.versions("a")).await.unwrap();
    assert_eq!(ops().last(), Some(&Op::ListSnapshotsSized));
}

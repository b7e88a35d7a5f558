//! Kept data and the change of image on the fake runtime. The restore half runs for real: the
//! fake's task is the real bridge, whose Data service imports into the fake's `/data`. The
//! preserve half (exporting `/data` through the bridge's Files service, which outside a
//! container would read the host's `/data`) is left to the real-containerd tier
//! (`tests/tests/change_image.rs`), and with it a change of image failing after the delete.

mod common;

use std::io::Write;

use berth_core::model::{ErrorCode, WorkspaceState};
use berth_runtime::RuntimeError;
use common::{guard, Harness, Op, Phases};

/// A kept archive of `bot` holding `notes.txt` and `sub/deep.txt`.
fn write_kept_archive(h: &Harness, bot: &str) -> std::path::PathBuf {
    let path = h.berth.kept_data_path(bot);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, body) in [("notes.txt", "kept\n"), ("sub/deep.txt", "deeper\n")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, body.as_bytes()).unwrap();
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    std::fs::File::create(&path)
        .unwrap()
        .write_all(&bytes)
        .unwrap();
    path
}

#[tokio::test]
async fn the_next_create_restores_kept_data_and_then_removes_it() {
    let Some(h) = Harness::new("kept_restored").await else {
        return;
    };
    let archive = write_kept_archive(&h, "a");
    let phases = Phases::new();
    let sink = phases.sink();
    let info = guard(
        h.berth
            .create_workspace("a", Some("test/image:1"), None, &*sink),
    )
    .await
    .expect("create with kept data");
    assert_eq!(info.data_restored, Some(true));
    assert_eq!(info.has_kept_data, Some(false));
    let seen = phases.distinct();
    let at = |p: &str| {
        seen.iter()
            .position(|s| s == p)
            .unwrap_or_else(|| panic!("{p}: {seen:?}"))
    };
    assert!(at("waitingBridge") < at("restoring") && at("restoring") < at("complete"));
    let data = h.fake.data_dir("berth-a");
    assert_eq!(
        std::fs::read_to_string(data.join("notes.txt")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("sub/deep.txt")).unwrap(),
        "deeper\n"
    );
    assert!(
        !archive.exists(),
        "the archive goes only after a successful restore"
    );
}

#[tokio::test]
async fn a_failed_restore_fails_the_create_and_keeps_the_archive() {
    let Some(h) = Harness::new("kept_restore_fails").await else {
        return;
    };
    let archive = h.berth.kept_data_path("a");
    std::fs::create_dir_all(archive.parent().unwrap()).unwrap();
    std::fs::write(&archive, b"this is not a tar.gz").unwrap();
    let phases = Phases::new();
    let sink = phases.sink();
    let err = guard(
        h.berth
            .create_workspace("a", Some("test/image:1"), None, &*sink),
    )
    .await
    .expect_err("the restore fails");
    assert!(err.message.contains("restoring the kept data"), "{err:?}");
    assert_eq!(phases.distinct().last().map(String::as_str), Some("failed"));
    assert_eq!(std::fs::read(&archive).unwrap(), b"this is not a tar.gz");
    assert!(h.fake.is_empty(), "the half-made workspace is removed");
    assert_eq!(h.state("a").await, WorkspaceState::Absent);
}

#[tokio::test]
async fn a_change_of_image_whose_pull_fails_leaves_the_workspace_untouched() {
    let Some(h) = Harness::new("change_image_pull_fails").await else {
        return;
    };
    h.create("a").await;
    let before = h.fake.ops();
    h.fake
        .fail_next(Op::EnsureImage, RuntimeError::unavailable("registry down"));
    let err = guard(h.berth.change_image("a", "test/other:2", None, &|_| {}))
        .await
        .expect_err("the pull fails");
    assert!(
        err.message.contains("the workspace is unchanged"),
        "{err:?}"
    );
    let ops = h.fake.ops();
    assert_eq!(
        ops[before.len()..],
        [Op::EnsureImage],
        "nothing but the pull was asked"
    );
    assert_eq!(h.fake.containers(), ["berth-a"]);
    assert_eq!(h.state("a").await, WorkspaceState::Running);
    assert!(h.berth.kept_data("a").is_none());
}

#[tokio::test]
async fn a_change_of_image_cancelled_while_pulling_leaves_the_workspace_untouched() {
    let Some(h) = Harness::new("change_image_cancelled").await else {
        return;
    };
    h.create("a").await;
    let before = h.fake.ops();
    let mut pulling = h.fake.hold(common::Point::Downloading);
    let change = tokio::spawn({
        let berth = h.berth.clone();
        async move { berth.change_image("a", "test/other:2", None, &|_| {}).await }
    });
    guard(pulling.reached()).await;
    assert!(h.berth.cancel_create("a"));
    pulling.release();
    let err = guard(change).await.unwrap().expect_err("cancelled");
    assert_eq!(err.code, ErrorCode::Cancelled);
    assert_eq!(h.fake.ops()[before.len()..], [Op::EnsureImage]);
    assert_eq!(h.state("a").await, WorkspaceState::Running);
    assert!(!h
        .fake
        .images()
        .contains(&"docker.io/test/other:2".to_string()));
}

#[tokio::test]
async fn a_change_of_image_refuses_to_overwrite_kept_data() {
    let Some(h) = Harness::new("change_image_kept_exists").await else {
        return;
    };
    h.create("a").await;
    let archive = write_kept_archive(&h, "a");
    let kept = std::fs::read(&archive).unwrap();
    let before = h.fake.ops();
    let err = guard(h.berth.change_image("a", "test/other:2", None, &|_| {}))
        .await
        .expect_err("refused");
    assert_eq!(err.code, ErrorCode::Conflict);
    assert!(
        err.message.contains(&archive.display().to_string()),
        "{err:?}"
    );
    assert_eq!(h.fake.ops(), before);
    assert_eq!(std::fs::read(&archive).unwrap(), kept);
}

//! Versions kept as archives of `/data` (the strategy of a backend without snapshots, chosen
//! here on a real containerd with `berth versions mode archive`): save, changes since, roll
//! back to exactly a version's `/data` (saving first, or not), a stopped workspace, delete,
//! a missing archive refused with nothing changed, and nothing left after workspace delete.

use std::os::unix::fs::PermissionsExt;

use berth_core::model::{ErrorCode, WorkspaceState};
use berth_core::versions::{VersionChangeKind, VersionSource};
use berth_core::Berth;
use berth_tests::{create, sh, TestEnv, BUSYBOX};

/// `/data` with a checksum per file: equal listings mean equal trees.
async fn data_listing(berth: &Berth, bot: &str) -> String {
    sh(
        berth,
        bot,
        "cd / && find data | sort && find data -type f | sort | xargs -r sha256sum",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_versions_save_diff_roll_back_and_delete() {
    let Some(env) = TestEnv::new("archive-versions") else {
        return;
    };
    env.cli_ok(&["versions", "mode", "archive"]);
    let berth = env.berth().await;
    let bot = format!("av-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, "mkdir -p /data/dir /etc/berth-t && echo one > /data/a && echo two > /data/b && echo 3 > /data/dir/c && echo sys > /etc/berth-t/conf").await;
    let v1_files = data_listing(&berth, &bot).await;

    let v1 = berth.snapshot(&bot, Some("first")).await.expect("save v1");
    assert_eq!((v1.version, v1.display_name.as_str()), (1, "first"));
    let archive = env.data_dir().join(format!("versions/{bot}/v1.tar.gz"));
    let mode = std::fs::metadata(&archive)
        .expect("v1's archive")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the archive holds the bot's data: private"
    );
    let list = berth.versions(&bot).await.unwrap();
    assert!(
        list.only_data.as_deref().unwrap().contains("/data"),
        "{list:?}"
    );
    assert_eq!(list.current, Some(1));
    assert!(list.versions[0].size.unwrap() > 0);
    let table = env.cli_ok(&["versions", &bot]);
    assert!(table.contains("archives of /data"), "{table}");

    // Changes since v1, computed from the archive's listing and one of /data now.
    sh(&berth, &bot, "echo ONE > /data/a && rm /data/b && echo new > /data/n && echo changed > /etc/berth-t/conf").await;
    let changes = berth.version_changes(&bot, 1).await.expect("changes");
    let mut got: Vec<(String, VersionChangeKind)> = changes
        .changes
        .iter()
        .map(|c| (c.path.clone(), c.kind))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("/data/a".into(), VersionChangeKind::Modified),
            ("/data/b".into(), VersionChangeKind::Deleted),
            ("/data/n".into(), VersionChangeKind::Added),
        ],
        "only /data is compared"
    );
    let v2_files = data_listing(&berth, &bot).await;

    // Roll back: /data is exactly v1's again, and the state before was saved as v2 on v1.
    let r = berth.rollback(&bot, 1, true).await.expect("rollback");
    assert_eq!((r.rolled_back_to, r.saved), (1, Some(2)));
    assert_eq!(data_listing(&berth, &bot).await, v1_files);
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-t/conf").await.trim(),
        "changed",
        "outside /data nothing is restored (and the list says so)"
    );
    let list = berth.versions(&bot).await.unwrap();
    assert_eq!(list.current, Some(1));
    let v2 = &list.versions[1];
    assert_eq!(
        (v2.parent, v2.source),
        (Some(1), VersionSource::BeforeRollback)
    );
    assert_eq!(list.versions[0].children, [2]);

    // Nothing changed since v1: a rollback to v2 saves no duplicate.
    let r = berth.rollback(&bot, 2, true).await.expect("roll forward");
    assert_eq!(r.saved, None, "an unchanged /data is not saved again");
    assert_eq!(data_listing(&berth, &bot).await, v2_files);
    assert_eq!(berth.versions(&bot).await.unwrap().versions.len(), 2);

    // A stopped workspace is started for the rollback and stopped again.
    berth.stop(&bot).await.unwrap();
    let out = env.cli_ok(&["rollback", &bot, "1", "--no-save"]);
    assert!(out.contains("discarded"), "{out}");
    let info = berth.info(&bot).await.unwrap();
    assert_eq!(info.state, WorkspaceState::Stopped);
    berth.start(&bot).await.unwrap();
    assert_eq!(data_listing(&berth, &bot).await, v1_files);

    // Delete: archives are whole copies, so even the parent of another goes.
    berth.delete_version(&bot, 1).await.expect("delete v1");
    assert!(!archive.exists());
    assert_eq!(berth.versions(&bot).await.unwrap().current, None);

    // A vanished archive is shown missing and refused, /data untouched.
    let v2_archive = env.data_dir().join(format!("versions/{bot}/v2.tar.gz"));
    std::fs::rename(&v2_archive, v2_archive.with_extension("aside")).unwrap();
    let before = data_listing(&berth, &bot).await;
    let e = berth.rollback(&bot, 2, true).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
    assert!(e.message.contains("no longer exists"), "{e:?}");
    assert_eq!(data_listing(&berth, &bot).await, before);
    assert!(berth.versions(&bot).await.unwrap().versions[0].missing);
    assert_eq!(
        berth.versions(&bot).await.unwrap().versions.len(),
        1,
        "the refused rollback saved nothing"
    );

    berth.delete_workspace(&bot).await.unwrap();
    assert!(
        !env.data_dir().join(format!("versions/{bot}")).exists(),
        "the archives go with the workspace, as snapshots do"
    );
    env.cli_ok(&["versions", "mode", "snapshot"]);
}

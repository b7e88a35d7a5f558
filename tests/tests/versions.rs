//! Versions on a real workspace: save, roll back to exactly a version's files, roll
//! forward, branch, delete rules, gc roots, nothing left after workspace delete, a stopped
//! workspace, concurrent saves, names across restarts of Berth and of containerd, and the CLI.

use std::time::Duration;

use berth_core::model::{ErrorCode, WorkspaceState};
use berth_core::versions::{VersionChangeKind, VersionSource};
use berth_core::Berth;
use berth_runtime::{Runtime, SnapshotKind};
use berth_tests::daemon::PrivateContainerd;
use berth_tests::{create, sh, TestEnv, BUSYBOX};

/// Everything under the paths, with a checksum per file: equal listings mean equal trees.
async fn listing(berth: &Berth, bot: &str) -> String {
    sh(
        berth,
        bot,
        "cd / && find data etc/berth-t | sort && find data etc/berth-t -type f | sort | xargs sha256sum",
    )
    .await
}

/// The snapshot names of the workspace's versions, by number.
async fn version_snapshots(env: &TestEnv, bot: &str) -> Vec<(u32, String, SnapshotKind)> {
    let rt = env.runtime().await;
    let mut v: Vec<_> = rt
        .list_snapshots(&berth_core::container_id(bot))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|s| s.version().map(|n| (n, s.name, s.kind)))
        .collect();
    v.sort_by_key(|s| s.0);
    v
}

async fn active_layers(env: &TestEnv, bot: &str) -> usize {
    let rt = env.runtime().await;
    let snaps = rt
        .list_snapshots(&berth_core::container_id(bot))
        .await
        .unwrap();
    snaps
        .iter()
        .filter(|s| s.kind == SnapshotKind::Active)
        .count()
}

fn assert_gc_root(env: &TestEnv, snapshot: &str) {
    let info = env.ctr(&["snapshots", "info", snapshot]);
    assert!(
        info.contains("containerd.io/gc.root"),
        "{snapshot} has no gc.root label: {info}"
    );
    assert!(
        info.contains("berth.version"),
        "{snapshot} has no berth.version label: {info}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_exact_files_rolls_forward_and_branches() {
    let Some(env) = TestEnv::new("versions") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("ve-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, "mkdir -p /data/dir /etc/berth-t && echo one > /data/a && echo two > /data/b && echo 3 > /data/dir/c && echo sys > /etc/berth-t/conf").await;
    let v1_files = listing(&berth, &bot).await;

    let v1 = berth
        .snapshot(&bot, Some("first"))
        .await
        .expect("snapshot v1");
    assert_eq!(
        (v1.version, v1.display_name.as_str(), v1.source),
        (1, "first", VersionSource::Manual)
    );
    assert!(v1.current && v1.parent.is_none() && !v1.missing, "{v1:?}");
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Running
    );
    assert_eq!(
        listing(&berth, &bot).await,
        v1_files,
        "saving changed the files"
    );

    // Change, delete and add files.
    sh(&berth, &bot, "echo ONE > /data/a && rm /data/b && rm -r /data/dir && echo new > /data/n && echo changed > /etc/berth-t/conf").await;
    let changed_files = listing(&berth, &bot).await;
    assert_ne!(changed_files, v1_files);

    // Changes since v1, computed while the workspace runs.
    let ch = berth.version_changes(&bot, 1).await.expect("changes");
    let find = |p: &str| ch.changes.iter().find(|c| c.path == p).map(|c| c.kind);
    assert_eq!(find("/data/a"), Some(VersionChangeKind::Modified), "{ch:?}");
    assert_eq!(find("/data/b"), Some(VersionChangeKind::Deleted), "{ch:?}");
    assert_eq!(
        find("/data/dir"),
        Some(VersionChangeKind::Deleted),
        "{ch:?}"
    );
    assert_eq!(
        find("/data/dir/c"),
        Some(VersionChangeKind::Deleted),
        "{ch:?}"
    );
    assert_eq!(find("/data/n"), Some(VersionChangeKind::Added), "{ch:?}");
    assert_eq!(
        find("/etc/berth-t/conf"),
        Some(VersionChangeKind::Modified),
        "{ch:?}"
    );
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Running
    );

    // Roll back to v1: the current state is saved first as v2.
    let r = berth.rollback(&bot, 1, true).await.expect("rollback to v1");
    assert_eq!(
        (r.rolled_back_to, r.saved, r.state),
        (1, Some(2), WorkspaceState::Running)
    );
    assert_eq!(
        listing(&berth, &bot).await,
        v1_files,
        "rollback did not restore exactly v1's files"
    );
    assert_eq!(
        active_layers(&env, &bot).await,
        1,
        "an old writable layer leaked"
    );
    let list = berth.versions(&bot).await.unwrap();
    assert_eq!(list.current, Some(1));
    let v2 = list
        .versions
        .iter()
        .find(|v| v.version == 2)
        .expect("v2 listed");
    assert_eq!(
        (v2.source, v2.parent),
        (VersionSource::BeforeRollback, Some(1))
    );
    assert!(
        berth
            .version_changes(&bot, 1)
            .await
            .unwrap()
            .changes
            .is_empty(),
        "no changes right after rollback"
    );

    // Roll forward to the pre-rollback state; nothing changed since v1, so nothing is saved.
    let r = berth
        .rollback(&bot, 2, true)
        .await
        .expect("roll forward to v2");
    assert_eq!(r.saved, None);
    assert_eq!(
        listing(&berth, &bot).await,
        changed_files,
        "roll forward did not restore the changed state"
    );

    // Branch: back to v1 without saving, change, save v3 → v1 has two children.
    berth
        .rollback(&bot, 1, false)
        .await
        .expect("rollback no-save");
    sh(&berth, &bot, "echo branch > /data/branch").await;
    let v3 = berth.snapshot(&bot, None).await.expect("snapshot v3");
    assert_eq!(
        (v3.version, v3.parent, v3.display_name.as_str()),
        (3, Some(1), "Version 3")
    );
    let list = berth.versions(&bot).await.unwrap();
    let v1 = list.versions.iter().find(|v| v.version == 1).unwrap();
    assert_eq!(v1.children, vec![2, 3], "tree: {list:?}");
    assert_eq!(list.current, Some(3));
    assert!(
        list.versions.iter().all(|v| v.size.is_some()),
        "sizes from usage: {list:?}"
    );
    // Only asked for: measuring the writable layer walks all of /data.
    let rt = env.runtime().await;
    let id = berth_core::container_id(&bot);
    let active = |s: &Vec<berth_runtime::SnapshotInfo>| {
        s.iter()
            .find(|s| s.kind == SnapshotKind::Active)
            .map(|s| s.size)
    };
    assert_eq!(active(&rt.list_snapshots(&id).await.unwrap()), Some(None));
    assert!(matches!(
        active(&rt.list_snapshots_sized(&id).await.unwrap()),
        Some(Some(_))
    ));

    // Every version snapshot is a gc root with Berth's labels.
    let snaps = version_snapshots(&env, &bot).await;
    assert_eq!(snaps.iter().map(|s| s.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    for (_, name, kind) in &snaps {
        assert_eq!(*kind, SnapshotKind::Committed);
        assert_gc_root(&env, name);
    }

    // Delete rules and unknown versions.
    let e = berth.delete_version(&bot, 1).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    assert!(
        e.message.contains("v2") && e.message.contains("v3"),
        "{}",
        e.message
    );
    let e = berth.delete_version(&bot, 3).await.unwrap_err();
    assert!(
        e.code == ErrorCode::Conflict && e.message.contains("current state"),
        "{}",
        e.message
    );
    assert_eq!(
        berth.delete_version(&bot, 99).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        berth.rollback(&bot, 99, true).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(
        berth.version_changes(&bot, 99).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    berth.delete_version(&bot, 2).await.expect("delete leaf v2");
    assert!(
        !env.snapshots().contains(&snaps[1].1),
        "v2's snapshot is still there"
    );
    // Numbers are never reused.
    assert_eq!(berth.snapshot(&bot, None).await.unwrap().version, 4);

    // Renamed names survive reopening Berth; a snapshot removed behind its back is shown missing.
    berth
        .rename_version(&bot, 3, Some("branch point"))
        .await
        .unwrap();
    berth.rollback(&bot, 4, false).await.unwrap();
    berth.delete_version(&bot, 3).await.unwrap_err(); // v4 builds on it
    drop(berth);
    let berth = env.berth().await;
    let list = berth.versions(&bot).await.unwrap();
    assert_eq!(
        list.versions
            .iter()
            .find(|v| v.version == 3)
            .unwrap()
            .display_name,
        "branch point"
    );

    // Workspace delete removes every snapshot of the workspace.
    let id = berth_core::container_id(&bot);
    berth
        .delete_workspace(&bot)
        .await
        .expect("delete workspace");
    let left: Vec<String> = env
        .snapshots()
        .into_iter()
        .filter(|s| s.starts_with(&id))
        .collect();
    assert!(left.is_empty(), "snapshots of the workspace left: {left:?}");
    env.assert_no_workspace(&bot, "after delete");
    let activity = berth.activity(&bot).unwrap();
    assert!(
        activity.iter().any(|a| a.kind == "version-rollback"),
        "{activity:?}"
    );
    assert!(
        activity.iter().any(|a| a.kind == "version-saved"),
        "{activity:?}"
    );
    assert_eq!(
        berth.versions(&bot).await.unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_workspace_concurrent_saves_missing_snapshot_and_cli() {
    let Some(env) = TestEnv::new("versions-stopped") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("vs-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");

    // Two concurrent requests: two distinct versions, one after the other, and a healthy workspace.
    sh(&berth, &bot, "echo x > /data/x").await;
    let (a, b) = tokio::join!(
        berth.snapshot(&bot, Some("a")),
        berth.snapshot(&bot, Some("b"))
    );
    let (a, b) = (a.expect("snapshot a"), b.expect("snapshot b"));
    let mut numbers = [a.version, b.version];
    numbers.sort();
    assert_eq!(numbers, [1, 2]);
    let list = berth.versions(&bot).await.unwrap();
    assert_eq!(
        list.versions
            .iter()
            .find(|v| v.version == 2)
            .unwrap()
            .parent,
        Some(1)
    );
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Running
    );
    assert_eq!(sh(&berth, &bot, "cat /data/x").await, "x\n");

    // A stopped workspace is saved and rolled back without being started.
    berth.stop(&bot).await.unwrap();
    let v3 = berth
        .snapshot(&bot, None)
        .await
        .expect("snapshot of a stopped workspace");
    assert_eq!(v3.version, 3);
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Stopped
    );
    assert!(!env
        .tasks()
        .iter()
        .any(|(t, s)| t.ends_with(&bot) && s == "RUNNING"));
    berth.start(&bot).await.unwrap();
    assert_eq!(sh(&berth, &bot, "cat /data/x").await, "x\n");

    // The CLI.
    let out = env.cli(&["snapshot", &bot, "--name", "from cli"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "4");
    let out = env.cli(&["versions", &bot, "--json"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let v4 = json
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 4)
        .expect("v4 in JSON");
    assert_eq!(v4["name"], "from cli");
    assert!(
        v4["created_at"].is_string() && v4["current"] == true,
        "{v4}"
    );
    sh(&berth, &bot, "echo y > /data/x").await;
    let out = env.cli(&["rollback", &bot, "1", "--no-save"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sh(&berth, &bot, "cat /data/x").await, "x\n");
    let out = env.cli(&["versions", "rm", &bot, "4"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.cli(&["versions", "rm", &bot, "1"], None);
    assert!(!out.status.success(), "deleting v1 with children must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("build"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = env.cli(&["rollback", &bot, "42"], None);
    assert!(!out.status.success());

    // A version whose snapshot vanishes behind Berth's back is shown as missing after reopening.
    let snaps = version_snapshots(&env, &bot).await;
    let v3_snap = snaps.iter().find(|s| s.0 == 3).unwrap().1.clone();
    env.ctr(&["snapshots", "rm", &v3_snap]);
    drop(berth);
    let berth = env.berth().await;
    let list = berth.versions(&bot).await.unwrap();
    assert!(
        list.versions
            .iter()
            .find(|v| v.version == 3)
            .unwrap()
            .missing,
        "{list:?}"
    );
    assert_eq!(
        berth.rollback(&bot, 3, true).await.unwrap_err().code,
        ErrorCode::Conflict
    );
    berth.delete_bot(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
    let id = berth_core::container_id(&bot);
    assert!(
        env.snapshots().iter().all(|s| !s.starts_with(&id)),
        "{:?}",
        env.snapshots()
    );
}

#[test]
fn versions_survive_containerd_restart() {
    let Some(services) = berth_tests::services("versions_survive_containerd_restart") else {
        return;
    };
    let Some(mut daemon) = PrivateContainerd::start("versions_survive_containerd_restart") else {
        return;
    };
    let env = TestEnv::on(services, &daemon.socket(), "versions-restart");
    let bot = format!("vr-{}", berth_tests::suffix());
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let r = rt();
    r.block_on(async {
        let berth = env.berth().await;
        create(&berth, &bot, &env.image(BUSYBOX))
            .await
            .0
            .expect("create");
        sh(&berth, &bot, "echo kept > /data/k").await;
        berth.snapshot(&bot, Some("kept")).await.unwrap();
        sh(&berth, &bot, "echo lost > /data/k").await;
    });
    r.shutdown_timeout(Duration::from_secs(5));
    daemon.restart();
    let r = rt();
    r.block_on(async {
        let berth = env.berth().await;
        let list = berth.versions(&bot).await.unwrap();
        let v1 = &list.versions[0];
        assert_eq!(
            (v1.version, v1.display_name.as_str(), v1.missing, v1.current),
            (1, "kept", false, true)
        );
        for (_, name, _) in version_snapshots(&env, &bot).await {
            assert_gc_root(&env, &name);
        }
        berth
            .rollback(&bot, 1, true)
            .await
            .expect("rollback after restart");
        assert_eq!(sh(&berth, &bot, "cat /data/k").await, "kept\n");
        berth.delete_bot(&bot).await.unwrap();
        let id = berth_core::container_id(&bot);
        assert!(env.snapshots().iter().all(|s| !s.starts_with(&id)));
    });
    r.shutdown_timeout(Duration::from_secs(5));
}

/// Two threads spinning until dropped: the CPU as busy as in CI, where the refusal was seen.
struct BusyCpu(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
);

impl BusyCpu {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        Self(stop, threads)
    }
}

impl Drop for BusyCpu {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// Save → write → roll back without saving → delete the version just saved, 50 times with the
/// CPU busy: the deleted version has no children, so it must be deletable every time. (Its old
/// writable layer, a child of it, used to be left to containerd's GC, which removes a snapshot
/// without unlinking it from its parent: the parent then refused every removal.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_without_children_is_always_deletable_under_load() {
    const ROUNDS: u32 = 50;
    let Some(env) = TestEnv::new("versions-loop") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("vl-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, "echo base > /data/f").await;
    assert_eq!(
        berth
            .snapshot(&bot, Some("base"))
            .await
            .expect("snapshot v1")
            .version,
        1
    );
    let busy = BusyCpu::start();
    let started = std::time::Instant::now();
    for round in 0..ROUNDS {
        let v = berth
            .snapshot(&bot, None)
            .await
            .unwrap_or_else(|e| panic!("round {round}: save: {e}"));
        sh(&berth, &bot, &format!("echo {round} > /data/f")).await;
        berth
            .rollback(&bot, 1, false)
            .await
            .unwrap_or_else(|e| panic!("round {round}: rollback: {e}"));
        berth
            .delete_version(&bot, v.version)
            .await
            .unwrap_or_else(|e| {
                panic!("round {round}: deleting v{} (no children): {e}", v.version)
            });
        assert!(
            started.elapsed() < Duration::from_secs(400),
            "{round} rounds took {:?}: too slow to be a useful test",
            started.elapsed()
        );
    }
    drop(busy);
    eprintln!("{ROUNDS} rounds in {:?}", started.elapsed());
    assert_eq!(sh(&berth, &bot, "cat /data/f").await, "base\n");
    let list = berth.versions(&bot).await.unwrap();
    assert_eq!(
        list.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1],
        "{list:?}"
    );
    assert_eq!(
        active_layers(&env, &bot).await,
        1,
        "a writable layer leaked"
    );

    // Every writable layer is gc-rooted; one made before that rule (label removed here) is
    // rooted again when Berth connects.
    let id = berth_core::container_id(&bot);
    let rt = env.runtime().await;
    let layer = rt
        .list_snapshots(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.kind == SnapshotKind::Active)
        .unwrap();
    assert!(
        layer.labels.contains_key("containerd.io/gc.root"),
        "{layer:?}"
    );
    env.ctr(&["snapshots", "label", &layer.name, "containerd.io/gc.root="]);
    let unrooted = rt
        .list_snapshots(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == layer.name)
        .unwrap();
    assert!(
        !unrooted.labels.contains_key("containerd.io/gc.root"),
        "{unrooted:?}"
    );
    drop(berth);
    let berth = env.berth().await;
    let rooted = rt
        .list_snapshots(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == layer.name)
        .unwrap();
    assert!(
        rooted.labels.contains_key("containerd.io/gc.root"),
        "not rooted again: {rooted:?}"
    );

    // Opening reconciles all workspaces from two listings: the same snapshots as one
    // workspace's own listing, nothing for a workspace without a container.
    let absent = "berth-absent-workspace".to_string();
    let found = rt
        .repair_and_list_versions(&[id.clone(), absent.clone()])
        .await
        .unwrap();
    let names = |v: &[berth_runtime::SnapshotInfo]| {
        let mut n: Vec<String> = v.iter().map(|s| s.name.clone()).collect();
        n.sort();
        n
    };
    let own = rt.list_snapshots(&id).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].repairs.as_ref().unwrap(), &Vec::<String>::new());
    assert_eq!(names(found[0].snapshots.as_ref().unwrap()), names(&own));
    assert_eq!(found[0].snapshots.as_ref().unwrap().len(), 2, "{found:?}");
    assert_eq!(found[1].id, absent);
    assert!(found[1].snapshots.as_ref().unwrap().is_empty(), "{found:?}");

    berth.delete_bot(&bot).await.unwrap();
    assert!(
        env.snapshots().iter().all(|s| !s.starts_with(&id)),
        "{:?}",
        env.snapshots()
    );
}

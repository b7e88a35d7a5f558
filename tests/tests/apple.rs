//! Berth on the Apple Container backend, end to end through core: `berth-apple` drives the fake
//! `container` program (`crates/apple/tests/fake/container`) in its real mode, where each
//! workspace runs for real through this machine's containerd (`ctr`) and the real bridge answers
//! on the socket published with `--publish-socket`. Proves what a Mac user gets through the
//! adapter: the status and its limitations, create with a whole-pull progress, exec, files, a
//! terminal, data export and import, versions as archives of /data, limits fixed at create, a
//! stop made outside Berth seen by polling, and delete.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_apple::{AppleConnector, AppleOptions};
use berth_bridge::{TerminalEvent, TerminalRequest};
use berth_core::data::ImportOptions;
use berth_core::model::{BackendFeature, CreateEvent, Limits, LimitsApply, WorkspaceState};
use berth_core::{Berth, CancellationToken};
use berth_tests::{create, sh, TestEnv, BUSYBOX};

/// The fake `container`, in real mode, behind a wrapper that fixes its environment.
struct FakeContainer {
    /// Holds the wrapper, the fake's state and its call log for the test's duration.
    _dir: tempfile::TempDir,
    bin: PathBuf,
    namespace: String,
    address: String,
}

impl FakeContainer {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let fake = root.join("crates/apple/tests/fake/container");
        let address =
            std::env::var("BERTH_CONTAINERD_SOCKET").expect("the service gate checked it");
        let namespace = format!("berth-apple-{}", berth_tests::suffix());
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        let script = format!(
            "#!/bin/sh\nexport FAKE_CONTAINER_VERSION=1.2 FAKE_CONTAINER_STATE='{}' \
             FAKE_CONTAINER_LOG='{}' FAKE_CONTAINER_CTR=1 CONTAINERD_ADDRESS='{address}' \
             FAKE_CONTAINER_CTR_NAMESPACE='{namespace}'\nexec python3 '{}' \"$@\"\n",
            state.display(),
            dir.path().join("calls.jsonl").display(),
            fake.display()
        );
        let bin = dir.path().join("container");
        std::fs::write(&bin, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeContainer {
            _dir: dir,
            bin,
            namespace,
            address,
        }
    }

    async fn berth(&self, env: &TestEnv) -> Berth {
        let options = AppleOptions {
            poll_interval: Duration::from_millis(200),
            ..AppleOptions::default()
        };
        let connector = AppleConnector::with_options(Some(self.bin.clone()), options);
        Berth::open(env.options(), Arc::new(connector))
            .await
            .expect("Berth::open on the Apple backend")
    }

    /// Runs the fake as a user would run `container` next to Berth.
    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(&self.bin)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "container {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for FakeContainer {
    /// Whatever happened, nothing of the test stays in containerd.
    fn drop(&mut self) {
        let ctr = |args: &[&str]| {
            std::process::Command::new("ctr")
                .args(["--address", &self.address, "-n", &self.namespace])
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        for c in ctr(&["containers", "ls", "-q"]).lines() {
            ctr(&["tasks", "kill", "-s", "SIGKILL", c]);
            ctr(&["tasks", "delete", "-f", c]);
            ctr(&["containers", "delete", c]);
        }
        for image in ctr(&["images", "ls", "-q"]).lines() {
            ctr(&["images", "rm", "--sync", image]);
        }
        let _ = std::process::Command::new("ctr")
            .args([
                "--address",
                &self.address,
                "namespaces",
                "rm",
                &self.namespace,
            ])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_on_apple_container_through_the_adapter() {
    let Some(env) = TestEnv::new("apple") else {
        return;
    };
    let fake = FakeContainer::new();
    let berth = fake.berth(&env).await;

    // The status names the backend and what it cannot do.
    let status = berth.status().await;
    assert!(status.connected, "{status:?}");
    assert_eq!(status.backend, "Apple Container");
    let features: Vec<BackendFeature> = status.limitations.iter().map(|l| l.feature).collect();
    for f in [
        BackendFeature::LayerProgress,
        BackendFeature::NativeVersions,
        BackendFeature::ChangeLimits,
        BackendFeature::LiveEvents,
    ] {
        assert!(features.contains(&f), "{f:?} missing from {status:?}");
    }

    // Create: the pull as a whole (no layer rows, and why), then a running workspace.
    let bot = format!("ap-{}", berth_tests::suffix());
    let (info, events) = create(&berth, &bot, &env.image(BUSYBOX)).await;
    let info = info.expect("create on the Apple backend");
    assert_eq!(info.state, WorkspaceState::Running);
    let pulls: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            CreateEvent::Pulling(p) => Some(p),
            _ => None,
        })
        .collect();
    assert!(!pulls.is_empty(), "{events:?}");
    assert!(pulls
        .iter()
        .all(|p| p.layers.is_empty() && p.layers_unavailable.is_some()));
    assert!(
        pulls.iter().any(|p| p.percent.is_some()),
        "the CLI's percent reaches the user: {pulls:?}"
    );
    assert!(matches!(events.last(), Some(CreateEvent::Complete { .. })));

    // Exec and files through the published socket.
    assert_eq!(
        sh(&berth, &bot, "echo hi > /data/a && cat /data/a").await,
        "hi\n"
    );
    berth
        .file_save_text(&bot, "/data/notes.txt", "from the host".into(), None)
        .await
        .expect("write a file");
    let listing = berth.file_list(&bot, "/data").await.expect("list /data");
    let names: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.contains(&"a") && names.contains(&"notes.txt"),
        "{names:?}"
    );

    // A terminal: a real tty in the workspace.
    let req = TerminalRequest {
        argv: vec![
            b"sh".to_vec(),
            b"-c".to_vec(),
            b"tty; echo term-ok".to_vec(),
        ],
        rows: 24,
        cols: 80,
        ..TerminalRequest::default()
    };
    let mut session = berth.terminal(&bot, req).await.expect("terminal");
    let mut output = Vec::new();
    loop {
        match session.reader.next().await.expect("terminal output") {
            TerminalEvent::Output(b) => output.extend(b),
            TerminalEvent::Exit(s) => {
                assert!(s.success(), "{s:?}");
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&output);
    assert!(
        text.contains("/dev/pts/") && text.contains("term-ok"),
        "{text}"
    );

    // Data out and back in (replace), all through the bridge.
    let archive = env.data_dir().join("apple-export.tar.gz");
    berth
        .export_data(&bot, &archive, &|_| {}, &CancellationToken::new())
        .await
        .expect("export");
    sh(&berth, &bot, "rm /data/a && echo later > /data/b").await;
    let opts = ImportOptions {
        replace: true,
        ..Default::default()
    };
    berth
        .import_data(&bot, &archive, &opts, &|_| {}, &CancellationToken::new())
        .await
        .expect("import");
    assert_eq!(
        sh(&berth, &bot, "cat /data/a; ls /data").await,
        "hi\na\nnotes.txt\n"
    );

    // Versions are archives of /data on this backend.
    let v1 = berth.snapshot(&bot, None).await.expect("save a version");
    assert!(env
        .data_dir()
        .join(format!("versions/{bot}/v1.tar.gz"))
        .is_file());
    sh(&berth, &bot, "echo changed > /data/a").await;
    let changes = berth.version_changes(&bot, v1.version).await.unwrap();
    assert_eq!(changes.changes.len(), 1, "{changes:?}");
    berth
        .rollback(&bot, v1.version, false)
        .await
        .expect("rollback");
    assert_eq!(sh(&berth, &bot, "cat /data/a").await, "hi\n");
    assert!(berth.versions(&bot).await.unwrap().only_data.is_some());

    // Limits are fixed at create here: saved, and said so.
    let applies = berth
        .set_limits(
            &bot,
            Limits {
                memory: Some(512 << 20),
                cpu_millis: None,
                pids: None,
            },
        )
        .await
        .expect("limits");
    assert_eq!(applies, LimitsApply::Recreate);

    // A stop made outside Berth (with `container stop`) is seen by polling.
    let mut changes = berth.subscribe();
    fake.run(&["stop", &berth_core::container_id(&bot)]);
    let seen = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let c = changes.recv().await.expect("state changes");
            if c.bot == bot && c.state == WorkspaceState::Stopped {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "the outside stop was not seen");
    berth.start(&bot).await.expect("start again");
    assert_eq!(
        sh(&berth, &bot, "cat /data/notes.txt").await,
        "from the host"
    );

    // A Berth that never knew the workspace (another data directory) adopts it from `list`.
    let other = tempfile::tempdir().unwrap();
    let mut options = env.options();
    options.data_dir = Some(other.path().to_path_buf());
    let connector = AppleConnector::with_options(Some(fake.bin.clone()), AppleOptions::default());
    let stranger = Berth::open(options, Arc::new(connector)).await.unwrap();
    let adopted = stranger.info(&bot).await.expect("the adopted bot");
    assert_eq!(adopted.state, WorkspaceState::Running, "{adopted:?}");
    drop(stranger);

    berth.delete_workspace(&bot).await.expect("delete");
    let listed = fake.run(&["list", "--all", "--format", "json"]);
    assert!(!listed.contains(&bot), "{listed}");
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Absent
    );
}

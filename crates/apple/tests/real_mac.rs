//! The opt-in suite for a real Mac: Apple's own `container` CLI (1.0 or later, its system
//! service running), not the fake. It checks what the recorded fixtures can only claim: that
//! this adapter's arguments are accepted, that its JSON models read what this CLI version
//! prints, the pull's plain progress lines, and one workspace's whole life with the real bridge
//! behind `--publish-socket` (`common::round_trip`).
//!
//! ```text
//! scripts/build-bridge.sh                     # on the Mac: see README, "Berth on a Mac"
//! BERTH_APPLE_REAL=1 BERTH_BRIDGE_BINARY=target/bridge/berth-bridge \
//!   cargo test -p berth-apple --test real_mac -- --nocapture
//! ```
//!
//! `BERTH_CONTAINER_BIN` picks the CLI (else the usual places); `BERTH_APPLE_IMAGE` the image
//! (default `docker.io/library/busybox:1.36`, so the Mac needs the network). It leaves nothing
//! behind but the pulled image.

mod common;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_apple::AppleConnector;
use berth_runtime::{
    CancellationToken, Connector, ImageRef, Limits, Network, PullEvent, PullPolicy, PullSink,
    Target, WorkspaceSpec,
};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

#[derive(Default)]
struct Recorded(Mutex<Vec<PullEvent>>);

impl PullSink for Recorded {
    fn event(&self, e: PullEvent) {
        self.0.lock().unwrap().push(e);
    }
}

#[tokio::test]
async fn the_real_container_cli() {
    if env("BERTH_APPLE_REAL").as_deref() != Some("1") {
        eprintln!(
            "skipped: the real-Mac suite runs with BERTH_APPLE_REAL=1 (README: Berth on a Mac)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let connector = AppleConnector::new(env("BERTH_CONTAINER_BIN").map(PathBuf::from));
    let target = Target {
        endpoint: PathBuf::new(),
        namespace: format!("berth-real-{}", std::process::id()),
        state_dir: dir.path().join("net"),
    };
    // Preflight: version and system service; then the JSON of `list` and `system status`.
    let rt: Arc<dyn berth_runtime::Runtime> = connector.connect(&target).await.expect("preflight");
    println!("{}", rt.version().await.expect("version"));
    assert!(rt
        .list()
        .await
        .expect("list --all --format json")
        .is_empty());

    let image = env("BERTH_APPLE_IMAGE").unwrap_or_else(|| "docker.io/library/busybox:1.36".into());
    let bridge =
        PathBuf::from(env("BERTH_BRIDGE_BINARY").expect("BERTH_BRIDGE_BINARY: the arm64 bridge"));
    let runtime_dir = dir.path().join("runtime");
    std::fs::create_dir_all(runtime_dir.join("templates")).unwrap();
    std::fs::copy(&bridge, runtime_dir.join("bridge")).expect("copying the bridge");
    let spec = WorkspaceSpec {
        id: format!("berth-real-{}", std::process::id()),
        bot: format!("real-{}", std::process::id()),
        image: ImageRef::parse(&image).unwrap(),
        runtime_dir,
        socket_dir: dir.path().join("run"),
        log_path: dir.path().join("workspace.log"),
        network: Network::Bridge,
        block_private_networks: false,
        limits: Limits {
            memory: Some(512 << 20),
            cpu_millis: Some(1000),
            pids: None,
        },
    };

    // A pull the CLI reports as plain lines, read into whole-pull progress.
    let seen = Recorded::default();
    rt.ensure_image(
        &spec.image,
        PullPolicy::Always,
        &seen,
        &CancellationToken::new(),
    )
    .await
    .expect("pull");
    let events = seen.0.into_inner().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::Overall(o) if o.percent.is_some() || o.done.is_some())),
        "no progress line was understood: {events:?}"
    );

    common::round_trip::workspace(&*rt, &spec).await;
}

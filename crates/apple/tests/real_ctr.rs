//! The fake's real mode: the workspace really runs (through containerd's `ctr`) and the real
//! bridge answers on the published socket. Runs with `FAKE_CONTAINER_CTR_TEST=1` or under `CI`,
//! against the project's test services:
//!
//! ```text
//! scripts/services.sh start && eval "$(scripts/services.sh env)" && scripts/build-bridge.sh
//! FAKE_CONTAINER_CTR_TEST=1 cargo test -p berth-apple --test real_ctr
//! ```
//!
//! containerd's socket comes from `CONTAINERD_ADDRESS` or `BERTH_CONTAINERD_SOCKET`, the
//! registry from `BERTH_TEST_REGISTRY` (default 127.0.0.1:5000), the static bridge from
//! `BERTH_BRIDGE_BINARY` (default `target/bridge/berth-bridge`).

mod common;

use std::path::PathBuf;

use berth_runtime::{CancellationToken, ImageRef, PullPolicy};
use common::Fake;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Removes what the test put in containerd, whatever happened.
struct Cleanup {
    namespace: String,
    address: String,
    id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ctr = |args: &[&str]| {
            let _ = std::process::Command::new("ctr")
                .args(["--address", &self.address, "-n", &self.namespace])
                .args(args)
                .output();
        };
        ctr(&["tasks", "kill", "-s", "SIGKILL", &self.id]);
        ctr(&["tasks", "delete", "-f", &self.id]);
        ctr(&["containers", "delete", &self.id]);
        let images = std::process::Command::new("ctr")
            .args([
                "--address",
                &self.address,
                "-n",
                &self.namespace,
                "images",
                "ls",
                "-q",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for image in images.lines() {
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

#[tokio::test]
async fn a_workspace_runs_for_real_behind_the_published_socket() {
    // Opt-in locally; under CI (whose test command starts the services) it always runs.
    if env("FAKE_CONTAINER_CTR_TEST").as_deref() != Some("1") && env("CI").is_none() {
        eprintln!("skipped: set FAKE_CONTAINER_CTR_TEST=1 (and start scripts/services.sh)");
        return;
    }
    let address = env("CONTAINERD_ADDRESS")
        .or_else(|| env("BERTH_CONTAINERD_SOCKET"))
        .expect("CONTAINERD_ADDRESS or BERTH_CONTAINERD_SOCKET");
    let registry = env("BERTH_TEST_REGISTRY").unwrap_or_else(|| "127.0.0.1:5000".into());
    let bridge = env("BERTH_BRIDGE_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bridge/berth-bridge")
        });
    let namespace = format!("berth-apple-fake-{}", std::process::id());
    let fake = Fake::new(
        "1.2",
        &[
            "FAKE_CONTAINER_CTR=1",
            &format!("CONTAINERD_ADDRESS={address}"),
            &format!("FAKE_CONTAINER_CTR_NAMESPACE={namespace}"),
        ],
    );
    let rt = fake.connect().await;
    let mut spec = fake.spec("alice");
    std::fs::copy(&bridge, spec.runtime_dir.join("bridge"))
        .expect("the static bridge (scripts/build-bridge.sh)");
    spec.image = ImageRef::parse(&format!("{registry}/berth-test/busybox:1")).unwrap();
    let _cleanup = Cleanup {
        namespace,
        address,
        id: spec.id.clone(),
    };

    rt.ensure_image(
        &spec.image,
        PullPolicy::IfNotPresent,
        &(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    common::round_trip::workspace(&*rt, &spec).await;
}

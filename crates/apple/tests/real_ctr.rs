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
//! `BERTH_BRIDGE_BIN` (default `target/bridge/berth-bridge`).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use berth_bridge::{
    BridgeChannel, BridgeClient, ExecRequest, ExpectedPeer, FilesClient, TerminalClient,
    TerminalEvent, TerminalRequest,
};
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

/// Runs `argv` through the bridge: exit code, stdout, stderr.
async fn run(client: &BridgeClient, argv: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = client
        .exec(
            ExecRequest::new(argv),
            None::<tokio::io::Empty>,
            &mut out,
            &mut err,
        )
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (status.code.unwrap_or(-1), text(&out), text(&err))
}

/// As [`run`], for a command that must not complain.
async fn exec(client: &BridgeClient, argv: &[&str]) -> (i32, String) {
    let (code, out, err) = run(client, argv).await;
    assert!(err.is_empty(), "{argv:?}: {err}");
    (code, out)
}

/// The Files and Terminal services over the same relayed socket.
async fn files_and_terminal(socket: &std::path::Path) {
    let channel = BridgeChannel::connect(socket, ExpectedPeer::VouchedByRuntime)
        .await
        .unwrap();
    let (_, entries) = FilesClient::new(&channel).list_all(b"/data").await.unwrap();
    assert!(entries.iter().any(|e| e.name == b"note"), "{entries:?}");
    let request = TerminalRequest {
        argv: vec![
            b"sh".to_vec(),
            b"-c".to_vec(),
            b"echo term-ok; tty".to_vec(),
        ],
        rows: 24,
        cols: 80,
        ..TerminalRequest::default()
    };
    let mut session = TerminalClient::new(&channel).open(request).await.unwrap();
    let mut output = Vec::new();
    let exit = loop {
        match session.reader.next().await.unwrap() {
            TerminalEvent::Output(b) => output.extend(b),
            TerminalEvent::Exit(status) => break status,
        }
    };
    assert!(exit.success());
    let text = String::from_utf8_lossy(&output);
    assert!(
        text.contains("term-ok") && text.contains("/dev/pts/"),
        "{text}"
    );
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
    let bridge = env("BERTH_BRIDGE_BIN")
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
    rt.create(&spec).await.unwrap();
    assert_eq!(rt.start(&spec.id).await.unwrap(), 0);
    assert!(rt.status(&spec.id).await.unwrap().running);

    let socket = rt.bridge_socket(&spec.socket_dir);
    let (client, health) = BridgeClient::wait_ready(
        &socket,
        ExpectedPeer::VouchedByRuntime,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(health.pid, 1, "the bridge is the workspace's init process");
    assert_eq!(
        exec(&client, &["echo", "hello"]).await,
        (0, "hello\n".into())
    );
    assert_eq!(
        exec(&client, &["sh", "-c", "echo kept > /data/note && pwd"]).await,
        (0, "/data\n".into())
    );
    let (_, env_out) = exec(&client, &["sh", "-c", "echo $BERTH_BRIDGE_SOCKET $HOME"]).await;
    assert_eq!(env_out, "/run/berth/bridge.sock /root\n");
    let (code, _, err) = run(&client, &["sh", "-c", "touch /opt/berth/x"]).await;
    assert_ne!(code, 0, "/opt/berth is read-only");
    assert!(err.contains("Read-only file system"), "{err}");
    drop(client);
    files_and_terminal(&socket).await;

    rt.stop(&spec.id, Duration::from_secs(10)).await.unwrap();
    assert!(!rt.status(&spec.id).await.unwrap().running);
    assert!(
        std::fs::symlink_metadata(&socket).is_err(),
        "the host socket goes with the task"
    );

    // A second start keeps the writable layer (/data survives), as Apple's does.
    rt.start(&spec.id).await.unwrap();
    let (client, _) = BridgeClient::wait_ready(
        &socket,
        ExpectedPeer::VouchedByRuntime,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(
        exec(&client, &["cat", "/data/note"]).await,
        (0, "kept\n".into())
    );
    drop(client);

    rt.delete(&spec.id).await.unwrap();
    assert_eq!(
        rt.status(&spec.id).await.unwrap_err().kind,
        berth_runtime::ErrorKind::NotFound
    );
    assert!(std::fs::symlink_metadata(&socket).is_err());
}

//! One workspace's whole life through a connected Apple runtime and its published bridge
//! socket: create, start, the bridge as PID 1, exec, environment, read-only `/opt/berth`, Files,
//! a terminal, live usage, stop (the host socket goes), a second start keeping `/data`, delete.
//! Shared by the fake's real mode (`real_ctr.rs`) and the real Mac suite (`real_mac.rs`).

use std::time::Duration;

use berth_bridge::{
    BridgeChannel, BridgeClient, ExecRequest, ExpectedPeer, FilesClient, TerminalClient,
    TerminalEvent, TerminalRequest,
};
use berth_runtime::{Runtime, WorkspaceSpec};

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

/// The round trip; `spec`'s image must be present and its runtime directory hold the bridge.
pub async fn workspace(rt: &dyn Runtime, spec: &WorkspaceSpec) {
    rt.create(spec).await.unwrap();
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
    let usage = rt
        .usage(&spec.id)
        .await
        .expect("live usage of a running workspace");
    assert!(usage.memory > 0 && usage.pids >= 1, "{usage:?}");

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

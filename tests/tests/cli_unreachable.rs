//! A command that needs containerd says plainly when it cannot be reached (a listing of
//! nothing, exit 0, would read as "no bots").

use std::process::Command;

#[test]
fn ls_without_containerd_fails_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(berth_tests::berth_binary())
        .args(["ls"])
        .env("BERTH_CONTAINERD_SOCKET", dir.path().join("no-such.sock"))
        .env("BERTH_DATA_DIR", dir.path().join("data"))
        .env_remove("BERTH_LOG")
        .output()
        .expect("running berth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "exit 0 without containerd: {stderr}");
    assert!(
        stderr.contains("cannot reach containerd") && stderr.contains("states are unknown"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "printed a table: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

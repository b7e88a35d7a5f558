//! The host client's reply checks accept what the real bridge sends: listings and stats of odd
//! but legal names (spaces, newlines, non-UTF-8), of `/`, and of paths the bridge normalises.

mod common;

use std::os::unix::ffi::OsStrExt;

use berth_bridge::{BridgeChannel, ExpectedPeer, FilesClient};
use common::Bridge;

#[tokio::test]
async fn real_replies_pass_the_checks() {
    let b = Bridge::start().await;
    let dir = b.data();
    for name in [&b"a b"[..], b"new\nline", b"\xff\xfe", b"...", b".env"] {
        std::fs::write(dir.join(std::ffi::OsStr::from_bytes(name)), b"x").unwrap();
    }
    std::os::unix::fs::symlink("../..", dir.join("up")).unwrap();
    let c = FilesClient::new(
        &BridgeChannel::connect(&b.socket(), ExpectedPeer::Pid(b.pid()))
            .await
            .unwrap(),
    );
    let d = dir.as_os_str().as_bytes();
    let (listed, entries) = c.list_all(d).await.expect("list");
    assert_eq!(listed.path, d);
    assert_eq!(entries.len(), 6);

    let mut odd = d.to_vec();
    odd.extend_from_slice(b"/./up/../new\nline/");
    let e = c
        .stat(&odd)
        .await
        .expect("stat of a path the bridge normalises");
    assert_eq!(e.name, b"new\nline");

    let root = c.stat(b"/").await.expect("stat /");
    assert_eq!(
        (root.path.as_slice(), root.name.as_slice()),
        (&b"/"[..], &b"/"[..])
    );
    c.list_all(b"/").await.expect("list /");
}

//! The host's clients against a hostile bridge (`berth_bridge::testing`): a server on a Unix
//! socket that answers the Files protocol with what a bot that replaced its bridge could send —
//! names with `/`, `..`, absolute paths, endless listings, oversized pages, archives whose links
//! lead out. Every reply must be refused with a clear error, and nothing may be written outside
//! the destination: each test checks the whole temporary tree afterwards.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_bridge::proto::{FileEntry, FileKind, WatchEvent};
use berth_bridge::testing::{entry, named, targz, HostileBridge, Listing, Script, TarEntry};
use berth_bridge::{FilesClient, MAX_LIST_BYTES};
use berth_core::files::{download_dir_from, download_from};
use berth_runtime::CancellationToken;

/// A hostile bridge with `script` in a new temp dir, the client connected to it, and the dir.
async fn hostile(script: Script) -> (HostileBridge, FilesClient, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let bridge = HostileBridge::start(&tmp.path().join("bridge.sock"), script).await;
    let client = FilesClient::new(&bridge.channel().await);
    (bridge, client, tmp)
}

/// Every path under `root` (not following links), relative.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

fn set(paths: &[&str]) -> BTreeSet<PathBuf> {
    paths.iter().map(PathBuf::from).collect()
}

fn refused<T: std::fmt::Debug>(r: Result<T, berth_bridge::BridgeError>) -> String {
    let e = r.expect_err("the reply must be refused");
    let m = e.to_string();
    assert!(m.contains("refused a reply from the bridge"), "{m}");
    m
}

fn listing(entries: Vec<FileEntry>) -> Listing {
    Listing::Pages {
        dir: Some(entry(b"/data", FileKind::Dir)),
        pages: vec![entries],
    }
}

#[tokio::test]
async fn listing_names_that_are_not_single_components_are_refused() {
    let cases: Vec<(&[u8], &[u8])> = vec![
        (b"/data/..", b".."),
        (b"/data/.", b"."),
        (b"/data/", b""),
        (b"/data/a/b", b"a/b"),
        (b"/etc/passwd", b"/etc/passwd"),
        (b"/data/x\0y", b"x\0y"),
        // a fine name at another path, and a path whose name is not its last component
        (b"/etc/passwd", b"passwd"),
        (b"/data/x", b"../../etc/passwd"),
    ];
    for (path, name) in cases {
        let bad = named(path, name, FileKind::File);
        let ok = entry(b"/data/fine", FileKind::File);
        let (_b, c, _t) = hostile(Script {
            list: listing(vec![ok, bad]),
            ..Script::default()
        })
        .await;
        let m = refused(c.list_all(b"/data").await);
        eprintln!("{m}");
    }
}

#[tokio::test]
async fn a_listing_of_another_directory_or_without_one_is_refused() {
    let (_b, c, _t) = hostile(Script {
        list: Listing::Pages {
            dir: Some(entry(b"/etc", FileKind::Dir)),
            pages: vec![vec![entry(b"/etc/passwd", FileKind::File)]],
        },
        ..Script::default()
    })
    .await;
    refused(c.list_all(b"/data").await);
    let (_b, c, _t) = hostile(Script {
        list: Listing::Pages {
            dir: None,
            pages: vec![vec![entry(b"/data/x", FileKind::File)]],
        },
        ..Script::default()
    })
    .await;
    refused(c.list_all(b"/data").await);
}

#[tokio::test]
async fn stat_must_answer_about_the_path_asked_for() {
    for bad in [
        entry(b"/etc/passwd", FileKind::File),
        named(b"/data/x", b"../x", FileKind::File),
        named(b"data/x", b"x", FileKind::File),
    ] {
        let (_b, c, _t) = hostile(Script {
            stat: Some(bad),
            ..Script::default()
        })
        .await;
        refused(c.stat(b"/data/x").await);
    }
    let (_b, c, _t) = hostile(Script {
        stat: Some(entry(b"/data/x", FileKind::File)),
        ..Script::default()
    })
    .await;
    assert_eq!(c.stat(b"/data/./x/").await.unwrap().name, b"x");
}

/// A listing without end stops at the cap with a clear error, and the client stops reading:
/// beyond the cap the bridge can only send what HTTP/2 flow control lets it (an 8 MiB stream
/// window, about 30 bytes an entry here) and the queues hold.
#[tokio::test]
async fn an_endless_listing_stops_at_the_cap() {
    let (b, c, _t) = hostile(Script {
        list: Listing::Endless {
            dir: entry(b"/data", FileKind::Dir),
        },
        ..Script::default()
    })
    .await;
    let e = c
        .list_all_limited(b"/data", 50_000, MAX_LIST_BYTES)
        .await
        .expect_err("an endless listing must fail");
    assert!(e.to_string().contains("more than 50000 entries"), "{e}");
    assert!(
        b.entries_sent() < 50_000 + 400_000,
        "sent {}",
        b.entries_sent()
    );
}

/// The default cap holds too (1,000,000 entries), and the bytes of names are bounded.
#[tokio::test]
async fn the_default_listing_cap_holds() {
    let (_b, c, _t) = hostile(Script {
        list: Listing::Endless {
            dir: entry(b"/data", FileKind::Dir),
        },
        ..Script::default()
    })
    .await;
    let e = c.list_all(b"/data").await.expect_err("must stop");
    assert!(e.to_string().contains("more than 1000000 entries"), "{e}");
    let e = c
        .list_all_limited(b"/data", usize::MAX, 1 << 20)
        .await
        .expect_err("must stop at 1 MiB of names");
    assert!(e.to_string().contains("1 MiB of names"), "{e}");
}

/// One message over the decoding limit (4 MiB) is refused, not buffered.
#[tokio::test]
async fn an_oversized_page_is_refused() {
    let big: Vec<_> = (0..40_000)
        .map(|i| {
            let name = format!("{i:0>200}");
            entry(format!("/data/{name}").as_bytes(), FileKind::File)
        })
        .collect();
    let (_b, c, _t) = hostile(Script {
        list: listing(big),
        ..Script::default()
    })
    .await;
    let e = c.list_all(b"/data").await.expect_err("must be refused");
    assert!(e.to_string().contains("message length too large"), "{e}");
}

#[tokio::test]
async fn a_ranged_read_refuses_more_than_asked_for() {
    let (_b, c, _t) = hostile(Script {
        read: Some((entry(b"/data/f", FileKind::File), vec![7u8; 100_000])),
        ..Script::default()
    })
    .await;
    let mut out = Vec::new();
    refused(c.read(b"/data/f", 0, Some(10), false, &mut out).await);
    assert!(out.len() <= 10);
}

#[tokio::test]
async fn watch_paths_must_be_normalised_absolute_paths() {
    let (_b, c, _t) = hostile(Script {
        watch: vec![WatchEvent {
            paths: vec![b"../../etc".to_vec()],
            overflow: false,
        }],
        ..Script::default()
    })
    .await;
    let mut w = c.watch(&[b"/data".to_vec()]).await.unwrap();
    refused(w.next().await);
}

/// A single-file download whose stat names another path is refused before a byte is written;
/// an absurd size is only a number on the progress row.
#[tokio::test]
async fn single_file_downloads_write_only_their_destination() {
    let (_b, c, t) = hostile(Script {
        stat: Some(named(b"/data/f", b"../f", FileKind::File)),
        read: Some((entry(b"/data/f", FileKind::File), b"data".to_vec())),
        ..Script::default()
    })
    .await;
    let dest = t.path().join("f");
    let emit = Arc::new(|_| {});
    let r = download_from(
        &c,
        &["/data/f".into()],
        &dest,
        &CancellationToken::new(),
        emit,
    )
    .await;
    assert!(r.unwrap_err().message.contains("refused a reply"));
    assert_eq!(tree(t.path()), set(&["bridge.sock"]));

    let mut huge = entry(b"/data/f", FileKind::File);
    huge.size = u64::MAX;
    let (_b, c, t) = hostile(Script {
        stat: Some(huge.clone()),
        read: Some((huge, b"data".to_vec())),
        ..Script::default()
    })
    .await;
    let dest = t.path().join("f");
    let emit = Arc::new(|_| {});
    let s = download_from(
        &c,
        &["/data/f".into()],
        &dest,
        &CancellationToken::new(),
        emit,
    )
    .await
    .unwrap();
    assert_eq!(s.bytes, 4);
    assert_eq!(std::fs::read(&dest).unwrap(), b"data");
    assert_eq!(tree(t.path()), set(&["bridge.sock", "f"]));
}

/// Folder downloads with hostile archives: each is refused, the new folder is removed, and
/// nothing appears anywhere else in the temp dir (`outside/` is a bystander next to it).
#[tokio::test]
async fn folder_downloads_never_write_outside_their_destination() {
    use TarEntry::*;
    let cases: Vec<(&str, Vec<TarEntry<'_>>)> = vec![
        (
            "a link chain through the archive's own links",
            vec![
                Dir("top/"),
                Symlink("top/a", "."),
                Symlink("top/k", "a/a/a/../../../../etc/passwd"),
            ],
        ),
        (
            "a link to the archive's root, beside the destination once stripped",
            vec![Dir("top/"), Symlink("top/k", "..")],
        ),
        (
            "a link out, then a file through it",
            vec![
                Dir("top/"),
                Symlink("top/l", "../../outside"),
                File("top/l/pwn", b"x"),
            ],
        ),
        (
            "`..` in a name",
            vec![Dir("top/"), File("top/../../outside/pwn", b"x")],
        ),
        (
            "an absolute name",
            vec![Dir("top/"), File("/tmp/pwn", b"x")],
        ),
        (
            "the folder itself a link",
            vec![Symlink("top", "."), File("top/pwn", b"x")],
        ),
        (
            "an entry beside the folder",
            vec![Dir("top/"), File("other/pwn", b"x")],
        ),
        (
            "a hard link to outside",
            vec![Dir("top/"), HardLink("top/h", "outside/bystander")],
        ),
        ("no folder at all", vec![File("pwn", b"x")]),
    ];
    for (what, entries) in cases {
        let (_b, c, t) = hostile(Script {
            archive: targz(&entries),
            ..Script::default()
        })
        .await;
        std::fs::create_dir(t.path().join("outside")).unwrap();
        std::fs::write(t.path().join("outside/bystander"), b"keep").unwrap();
        let before = tree(t.path());
        let r = download_dir_from(&c, "/data/top", &t.path().join("dest")).await;
        let e = r.expect_err(what);
        eprintln!("{what}: {}", e.message);
        assert_eq!(tree(t.path()), before, "{what}: the tree changed");
        assert_eq!(
            std::fs::read(t.path().join("outside/bystander")).unwrap(),
            b"keep"
        );
    }
}

/// The control: a well-formed folder arrives whole, its inside links intact.
#[tokio::test]
async fn a_well_formed_folder_download_arrives_whole() {
    use TarEntry::*;
    let (_b, c, t) = hostile(Script {
        archive: targz(&[
            Dir("top/"),
            Dir("top/sub/"),
            File("top/sub/f", b"data"),
            Symlink("top/l", "sub/f"),
            HardLink("top/h", "top/sub/f"),
        ]),
        ..Script::default()
    })
    .await;
    download_dir_from(&c, "/data/top", &t.path().join("dest"))
        .await
        .unwrap();
    assert_eq!(
        tree(t.path()),
        set(&[
            "bridge.sock",
            "dest",
            "dest/h",
            "dest/l",
            "dest/sub",
            "dest/sub/f"
        ])
    );
    assert_eq!(std::fs::read(t.path().join("dest/l")).unwrap(), b"data");
}

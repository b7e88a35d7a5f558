//! Files on a real workspace: every operation of the bridge's `Files` service through
//! core and the CLI, path rules, hostile archives, a 20,000-entry directory, watch, and a 1 GiB
//! round trip with the bridge's and the client's peak memory measured.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::files::{encode_path, FileType, OnExists, TransferItem, TransferState};
use berth_core::model::ErrorCode;
use berth_core::{Berth, CancellationToken};
use berth_tests::file_events::FileEvents;
use berth_tests::{cli_peak, create, mem_kib, sh, TestEnv, BUSYBOX};
use sha2::{Digest, Sha256};

async fn workspace(env: &TestEnv, prefix: &str) -> (Berth, String) {
    let berth = env.berth().await;
    let bot = format!("{prefix}-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    (berth, bot)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn no_events() -> Arc<dyn Fn(TransferItem) + Send + Sync> {
    Arc::new(|_| {})
}

/// Uploads host bytes as `dest_dir/name` through core.
async fn put(berth: &Berth, bot: &str, dir: &Path, name: &str, bytes: &[u8], dest_dir: &str) {
    let host = dir.join(name);
    std::fs::write(&host, bytes).unwrap();
    let sum = berth
        .upload(
            bot,
            &[host],
            dest_dir,
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .expect("upload");
    assert_eq!((sum.done, sum.failed), (1, 0), "{sum:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_operations() {
    let Some(env) = TestEnv::new("files-ops") else {
        return;
    };
    let (berth, bot) = workspace(&env, "fo").await;
    let host = tempfile::tempdir().unwrap();

    // --- write, stat, read, revision, mode kept ---------------------------------------------
    let saved = berth
        .file_save_text(&bot, "/data/notes.txt", "one\n".into(), None)
        .await
        .expect("save");
    let rev1 = saved.revision.clone().expect("revision");
    assert!(rev1.starts_with("sha256:"), "{rev1}");
    assert_eq!(sh(&berth, &bot, "cat /data/notes.txt").await, "one\n");
    sh(&berth, &bot, "chmod 751 /data/notes.txt").await;
    let t = berth
        .file_read_text(&bot, "/data/notes.txt")
        .await
        .expect("read");
    assert_eq!(
        (t.content.as_str(), t.revision.as_str()),
        ("one\n", rev1.as_str())
    );
    let saved2 = berth
        .file_save_text(&bot, "/data/notes.txt", "two\n".into(), Some(rev1.clone()))
        .await
        .expect("save with revision");
    assert_eq!(saved2.info.mode, 0o751, "an existing file keeps its mode");
    assert_eq!(
        sh(&berth, &bot, "stat -c %a /data/notes.txt").await.trim(),
        "751"
    );
    // revision conflict: the file changed since rev1 was read
    let e = berth
        .file_save_text(&bot, "/data/notes.txt", "three\n".into(), Some(rev1))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
    assert!(e.message.contains("changed on disk"), "{}", e.message);
    assert_eq!(
        sh(&berth, &bot, "cat /data/notes.txt").await,
        "two\n",
        "a conflicting save changed nothing"
    );
    // no temp files left behind
    assert_eq!(
        sh(&berth, &bot, "ls -A /data | grep -c berth- || true")
            .await
            .trim(),
        "0"
    );

    // --- empty files are files ---------------------------------------------------------------
    let created = berth
        .file_create(&bot, "/data", "empty.txt")
        .await
        .expect("create empty");
    assert_eq!((created.info.kind, created.info.size), (FileType::File, 0));
    put(&berth, &bot, host.path(), "empty-upload", b"", "/data").await;
    assert_eq!(
        sh(
            &berth,
            &bot,
            "wc -c < /data/empty-upload; test -f /data/empty-upload && echo file"
        )
        .await
        .split_whitespace()
        .collect::<Vec<_>>(),
        ["0", "file"]
    );
    let e = berth
        .file_create(&bot, "/data", "empty.txt")
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e:?}");

    // --- mkdir -p, list order, hidden files ---------------------------------------------------
    berth
        .file_mkdir_all(&bot, "/data/a/b/c")
        .await
        .expect("mkdir -p");
    assert_eq!(
        sh(&berth, &bot, "test -d /data/a/b/c && echo yes").await,
        "yes\n"
    );
    sh(
        &berth,
        &bot,
        "cd /data/a && : > file10 && : > file2 && : > .hidden && mkdir zdir",
    )
    .await;
    let l = berth.file_list(&bot, "/data/a").await.expect("list");
    let names: Vec<_> = l.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["b", "zdir", ".hidden", "file2", "file10"],
        "directories first, natural order"
    );

    // --- names with spaces, newlines, non-UTF-8 bytes, Unicode --------------------------------
    let odd: &[&[u8]] = &[
        b"/data/with space",
        b"/data/new\nline",
        b"/data/bad\xff\xfebytes",
        "/data/日本語 ✓".as_bytes(),
    ];
    for p in odd {
        let tok = encode_path(p);
        berth
            .file_save_text(&bot, &tok, "odd\n".into(), None)
            .await
            .unwrap_or_else(|e| panic!("{p:?}: {e:?}"));
        assert_eq!(
            berth
                .file_read_text(&bot, &tok)
                .await
                .expect("read odd")
                .content,
            "odd\n"
        );
    }
    let l = berth.file_list(&bot, "/data").await.unwrap();
    for p in odd {
        let tok = encode_path(p);
        let e = l
            .entries
            .iter()
            .find(|e| e.path == tok)
            .unwrap_or_else(|| panic!("{p:?} not listed"));
        assert_eq!(e.lossy, std::str::from_utf8(p).is_err());
    }
    // the bytes on disk are exactly those
    let raw = sh(
        &berth,
        &bot,
        "for f in /data/bad*; do printf %s \"$f\" | od -An -tx1; done",
    )
    .await;
    assert_eq!(
        raw.split_whitespace().collect::<String>(),
        hex::encode(b"/data/bad\xff\xfebytes")
    );

    // --- symlinks: inside and pointing outside /data -------------------------------------------
    sh(&berth, &bot, "ln -s notes.txt /data/link-in && ln -s /etc /data/link-out && ln -s /nowhere /data/dangling").await;
    let l = berth.file_list(&bot, "/data").await.unwrap();
    let find = |n: &str| {
        l.entries
            .iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
            .clone()
    };
    let li = find("link-in");
    assert_eq!(
        (li.kind, li.link_target.as_deref(), li.target_kind),
        (FileType::Symlink, Some("notes.txt"), Some(FileType::File))
    );
    let lo = find("link-out");
    assert_eq!(
        (lo.kind, lo.link_target.as_deref(), lo.target_kind),
        (FileType::Symlink, Some("/etc"), Some(FileType::Dir))
    );
    assert_eq!(find("dangling").target_kind, None);
    assert!(
        l.entries.iter().position(|e| e.name == "link-out").unwrap()
            < l.entries
                .iter()
                .position(|e| e.name == "empty.txt")
                .unwrap(),
        "a link to a directory sorts with directories"
    );
    // reading and writing follow links; listing through a link to outside /data works
    assert_eq!(
        berth
            .file_read_text(&bot, "/data/link-in")
            .await
            .unwrap()
            .content,
        "two\n"
    );
    berth
        .file_save_text(&bot, "/data/link-in", "via link\n".into(), None)
        .await
        .expect("write through link");
    assert_eq!(
        sh(
            &berth,
            &bot,
            "cat /data/notes.txt; test -L /data/link-in && echo still-link"
        )
        .await,
        "via link\nstill-link\n"
    );
    let etc = berth
        .file_list(&bot, "/data/link-out")
        .await
        .expect("list through link");
    assert!(
        etc.entries.iter().any(|e| e.name == "passwd"),
        "/etc via the link"
    );
    // delete removes the link, not its target
    berth
        .file_delete(&bot, &["/data/link-out".into()], true)
        .await
        .expect("delete link");
    assert_eq!(
        sh(
            &berth,
            &bot,
            "test -e /data/link-out || echo gone; test -f /etc/passwd && echo kept"
        )
        .await,
        "gone\nkept\n"
    );

    // --- the whole container is reachable, Berth's mounts are read-only ------------------------
    assert!(berth
        .file_read_text(&bot, "/etc/passwd")
        .await
        .unwrap()
        .content
        .contains("root"));
    berth
        .file_save_text(&bot, "/tmp/outside-data", "x".into(), None)
        .await
        .expect("write /tmp");
    for p in [
        "/opt/berth/evil",
        "/run/berth/evil",
        "/opt/berth/../berth/evil2",
    ] {
        let e = berth
            .file_save_text(&bot, p, "x".into(), None)
            .await
            .unwrap_err();
        assert!(e.message.contains("read-only"), "{p}: {e:?}");
    }
    let e = berth
        .file_mkdir_all(&bot, "/opt/berth/d")
        .await
        .unwrap_err();
    assert!(e.message.contains("read-only"), "{e:?}");
    sh(&berth, &bot, "ln -s /opt/berth /data/to-berth").await;
    let e = berth
        .file_save_text(&bot, "/data/to-berth/evil", "x".into(), None)
        .await
        .unwrap_err();
    assert!(e.message.contains("read-only"), "through a link: {e:?}");
    assert_eq!(
        sh(&berth, &bot, "ls /opt/berth | grep -c evil || true")
            .await
            .trim(),
        "0"
    );
    // paths are normalised: `..` stops at the root
    assert_eq!(
        berth
            .file_stat(&bot, "/data/../../../etc/../data/notes.txt")
            .await
            .unwrap()
            .path,
        "/data/notes.txt"
    );

    // --- delete: `/` refused, non-empty dir needs recursive ------------------------------------
    let e = berth
        .file_delete(&bot, &["/".into()], true)
        .await
        .unwrap_err();
    assert!(e.message.contains("root"), "{e:?}");
    let e = berth
        .file_delete(&bot, &["/data/../..".into()], true)
        .await
        .unwrap_err();
    assert!(e.message.contains("root"), "{e:?}");
    assert!(
        berth
            .file_delete(&bot, &["/data/a".into()], false)
            .await
            .is_err(),
        "non-empty without recursive"
    );
    berth
        .file_delete(&bot, &["/data/a".into()], true)
        .await
        .expect("recursive delete");
    assert_eq!(
        sh(&berth, &bot, "test -e /data/a || echo gone").await,
        "gone\n"
    );

    // --- rename / move: over an existing file without and with overwrite -----------------------
    berth
        .file_save_text(&bot, "/data/r1", "r1".into(), None)
        .await
        .unwrap();
    berth
        .file_save_text(&bot, "/data/r2", "r2".into(), None)
        .await
        .unwrap();
    let e = berth
        .file_rename(&bot, "/data/r1", "r2", false)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e:?}");
    assert_eq!(sh(&berth, &bot, "cat /data/r1 /data/r2").await, "r1r2");
    berth
        .file_rename(&bot, "/data/r1", "r2", true)
        .await
        .expect("overwrite");
    assert_eq!(
        sh(&berth, &bot, "test -e /data/r1 || cat /data/r2").await,
        "r1"
    );
    berth
        .file_move(&bot, "/data/r2", "/data/moved/deep/r3", false)
        .await
        .expect("move");
    assert_eq!(sh(&berth, &bot, "cat /data/moved/deep/r3").await, "r1");
    assert!(
        berth
            .file_move(&bot, "/data/moved", "/data/moved/deep/inside", false)
            .await
            .is_err(),
        "into itself"
    );
    assert!(
        berth
            .file_rename(&bot, "/data/moved", "../x", false)
            .await
            .is_err(),
        "a name, not a path"
    );

    // --- archive + extract (tar.gz and zip) ------------------------------------------------------
    sh(&berth, &bot, "mkdir -p /data/src/sub && echo hi > /data/src/sub/f && : > /data/src/empty && ln -s sub/f /data/src/l").await;
    let tgz = host.path().join("src.tar.gz");
    let sum = berth
        .download(
            &bot,
            &["/data/src".into(), "/data/notes.txt".into()],
            &tgz,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .expect("archive");
    assert_eq!(sum.done, 1);
    let listing = Command::new("tar").arg("tzf").arg(&tgz).output().unwrap();
    let names = text(&listing.stdout);
    for n in ["src/sub/f", "src/empty", "src/l", "notes.txt"] {
        assert!(
            names.lines().any(|l| l.trim_end_matches('/') == n),
            "{n} not in the archive: {names}"
        );
    }
    berth
        .upload(
            &bot,
            std::slice::from_ref(&tgz),
            "/data/up",
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap_err();
    berth.file_mkdir_all(&bot, "/data/up").await.unwrap();
    berth
        .upload(
            &bot,
            &[tgz],
            "/data/up",
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    let x = berth
        .file_extract(&bot, "/data/up/src.tar.gz")
        .await
        .expect("extract");
    assert_eq!(x.dir, "/data/up/src");
    assert_eq!(sh(&berth, &bot, "cat /data/up/src/src/sub/f; readlink /data/up/src/src/l; wc -c < /data/up/src/src/empty").await.split_whitespace().collect::<Vec<_>>(), ["hi", "sub/f", "0"]);
    let e = berth
        .file_extract(&bot, "/data/up/src.tar.gz")
        .await
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::AlreadyExists,
        "extract refuses an existing directory: {e:?}"
    );
    let zip = host.path().join("z.zip");
    let py = "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('d/in.txt','zipped')\nz.close()";
    assert!(Command::new("python3")
        .args(["-c", py])
        .arg(&zip)
        .status()
        .unwrap()
        .success());
    berth
        .upload(
            &bot,
            &[zip],
            "/data",
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    berth.file_extract(&bot, "/data/z.zip").await.expect("zip");
    assert_eq!(sh(&berth, &bot, "cat /data/z/d/in.txt").await, "zipped");

    // --- hostile archives leave nothing behind -------------------------------------------------
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot.tar.gz",
            evil_tar(&[Entry::File("ok.txt"), Entry::File("../escape-dotdot.txt")]),
        ),
        (
            "abs.tar.gz",
            evil_tar(&[Entry::File("ok.txt"), Entry::File("/tmp/escape-abs.txt")]),
        ),
        (
            "linkout.tgz",
            evil_tar(&[Entry::Link("l", "/tmp"), Entry::File("l/escape-link.txt")]),
        ),
        (
            "linkup.tgz",
            evil_tar(&[
                Entry::Link("l", "../../tmp"),
                Entry::File("l/escape-up.txt"),
            ]),
        ),
        (
            "linkin.tgz",
            evil_tar(&[
                Entry::Dir("sub"),
                Entry::Link("l", "sub"),
                Entry::File("l/through.txt"),
            ]),
        ),
    ];
    berth.file_mkdir_all(&bot, "/data/evil").await.unwrap();
    for (name, bytes) in hostile {
        put(&berth, &bot, host.path(), name, &bytes, "/data/evil").await;
        let e = berth
            .file_extract(&bot, &format!("/data/evil/{name}"))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{name}: {e:?}");
        let left = sh(
            &berth,
            &bot,
            "ls -A /data/evil; ls /tmp /data | grep escape || true",
        )
        .await;
        assert_eq!(left.trim(), name, "{name} left something behind: {left}");
        sh(&berth, &bot, &format!("rm /data/evil/{name}")).await;
    }
    let zip = host.path().join("evil.zip");
    let py = "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('ok.txt','x')\nz.writestr('../escape-zip.txt','x')\nz.close()";
    assert!(Command::new("python3")
        .args(["-c", py])
        .arg(&zip)
        .status()
        .unwrap()
        .success());
    berth
        .upload(
            &bot,
            &[zip],
            "/data/evil",
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    assert!(berth
        .file_extract(&bot, "/data/evil/evil.zip")
        .await
        .is_err());
    assert_eq!(
        sh(
            &berth,
            &bot,
            "ls -A /data/evil; ls /data | grep escape || true"
        )
        .await
        .trim(),
        "evil.zip"
    );

    // --- uploads: folders, name exists → replace / skip / keep both ----------------------------
    let tree = host.path().join("tree");
    std::fs::create_dir_all(tree.join("inner/deeper")).unwrap();
    std::fs::write(tree.join("inner/deeper/x.txt"), b"x").unwrap();
    std::fs::write(tree.join("top.txt"), b"top").unwrap();
    std::fs::create_dir(tree.join("emptydir")).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let emit: Arc<dyn Fn(TransferItem) + Send + Sync> =
        Arc::new(move |t| ev.lock().unwrap().push(t));
    let sum = berth
        .upload(
            &bot,
            std::slice::from_ref(&tree),
            "/data",
            OnExists::Replace,
            &CancellationToken::new(),
            emit,
        )
        .await
        .unwrap();
    assert_eq!((sum.done, sum.failed), (2, 0), "{sum:?}");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.state == TransferState::Done)
            .count()
            == 2
    );
    assert_eq!(sh(&berth, &bot, "cat /data/tree/inner/deeper/x.txt /data/tree/top.txt; test -d /data/tree/emptydir && echo D").await, "xtopD\n");
    std::fs::write(tree.join("top.txt"), b"new").unwrap();
    berth
        .upload(
            &bot,
            &[tree.join("top.txt")],
            "/data/tree",
            OnExists::Skip,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    assert_eq!(sh(&berth, &bot, "cat /data/tree/top.txt").await, "top");
    berth
        .upload(
            &bot,
            &[tree.join("top.txt")],
            "/data/tree",
            OnExists::KeepBoth,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    assert_eq!(
        sh(
            &berth,
            &bot,
            "cat /data/tree/top.txt '/data/tree/top (2).txt'"
        )
        .await,
        "topnew"
    );
    berth
        .upload(
            &bot,
            &[tree.join("top.txt")],
            "/data/tree",
            OnExists::Replace,
            &CancellationToken::new(),
            no_events(),
        )
        .await
        .unwrap();
    assert_eq!(sh(&berth, &bot, "cat /data/tree/top.txt").await, "new");
    assert_eq!(
        berth
            .file_existing_names(&bot, "/data/tree", &["top.txt".into(), "nope".into()])
            .await
            .unwrap(),
        ["top.txt"]
    );

    // --- ranged reads through the bridge client -------------------------------------------------
    let c = berth.files_client(&bot).await.unwrap();
    let mut out = Vec::new();
    let r = c
        .read(
            b"/data/tree/inner/deeper/../../top.txt",
            1,
            Some(1),
            true,
            &mut out,
        )
        .await
        .unwrap();
    assert_eq!((out.as_slice(), r.revision), (&b"e"[..], None));
    let e = c
        .read(b"/data", 0, None, false, Vec::new())
        .await
        .unwrap_err();
    assert!(e.message().contains("directory"), "{e:?}");
    let e = c.stat(b"/data/missing").await.unwrap_err();
    assert!(matches!(e, berth_bridge::BridgeError::NotFound(_)), "{e:?}");

    // --- the CLI: ls and cp both ways ---------------------------------------------------------
    let out = env.cli(&["ls", &format!("{bot}:/data/tree")], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.lines().next().unwrap().ends_with("emptydir/"), "{s}");
    assert!(s.contains("top (2).txt"), "{s}");
    let out = env.cli(&["ls", &format!("{bot}:/data"), "--json"], None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ls --json");
    assert!(v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "notes.txt" && e["kind"] == "file"));
    let out = env.cli(&["ls", "--json"], None);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"] == bot.as_str()),
        "plain ls still lists bots"
    );
    let down = host.path().join("down");
    let out = env.cli(
        &["cp", &format!("{bot}:/data/tree"), down.to_str().unwrap()],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(down.join("inner/deeper/x.txt")).unwrap(),
        b"x"
    );
    assert!(down.join("emptydir").is_dir());
    let out = env.cli(
        &["cp", down.to_str().unwrap(), &format!("{bot}:/data/copied")],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sh(
            &berth,
            &bot,
            "cat /data/copied/inner/deeper/x.txt /data/copied/top.txt"
        )
        .await,
        "xnew"
    );
    let out = env.cli(&["cp", &format!("{bot}:/data/tree"), "-"], None);
    assert!(out.status.success());
    let mut tarred = String::new();
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&out.stdout[..]));
    for e in ar.entries().unwrap() {
        tarred.push_str(&e.unwrap().path().unwrap().display().to_string());
        tarred.push('\n');
    }
    assert!(tarred.contains("tree/inner/deeper/x.txt"), "{tarred}");
    let out = env.cli(&["cp", "/etc/hostname", "/tmp/x"], None);
    assert!(!out.status.success() && text(&out.stderr).contains("BOT:/path"));

    berth.delete_bot(&bot).await.expect("delete");
}

enum Entry<'a> {
    File(&'a str),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

/// A tar.gz with raw names (the tar crate's safe setters would refuse them).
fn evil_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, data): (&str, &[u8]) = match e {
            Entry::File(n) => {
                h.set_entry_type(tar::EntryType::Regular);
                (n, b"evil")
            }
            Entry::Dir(n) => {
                h.set_entry_type(tar::EntryType::Directory);
                (n, b"")
            }
            Entry::Link(n, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                let t = target.as_bytes();
                h.as_old_mut().linkname[..t.len()].copy_from_slice(t);
                (n, b"")
            }
        };
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_big_directory_and_watch() {
    let Some(env) = TestEnv::new("files-watch") else {
        return;
    };
    let (berth, bot) = workspace(&env, "fw").await;

    // 20,000 entries: listed completely, in pages, in reasonable time
    sh(
        &berth,
        &bot,
        "mkdir /data/big && cd /data/big && seq 1 20000 | sed 's/^/entry-/' | xargs touch",
    )
    .await;
    let t0 = Instant::now();
    let l = berth.file_list(&bot, "/data/big").await.expect("list 20k");
    let ms = t0.elapsed().as_millis();
    assert_eq!(l.entries.len(), 20_000);
    assert_eq!(l.entries[0].name, "entry-1");
    assert_eq!(l.entries[19_999].name, "entry-20000", "natural order");
    eprintln!("listing 20,000 entries: {ms} ms");
    let c = berth.files_client(&bot).await.unwrap();
    let mut pages = c.list(b"/data/big", 1000).await.unwrap();
    let (mut n, mut count) = (0, 0);
    while let Some(p) = pages.next_page().await.unwrap() {
        assert!(p.len() <= 1000);
        n += p.len();
        count += 1;
    }
    assert_eq!((n, count), (20_000, 20));

    // watch: a file made by `berth exec` shows up within 1 s
    let mut events = FileEvents::start(&berth, &bot, "/data").await;
    let t0 = Instant::now();
    let out = env.cli(
        &["exec", &bot, "--", "sh", "-c", "echo x > /data/new"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exec_done = Instant::now();
    let got = events
        .naming("/data/new", Duration::from_secs(10))
        .await
        .expect("no watch event for /data/new");
    let latency = got.saturating_duration_since(exec_done);
    eprintln!(
        "watch latency after exec returned: {latency:?} (exec took {:?})",
        exec_done - t0
    );
    assert!(latency < Duration::from_secs(1), "event after {latency:?}");
    let l = berth.file_list(&bot, "/data").await.unwrap();
    assert!(l.entries.iter().any(|e| e.name == "new"));
    // removal is seen too, and the watch stops when cancelled
    sh(&berth, &bot, "rm /data/new").await;
    assert!(
        events
            .naming("/data/new", Duration::from_secs(10))
            .await
            .is_some(),
        "no watch event for the removal"
    );
    events.stop().await.expect("watch ended cleanly");
    let e = berth
        .file_watch(
            &bot,
            &["/data/nope".into()],
            CancellationToken::new(),
            |_| true,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "{e:?}");

    berth.delete_bot(&bot).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_one_gib_round_trip() {
    let Some(env) = TestEnv::new("files-big") else {
        return;
    };
    let (berth, bot) = workspace(&env, "fb").await;
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("big.bin");
    const GIB: u64 = 1 << 30;
    // 1 GiB of varied bytes (every MiB differs), hashed while written
    let mut want = Sha256::new();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&src).unwrap());
        let mut block = vec![0u8; 1 << 20];
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for b in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b.copy_from_slice(&x.to_le_bytes());
        }
        for i in 0..(GIB >> 20) {
            block[..8].copy_from_slice(&i.to_le_bytes());
            want.update(&block);
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
    }
    let want = hex::encode(want.finalize());

    let tasks = env.ctr(&["task", "ls"]);
    let id = berth_core::container_id(&bot);
    let bridge_pid: u32 = tasks
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("bridge pid");
    let bridge_base = mem_kib(bridge_pid, "VmRSS:").expect("bridge rss");

    // the client's baseline: the same command on a tiny file
    let tiny = host.path().join("tiny");
    std::fs::write(&tiny, b"t").unwrap();
    let (ok, err, cli_base, _) = cli_peak(
        &env,
        &["cp", tiny.to_str().unwrap(), &format!("{bot}:/data/tiny")],
    );
    assert!(ok, "{err}");

    let (ok, err, up_peak, up_time) = cli_peak(
        &env,
        &["cp", src.to_str().unwrap(), &format!("{bot}:/data/big.bin")],
    );
    assert!(ok, "upload: {err}");
    let inside = sh(&berth, &bot, "sha256sum /data/big.bin").await;
    assert_eq!(
        inside.split_whitespace().next(),
        Some(want.as_str()),
        "uploaded bytes differ"
    );
    std::fs::remove_file(&src).unwrap();

    let back = host.path().join("back.bin");
    let (ok, err, down_peak, down_time) = cli_peak(
        &env,
        &[
            "cp",
            &format!("{bot}:/data/big.bin"),
            back.to_str().unwrap(),
        ],
    );
    assert!(ok, "download: {err}");
    let mut got = Sha256::new();
    let mut f = std::fs::File::open(&back).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        n += k as u64;
        got.update(&buf[..k]);
    }
    assert_eq!(n, GIB);
    assert_eq!(hex::encode(got.finalize()), want, "downloaded bytes differ");

    let bridge_peak = mem_kib(bridge_pid, "VmHWM:").expect("bridge hwm");
    let bridge_extra = bridge_peak.saturating_sub(bridge_base) / 1024;
    let up_extra = up_peak.saturating_sub(cli_base) / 1024;
    let down_extra = down_peak.saturating_sub(cli_base) / 1024;
    eprintln!(
        "1 GiB: upload {up_time:?} ({:.0} MiB/s), download {down_time:?} ({:.0} MiB/s); extra peak memory: bridge {bridge_extra} MiB, client up {up_extra} MiB, down {down_extra} MiB (client baseline {} MiB)",
        1024.0 / up_time.as_secs_f64(),
        1024.0 / down_time.as_secs_f64(),
        cli_base / 1024
    );
    assert!(bridge_extra < 64, "bridge grew by {bridge_extra} MiB");
    assert!(
        up_extra < 64,
        "client grew by {up_extra} MiB while uploading"
    );
    assert!(
        down_extra < 64,
        "client grew by {down_extra} MiB while downloading"
    );

    // a cancelled upload changes nothing (dropping the future before commit)
    let src2 = host.path().join("again.bin");
    std::fs::write(&src2, vec![7u8; 8 << 20]).unwrap();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let emit: Arc<dyn Fn(TransferItem) + Send + Sync> = Arc::new(move |t| {
        if t.state == TransferState::Running {
            c2.cancel();
        }
    });
    let mut events = FileEvents::start(&berth, &bot, "/data").await;
    let sum = berth
        .upload(&bot, &[src2], "/data", OnExists::Replace, &cancel, emit)
        .await
        .unwrap();
    assert!(sum.cancelled, "{sum:?}");
    // The bridge removes its temp file when it sees the stream cancelled, which may land a
    // moment after `upload` returned: until nothing is left, wait for the next change in /data.
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left = sh(
            &berth,
            &bot,
            "test -e /data/again.bin || echo absent; ls -A /data | grep -c berth- || true",
        )
        .await;
        if left == "absent\n0\n" || Instant::now() > deadline {
            break left;
        }
        let _ = events
            .next(deadline.saturating_duration_since(Instant::now()))
            .await;
    };
    events.stop().await.expect("watch ended cleanly");
    assert_eq!(
        left, "absent\n0\n",
        "a cancelled upload left something in /data"
    );

    berth.delete_bot(&bot).await.expect("delete");
}

/// A file call on a running workspace reuses the connection the first one dialled (it works
/// even when the socket's name is gone); a workspace
/// stopped behind this core's back (by another process) still gives the clear "not running"
/// error, and after a start the calls work again on a new connection. Prints the first (checks
/// state, dials) and the following (kept connection) listing times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_connection_is_kept_while_the_workspace_runs() {
    let Some(env) = TestEnv::new("files-conn") else {
        return;
    };
    let (creator, bot) = workspace(&env, "fc").await;
    sh(
        &creator,
        &bot,
        "mkdir -p /data/small && cd /data/small && touch a b c d e",
    )
    .await;
    let (mut first, mut next) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let berth = env.berth().await;
        let t0 = Instant::now();
        berth
            .file_list(&bot, "/data/small")
            .await
            .expect("first listing");
        first.push(t0.elapsed());
        for _ in 0..10 {
            let t0 = Instant::now();
            let l = berth
                .file_list(&bot, "/data/small")
                .await
                .expect("next listing");
            next.push(t0.elapsed());
            assert_eq!(l.entries.len(), 5);
        }
    }
    let avg = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() * 1000.0 / v.len() as f64;
    eprintln!(
        "file_list /data/small: first call {:.2} ms, next calls {:.2} ms (averages)",
        avg(&first),
        avg(&next)
    );

    // With the socket's name gone, the kept connection still works while a new dial cannot.
    let berth = env.berth().await;
    berth
        .file_list(&bot, "/data/small")
        .await
        .expect("listing keeps a connection");
    let id = berth.info(&bot).await.unwrap().container_id.unwrap();
    let socket = berth.paths().bridge_socket(&id);
    let hidden = socket.with_extension("hidden");
    std::fs::rename(&socket, &hidden).unwrap();
    let kept = berth.file_list(&bot, "/data/small").await;
    let fresh = env.berth().await.file_list(&bot, "/data/small").await;
    std::fs::rename(&hidden, &socket).unwrap();
    assert_eq!(kept.expect("the kept connection").entries.len(), 5);
    assert_eq!(
        fresh.expect_err("a new dial finds no socket").code,
        ErrorCode::Unavailable
    );

    creator.stop(&bot).await.expect("stop from another core");
    let e = berth.file_list(&bot, "/data/small").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict, "{e:?}");
    assert!(
        e.message.contains("not running; start it first"),
        "{}",
        e.message
    );
    let e = berth.file_stat(&bot, "/data").await.unwrap_err();
    assert!(
        e.message.contains("not running; start it first"),
        "{}",
        e.message
    );
    creator.start(&bot).await.expect("start");
    let l = berth
        .file_list(&bot, "/data/small")
        .await
        .expect("listing after a restart");
    assert_eq!(l.entries.len(), 5);
    let ran = berth_tests::exec(&berth, &bot, &["true"], None)
        .await
        .expect("exec on the kept connection");
    assert_eq!(ran.status.code, Some(0));
    creator.delete_workspace(&bot).await.expect("delete");
}

//! Import into `/data` on a real workspace, through the bridge's `Data` service:
//! all-or-nothing merge and replace with nothing left behind in `/`, refusals naming the entry,
//! progress over the archive's bytes, hard links, modes and directory mtimes kept, cancel, and
//! the repair of an interrupted import at bridge start (before `/data` is seeded) and before the
//! next import.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use berth_core::data::{DataProgress, ImportOptions};
use berth_core::model::ErrorCode;
use berth_core::{Berth, CancellationToken};
use berth_tests::{create, sh, TestEnv, BUSYBOX};
use flate2::write::GzEncoder;

/// Type, name, mode, size, mtime, link target and checksum of everything in `/data`, and the
/// mode of `/data` itself.
const LISTING: &str = r#"cd /data && stat -c 'ROOT %a' . && {
  find . -mindepth 1 -type f -exec stat -c 'F %n %a %s %Y %h' {} + ;
  find . -mindepth 1 -type d -exec stat -c 'D %n %a' {} + ;
  find . -mindepth 1 -type l -exec stat -c 'L %N' {} + ;
  find . -mindepth 1 -type f -exec sha256sum {} + ;
} | LC_ALL=C sort"#;

async fn listing(berth: &Berth, bot: &str) -> String {
    sh(berth, bot, LISTING).await
}

/// What an import may leave in `/` (staging directories, journals, old trees): nothing.
async fn leftovers(berth: &Berth, bot: &str) -> String {
    sh(berth, bot, "ls -a / | grep '^\\.berth-' || true").await
}

type Tar = tar::Builder<GzEncoder<Vec<u8>>>;

fn archive(build: impl FnOnce(&mut Tar)) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

/// An entry with a raw name (the builder's setters refuse hostile names).
fn entry(b: &mut Tar, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_mtime(1_600_000_000);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn file(b: &mut Tar, name: &str, data: &str) {
    entry(b, name, tar::EntryType::Regular, "", data.as_bytes());
}

async fn import(
    berth: &Berth,
    bot: &str,
    gz: &Path,
    replace: bool,
) -> berth_core::Result<berth_core::data::ImportResult> {
    let opts = ImportOptions {
        replace,
        ..Default::default()
    };
    berth
        .import_data(bot, gz, &opts, &|_| {}, &CancellationToken::new())
        .await
}

fn write(dir: &Path, name: &str, gz: Vec<u8>) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, gz).unwrap();
    p
}

const POPULATE: &str =
    "set -e; cd /data; mkdir -p sub a-dir; echo keep > keep.txt; echo old > sub/over.txt; \
    ln -s sub dir-link; chmod 751 /data";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_and_replace_are_all_or_nothing_and_leave_nothing_behind() {
    let Some(env) = TestEnv::new("data-import") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("di-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    sh(&berth, &bot, POPULATE).await;
    let before = listing(&berth, &bot).await;

    // Refused merges: the first entry would be fine, a later one conflicts with /data.
    let through_link = write(
        host.path(),
        "link.tar.gz",
        archive(|b| {
            file(b, "aaa-new.txt", "new");
            file(b, "dir-link/x", "x");
        }),
    );
    let over_dir = write(
        host.path(),
        "dir.tar.gz",
        archive(|b| {
            file(b, "aaa-new.txt", "new");
            file(b, "a-dir", "a file where /data has a folder");
        }),
    );
    let dir_over_file = write(
        host.path(),
        "file.tar.gz",
        archive(|b| {
            file(b, "aaa-new.txt", "new");
            file(b, "keep.txt/inner", "a folder where /data has a file");
        }),
    );
    for (gz, names) in [
        (&through_link, ["\"dir-link\"", "symlink"]),
        (&over_dir, ["\"a-dir\"", "replace a directory"]),
        (&dir_over_file, ["\"keep.txt\"", "has a file"]),
    ] {
        let e = import(&berth, &bot, gz, false).await.expect_err("conflict");
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{e:?}");
        assert!(
            names.iter().all(|n| e.message.contains(n)),
            "{e:?} should name {names:?}"
        );
        assert_eq!(listing(&berth, &bot).await, before, "{gz:?} changed /data");
        assert_eq!(leftovers(&berth, &bot).await, "", "{gz:?}");
    }

    // A merge: existing files not in the archive stay, the archive's replace theirs.
    let merge = write(
        host.path(),
        "merge.tar.gz",
        archive(|b| {
            file(b, "sub/over.txt", "new\n");
            file(b, "added/deep/new.txt", "added\n");
        }),
    );
    let seen = Mutex::new(Vec::<DataProgress>::new());
    let opts = ImportOptions::default();
    let r = berth
        .import_data(
            &bot,
            &merge,
            &opts,
            &|p| seen.lock().unwrap().push(p),
            &CancellationToken::new(),
        )
        .await
        .expect("merge");
    assert_eq!((r.files, r.replaced), (2, false));
    let size = std::fs::metadata(&merge).unwrap().len();
    let last = *seen.lock().unwrap().last().expect("progress");
    assert_eq!(
        last,
        DataProgress {
            archive: size,
            done: size,
            total: size
        }
    );
    assert_eq!(
        sh(
            &berth,
            &bot,
            "cat /data/keep.txt /data/sub/over.txt /data/added/deep/new.txt"
        )
        .await,
        "keep\nnew\nadded\n"
    );
    assert_eq!(sh(&berth, &bot, "readlink /data/dir-link").await, "sub\n");
    assert_eq!(leftovers(&berth, &bot).await, "");

    // A replace: exactly the archive's tree; /data keeps its own mode.
    let only = write(
        host.path(),
        "only.tar.gz",
        archive(|b| file(b, "only.txt", "only\n")),
    );
    import(&berth, &bot, &only, true).await.expect("replace");
    assert_eq!(
        sh(&berth, &bot, "ls -A /data; stat -c %a /data").await,
        "only.txt\n751\n"
    );
    assert_eq!(leftovers(&berth, &bot).await, "");
    berth.delete_bot(&bot).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_links_modes_and_directory_mtimes_survive_an_import() {
    let Some(env) = TestEnv::new("data-import-meta") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dm-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("src");
    std::fs::create_dir_all(src.join("d/e")).unwrap();
    std::fs::write(src.join("d/f"), b"shared\n").unwrap();
    std::fs::hard_link(src.join("d/f"), src.join("d/e/h")).unwrap();
    let script = "chmod 750 d && chmod 700 d/e && touch -d '2001-02-03 04:05:06 UTC' d/e d";
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(&src)
        .status()
        .unwrap();
    assert!(ok.success());
    // GNU tar stores the second name as a hard link entry (no --hard-dereference).
    let gz = host.path().join("links.tar.gz");
    let ok = Command::new("tar")
        .arg("-czf")
        .arg(&gz)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    import(&berth, &bot, &gz, true)
        .await
        .expect("import with hard links");
    let got = sh(
        &berth,
        &bot,
        "cd /data && stat -c '%n %a %Y' d d/e && stat -c '%h' d/f && \
        [ \"$(stat -c %i d/f)\" = \"$(stat -c %i d/e/h)\" ] && cat d/e/h",
    )
    .await;
    assert_eq!(got, "d 750 981173106\nd/e 700 981173106\n2\nshared\n");

    let before = listing(&berth, &bot).await;
    for (what, gz, want) in [
        (
            "outside",
            archive(|b| entry(b, "h", tar::EntryType::Link, "/etc/passwd", b"")),
            "\"h\" is a hard link pointing outside",
        ),
        (
            "missing",
            archive(|b| entry(b, "h", tar::EntryType::Link, "nothing", b"")),
            "\"h\" is a hard link to \"nothing\"",
        ),
        (
            "device",
            archive(|b| {
                file(b, "ok", "ok");
                entry(b, "dev", tar::EntryType::Char, "", b"");
            }),
            "\"dev\" is a device",
        ),
    ] {
        let f = write(host.path(), "bad.tar.gz", gz);
        for replace in [false, true] {
            let e = import(&berth, &bot, &f, replace).await.expect_err(what);
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{what}: {e:?}");
            assert!(e.message.contains(want), "{what}: {e:?}");
            assert_eq!(listing(&berth, &bot).await, before, "{what} changed /data");
            assert_eq!(leftovers(&berth, &bot).await, "", "{what}");
        }
    }
    berth.delete_bot(&bot).await.expect("delete");
}

/// A merge interrupted after its first move (the overwritten file in the journal, the imported
/// one in place), written by hand the way the bridge writes it.
fn interrupted_merge(nonce: &str, committed: bool) -> String {
    let staging = format!(".berth-import-{nonce}");
    format!(
        "set -e; mkdir /{staging} /.berth-txn-{nonce}; mv /data/over.txt /.berth-txn-{nonce}/backup-0; \
         echo imported > /data/over.txt; \
         printf 'berth-merge-plan 1\\nstaging {}\\no {}\\n' > /.berth-txn-{nonce}/plan; {}",
        hex::encode(&staging),
        hex::encode("over.txt"),
        if committed { format!("touch /.berth-txn-{nonce}/committed") } else { String::new() },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_import_is_repaired_at_bridge_start_and_before_the_next_import() {
    let Some(env) = TestEnv::new("data-import-recover") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dr-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    sh(
        &berth,
        &bot,
        "echo original > /data/over.txt; echo keep > /data/keep.txt",
    )
    .await;
    let before = listing(&berth, &bot).await;
    let restart = async || {
        berth.stop(&bot).await.expect("stop");
        berth.start(&bot).await.expect("start");
    };

    // Uncommitted: rolled back at the bridge's start.
    sh(&berth, &bot, &interrupted_merge("t1", false)).await;
    restart().await;
    assert_eq!(listing(&berth, &bot).await, before, "rolled back at start");
    assert_eq!(leftovers(&berth, &bot).await, "");

    // Committed: finished at the bridge's start (the imported file stays, the backup goes).
    sh(&berth, &bot, &interrupted_merge("t2", true)).await;
    restart().await;
    assert_eq!(
        sh(&berth, &bot, "cat /data/over.txt /data/keep.txt").await,
        "imported\nkeep\n"
    );
    assert_eq!(leftovers(&berth, &bot).await, "");

    // The two-rename replace of older bridges killed in between: /data missing, the old tree
    // aside. Recovery runs before seeding, which would otherwise create an empty /data.
    sh(&berth, &bot, "echo original > /data/over.txt").await;
    let before = listing(&berth, &bot).await;
    sh(&berth, &bot, "mv /data /.berth-data-old-1-2").await;
    restart().await;
    assert_eq!(
        listing(&berth, &bot).await,
        before,
        "old tree moved back at start"
    );
    assert_eq!(leftovers(&berth, &bot).await, "");

    // Uncommitted again, then an import without a restart: repaired first, then applied.
    sh(&berth, &bot, &interrupted_merge("t3", false)).await;
    let gz = write(
        host.path(),
        "next.tar.gz",
        archive(|b| file(b, "next.txt", "next\n")),
    );
    import(&berth, &bot, &gz, false)
        .await
        .expect("import after an interrupted one");
    assert_eq!(
        sh(&berth, &bot, "cat /data/over.txt /data/next.txt").await,
        "original\nnext\n"
    );
    assert_eq!(leftovers(&berth, &bot).await, "");
    berth.delete_bot(&bot).await.expect("delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_import_changes_nothing_and_cleans_up() {
    let Some(env) = TestEnv::new("data-import-cancel") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dc-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    sh(&berth, &bot, POPULATE).await;
    let before = listing(&berth, &bot).await;
    // 48 MiB that does not compress: many messages, so the cancel lands mid-stream.
    let mut noise = vec![0u8; 48 << 20];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for c in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes()[..c.len()]);
    }
    let gz = write(
        host.path(),
        "big.tar.gz",
        archive(|b| entry(b, "big.bin", tar::EntryType::Regular, "", &noise)),
    );
    for replace in [false, true] {
        let cancel = CancellationToken::new();
        let opts = ImportOptions {
            replace,
            ..Default::default()
        };
        let c = cancel.clone();
        let e = berth
            .import_data(
                &bot,
                &gz,
                &opts,
                &move |p| {
                    if p.done > 4 << 20 {
                        c.cancel()
                    }
                },
                &cancel,
            )
            .await
            .expect_err("cancelled");
        assert_eq!(e.code, ErrorCode::Cancelled, "{e:?}");
        assert_eq!(listing(&berth, &bot).await, before, "replace {replace}");
        assert_eq!(leftovers(&berth, &bot).await, "", "replace {replace}");
    }
    berth.delete_bot(&bot).await.expect("delete");
}

/// Once a version is saved, `/data` is a directory of a lower overlay layer, which cannot be
/// renamed (EXDEV): the replace is then done in place, and is still complete and exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_after_a_version_is_saved_is_complete() {
    let Some(env) = TestEnv::new("data-import-version") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dv-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, POPULATE).await;
    sh(
        &berth,
        &bot,
        "mkdir -p /data/was-dir && echo x > /data/was-dir/x",
    )
    .await;
    berth.snapshot(&bot, None).await.expect("save a version");
    let host = tempfile::tempdir().unwrap();
    let gz = write(
        host.path(),
        "replace.tar.gz",
        archive(|b| {
            file(b, "sub/new.txt", "new\n");
            file(b, "was-dir", "now a file\n");
            file(b, "fresh.txt", "fresh\n");
        }),
    );
    import(&berth, &bot, &gz, true)
        .await
        .expect("replace after a version");
    let after = sh(
        &berth,
        &bot,
        "cd /data && stat -c 'ROOT %a' . && find . -mindepth 1 | LC_ALL=C sort && cat was-dir",
    )
    .await;
    assert_eq!(
        after, "ROOT 751\n./fresh.txt\n./sub\n./sub/new.txt\n./was-dir\nnow a file\n",
        "/data is exactly the archive (and keeps its own mode)"
    );
    assert_eq!(leftovers(&berth, &bot).await, "");
    berth.delete_bot(&bot).await.unwrap();
}

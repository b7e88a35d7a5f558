//! Data in and out on a real workspace: export/import round trip of an awkward tree
//! (modes, mtimes, symlinks, empty files and folders, Unicode names, a few thousand files)
//! compared by a checksum listing; GNU tar reads our export; GNU tar (gnu, pax, long names) and
//! Python tarfile archives import; hostile archives are refused with `/data` unchanged; delete
//! keeping data and create again restores it; SIGKILL of the CLI during export, import and
//! preserve leaves `/data` intact and no partial archive counted as kept.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_core::data::ImportOptions;
use berth_core::{Berth, CancellationToken};
use berth_tests::appender::Appender;
use berth_tests::dir_watch::{
    DirWatch, IN_CLOSE_NOWRITE, IN_CREATE, IN_MODIFY, IN_MOVED_TO, IN_OPEN,
};
use berth_tests::{cli_peak, create, sh, TestEnv, BUSYBOX};
use flate2::write::GzEncoder;

/// Everything about `/data` below the root that must survive a round trip: type, name, mode,
/// size, mtime and content checksum of files; mode and mtime of folders; link targets.
const LISTING: &str = r#"cd /data && {
  find . -mindepth 1 -type f -exec stat -c 'F %n %a %s %Y' {} + ;
  find . -mindepth 1 -type d -exec stat -c 'D %n %a %Y' {} + ;
  find . -mindepth 1 -type l -exec stat -c 'L %N' {} + ;
  find . -mindepth 1 -type f -exec sha256sum {} + ;
} | LC_ALL=C sort"#;

/// Asserts two listings are equal, showing only the lines that differ.
fn same(now: &str, want: &str, what: &str) {
    if now != want {
        let a: std::collections::BTreeSet<_> = now.lines().collect();
        let b: std::collections::BTreeSet<_> = want.lines().collect();
        let extra: Vec<_> = a.difference(&b).take(20).collect();
        let missing: Vec<_> = b.difference(&a).take(20).collect();
        panic!("{what}: /data differs; extra {extra:?}; missing {missing:?}");
    }
}

async fn listing(berth: &Berth, bot: &str) -> String {
    sh(berth, bot, LISTING).await
}

const POPULATE: &str = r#"set -e
cd /data
mkdir -p a/b/c empty-dir 'with space' 'ünïcødé 漢字' -- '-dash'
printf 'hello\n' > a/b/c/deep.txt
: > empty-file
printf 'x' > 'with space/it'"'"'s "quoted".txt'
printf 'unicode\n' > 'ünïcødé 漢字/файл.txt'
printf 'exec\n' > a/run.sh && chmod 750 a/run.sh
printf 'ro\n' > a/ro && chmod 400 a/ro
touch -d '2001-02-03 04:05:06' a/b/c/deep.txt empty-file
ln -s b/c/deep.txt a/link-to-deep
ln -s ../empty-dir a/b/up-link
ln -s missing-target dangling
mkdir many
i=0; while [ $i -lt 3000 ]; do echo "$i" > many/f$i; i=$((i+1)); done
"#;

fn raw_entry(
    b: &mut tar::Builder<GzEncoder<Vec<u8>>>,
    name: &[u8],
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    if let Some(l) = link {
        h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn raw_archive(build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

async fn import(
    berth: &Berth,
    bot: &str,
    file: &Path,
    replace: bool,
) -> berth_core::Result<berth_core::data::ImportResult> {
    let opts = ImportOptions {
        replace,
        ..Default::default()
    };
    berth
        .import_data(bot, file, &opts, &|_| {}, &CancellationToken::new())
        .await
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_round_trip_foreign_archives_hostile_and_keep() {
    let Some(env) = TestEnv::new("data") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dt-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();

    // --- round trip -------------------------------------------------------------------------
    sh(&berth, &bot, POPULATE).await;
    let before = listing(&berth, &bot).await;
    assert!(before.lines().count() > 6000, "{}", before.lines().count());
    let out = host.path().join("export.tar.gz");
    let progress = std::sync::atomic::AtomicU64::new(0);
    let size = berth
        .export_data(
            &bot,
            &out,
            &|p| progress.store(p.archive, std::sync::atomic::Ordering::Relaxed),
            &CancellationToken::new(),
        )
        .await
        .expect("export")
        .bytes;
    assert_eq!(std::fs::metadata(&out).unwrap().len(), size);
    assert_eq!(progress.load(std::sync::atomic::Ordering::Relaxed), size);
    // GNU tar reads it.
    let list = Command::new("tar").arg("-tzvf").arg(&out).output().unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(
        names.contains("a/b/c/deep.txt") && names.contains("a/link-to-deep -> b/c/deep.txt"),
        "{names}"
    );
    let gnu_out = host.path().join("gnu-x");
    std::fs::create_dir(&gnu_out).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&out)
        .arg("-C")
        .arg(&gnu_out));
    assert_eq!(
        std::fs::read(gnu_out.join("a/b/c/deep.txt")).unwrap(),
        b"hello\n"
    );

    // Consistency: a process appending to a file the whole time; the export pauses it, so
    // every entry is complete (GNU tar verifies sizes), and it continues afterwards.
    let busy = host.path().join("busy.tar.gz");
    let mut writer = Appender::start(&berth, &bot).await;
    berth
        .export_data(&bot, &busy, &|_| {}, &CancellationToken::new())
        .await
        .expect("export while writing");
    run(Command::new("tar").arg("-tzf").arg(&busy));
    let grown = |s: String| s.trim().parse::<u64>().unwrap();
    let a = grown(sh(&berth, &bot, "stat -c %s /data/grow").await);
    writer.ping(&berth, &bot).await;
    let b = grown(sh(&berth, &bot, "stat -c %s /data/grow").await);
    assert!(b > a, "the writer continues after the export ({a} → {b})");
    writer.stop(&berth, &bot).await;
    sh(&berth, &bot, "rm /data/grow").await;

    // Empty /data, merge the export back: identical.
    sh(
        &berth,
        &bot,
        "cd /data && rm -rf ./* ./.[!.]* 2>/dev/null; true",
    )
    .await;
    let r = import(&berth, &bot, &out, false)
        .await
        .expect("import merge");
    assert_eq!(r.files, 3006, "{r:?}");
    same(
        &listing(&berth, &bot).await,
        &before,
        "merge into empty /data",
    );
    // Replace over a changed /data: identical again, the extra file gone.
    sh(
        &berth,
        &bot,
        "echo extra > /data/extra; echo changed > /data/a/b/c/deep.txt",
    )
    .await;
    import(&berth, &bot, &out, true)
        .await
        .expect("import replace");
    same(&listing(&berth, &bot).await, &before, "replace");
    // Merge keeps files that are not in the archive.
    sh(&berth, &bot, "echo extra > /data/extra").await;
    import(&berth, &bot, &out, false)
        .await
        .expect("import merge over");
    assert_eq!(sh(&berth, &bot, "cat /data/extra").await, "extra\n");
    sh(&berth, &bot, "rm /data/extra").await;
    // Nothing left next to /data.
    assert_eq!(sh(&berth, &bot, "ls -a / | grep berth- || true").await, "");

    // --- foreign archives: GNU tar gnu + pax with long names, Python tarfile --------------------
    let src = host.path().join("src");
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
    std::fs::create_dir_all(src.join(Path::new(&long).parent().unwrap())).unwrap();
    std::fs::write(src.join(&long), b"long\n").unwrap();
    std::fs::write(src.join("plain.txt"), b"plain\n").unwrap();
    std::os::unix::fs::symlink("plain.txt", src.join("plain-link")).unwrap();
    std::fs::hard_link(src.join("plain.txt"), src.join("plain-hard")).unwrap();
    for format in ["gnu", "pax"] {
        let f = host.path().join(format!("{format}.tar.gz"));
        run(Command::new("tar")
            .arg(format!("--format={format}"))
            .arg("-czf")
            .arg(&f)
            .arg("-C")
            .arg(&src)
            .arg("."));
        import(&berth, &bot, &f, true)
            .await
            .unwrap_or_else(|e| panic!("{format}: {e:?}"));
        assert_eq!(
            sh(&berth, &bot, &format!("cat '/data/{long}'")).await,
            "long\n",
            "{format}"
        );
        assert_eq!(
            sh(&berth, &bot, "readlink /data/plain-link").await.trim(),
            "plain.txt",
            "{format}"
        );
        // GNU tar stores the second name as a hard link entry: it comes back as one.
        assert_eq!(
            sh(
                &berth,
                &bot,
                "stat -c %h /data/plain-hard; cat /data/plain-hard"
            )
            .await,
            "2\nplain\n",
            "{format}"
        );
    }
    let py = host.path().join("py.tar.gz");
    run(Command::new("python3").arg("-c").arg(
        "import sys,tarfile\nwith tarfile.open(sys.argv[1],'w:gz') as t: t.add(sys.argv[2], arcname='.')",
    ).arg(&py).arg(&src));
    import(&berth, &bot, &py, true)
        .await
        .expect("python tarfile");
    assert_eq!(sh(&berth, &bot, "cat /data/plain.txt").await, "plain\n");

    // --- hostile archives: refused, /data byte-for-byte unchanged ---------------------------
    import(&berth, &bot, &out, true)
        .await
        .expect("back to the tree");
    sh(&berth, &bot, "ln -s /tmp /data/evil-dir-link").await;
    let before_hostile = listing(&berth, &bot).await;
    use tar::EntryType::*;
    let corpus: Vec<(&str, Vec<u8>)> = vec![
        (
            "absolute",
            raw_archive(|b| raw_entry(b, b"/tmp/pwned", Regular, None, b"x")),
        ),
        (
            "dotdot",
            raw_archive(|b| raw_entry(b, b"../pwned", Regular, None, b"x")),
        ),
        (
            "through archive symlink",
            raw_archive(|b| {
                raw_entry(b, b"l", Symlink, Some("a"), b"");
                raw_entry(b, b"l/pwned", Regular, None, b"x");
            }),
        ),
        (
            "through /data symlink",
            raw_archive(|b| raw_entry(b, b"evil-dir-link/pwned", Regular, None, b"x")),
        ),
        (
            "symlink outside",
            raw_archive(|b| raw_entry(b, b"out", Symlink, Some("/etc/passwd"), b"")),
        ),
        (
            "hard link outside",
            raw_archive(|b| raw_entry(b, b"h", Link, Some("/etc/passwd"), b"")),
        ),
        (
            "hard link to nothing",
            raw_archive(|b| raw_entry(b, b"h", Link, Some("not-in-archive"), b"")),
        ),
        (
            "name longer than 255 bytes",
            raw_archive(|b| {
                let mut h = tar::Header::new_gnu();
                h.set_size(1);
                h.set_mode(0o644);
                // A GNU long-name entry carries it; Linux refuses components over 255 bytes.
                b.append_data(&mut h, "x".repeat(300), &b"x"[..]).unwrap();
            }),
        ),
        (
            "device",
            raw_archive(|b| raw_entry(b, b"dev", Char, None, b"")),
        ),
        (
            "fifo",
            raw_archive(|b| raw_entry(b, b"fifo", Fifo, None, b"")),
        ),
        (
            "duplicate",
            raw_archive(|b| {
                raw_entry(b, b"dup", Regular, None, b"1");
                raw_entry(b, b"dup", Regular, None, b"2");
            }),
        ),
        (
            "long component",
            raw_archive(|b| raw_entry(b, "n".repeat(99).as_bytes(), Regular, None, b"x")),
        ),
        ("not gzip", b"this is not an archive".to_vec()),
    ];
    for (what, bytes) in &corpus {
        let f = host.path().join("hostile.tar.gz");
        std::fs::write(&f, bytes).unwrap();
        for replace in [false, true] {
            if (*what == "through /data symlink" || *what == "long component") && replace {
                continue; // replace does not go through /data's entries: only merge can
            }
            let r = import(&berth, &bot, &f, replace).await;
            if *what == "long component" {
                // 99 bytes is valid: it must import (control case), then be removed again.
                r.expect("a valid long name imports");
                sh(&berth, &bot, &format!("rm /data/{}", "n".repeat(99))).await;
                continue;
            }
            let e = r.expect_err(what);
            assert_eq!(
                e.code,
                berth_core::model::ErrorCode::InvalidArgument,
                "{what}: {e:?}"
            );
            same(
                &listing(&berth, &bot).await,
                &before_hostile,
                &format!("{what} (replace {replace})"),
            );
        }
    }
    let bomb = host.path().join("bomb.tar.gz");
    std::fs::write(
        &bomb,
        raw_archive(|b| raw_entry(b, b"zeros", Regular, None, &vec![0u8; 1 << 20])),
    )
    .unwrap();
    let opts = ImportOptions {
        replace: true,
        max_expanded: 1 << 19,
    };
    let e = berth
        .import_data(&bot, &bomb, &opts, &|_| {}, &CancellationToken::new())
        .await
        .expect_err("bomb");
    assert!(e.message.contains("expands to more than"), "{e:?}");
    same(
        &listing(&berth, &bot).await,
        &before_hostile,
        "bomb changed /data",
    );
    assert!(!sh(&berth, &bot, "ls /tmp").await.contains("pwned"));
    sh(&berth, &bot, "rm /data/evil-dir-link").await;

    // --- keep data across delete and create -------------------------------------------------
    let kept = berth
        .delete_workspace_keeping(&bot, true, &|_| {})
        .await
        .expect("delete keeping")
        .expect("kept");
    assert!(kept.size > 0 && kept.path.ends_with(format!("backups/{bot}.tar.gz")));
    assert!(berth.info(&bot).await.unwrap().has_kept_data == Some(true));
    let (info, events) = create(&berth, &bot, &env.image(BUSYBOX)).await;
    let info = info.expect("create again");
    assert_eq!(info.data_restored, Some(true));
    assert!(events
        .iter()
        .any(|e| matches!(e, berth_core::model::CreateEvent::Restoring)));
    same(&listing(&berth, &bot).await, &before, "restored data");
    assert!(
        berth.kept_data(&bot).is_none(),
        "the restored archive is removed"
    );
    // Without kept data, create reports false.
    berth.delete_workspace(&bot).await.unwrap();
    let (info, _) = create(&berth, &bot, &env.image(BUSYBOX)).await;
    assert_eq!(info.expect("create").data_restored, Some(false));

    // --- SIGKILL of the CLI during export, import and preserve -----------------------------
    import(&berth, &bot, &out, true).await.expect("tree");
    let tree = listing(&berth, &bot).await;
    let other = host.path().join("other.tar.gz");
    run(Command::new("tar")
        .arg("-czf")
        .arg(&other)
        .arg("-C")
        .arg(&src)
        .arg("."));
    let after_other = {
        // What /data looks like after a completed replace with `other` (to accept either state).
        import(&berth, &bot, &other, true).await.expect("other");
        let l = listing(&berth, &bot).await;
        import(&berth, &bot, &out, true).await.expect("tree again");
        l
    };
    let bin = berth_tests::berth_binary();
    let spawn = |args: &[&std::ffi::OsStr]| {
        Command::new(&bin)
            .args(args)
            .env(
                "BERTH_CONTAINERD_SOCKET",
                env.options().containerd_socket.unwrap(),
            )
            .env("BERTH_NAMESPACE", env.options().namespace.unwrap())
            .env("BERTH_DATA_DIR", env.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // Each kill lands at a point observed on the host: export's temporary file created, half
    // of the archive written, the archive renamed into place; import's archive opened, read
    // by one of its two readers (the host validates while the bridge reads), read by both.
    let full = size;
    let export_points = [
        "the temporary archive created",
        "half of the archive written",
        "the archive renamed into place",
    ];
    let reached = |i: usize, m: u32, n: &str| match i {
        0 => m & IN_CREATE != 0 && n.contains(".berth-part-"),
        1 => {
            m & IN_MODIFY != 0
                && n.contains(".berth-part-")
                && written_half(&host.path().join(n), full)
        }
        _ => m & IN_MOVED_TO != 0 && !n.starts_with('.'),
    };
    for (i, point) in export_points.into_iter().enumerate() {
        let target = host.path().join(format!("killed-{i}.tar.gz"));
        let name = format!("killed-{i}.tar.gz");
        let mut watch = DirWatch::new(host.path());
        let mut child = spawn(&["export".as_ref(), bot.as_ref(), target.as_os_str()]);
        watch.wait_for(point, KILL_WAIT, |m, n| {
            n.contains(&name) && reached(i, m, n)
        });
        kill(&mut child);
        // Only ever absent or complete; once renamed into place it must be there.
        let complete = target.exists() && gzip_ok(&target);
        assert!(
            complete || !target.exists(),
            "export killed at {point}: a partial archive {}",
            target.display()
        );
        assert!(
            complete || i < 2,
            "export killed at {point}: the archive is gone"
        );
        same(
            &listing(&berth, &bot).await,
            &tree,
            &format!("export killed at {point}"),
        );
    }
    let import_points = [
        ("the archive opened", IN_OPEN, 1),
        ("one reader done", IN_CLOSE_NOWRITE, 1),
        ("both readers done", IN_CLOSE_NOWRITE, 2),
    ];
    for (point, kind, nth) in import_points {
        let mut watch = DirWatch::new(host.path());
        let mut child = spawn(&[
            "import".as_ref(),
            bot.as_ref(),
            other.as_os_str(),
            "--replace".as_ref(),
        ]);
        let mut seen = 0;
        let pid = child.id();
        watch.wait_for(point, KILL_WAIT, |m, n| {
            seen += usize::from(n == "other.tar.gz" && m & kind != 0);
            // inotify merges an event into an identical one not yet read: two readers closing
            // back to back can show as one close. Then neither holds the file any more, which
            // is what "both readers done" means.
            seen == nth || (nth == 2 && seen == 1 && !holds_open(pid, &other))
        });
        kill(&mut child);
        // The bridge goes on with the killed import: it applies it when the client had
        // committed it, else removes the staging tree. From its first message (sent before the
        // readers began) to the end of its clean-up it holds the bridge's import lock, and a
        // recovery takes the same lock: once one has run, /data is final. (A listing run
        // earlier can walk the replaced tree while it is deleted: its shell's `cd /data` still
        // holds the old directory. CI on 9b08b89 saw that once: a listing with `a/` emptied
        // and 1,105 of 3,000 files left in `many/`.)
        let t0 = std::time::Instant::now();
        let files = berth.files_client(&bot).await.expect("files client");
        berth_bridge::DataClient::new(&files)
            .recover()
            .await
            .expect("recovery after the killed import");
        let now = listing(&berth, &bot).await;
        assert!(
            now == tree || now == after_other,
            "import killed at {point} left /data in between:\n{now}"
        );
        import(&berth, &bot, &out, true)
            .await
            .unwrap_or_else(|e| panic!("reset after the killed import: {e:?}"));
        eprintln!(
            "import killed at {point}: the bridge was done with it after {:?}",
            t0.elapsed()
        );
    }
    // Preserve (rm --keep-data) killed halfway through writing the kept archive: it is absent
    // or complete, never partial, and the workspace is only gone once it is complete.
    // (A delete itself killed halfway can leave containerd state behind; that is delete's
    // concern, so the test ends here.)
    let backups = berth.kept_data_path(&bot).parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&backups).unwrap();
    let mut watch = DirWatch::new(&backups);
    let mut child = spawn(&["rm".as_ref(), bot.as_ref(), "--keep-data".as_ref()]);
    watch.wait_for("half of the kept archive written", KILL_WAIT, |m, n| {
        m & IN_MODIFY != 0 && n.contains(".berth-part-") && written_half(&backups.join(n), full)
    });
    kill(&mut child);
    let kept = berth.kept_data(&bot);
    if let Some(k) = &kept {
        assert!(
            gzip_ok(&k.path),
            "rm --keep-data killed: a partial kept archive"
        );
    }
    match berth
        .info(&bot)
        .await
        .expect("info after the killed rm")
        .state
    {
        berth_core::model::WorkspaceState::Running => {
            same(&listing(&berth, &bot).await, &tree, "rm --keep-data killed")
        }
        other => assert!(
            kept.is_some(),
            "the workspace is {other:?} but no complete kept archive exists"
        ),
    }
}

/// How long a kill point may take to be reached.
const KILL_WAIT: Duration = Duration::from_secs(60);

/// Whether process `pid` has `file` open (its descriptors in /proc).
fn holds_open(pid: u32, file: &std::path::Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == file))
}

fn kill(child: &mut std::process::Child) {
    // SAFETY: signalling a process this test started and has not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

/// A temporary archive holds at least half of `full` bytes, or is gone (renamed into place,
/// so complete).
fn written_half(part: &Path, full: u64) -> bool {
    std::fs::metadata(part).map_or(true, |f| f.len() >= full / 2)
}

/// The file is a whole gzip stream.
fn gzip_ok(file: &Path) -> bool {
    Command::new("gzip")
        .arg("-t")
        .arg(file)
        .status()
        .is_ok_and(|s| s.success())
}

/// The issue's sizes: 20,000 small files and a 1 GiB file export and import back to an
/// identical tree (checksum listing), through the CLI (the app's core code), with the client's
/// memory flat while it streams them and GNU tar reading the export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_round_trip_at_scale() {
    let Some(env) = TestEnv::new("data-scale") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("ds-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    sh(
        &berth,
        &bot,
        "set -e; mkdir -p /data/small; cd /data/small
         i=0; while [ $i -lt 20000 ]; do echo \"file $i\" > f$i; i=$((i+1)); done
         head -c 1073741824 /dev/urandom > /data/big",
    )
    .await;
    let before = listing(&berth, &bot).await;
    assert_eq!(
        before.lines().filter(|l| l.starts_with("F ")).count(),
        20_001
    );

    let out = host.path().join("scale.tar.gz");
    let out_s = out.to_str().unwrap();
    let (ok, err, export_peak, export_time) = cli_peak(&env, &["export", &bot, out_s]);
    assert!(ok, "export: {err}");
    let list = Command::new("tar").arg("-tzf").arg(&out).output().unwrap();
    assert!(
        list.status.success(),
        "GNU tar: {}",
        String::from_utf8_lossy(&list.stderr)
    );
    let names = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        names.lines().filter(|l| l.starts_with("small/f")).count(),
        20_000
    );

    sh(&berth, &bot, "rm -rf /data/small /data/big").await;
    let (ok, err, import_peak, import_time) = cli_peak(&env, &["import", &bot, out_s]);
    assert!(ok, "import: {err}");
    same(
        &listing(&berth, &bot).await,
        &before,
        "20,000 files + 1 GiB round trip",
    );
    eprintln!(
        "scale round trip: export {export_time:?} (peak RSS {} MiB), import {import_time:?} (peak RSS {} MiB), archive {} MiB",
        export_peak / 1024,
        import_peak / 1024,
        std::fs::metadata(&out).unwrap().len() >> 20
    );
    // Streaming: a 1 GiB archive goes through the client in a small, constant amount of memory.
    assert!(
        export_peak < 128 * 1024,
        "export peak RSS {export_peak} KiB"
    );
    assert!(
        import_peak < 128 * 1024,
        "import peak RSS {import_peak} KiB"
    );
    berth.delete_bot(&bot).await.expect("delete");
}

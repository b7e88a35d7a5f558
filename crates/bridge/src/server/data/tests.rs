//! Apply and recovery in a temporary root: a crash simulated before every step of a merge and
//! of a replace, followed by recovery, leaves `/data` exactly as before (crash before the commit
//! point) or fully imported (after it), and nothing else behind.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::sync::Mutex;

use super::import::{apply, run_import};
use super::*;
use berth_bridge::proto::ImportStart;
use berth_bridge::targz::Counts;

/// Every entry below `dir`: kind, mode and content (files) or target (links).
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let mode = m.permissions().mode() & 0o7777;
            let what = if m.file_type().is_symlink() {
                format!("L {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p);
                format!("D {mode:o}")
            } else {
                format!(
                    "F {mode:o} {}",
                    String::from_utf8_lossy(&fs::read(&p).unwrap())
                )
            };
            out.insert(rel, what);
        }
    }
    out
}

fn write(p: &Path, s: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
}

/// A root with `/data` (files, a folder, a symlink to a folder, an empty folder) and a staging
/// tree that overwrites some files, adds files and folders, and fills the empty folder.
fn fixture() -> (tempfile::TempDir, Layout, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let l = Layout::new(&t.path().join("data"));
    write(&l.data.join("a/keep.txt"), "keep");
    write(&l.data.join("a/over.txt"), "old");
    write(&l.data.join("top.txt"), "old top");
    fs::create_dir(l.data.join("empty")).unwrap();
    symlink("a", l.data.join("link")).unwrap();
    let s = l.staging("test");
    write(&s.join("a/over.txt"), "new");
    write(&s.join("a/new.txt"), "added");
    write(&s.join("newdir/x"), "x");
    write(&s.join("top.txt"), "new top");
    write(&s.join("empty/inner"), "inner");
    symlink("top.txt", s.join("newlink")).unwrap();
    (t, l, s)
}

fn merged(before: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut want = before.clone();
    for (k, v) in [
        ("a/over.txt", "F 644 new"),
        ("a/new.txt", "F 644 added"),
        ("newdir", "D 755"),
        ("newdir/x", "F 644 x"),
        ("top.txt", "F 644 new top"),
        ("empty/inner", "F 644 inner"),
        ("newlink", "L top.txt"),
    ] {
        want.insert(k.into(), v.into());
    }
    want
}

/// Only `data` may remain in the root after an import or a recovery.
fn only_data_left(l: &Layout) {
    let names: Vec<_> = fs::read_dir(&l.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["data".to_string()]);
}

/// A hook that fails at its `k`-th call (1-based) and records whether it did.
fn crash_at(k: usize, calls: &mut usize, crashed: &mut bool) -> io::Result<()> {
    *calls += 1;
    if *calls == k {
        *crashed = true;
        return Err(io::Error::other("simulated crash"));
    }
    Ok(())
}

fn merge_plan(l: &Layout, s: &Path) -> journal::Plan {
    journal::Plan {
        staging: s.file_name().unwrap().to_os_string(),
        moves: merge::plan(&l.data, s).unwrap(),
        ..journal::Plan::default()
    }
}

#[test]
fn merge_survives_a_crash_at_every_step() {
    let mut k = 1;
    loop {
        let (_t, l, s) = fixture();
        let before = snapshot(&l.data);
        let txn = l.txn("test");
        let plan = merge_plan(&l, &s);
        let (mut calls, mut crashed, mut committed) = (0, false, false);
        let mut hook = || crash_at(k, &mut calls, &mut crashed);
        if merge::execute(&l.data, &s, &txn, &plan, &mut hook).is_ok() {
            committed = true;
            let _ = merge::finish(&s, &txn, &mut hook);
        }
        if !crashed {
            assert!(k > 10, "a merge of 6 moves has more than 10 steps");
            break;
        }
        recover::recover(&l).unwrap();
        let want = if committed { merged(&before) } else { before };
        assert_eq!(snapshot(&l.data), want, "crash at step {k}");
        only_data_left(&l);
        assert!(
            recover::recover(&l).unwrap().is_empty(),
            "recovery is done in one go"
        );
        k += 1;
    }
}

#[test]
fn replace_survives_a_crash_at_every_step() {
    let mut k = 1;
    loop {
        let (_t, l, s) = fixture();
        let (before, staged) = (snapshot(&l.data), snapshot(&s));
        let (mut calls, mut crashed, mut swapped) = (0, false, false);
        let mut hook = || crash_at(k, &mut calls, &mut crashed);
        if replace::swap(&l.data, &s, &mut hook).is_ok() {
            swapped = true;
            let _ = replace::finish(&s, &mut hook);
        }
        if !crashed {
            assert!(k > 2);
            break;
        }
        recover::recover(&l).unwrap();
        assert_eq!(
            snapshot(&l.data),
            if swapped { staged } else { before },
            "crash at {k}"
        );
        only_data_left(&l);
        k += 1;
    }
}

#[test]
fn a_failing_merge_rolls_back_and_cleans_up() {
    // 2 steps to the plan, 8 for 6 moves (2 with a backup), 1 for the commit marker.
    for k in 1..=11 {
        let (_t, l, s) = fixture();
        let before = snapshot(&l.data);
        let (mut calls, mut crashed) = (0, false);
        let r = apply(&l, &s, false, &mut || crash_at(k, &mut calls, &mut crashed));
        assert!(crashed, "step {k}");
        let Err(e) = r else {
            panic!("step {k} failed, yet the merge reports success")
        };
        assert!(e.to_string().contains("/data is unchanged"), "{e}");
        assert_eq!(snapshot(&l.data), before, "failure at step {k}");
        only_data_left(&l);
    }
}

#[test]
fn merge_and_replace_apply_completely() {
    let (_t, l, s) = fixture();
    let before = snapshot(&l.data);
    apply(&l, &s, false, &mut || Ok(()))
        .unwrap()
        .remove(&mut || Ok(()))
        .unwrap();
    assert_eq!(snapshot(&l.data), merged(&before));
    only_data_left(&l);

    let (_t, l, s) = fixture();
    fs::set_permissions(&l.data, fs::Permissions::from_mode(0o751)).unwrap();
    let staged = snapshot(&s);
    apply(&l, &s, true, &mut || Ok(()))
        .unwrap()
        .remove(&mut || Ok(()))
        .unwrap();
    assert_eq!(snapshot(&l.data), staged);
    let mode = fs::metadata(&l.data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o751, "/data keeps its own mode");
    only_data_left(&l);
}

#[test]
fn merge_refuses_conflicts_before_any_change() {
    type Stage = fn(&Path);
    let cases: [(&str, Stage); 3] = [
        ("would go through a symlink", |s| {
            write(&s.join("link/x"), "x")
        }),
        ("would replace a directory", |s| write(&s.join("a"), "file")),
        ("is a directory but /data has a file", |s| {
            write(&s.join("top.txt/x"), "x")
        }),
    ];
    for (want, stage) in cases {
        let (_t, l, s) = fixture();
        fs::remove_dir_all(&s).unwrap();
        write(&s.join("zzz-first"), "would be added");
        stage(&s);
        let before = snapshot(&l.data);
        let Err(e) = apply(&l, &s, false, &mut || Ok(())) else {
            panic!("{want}: applied")
        };
        let e = e.to_string();
        assert!(e.contains(want) && e.contains("/data is unchanged"), "{e}");
        assert_eq!(snapshot(&l.data), before);
        only_data_left(&l);
    }
}

#[test]
fn recovery_puts_back_an_old_tree_of_the_two_rename_replace() {
    let (_t, l, s) = fixture();
    let before = snapshot(&l.data);
    fs::rename(&l.data, l.root.join(".berth-data-old-1-2")).unwrap();
    let actions = recover::recover(&l).unwrap();
    assert_eq!(actions.len(), 2, "{actions:?}");
    assert_eq!(snapshot(&l.data), before);
    assert!(!s.exists());
    only_data_left(&l);
}

/// `run_import` takes the bridge-wide import lock: these tests must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

fn targz(files: &[(&str, &str)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Feeds `gz` to `run_import` in small chunks, then commits (or not).
fn import(l: &Layout, gz: Vec<u8>, replace: bool, commit: bool) -> Result<Counts, Status> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let feeder = std::thread::spawn(move || {
        for c in gz.chunks(100) {
            if tx
                .blocking_send(Msg::Data(bytes::Bytes::copy_from_slice(c)))
                .is_err()
            {
                return;
            }
        }
        if commit {
            let _ = tx.blocking_send(Msg::Commit);
        }
    });
    let start = ImportStart {
        replace,
        max_expanded: 1 << 20,
    };
    let r = run_import(l, start, rx);
    feeder.join().unwrap();
    r
}

#[test]
fn streamed_import_applies_only_when_committed() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_t, l, s) = fixture();
    fs::remove_dir_all(&s).unwrap();
    let before = snapshot(&l.data);
    let gz = targz(&[("a/over.txt", "streamed"), ("fresh.txt", "f")]);

    let e = import(&l, gz.clone(), false, false).unwrap_err();
    assert_eq!(e.code(), tonic::Code::Aborted, "{e:?}");
    assert_eq!(snapshot(&l.data), before);
    only_data_left(&l);

    let c = import(&l, gz, false, true).unwrap();
    assert_eq!(c.files, 2);
    let now = snapshot(&l.data);
    assert_eq!(now["a/over.txt"], "F 644 streamed");
    assert_eq!(now["a/keep.txt"], "F 644 keep");
    assert_eq!(now["fresh.txt"], "F 644 f");
    only_data_left(&l);
}

#[test]
fn streamed_import_refuses_a_hostile_archive() {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (_t, l, s) = fixture();
    fs::remove_dir_all(&s).unwrap();
    let before = snapshot(&l.data);
    let gz = targz(&[("ok.txt", "ok"), ("link/evil", "x")]);
    // `link` is not in the archive: the staging tree is fine, /data's symlink refuses the merge.
    let e = import(&l, gz, false, true).unwrap_err();
    assert!(
        e.message().contains("\"link\"") && e.message().contains("symlink"),
        "{e:?}"
    );
    assert_eq!(snapshot(&l.data), before);
    only_data_left(&l);

    let e = import(&l, b"not a gzip".to_vec(), true, true).unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert_eq!(snapshot(&l.data), before);
    only_data_left(&l);
}

/// The fixture, plus a folder the archive has as a file and a file it has as a folder.
fn fixture_with_type_changes() -> (tempfile::TempDir, Layout, std::path::PathBuf) {
    let (t, l, s) = fixture();
    write(&l.data.join("dir2file/x"), "x");
    write(&s.join("dir2file"), "now a file");
    write(&l.data.join("file2dir"), "a file");
    write(&s.join("file2dir/y"), "y");
    (t, l, s)
}

/// A hook whose first call (the one just before the exchange) fails as an overlay file system
/// fails to rename a lower directory, and which then crashes at call `k` (never when 0).
fn cross_device_then_crash_at(k: usize, calls: &mut usize, crashed: &mut bool) -> io::Result<()> {
    *calls += 1;
    if *calls == 1 {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    if *calls == k {
        *crashed = true;
        return Err(io::Error::other("simulated crash"));
    }
    Ok(())
}

#[test]
fn a_replace_where_data_cannot_move_is_done_in_place() {
    let (_t, l, s) = fixture_with_type_changes();
    let staged = snapshot(&s);
    let (mut calls, mut crashed) = (0, false);
    apply(&l, &s, true, &mut || {
        cross_device_then_crash_at(0, &mut calls, &mut crashed)
    })
    .unwrap()
    .remove(&mut || Ok(()))
    .unwrap();
    assert_eq!(snapshot(&l.data), staged);
    only_data_left(&l);
}

#[test]
fn a_replace_in_place_survives_a_crash_at_every_step() {
    let mut k = 2;
    loop {
        let (_t, l, s) = fixture_with_type_changes();
        let (before, staged) = (snapshot(&l.data), snapshot(&s));
        let (mut calls, mut crashed) = (0, false);
        let mut hook = || cross_device_then_crash_at(k, &mut calls, &mut crashed);
        let applied = apply(&l, &s, true, &mut hook).and_then(|left| left.remove(&mut hook));
        if !crashed {
            applied.unwrap();
            assert!(
                k > 15,
                "a replace in place of this fixture has more than 15 steps"
            );
            break;
        }
        recover::recover(&l).unwrap();
        let after = snapshot(&l.data);
        assert!(
            after == before || after == staged,
            "crash at step {k}: /data is neither the old nor the new tree: {after:#?}"
        );
        only_data_left(&l);
        assert!(
            recover::recover(&l).unwrap().is_empty(),
            "recovery is done in one go"
        );
        k += 1;
    }
}

//! The consumer on crafted archives: round trip, what was on disk before, directory metadata
//! after their entries, hard links, special entries, the expanded-size limit. (The rules
//! themselves are tested in `rules/tests.rs`, and against the host validation in berth-core.)

use super::*;
use crate::targz::write_targz;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;

type Builder = tar::Builder<flate2::write::GzEncoder<Vec<u8>>>;

fn archive(build: impl FnOnce(&mut Builder)) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

/// An entry with a raw name and link name (the builder's setters refuse hostile ones).
fn entry(
    b: &mut Builder,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    mode: u32,
    mtime: u64,
    data: &[u8],
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

/// Extracts `gz` both ways, with this thread writing every file (the Files service, folder
/// downloads) and with small files written by two writer threads (the import), requires the
/// same outcome and the same tree, and returns the import's.
fn extract(gz: &[u8]) -> (tempfile::TempDir, io::Result<Counts>) {
    let alone = tempfile::tempdir().unwrap();
    let by_one = extract_targz(gz, alone.path(), false);
    let d = tempfile::tempdir().unwrap();
    let by_writers = extract_with_writers(gz, d.path());
    match (&by_one, &by_writers) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert_eq!(tree(alone.path()), tree(d.path()));
        }
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "{a} / {b}"),
        _ => panic!("alone: {by_one:?}, with writers: {by_writers:?}"),
    }
    (d, by_writers)
}

fn extract_with_writers(gz: &[u8], dest: &Path) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest).with_writers(2)?;
    sink.extract_targz(gz)?;
    sink.finish()
}

/// Every entry under `root`: path, mode, mtime, link count, and contents or link target.
fn tree(root: &Path) -> Vec<(PathBuf, u32, i64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let body = match m.file_type() {
                t if t.is_dir() => {
                    stack.push(p.clone());
                    Vec::new()
                }
                t if t.is_symlink() => fs::read_link(&p).unwrap().into_os_string().into_vec(),
                _ => fs::read(&p).unwrap(),
            };
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.push((rel, m.mode(), m.mtime(), m.nlink(), body));
        }
    }
    out.sort();
    out
}

fn refused(gz: &[u8]) -> String {
    let (_d, r) = extract(gz);
    let e = r.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    e.to_string()
}

#[test]
fn round_trip_and_what_was_on_disk_before() {
    use tar::EntryType::*;
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join("d/e")).unwrap();
    fs::write(src.path().join("d/e/f.txt"), b"hello").unwrap();
    fs::write(src.path().join("d/empty"), b"").unwrap();
    std::os::unix::fs::symlink("e/f.txt", src.path().join("d/link")).unwrap();
    let gz = write_targz(Vec::new(), &[(src.path().join("d"), "d".into())], 1).unwrap();
    let dst = tempfile::tempdir().unwrap();
    let c = extract_targz(&gz[..], dst.path(), false).unwrap();
    assert_eq!(fs::read(dst.path().join("d/e/f.txt")).unwrap(), b"hello");
    assert_eq!(fs::read(dst.path().join("d/empty")).unwrap(), b"");
    assert_eq!(
        fs::read_link(dst.path().join("d/link")).unwrap(),
        Path::new("e/f.txt")
    );
    assert_eq!(c.files, 2);

    // A symlink that was on disk before (not from the archive) is not written through.
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("sub", d.path().join("l")).unwrap();
    let gz = archive(|b| entry(b, "l/x", Regular, "", 0o644, 0, b"x"));
    let e = extract_targz(&gz[..], d.path(), false).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("goes through a symlink"), "{e}");
    assert!(!d.path().join("sub/x").exists());
    // Nor is anything that exists replaced.
    fs::write(d.path().join("f"), b"mine").unwrap();
    let gz = archive(|b| entry(b, "f", Regular, "", 0o644, 0, b"theirs"));
    let e = extract_targz(&gz[..], d.path(), false).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    assert_eq!(fs::read(d.path().join("f")).unwrap(), b"mine");
    // Also when a writer thread meets it.
    let e = extract_with_writers(&gz, d.path()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{e}");
    assert_eq!(fs::read(d.path().join("f")).unwrap(), b"mine");
}

#[test]
fn writer_threads_make_the_same_tree_as_one_thread() {
    use tar::EntryType::*;
    let big = vec![7u8; writers::SMALL_FILE as usize + 1];
    let gz = archive(|b| {
        entry(b, "ro/", Directory, "", 0o555, 5_000_000, b"");
        // More files than the writers' queue holds, in several folders.
        for i in 0..300u64 {
            let name = format!("ro/p{}/f{i}", i % 7);
            let body = format!("file {i}");
            let mode = 0o600 + (i as u32 % 2) * 0o44;
            entry(b, &name, Regular, "", mode, i, body.as_bytes());
        }
        // Streamed by the reading thread while writers still work.
        entry(b, "ro/big", Regular, "", 0o640, 42, &big);
        // A hard link to a file that may still be queued.
        entry(b, "ro/f-last", Regular, "", 0o644, 7, b"last");
        entry(b, "ro/h", Link, "ro/f-last", 0o644, 0, b"");
        entry(b, "after-link", Regular, "", 0o644, 8, b"after");
    });
    let (d, r) = extract(&gz); // compares the trees
    assert_eq!(r.unwrap().files, 304);
    assert_eq!(fs::read(d.path().join("ro/big")).unwrap(), big);
    assert_eq!(fs::metadata(d.path().join("ro/h")).unwrap().nlink(), 2);
    assert_eq!(fs::read(d.path().join("ro/p3/f10")).unwrap(), b"file 10");
}

#[test]
fn directory_modes_and_mtimes_are_restored_after_their_entries() {
    use tar::EntryType::*;
    let gz = archive(|b| {
        entry(b, "top/", Directory, "", 0o750, 1_000_000, b"");
        entry(b, "top/ro/", Directory, "", 0o555, 2_000_000, b"");
        entry(b, "top/ro/f", Regular, "", 0o644, 3_000_000, b"x");
        entry(b, "top/g", Regular, "", 0o600, 4_000_000, b"y");
    });
    let (d, r) = extract(&gz);
    r.unwrap();
    let meta = |p: &str| fs::symlink_metadata(d.path().join(p)).unwrap();
    assert_eq!(
        (meta("top").mtime(), meta("top").mode() & 0o777),
        (1_000_000, 0o750)
    );
    assert_eq!(
        (meta("top/ro").mtime(), meta("top/ro").mode() & 0o777),
        (2_000_000, 0o555)
    );
    assert_eq!(meta("top/ro/f").mtime(), 3_000_000);
}

#[test]
fn file_modes_are_exact_whether_or_not_the_umask_takes_bits() {
    use tar::EntryType::*;
    let umask = umask().expect("the umask from /proc/self/status");
    assert!(umask <= 0o777);
    let gz = archive(|b| {
        // 0666 and 0777 lose bits to a usual umask (022): set again with fchmod.
        entry(b, "w", Regular, "", 0o666, 0, b"1");
        entry(b, "x", Regular, "", 0o777, 0, b"2");
        // 0640 and 0600 pass any usual umask untouched: no fchmod needed.
        entry(b, "r", Regular, "", 0o640, 0, b"3");
        entry(b, "p", Regular, "", 0o600, 0, b"4");
    });
    let (d, r) = extract(&gz);
    r.unwrap();
    let mode = |p: &str| fs::symlink_metadata(d.path().join(p)).unwrap().mode() & 0o777;
    assert_eq!(
        [mode("w"), mode("x"), mode("r"), mode("p")],
        [0o666, 0o777, 0o640, 0o600]
    );
}

#[test]
fn hard_links_to_earlier_files_of_the_archive() {
    use tar::EntryType::*;
    let gz = archive(|b| {
        entry(b, "a/f", Regular, "", 0o644, 0, b"shared");
        entry(b, "b/h", Link, "a/f", 0o644, 0, b"");
        entry(b, "./h2", Link, "./a/f", 0o644, 0, b"");
    });
    let (d, r) = extract(&gz);
    assert_eq!(r.unwrap().files, 3);
    let f = fs::metadata(d.path().join("a/f")).unwrap();
    assert_eq!(f.nlink(), 3);
    assert_eq!(fs::metadata(d.path().join("b/h")).unwrap().ino(), f.ino());
    assert_eq!(fs::read(d.path().join("h2")).unwrap(), b"shared");

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            archive(|b| entry(b, "h", Link, "/etc/passwd", 0o644, 0, b"")),
            "\"h\" is a hard link pointing outside",
        ),
        (
            archive(|b| entry(b, "h", Link, "../x", 0o644, 0, b"")),
            "\"h\" is a hard link pointing outside",
        ),
        (
            archive(|b| entry(b, "h", Link, "missing", 0o644, 0, b"")),
            "\"h\" is a hard link to \"missing\", which is not an earlier file",
        ),
        (
            archive(|b| {
                entry(b, "d/", Directory, "", 0o755, 0, b"");
                entry(b, "h", Link, "d", 0o644, 0, b"");
            }),
            "not an earlier file",
        ),
        (
            archive(|b| {
                entry(b, "s", Symlink, "x", 0o777, 0, b"");
                entry(b, "h", Link, "s", 0o644, 0, b"");
            }),
            "not an earlier file",
        ),
        (
            archive(|b| {
                entry(b, "h", Link, "later", 0o644, 0, b"");
                entry(b, "later", Regular, "", 0o644, 0, b"x");
            }),
            "not an earlier file",
        ),
    ];
    for (gz, want) in cases {
        let msg = refused(&gz);
        assert!(msg.contains(want), "{msg} should say {want}");
    }
}

#[test]
fn devices_and_fifos_are_refused_not_skipped() {
    use tar::EntryType::*;
    for (kind, want) in [
        (Char, "\"c\" is a device"),
        (Block, "\"c\" is a device"),
        (Fifo, "\"c\" is a FIFO"),
    ] {
        let gz = archive(|b| {
            entry(b, "ok", Regular, "", 0o644, 0, b"x");
            entry(b, "c", kind, "", 0o644, 0, b"");
        });
        let msg = refused(&gz);
        assert!(msg.contains(want), "{msg}");
    }
}

#[test]
fn the_expanded_size_limit_stops_extraction() {
    use tar::EntryType::*;
    let gz = archive(|b| {
        entry(b, "a", Regular, "", 0o644, 0, &[0u8; 600]);
        entry(b, "b", Regular, "", 0o644, 0, &[0u8; 600]);
    });
    let d = tempfile::tempdir().unwrap();
    let mut s = SafeDest::limited(d.path(), 1000);
    let e = s.extract_targz(&gz[..]).unwrap_err().to_string();
    assert!(
        e.contains("expands to more than 1000 bytes") && e.contains("\"b\""),
        "{e}"
    );
    assert!(!d.path().join("b").exists(), "refused before writing");
}

//! The producer against GNU tar: what it writes must list and extract with `tar`, keep modes,
//! mtimes (files and folders), links and awkward names, skip FIFOs and sockets without blocking,
//! and stay valid when a file grows or shrinks while it is read.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

const OLD: u64 = 981_173_106; // 2001-02-03 04:05:06 UTC
const OLDER: u64 = 946_684_800; // 2000-01-01 00:00:00 UTC

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn set_mtime(p: &Path, secs: u64) {
    File::open(p).unwrap().set_modified(at(secs)).unwrap();
}

fn mtime(p: &Path) -> u64 {
    fs::symlink_metadata(p).unwrap().mtime() as u64
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A character device (the null device's numbers) if this process may make one (root with
/// CAP_MKNOD); whether it did.
fn mknod_null(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o644, libc::makedev(1, 3)) == 0 }
}

fn long_name() -> String {
    "n".repeat(200)
}

fn non_utf8() -> &'static OsStr {
    OsStr::from_bytes(b"bad-\xff-name")
}

/// The awkward tree: modes, old mtimes on files and folders, links (to a file, to a folder,
/// dangling), an empty file and folder, a hard link, a FIFO, a socket, a device where allowed and
/// two odd names. Returns the socket's listener and how many entries must be skipped.
fn awkward_tree(root: &Path) -> (std::os::unix::net::UnixListener, u64) {
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::create_dir(root.join("empty-dir")).unwrap();
    fs::write(root.join("a/b/deep.txt"), b"hello\n").unwrap();
    fs::write(root.join("a/run.sh"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("a/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(root.join("a/ro"), b"ro").unwrap();
    fs::set_permissions(root.join("a/ro"), fs::Permissions::from_mode(0o400)).unwrap();
    File::create(root.join("empty-file")).unwrap();
    fs::hard_link(root.join("a/b/deep.txt"), root.join("hard")).unwrap();
    std::os::unix::fs::symlink("b/deep.txt", root.join("a/to-file")).unwrap();
    std::os::unix::fs::symlink("../empty-dir", root.join("a/to-dir")).unwrap();
    std::os::unix::fs::symlink("missing", root.join("dangling")).unwrap();
    fs::write(root.join(long_name()), b"long").unwrap();
    fs::write(root.join(non_utf8()), b"bytes").unwrap();
    mkfifo(&root.join("fifo"));
    let sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    set_mtime(&root.join("a/b/deep.txt"), OLD);
    set_mtime(&root.join("empty-file"), OLD);
    set_mtime(&root.join("a/b"), OLDER);
    set_mtime(&root.join("empty-dir"), OLD);
    let device = mknod_null(&root.join("device"));
    (sock, 2 + u64::from(device))
}

/// The archive of `root` under the name `t`, made on another thread so a producer that blocks
/// (on a FIFO, say) fails the test instead of hanging it.
fn archive(root: &Path, mut on_progress: impl FnMut(u64) + Send + 'static) -> (Vec<u8>, Summary) {
    let items = vec![(root.to_path_buf(), PathBuf::from("t"))];
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = write_targz_counted(Vec::new(), &items, 1, &mut on_progress);
        let _ = tx.send(r.map_err(|e| e.to_string()));
    });
    let r = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the producer did not finish within 30 s (blocked?)");
    r.expect("archive")
}

fn save(gz: &[u8], dir: &Path) -> PathBuf {
    let p = dir.join("out.tar.gz");
    fs::write(&p, gz).unwrap();
    p
}

/// `tar -tzvf`: GNU tar must read it; returns the listing.
fn gnu_list(gz: &Path) -> String {
    let out = Command::new("tar")
        .arg("-tzvf")
        .arg(gz)
        .output()
        .expect("GNU tar");
    assert!(
        out.status.success(),
        "tar -tzvf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tar -xzf` into `into`.
fn gnu_extract(gz: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    let out = Command::new("tar")
        .arg("-xzf")
        .arg(gz)
        .arg("-C")
        .arg(into)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -xzf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (name, size) of every regular file entry, by the tar crate.
fn file_sizes(gz: &[u8]) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() == EntryType::Regular {
            let name = e.path_bytes().into_owned();
            let size = e.header().size().unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((name, size, data));
        }
    }
    out
}

#[test]
fn plan_dedupes_and_uniquifies() {
    let p = plan(&[
        "/data/a".into(),
        "/data/a/b".into(),
        "/tmp/a".into(),
        "/data/a".into(),
        "/x/c".into(),
    ]);
    let names: Vec<_> = p.iter().map(|(_, n)| n.display().to_string()).collect();
    assert_eq!(names, ["a", "a (2)", "c"]);
}

#[test]
fn gnu_tar_reads_the_awkward_tree_back_intact() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("t");
    let (_sock, skipped) = awkward_tree(&root);
    let (gz, s) = archive(&root, |_| {});
    assert_eq!(
        s.skipped, skipped,
        "the FIFO, the socket and the device: {s:?}"
    );
    assert_eq!((s.files, s.dirs, s.links), (7, 4, 3), "{s:?}");
    assert_eq!(s.padded, 0);
    assert_eq!(s.source_bytes, 6 + 10 + 2 + 6 + 4 + 5);
    assert_eq!(source_total(&[(root.clone(), "t".into())]), s.source_bytes);

    let work = tempfile::tempdir().unwrap();
    let file = save(&gz, work.path());
    let listing = gnu_list(&file);
    assert_eq!(listing.lines().count(), 14, "{listing}");
    assert!(
        !listing.contains("fifo") && !listing.contains("sock"),
        "{listing}"
    );
    let x = work.path().join("x");
    gnu_extract(&file, &x);
    let t = x.join("t");
    assert_eq!(fs::read(t.join("a/b/deep.txt")).unwrap(), b"hello\n");
    assert_eq!(
        fs::read(t.join("hard")).unwrap(),
        b"hello\n",
        "a hard link is a plain copy"
    );
    assert_eq!(fs::read(t.join(long_name())).unwrap(), b"long");
    assert_eq!(fs::read(t.join(non_utf8())).unwrap(), b"bytes");
    assert_eq!(fs::metadata(t.join("empty-file")).unwrap().len(), 0);
    assert_eq!(fs::read_dir(t.join("empty-dir")).unwrap().count(), 0);
    assert_eq!(mode(&t.join("a/run.sh")), 0o750);
    assert_eq!(mode(&t.join("a/ro")), 0o400);
    assert_eq!(mode(&t.join("a")), mode(&root.join("a")));
    assert_eq!(mtime(&t.join("a/b/deep.txt")), OLD);
    assert_eq!(mtime(&t.join("empty-file")), OLD);
    assert_eq!(mtime(&t.join("a/b")), OLDER, "folder mtime");
    assert_eq!(mtime(&t.join("empty-dir")), OLD, "empty folder mtime");
    assert_eq!(
        fs::read_link(t.join("a/to-file")).unwrap(),
        Path::new("b/deep.txt")
    );
    assert_eq!(
        fs::read_link(t.join("a/to-dir")).unwrap(),
        Path::new("../empty-dir")
    );
    assert_eq!(
        fs::read_link(t.join("dangling")).unwrap(),
        Path::new("missing")
    );
    assert!(fs::symlink_metadata(t.join("fifo")).is_err());
    assert!(fs::symlink_metadata(t.join("sock")).is_err());
}

#[test]
fn entries_come_in_sorted_order() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("t");
    for n in ["c", "a", "b/z", "b/y"] {
        let p = root.join(n);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, n).unwrap();
    }
    let (gz, _) = archive(&root, |_| {});
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["t", "t/a", "t/b", "t/b/y", "t/b/z", "t/c"]);
}

#[test]
fn a_file_growing_while_archived_is_cut_at_its_size_when_opened() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("t");
    fs::create_dir(&root).unwrap();
    let path = root.join("growing.log");
    fs::write(&path, vec![b'x'; 4 << 20]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = std::thread::spawn({
        let (path, stop) = (path.clone(), stop.clone());
        move || {
            let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                f.write_all(&[b'y'; 4096]).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    // At the first read the file is open and its size taken: wait there until it has grown.
    let mut first = Some(path.clone());
    let (gz, s) = archive(&root, move |_| {
        if let Some(p) = first.take() {
            let then = fs::metadata(&p).unwrap().len();
            while fs::metadata(&p).unwrap().len() <= then {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    let now = fs::read(&path).unwrap();
    let files = file_sizes(&gz);
    assert_eq!(files.len(), 1);
    let (_, size, data) = &files[0];
    assert!(
        *size >= 4 << 20 && (*size as usize) < now.len(),
        "{size} of {}",
        now.len()
    );
    assert_eq!(&now[..*size as usize], &data[..], "a prefix of the file");
    assert_eq!((s.files, s.padded, s.source_bytes), (1, 0, *size));
    let work = tempfile::tempdir().unwrap();
    let listing = gnu_list(&save(&gz, work.path()));
    assert!(listing.contains("t/growing.log"), "{listing}");
}

#[test]
fn a_file_shrinking_while_archived_is_padded_with_zeros() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("t");
    fs::create_dir(&root).unwrap();
    let path = root.join("shrinking.bin");
    let size = 4u64 << 20;
    fs::write(&path, vec![b'x'; size as usize]).unwrap();
    // After the first read, cut the file to 10 bytes.
    let mut first = Some(path.clone());
    let (gz, s) = archive(&root, move |_| {
        if let Some(p) = first.take() {
            fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(10)
                .unwrap();
        }
    });
    assert_eq!((s.files, s.padded, s.source_bytes), (1, 1, size));
    let files = file_sizes(&gz);
    let (_, got, data) = &files[0];
    assert_eq!(
        *got, size,
        "the header keeps the size the file had when opened"
    );
    assert_eq!(data.len() as u64, size);
    let kept = data.iter().take_while(|b| **b == b'x').count();
    assert!(
        kept >= 10 && kept < size as usize,
        "{kept} bytes read before the cut"
    );
    assert!(data[kept..].iter().all(|b| *b == 0), "the rest is zeros");
    let work = tempfile::tempdir().unwrap();
    let file = save(&gz, work.path());
    gnu_list(&file);
    gnu_extract(&file, &work.path().join("x"));
    assert_eq!(
        fs::metadata(work.path().join("x/t/shrinking.bin"))
            .unwrap()
            .len(),
        size
    );
}

#[test]
fn progress_counts_file_bytes_up_to_the_total() {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("t");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::write(root.join("d/a"), vec![1u8; 300_000]).unwrap();
    fs::write(root.join("b"), vec![2u8; 70_000]).unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (_, s) = archive(&root, {
        let seen = seen.clone();
        move |d| seen.lock().unwrap().push(d)
    });
    let seen = seen.lock().unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "increasing");
    assert_eq!(seen.last().copied(), Some(370_000));
    assert_eq!(s.source_bytes, 370_000);
    assert_eq!(source_total(&[(root, "t".into())]), 370_000);
}

#[test]
fn an_empty_archive_is_valid_gzip_and_tar() {
    let gz = write_targz(Vec::new(), &[], 6).unwrap();
    let work = tempfile::tempdir().unwrap();
    assert_eq!(gnu_list(&save(&gz, work.path())), "");
}

//! One corpus of hostile archives (and benign controls) run against both readers of untrusted
//! archives: the host's import validation (`berth_core::data::validate`) and the extractor
//! (`berth_bridge::targz`, which stages imports in the bridge, extracts in the Files service and
//! copies folders to the host). Each must give the expected verdict, which makes the two agree;
//! an extraction, refused or not, changes nothing outside its own new directory, and every
//! symlink it made that resolves at all resolves inside it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use berth_bridge::targz::rules::{refusal, Kind, Refusal, Refused};
use berth_bridge::targz::SafeDest;
use berth_core::data::validate;
use flate2::write::GzEncoder;
use tar::EntryType::{self, *};

/// The expanded-size limit both readers get.
const LIMIT: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Refused(Refused),
    /// Not a readable .tar.gz: an error that is no rule's refusal.
    Unreadable,
}

fn verdict<T>(r: io::Result<T>) -> Verdict {
    match r {
        Ok(_) => Verdict::Accepted,
        Err(e) => match refusal(&e) {
            Some(r) => Verdict::Refused(r.clone()),
            None => Verdict::Unreadable,
        },
    }
}

fn refused(entry: &str, why: Refusal) -> Verdict {
    Verdict::Refused(Refused {
        entry: entry.into(),
        why,
    })
}

type Builder = tar::Builder<GzEncoder<Vec<u8>>>;

fn targz(build: impl FnOnce(&mut Builder)) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

/// An entry with raw name and link bytes: the tar crate's setters refuse hostile ones.
fn raw(b: &mut Builder, name: &str, kind: EntryType, link: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind == Directory { 0o755 } else { 0o644 });
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn file(b: &mut Builder, name: &str) {
    raw(b, name, Regular, "", name.as_bytes());
}

/// A file whose name needs a GNU long-name entry (over 100 bytes).
fn long(b: &mut Builder, name: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    b.append_data(&mut h, name, &b"x"[..]).unwrap();
}

/// `(name, archive, expected verdict)` for every case, both readers.
fn corpus() -> Vec<(&'static str, Vec<u8>, Verdict)> {
    use Refusal::*;
    let t300 = "x".repeat(300);
    let n99 = "n".repeat(99);
    let long_path = format!("{}/{}", "p".repeat(200), "q".repeat(200));
    let mut truncated = targz(|b| raw(b, "f", Regular, "", &[7u8; 100_000]));
    truncated.truncate(truncated.len() / 2);
    let chain_lexically_out = "a/a/a/../../../../etc/passwd";
    let chain_lexically_in = "a/a/a/../../../etc/passwd";
    vec![
        (
            "absolute",
            targz(|b| file(b, "/etc/x")),
            refused("/etc/x", Absolute),
        ),
        (
            "dotdot",
            targz(|b| file(b, "../x")),
            refused("../x", DotDot),
        ),
        (
            "dotdot inside",
            targz(|b| file(b, "a/../../x")),
            refused("a/../../x", DotDot),
        ),
        (
            "through an archive symlink",
            targz(|b| {
                raw(b, "sub/", Directory, "", b"");
                raw(b, "l", Symlink, "sub", b"");
                file(b, "l/x");
            }),
            refused("l/x", ThroughSymlink),
        ),
        (
            "through an archive file",
            targz(|b| {
                file(b, "f");
                file(b, "f/x");
            }),
            refused("f/x", ThroughFile),
        ),
        (
            "symlink outside, absolute",
            targz(|b| raw(b, "out", Symlink, "/etc/passwd", b"")),
            refused("out", SymlinkOutside("/etc/passwd".into())),
        ),
        (
            "symlink outside with ..",
            targz(|b| raw(b, "d/l", Symlink, "../../x", b"")),
            refused("d/l", SymlinkOutside("../../x".into())),
        ),
        (
            "symlink chain, lexically outside",
            targz(|b| {
                raw(b, "a", Symlink, ".", b"");
                raw(b, "k", Symlink, chain_lexically_out, b"");
            }),
            refused("k", SymlinkOutside(chain_lexically_out.into())),
        ),
        (
            "symlink chain, lexically inside",
            targz(|b| {
                raw(b, "a", Symlink, ".", b"");
                raw(b, "k", Symlink, chain_lexically_in, b"");
            }),
            refused("k", SymlinkOutside(chain_lexically_in.into())),
        ),
        (
            "symlink redirecting an earlier link",
            targz(|b| {
                raw(b, "d/k", Symlink, "x/../../etc/passwd", b"");
                raw(b, "d/x", Symlink, "..", b"");
            }),
            refused("d/x", RedirectsLink("d/k".into())),
        ),
        (
            "symlink loop",
            targz(|b| {
                raw(b, "a", Symlink, "b", b"");
                raw(b, "b", Symlink, "a", b"");
                raw(b, "k", Symlink, "a/x", b"");
            }),
            refused("k", SymlinkLoop),
        ),
        (
            "hard link outside",
            targz(|b| raw(b, "h", Link, "/etc/passwd", b"")),
            refused("h", HardLinkOutside("/etc/passwd".into())),
        ),
        (
            "hard link up",
            targz(|b| raw(b, "h", Link, "../f", b"")),
            refused("h", HardLinkOutside("../f".into())),
        ),
        (
            "hard link to nothing",
            targz(|b| raw(b, "h", Link, "missing", b"")),
            refused("h", HardLinkNotEarlierFile("missing".into())),
        ),
        (
            "hard link to a later file",
            targz(|b| {
                raw(b, "h", Link, "later", b"");
                file(b, "later");
            }),
            refused("h", HardLinkNotEarlierFile("later".into())),
        ),
        (
            "hard link to a directory",
            targz(|b| {
                raw(b, "d/", Directory, "", b"");
                raw(b, "h", Link, "d", b"");
            }),
            refused("h", HardLinkNotEarlierFile("d".into())),
        ),
        (
            "hard link to a symlink",
            targz(|b| {
                file(b, "f");
                raw(b, "s", Symlink, "f", b"");
                raw(b, "h", Link, "s", b"");
            }),
            refused("h", HardLinkNotEarlierFile("s".into())),
        ),
        (
            "char device",
            targz(|b| {
                file(b, "ok");
                raw(b, "c", Char, "", b"");
            }),
            refused("c", Device),
        ),
        (
            "block device",
            targz(|b| raw(b, "b", Block, "", b"")),
            refused("b", Device),
        ),
        (
            "fifo",
            targz(|b| raw(b, "p", EntryType::Fifo, "", b"")),
            refused("p", Refusal::Fifo),
        ),
        (
            "volume label",
            targz(|b| raw(b, "v", EntryType::new(b'V'), "", b"")),
            refused("v", Unsupported(b'V')),
        ),
        (
            "duplicate",
            targz(|b| {
                raw(b, "dup", Regular, "", b"1");
                raw(b, "./dup", Regular, "", b"2");
            }),
            refused("./dup", Duplicate),
        ),
        (
            "file over a directory",
            targz(|b| {
                file(b, "d/x");
                file(b, "d");
            }),
            refused("d", ReplacesDir(Kind::File)),
        ),
        (
            "root as a file",
            targz(|b| raw(b, "./", Regular, "", b"")),
            refused("./", RootNotDir),
        ),
        (
            "300-byte name",
            targz(|b| long(b, &t300)),
            refused(&t300, NameTooLong),
        ),
        (
            "size bomb",
            targz(|b| {
                file(b, "ok");
                raw(b, "zeros", Regular, "", &vec![0u8; 2 << 20]);
            }),
            refused("zeros", TooLarge { limit: LIMIT }),
        ),
        (
            "not gzip",
            b"this is not an archive".to_vec(),
            Verdict::Unreadable,
        ),
        ("truncated", truncated, Verdict::Unreadable),
        // Benign controls.
        ("99-byte name", targz(|b| file(b, &n99)), Verdict::Accepted),
        (
            "long path, short names",
            targz(|b| long(b, &long_path)),
            Verdict::Accepted,
        ),
        (
            "internal hard links",
            targz(|b| {
                file(b, "a/f");
                raw(b, "h", Link, "a/f", b"");
                raw(b, "d/h2", Link, "./h", b"");
            }),
            Verdict::Accepted,
        ),
        (
            "symlinks inside",
            targz(|b| {
                raw(b, "./", Directory, "", b"");
                file(b, "d/f");
                raw(b, "d/l", Symlink, "f", b"");
                raw(b, "usr/lib/x", Symlink, "../../d/f", b"");
                raw(b, "a", Symlink, ".", b"");
                raw(b, "k", Symlink, "a/a/d/../d/f", b"");
                raw(b, "up", Symlink, "d/..", b"");
            }),
            Verdict::Accepted,
        ),
        (
            "directory entries after their children",
            targz(|b| {
                file(b, "d/e/x");
                raw(b, "d/e/", Directory, "", b"");
                raw(b, "d/", Directory, "", b"");
            }),
            Verdict::Accepted,
        ),
    ]
}

/// Every path under `root` with its kind and contents or target, links not followed.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for de in fs::read_dir(&dir).unwrap() {
            let p = de.unwrap().path();
            let t = fs::symlink_metadata(&p).unwrap().file_type();
            let what = if t.is_symlink() {
                format!("-> {:?}", fs::read_link(&p).unwrap())
            } else if t.is_dir() {
                todo.push(p.clone());
                "dir".into()
            } else {
                format!("{:?}", fs::read(&p).unwrap())
            };
            out.insert(p.strip_prefix(root).unwrap().to_path_buf(), what);
        }
    }
    out
}

/// The extractor into a new directory next to a file it must not touch and below a folder
/// whose sibling holds a secret, as the Files service, the import staging and the host's
/// folder download use it.
fn extract(gz: &[u8], what: &str) -> Verdict {
    let top = tempfile::tempdir().unwrap();
    fs::create_dir_all(top.path().join("outside")).unwrap();
    fs::write(top.path().join("outside/secret"), b"secret").unwrap();
    fs::create_dir_all(top.path().join("dest")).unwrap();
    fs::write(top.path().join("dest/keep"), b"keep").unwrap();
    let before = snapshot(top.path());
    let new = top.path().join("dest/new");
    fs::create_dir(&new).unwrap();
    let mut sink = SafeDest::limited(&new, LIMIT);
    let v = verdict(sink.extract_targz(gz).and_then(|()| sink.finish()));
    let mut after = snapshot(top.path());
    after.retain(|p, _| !p.starts_with("dest/new"));
    assert_eq!(
        after, before,
        "{what}: changed something outside its directory"
    );
    let inside = new.canonicalize().unwrap();
    for (p, what_is) in snapshot(&new) {
        if what_is.starts_with("->") {
            // The refused cases leave links to what was never extracted (the accepted ones
            // must all resolve).
            match new.join(&p).canonicalize() {
                Ok(to) => assert!(to.starts_with(&inside), "{what}: {p:?} leads to {to:?}"),
                Err(e) => assert!(v != Verdict::Accepted, "{what}: {p:?}: {e}"),
            }
        }
    }
    v
}

#[test]
fn the_host_validation_and_the_extractor_give_the_same_verdict() {
    let corpus = corpus();
    for (what, gz, want) in &corpus {
        let host = verdict(validate::check(&gz[..], LIMIT, &|| false));
        assert_eq!(&host, want, "host validation of {what}");
        assert_eq!(&extract(gz, what), want, "extraction of {what}");
    }
    let accepted = corpus.iter().filter(|c| c.2 == Verdict::Accepted).count();
    assert!(
        accepted >= 5 && corpus.len() - accepted >= 25,
        "{accepted} of {}",
        corpus.len()
    );
}

#[test]
fn the_refused_symlinks_would_really_escape() {
    use berth_bridge::targz::rules::{Declared, Entry};
    let sym = |name: &str, to: &str| Entry {
        kind: Kind::Symlink,
        name: name.into(),
        link: Some(to.into()),
        size: 0,
    };
    // Two sequences that count as inside when `..` is only counted against the link's depth.
    let cases = [
        [sym("a", "."), sym("k", "a/a/a/../outside")],
        [sym("d/k", "x/../outside"), sym("d/x", "..")],
    ];
    for [first, second] in cases {
        // What the kernel makes of them, built by hand in a scratch tree...
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(top.path().join("outside"), b"secret").unwrap();
        for e in [&first, &second] {
            let to = String::from_utf8(e.link.clone().unwrap()).unwrap();
            std::os::unix::fs::symlink(to, root.join(e.path())).unwrap();
        }
        let k = if first.path().ends_with("k") {
            first.path()
        } else {
            second.path()
        };
        assert_eq!(fs::read(root.join(&k)).unwrap(), b"secret", "{k:?} escapes");
        // ...and the rules refuse the second entry.
        let mut rules = Declared::new(None);
        rules.admit(&first).unwrap();
        let r = rules.check(&second).unwrap_err();
        assert!(
            matches!(
                r.why,
                Refusal::SymlinkOutside(_) | Refusal::RedirectsLink(_)
            ),
            "{r}"
        );
    }
}

//! The pure check on entry sequences: each case is a list of entries, and the verdict on the
//! last one (all earlier ones must be accepted).

use super::*;
use Kind::*;

fn e(kind: Kind, name: &str, link: Option<&str>, size: u64) -> Entry {
    Entry {
        kind,
        name: name.as_bytes().to_vec(),
        link: link.map(|l| l.as_bytes().to_vec()),
        size,
    }
}

fn dir(name: &str) -> Entry {
    e(Dir, name, None, 0)
}
fn file(name: &str) -> Entry {
    e(File, name, None, 1)
}
fn sym(name: &str, to: &str) -> Entry {
    e(Symlink, name, Some(to), 0)
}
fn hard(name: &str, to: &str) -> Entry {
    e(HardLink, name, Some(to), 0)
}

/// The verdict on the last entry after admitting all the others.
fn last(entries: &[Entry]) -> Result<Accepted, Refused> {
    let mut d = Declared::new(Some(100));
    let (last, earlier) = entries.split_last().unwrap();
    for x in earlier {
        d.admit(x)
            .unwrap_or_else(|r| panic!("{:?} refused early: {r}", x.path()));
    }
    d.check(last)
}

fn refused(entries: &[Entry]) -> Refusal {
    match last(entries) {
        Ok(ok) => panic!("{:?} accepted", ok.rel),
        Err(r) => r.why,
    }
}

#[test]
fn names_must_be_relative_linux_names() {
    assert_eq!(refused(&[file("/etc/x")]), Refusal::Absolute);
    assert_eq!(refused(&[file("../x")]), Refusal::DotDot);
    assert_eq!(refused(&[file("a/../x")]), Refusal::DotDot);
    assert_eq!(refused(&[file(&"n".repeat(256))]), Refusal::NameTooLong);
    let deep = vec!["d".repeat(200); 21].join("/");
    assert_eq!(refused(&[file(&deep)]), Refusal::PathTooLong);
    assert_eq!(refused(&[file("./")]), Refusal::RootNotDir);
    let ok = last(&[file(&"n".repeat(255))]).unwrap();
    assert_eq!(ok.rel, PathBuf::from("n".repeat(255)));
    assert_eq!(last(&[file("./a//b/./c")]).unwrap().rel, Path::new("a/b/c"));
    assert!(last(&[dir("./"), dir("."), dir("")]).is_ok());
}

#[test]
fn entries_stay_off_links_files_and_each_other() {
    use Refusal::*;
    assert_eq!(refused(&[sym("l", "d"), file("l/x")]), ThroughSymlink);
    assert_eq!(refused(&[sym("l", "d"), file("l/y/x")]), ThroughSymlink);
    assert_eq!(refused(&[file("f"), dir("f/x/")]), ThroughFile);
    assert_eq!(
        refused(&[hard("h", "f")]),
        HardLinkNotEarlierFile("f".into())
    );
    assert_eq!(refused(&[file("f"), file("./f")]), Duplicate);
    assert_eq!(refused(&[dir("d"), dir("d/")]), Duplicate);
    assert_eq!(refused(&[file("d/x"), file("d")]), ReplacesDir(File));
    assert_eq!(refused(&[file("d/x"), sym("d", "x")]), ReplacesDir(Symlink));
    assert_eq!(
        refused(&[file("f"), file("d/x"), hard("d", "f")]),
        ReplacesDir(HardLink)
    );
    // A directory's own entry after its children is fine (tar writers do that).
    assert!(last(&[file("d/e/x"), dir("d/e"), dir("d"), file("d/y")]).is_ok());
}

#[test]
fn symlinks_lead_inside_as_the_kernel_resolves_them() {
    let outside = |t: &str| Refusal::SymlinkOutside(t.into());
    assert_eq!(refused(&[sym("l", "/etc")]), outside("/etc"));
    assert_eq!(refused(&[sym("d/l", "../..")]), outside("../.."));
    // Lexically inside, but `a` is the root: every `..` climbs out of it.
    let t = "a/a/a/../../../etc/passwd";
    assert_eq!(refused(&[sym("a", "."), sym("k", t)]), outside(t));
    assert_eq!(refused(&[sym("a", "."), sym("k", "a/..")]), outside("a/.."));
    assert_eq!(
        refused(&[dir("s/t"), sym("b", "s/t"), sym("k", "b/../../..")]),
        outside("b/../../..")
    );
    // The same trick with the link declared after the one it would redirect.
    assert_eq!(
        refused(&[sym("d/k", "x/../../y"), sym("d/x", "..")]),
        Refusal::RedirectsLink("d/k".into())
    );
    assert_eq!(
        refused(&[sym("k", "a"), sym("m", "k/.."), sym("a", ".")]),
        Refusal::RedirectsLink("m".into())
    );
    assert_eq!(
        refused(&[sym("a", "b"), sym("b", "a"), sym("k", "a/x")]),
        Refusal::SymlinkLoop
    );
    assert_eq!(
        refused(&[e(Symlink, "l", None, 0)]),
        Refusal::SymlinkNoTarget
    );
    // Inside: up to the root and down, through links, and later links on paths without `..`.
    for ok in [
        &[sym("usr/lib/x", "../../lib/x")][..],
        &[sym("a", "."), sym("k", "a/a/sub/../f")],
        &[dir("s/t"), sym("b", "s/t"), sym("k", "b/../..")],
        &[dir("d"), sym("d/k", "x/y"), sym("d/x", "..")],
        &[sym("self", "self")],
    ] {
        last(ok).unwrap_or_else(|r| panic!("{r}"));
    }
}

#[test]
fn hard_links_only_to_earlier_files() {
    use Refusal::*;
    let ok = last(&[file("a/f"), hard("b/h", "./a/f")]).unwrap();
    assert_eq!(ok.link(), Some(Path::new("a/f")));
    assert!(last(&[file("a/f"), hard("h", "a/f"), hard("h2", "h")]).is_ok());
    assert_eq!(
        refused(&[hard("h", "/etc/passwd")]),
        HardLinkOutside("/etc/passwd".into())
    );
    assert_eq!(
        refused(&[hard("h", "../f")]),
        HardLinkOutside("../f".into())
    );
    assert_eq!(
        refused(&[dir("d"), hard("h", "d")]),
        HardLinkNotEarlierFile("d".into())
    );
    assert_eq!(
        refused(&[sym("s", "f"), hard("h", "s")]),
        HardLinkNotEarlierFile("s".into())
    );
    assert_eq!(
        refused(&[file("d/f"), hard("h", "d")]),
        HardLinkNotEarlierFile("d".into())
    );
    assert_eq!(refused(&[e(HardLink, "h", None, 0)]), HardLinkNoTarget);
}

#[test]
fn special_entries_and_the_size_limit() {
    use Refusal::*;
    assert_eq!(refused(&[e(CharDevice, "c", None, 0)]), Device);
    assert_eq!(refused(&[e(BlockDevice, "b", None, 0)]), Device);
    assert_eq!(refused(&[e(Kind::Fifo, "p", None, 0)]), Refusal::Fifo);
    assert_eq!(refused(&[e(Other(b'S'), "s", None, 0)]), Unsupported(b'S'));
    let big = |n, s| e(File, n, None, s);
    assert!(last(&[big("a", 60), big("b", 40)]).is_ok());
    assert_eq!(
        refused(&[big("a", 60), big("b", 41)]),
        TooLarge { limit: 100 }
    );
    let mut d = Declared::new(None);
    d.admit(&big("a", u64::MAX)).unwrap();
    d.admit(&big("b", u64::MAX)).unwrap();
    assert_eq!(d.bytes(), u64::MAX);
}

/// What is declared stays in memory, so an archive of endless tiny entries is refused at the cap
/// instead of growing the host's (or the bridge's) memory without bound.
#[test]
fn the_number_of_entries_is_bounded() {
    let mut d = Declared::new(None);
    for i in 0..MAX_ENTRIES {
        d.admit(&e(File, &i.to_string(), None, 0)).unwrap();
    }
    let r = d.check(&file("one-more")).unwrap_err();
    assert_eq!(r.why, Refusal::TooManyEntries);
    assert!(r.to_string().contains("more than 1000000 entries"), "{r}");
}

#[test]
fn messages_name_the_entry_and_the_error_carries_the_refusal() {
    let r = last(&[hard("h", "nothing")]).unwrap_err();
    assert_eq!(
        r.to_string(),
        "archive entry \"h\" is a hard link to \"nothing\", which is not an earlier file of the archive"
    );
    let io: std::io::Error = r.clone().into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(refusal(&io), Some(&r));
    assert_eq!(io.to_string(), r.to_string());
    let r = last(&[e(File, "f", None, 101)]).unwrap_err();
    assert_eq!(
        r.to_string(),
        "the archive expands to more than 100 bytes (at entry \"f\"); raise the limit to import it"
    );
}

//! Checks a whole .tar.gz on the host before anything in `/data` changes: every entry is read
//! once, and the first hostile one refuses the archive with its name. The bridge's consumer
//! (`berth_bridge::targz`) applies the same rules while it extracts the same stream into the
//! staging directory (paths, links, hard links only to earlier files of the archive, devices
//! and FIFOs, the expanded-size limit); this pass adds what it does not refuse (duplicates,
//! invalid names) and gives the summary the import preview shows. An import applies only when
//! both accept the archive.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use flate2::read::GzDecoder;

/// Default limit on the expanded size of an imported archive (sum of the entries' sizes).
pub const DEFAULT_MAX_EXPANDED: u64 = 64 * 1024 * 1024 * 1024;

/// What an archive holds (after validation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// Sum of the regular files' sizes.
    pub bytes: u64,
    /// Relative paths of regular files and links (for conflict counting).
    pub paths: Vec<PathBuf>,
}

/// Why an archive was refused; `entry` names the offending entry when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

fn refuse(name: &Path, why: &str) -> Refused {
    Refused(format!("archive entry {:?} {why}", name))
}

/// The entry's path relative to the archive root: no absolute paths, no `..`, components that
/// are valid Linux names (non-empty, at most 255 bytes; NUL cannot occur in a tar name).
pub fn relative(name: &Path) -> Result<PathBuf, Refused> {
    use std::os::unix::ffi::OsStrExt;
    let mut rel = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => {
                if n.as_bytes().len() > 255 {
                    return Err(refuse(name, "has a name longer than 255 bytes"));
                }
                if n.as_bytes().contains(&0) {
                    return Err(refuse(name, "has a NUL byte in its name"));
                }
                rel.push(n)
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(name, "has an absolute path"))
            }
            Component::ParentDir => return Err(refuse(name, "goes outside with '..'")),
        }
    }
    if rel.as_os_str().as_bytes().len() > 4095 {
        return Err(refuse(name, "has a path longer than 4095 bytes"));
    }
    Ok(rel)
}

/// Whether a link target stays inside the archive root when resolved from `rel`'s directory.
fn stays_inside(rel: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return false;
    }
    let mut depth: i64 = rel.components().count() as i64 - 1;
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Reads the whole gzip'd tar from `input` and refuses it at the first hostile entry.
/// `cancelled` is polled between entries.
pub fn check<R: Read>(
    input: R,
    max_expanded: u64,
    cancelled: &dyn Fn() -> bool,
) -> Result<Summary, io::Error> {
    let bad = |r: Refused| io::Error::new(io::ErrorKind::InvalidData, r.0);
    let mut s = Summary::default();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut links: HashSet<PathBuf> = HashSet::new();
    let mut non_dirs: HashSet<PathBuf> = HashSet::new();
    // Regular files so far: the only entries a hard link may point to.
    let mut files: HashSet<PathBuf> = HashSet::new();
    let mut parents: HashSet<PathBuf> = HashSet::new();
    let mut ar = tar::Archive::new(GzDecoder::new(input));
    for entry in ar.entries()? {
        if cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let mut entry = entry?;
        let name = PathBuf::from(
            <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                entry.path_bytes().into_owned(),
            ),
        );
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            continue;
        }
        let rel = relative(&name).map_err(bad)?;
        s.entries += 1;
        if rel.as_os_str().is_empty() {
            if !kind.is_dir() {
                return Err(bad(refuse(
                    &name,
                    "is the archive root but not a directory",
                )));
            }
            continue;
        }
        // Every ancestor must be (or become) a real directory: not a link, not a file.
        let mut anc = rel.parent();
        while let Some(a) = anc {
            if a.as_os_str().is_empty() {
                break;
            }
            if links.contains(a) {
                return Err(bad(refuse(&name, "goes through a symlink in the archive")));
            }
            if non_dirs.contains(a) {
                return Err(bad(refuse(&name, "goes through a file in the archive")));
            }
            anc = a.parent();
        }
        if !seen.insert(rel.clone()) {
            return Err(bad(refuse(&name, "appears twice (duplicate path)")));
        }
        // A later non-directory entry may not sit above earlier entries: every entry's
        // ancestors are remembered (a set lookup, not a scan of all entries).
        let is_parent = parents.contains(&rel);
        let mut a = rel.parent();
        while let Some(p) = a.filter(|p| !p.as_os_str().is_empty()) {
            if !parents.insert(p.to_path_buf()) {
                break;
            }
            a = p.parent();
        }
        if kind.is_dir() {
            s.dirs += 1;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            if is_parent {
                return Err(bad(refuse(
                    &name,
                    "replaces a directory of the archive with a file",
                )));
            }
            let size = entry.header().size().unwrap_or(0);
            s.bytes = s.bytes.saturating_add(size);
            if s.bytes > max_expanded {
                return Err(bad(Refused(format!(
                    "the archive expands to more than {max_expanded} bytes (at entry {:?}); raise the limit to import it",
                    name
                ))));
            }
            // Read the data: a corrupt stream shows up here, before anything changes.
            io::copy(&mut entry, &mut io::sink())?;
            s.files += 1;
            non_dirs.insert(rel.clone());
            files.insert(rel.clone());
            s.paths.push(rel);
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|b| {
                    PathBuf::from(
                        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                            b.into_owned(),
                        ),
                    )
                })
                .ok_or_else(|| bad(refuse(&name, "is a symlink without a target")))?;
            if !stays_inside(&rel, &target) {
                return Err(bad(refuse(
                    &name,
                    &format!("is a symlink pointing outside ({:?})", target),
                )));
            }
            if is_parent {
                return Err(bad(refuse(
                    &name,
                    "replaces a directory of the archive with a symlink",
                )));
            }
            s.links += 1;
            links.insert(rel.clone());
            non_dirs.insert(rel.clone());
            s.paths.push(rel);
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|b| {
                    PathBuf::from(
                        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(
                            b.into_owned(),
                        ),
                    )
                })
                .ok_or_else(|| bad(refuse(&name, "is a hard link without a target")))?;
            let to = relative(&target).map_err(|_| {
                bad(refuse(
                    &name,
                    &format!("is a hard link pointing outside ({:?})", target),
                ))
            })?;
            if !files.contains(&to) {
                return Err(bad(refuse(
                    &name,
                    &format!(
                        "is a hard link to {:?}, which is not an earlier file of the archive",
                        target
                    ),
                )));
            }
            if is_parent {
                return Err(bad(refuse(
                    &name,
                    "replaces a directory of the archive with a hard link",
                )));
            }
            s.files += 1;
            non_dirs.insert(rel.clone());
            files.insert(rel.clone());
            s.paths.push(rel);
        } else if kind.is_character_special() || kind.is_block_special() {
            return Err(bad(refuse(&name, "is a device")));
        } else if kind.is_fifo() {
            return Err(bad(refuse(&name, "is a FIFO")));
        } else {
            return Err(bad(refuse(
                &name,
                &format!("has an unsupported type {:?}", kind),
            )));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    fn archive(build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        build(&mut b);
        b.into_inner().unwrap().finish().unwrap()
    }

    fn entry(
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
        // Raw names: the builder's own setters refuse `..` and absolute paths.
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn refused(gz: &[u8]) -> String {
        check(gz, DEFAULT_MAX_EXPANDED, &|| false)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn accepts_a_plain_tree() {
        let gz = archive(|b| {
            entry(b, b"./", tar::EntryType::Directory, None, b"");
            entry(b, b"a/", tar::EntryType::Directory, None, b"");
            entry(b, b"a/f", tar::EntryType::Regular, None, b"hi");
            entry(b, b"a/l", tar::EntryType::Symlink, Some("f"), b"");
        });
        let s = check(&gz[..], DEFAULT_MAX_EXPANDED, &|| false).unwrap();
        assert_eq!((s.files, s.dirs, s.links, s.bytes), (1, 1, 1, 2));
    }

    #[test]
    fn accepts_hard_links_to_earlier_files() {
        let gz = archive(|b| {
            entry(b, b"a/f", tar::EntryType::Regular, None, b"hi");
            entry(b, b"b/h", tar::EntryType::Link, Some("a/f"), b"");
            entry(b, b"h2", tar::EntryType::Link, Some("./b/h"), b"");
        });
        let s = check(&gz[..], DEFAULT_MAX_EXPANDED, &|| false).unwrap();
        assert_eq!((s.files, s.bytes), (3, 2));
    }

    #[test]
    fn refuses_hostile_entries() {
        use tar::EntryType::*;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                archive(|b| entry(b, b"/etc/x", Regular, None, b"x")),
                "absolute",
            ),
            (archive(|b| entry(b, b"../x", Regular, None, b"x")), ".."),
            (
                archive(|b| entry(b, b"a/../../x", Regular, None, b"x")),
                "..",
            ),
            (
                archive(|b| {
                    entry(b, b"l", Symlink, Some("sub"), b"");
                    entry(b, b"l/x", Regular, None, b"x");
                }),
                "symlink in the archive",
            ),
            (
                archive(|b| entry(b, b"l", Symlink, Some("/etc"), b"")),
                "pointing outside",
            ),
            (
                archive(|b| entry(b, b"l", Symlink, Some("../.."), b"")),
                "pointing outside",
            ),
            (
                archive(|b| entry(b, b"h", Link, Some("/etc/passwd"), b"")),
                "hard link",
            ),
            (
                archive(|b| entry(b, b"h", Link, Some("missing"), b"")),
                "not an earlier file",
            ),
            (
                archive(|b| {
                    entry(b, b"d/", Directory, None, b"");
                    entry(b, b"h", Link, Some("d"), b"");
                }),
                "not an earlier file",
            ),
            (
                archive(|b| {
                    entry(b, b"s", Symlink, Some("x"), b"");
                    entry(b, b"h", Link, Some("s"), b"");
                }),
                "not an earlier file",
            ),
            (
                archive(|b| {
                    entry(b, b"h", Link, Some("f"), b"");
                    entry(b, b"f", Regular, None, b"x");
                }),
                "not an earlier file",
            ),
            (
                archive(|b| entry(b, b"h", Link, Some("../f"), b"")),
                "pointing outside",
            ),
            (archive(|b| entry(b, b"d", Char, None, b"")), "device"),
            (archive(|b| entry(b, b"d", Block, None, b"")), "device"),
            (archive(|b| entry(b, b"p", Fifo, None, b"")), "FIFO"),
            (
                archive(|b| {
                    entry(b, b"f", Regular, None, b"1");
                    entry(b, b"f", Regular, None, b"2");
                }),
                "twice",
            ),
        ];
        for (gz, want) in cases {
            let msg = refused(&gz);
            assert!(msg.contains(want), "{msg} should mention {want}");
        }
        let big = archive(|b| entry(b, b"f", Regular, None, &[0u8; 4096]));
        let e = check(&big[..], 1000, &|| false).unwrap_err().to_string();
        assert!(e.contains("expands to more than"), "{e}");
        let long = "x".repeat(256);
        assert!(relative(Path::new(&long)).is_err());
    }
}

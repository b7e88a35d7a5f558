//! What an archive of `/data` holds, entry by entry, and the differences between two such
//! listings: "changes since" for versions kept as archives. Files are compared by content (a
//! SHA-256 of each, taken in the one pass that inflates the archive anyway), not by time: an
//! edit within the same second that keeps the size is still a change, and a file only touched
//! is not.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use berth_runtime::{FileChange, FileChangeKind};

/// One entry of an archive as "changes since" compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    pub is_dir: bool,
    pub size: u64,
    /// SHA-256 of a regular file's content.
    pub sha256: Option<[u8; 32]>,
    /// Link target, for links (a changed target is a change).
    pub link: Option<Vec<u8>>,
}

/// Relative path (no `./`, no trailing `/`) → entry. The root itself is left out.
pub(super) type Listing = BTreeMap<Vec<u8>, Listed>;

/// Lists a gzip'd tar. Names are the bot's: they are only compared and shown, never joined to a
/// host path.
pub(super) fn list<R: Read>(input: R) -> std::io::Result<Listing> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(input));
    let mut out = Listing::new();
    for entry in ar.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link()) {
            continue;
        }
        let rel = normalise(&entry.path_bytes());
        if rel.is_empty() {
            continue;
        }
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let sha256 = if kind.is_file() {
            let mut h = HashWriter(Sha256::new());
            io::copy(&mut entry, &mut h)?;
            Some(h.0.finalize().into())
        } else {
            None
        };
        let listed = Listed {
            is_dir: kind.is_dir(),
            size: if kind.is_file() { entry.size() } else { 0 },
            sha256,
            link,
        };
        out.insert(rel, listed);
    }
    Ok(out)
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn normalise(path: &[u8]) -> Vec<u8> {
    let mut p = path;
    while let Some(rest) = p.strip_prefix(b"./") {
        p = rest;
    }
    if p == b"." {
        p = b"";
    }
    p.strip_suffix(b"/").unwrap_or(p).to_vec()
}

/// What differs between the listing of a version (`then`) and of the current state (`now`):
/// added and deleted paths, files whose content changed and links whose target did. A folder
/// counts as changed only when it appears or disappears.
pub(super) fn diff(then: &Listing, now: &Listing, limit: usize) -> Vec<FileChange> {
    let mut out = Vec::new();
    let change = |path: &[u8], kind, l: &Listed| FileChange {
        path: format!("/data/{}", String::from_utf8_lossy(path)),
        kind,
        is_dir: l.is_dir,
        size: l.size,
    };
    for (path, n) in now {
        let kind = match then.get(path) {
            None => FileChangeKind::Added,
            Some(t) if t.is_dir != n.is_dir => FileChangeKind::Modified,
            Some(t) if !n.is_dir && t != n => FileChangeKind::Modified,
            Some(_) => continue,
        };
        out.push(change(path, kind, n));
        if out.len() >= limit {
            return out;
        }
    }
    for (path, t) in then.iter().filter(|(p, _)| !now.contains_key(*p)) {
        out.push(change(path, FileChangeKind::Deleted, t));
        if out.len() >= limit {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, Option<&[u8]>, u64)]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data, mtime) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(*mtime);
            h.set_mode(0o644);
            match data {
                Some(d) => {
                    h.set_size(d.len() as u64);
                    h.set_entry_type(tar::EntryType::Regular);
                    b.append_data(&mut h, name, *d).unwrap();
                }
                None => {
                    h.set_size(0);
                    h.set_entry_type(tar::EntryType::Directory);
                    b.append_data(&mut h, name, &[][..]).unwrap();
                }
            }
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn finds_added_modified_and_deleted_paths_by_content_not_time() {
        let then = list(
            &archive(&[
                ("./", None, 1),
                ("./keep/", None, 1),
                ("./keep/same", Some(b"aa"), 5),
                ("./keep/grown", Some(b"a"), 5),
                ("./keep/touched", Some(b"a"), 5),
                ("./keep/same-second", Some(b"one"), 5),
                ("./gone", Some(b"xyz"), 5),
            ])[..],
        )
        .unwrap();
        let now = list(
            &archive(&[
                ("./", None, 9),
                ("./keep/", None, 9),
                ("./keep/same", Some(b"aa"), 5),
                ("./keep/grown", Some(b"ab"), 5),
                ("./keep/touched", Some(b"a"), 6),
                ("./keep/same-second", Some(b"ONE"), 5),
                ("./new/", None, 9),
                ("./new/f", Some(b"1234"), 9),
            ])[..],
        )
        .unwrap();
        let got: Vec<(String, FileChangeKind, bool, u64)> = diff(&then, &now, 100)
            .into_iter()
            .map(|c| (c.path, c.kind, c.is_dir, c.size))
            .collect();
        use FileChangeKind::*;
        assert_eq!(
            got,
            [
                ("/data/keep/grown".into(), Modified, false, 2),
                ("/data/keep/same-second".into(), Modified, false, 3),
                ("/data/new".into(), Added, true, 0),
                ("/data/new/f".into(), Added, false, 4),
                ("/data/gone".into(), Deleted, false, 3),
            ]
        );
        assert_eq!(diff(&then, &now, 2).len(), 2, "cut at the limit");
        assert!(diff(&now, &now, 100).is_empty());
    }
}

//! Checks a whole .tar.gz on the host before anything in `/data` changes: every entry is read
//! once and put to the archive rules (`berth_bridge::targz::rules`), the same rules the
//! bridge's extractor applies while it stages the same stream, so both refuse the same archive
//! at the same entry, naming it. This pass also reads every file's data (a corrupt stream shows
//! up before anything changes) and gives the summary the import preview shows. An import
//! applies only when both accept the archive.

use std::io::{self, Read};
use std::path::PathBuf;

use berth_bridge::targz::rules::{Accepted, Declared, Entry, Kind};
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

impl Summary {
    fn count(&mut self, ok: &Accepted, size: u64) {
        self.entries += 1;
        match ok.kind {
            _ if ok.rel.as_os_str().is_empty() => return,
            Kind::Dir => {
                self.dirs += 1;
                return;
            }
            Kind::File => {
                self.files += 1;
                self.bytes = self.bytes.saturating_add(size);
            }
            Kind::HardLink => self.files += 1,
            _ => self.links += 1,
        }
        self.paths.push(ok.rel.clone());
    }
}

/// Reads the whole gzip'd tar from `input` and refuses it at the first hostile entry (an
/// `InvalidData` error carrying the [`berth_bridge::targz::rules::Refused`]). `cancelled` is
/// polled between entries.
pub fn check<R: Read>(
    input: R,
    max_expanded: u64,
    cancelled: &dyn Fn() -> bool,
) -> Result<Summary, io::Error> {
    let mut s = Summary::default();
    let mut rules = Declared::new(Some(max_expanded));
    let mut ar = tar::Archive::new(GzDecoder::new(input));
    for entry in ar.entries()? {
        if cancelled() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let mut entry = entry?;
        // Metadata entries (PAX, GNU long names) are consumed by the tar reader.
        let Some(e) = Entry::of_tar(&entry) else {
            continue;
        };
        let ok = rules.check(&e)?;
        if ok.kind == Kind::File {
            io::copy(&mut entry, &mut io::sink())?;
        }
        s.count(&ok, e.size);
        rules.declare(ok);
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

    #[test]
    fn accepts_a_plain_tree() {
        let gz = archive(|b| {
            entry(b, b"./", tar::EntryType::Directory, None, b"");
            entry(b, b"a/", tar::EntryType::Directory, None, b"");
            entry(b, b"a/f", tar::EntryType::Regular, None, b"hi");
            entry(b, b"a/l", tar::EntryType::Symlink, Some("f"), b"");
        });
        let s = check(&gz[..], DEFAULT_MAX_EXPANDED, &|| false).unwrap();
        assert_eq!(
            (s.entries, s.files, s.dirs, s.links, s.bytes),
            (4, 1, 1, 1, 2)
        );
        assert_eq!(s.paths, [PathBuf::from("a/f"), PathBuf::from("a/l")]);
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
    fn a_refusal_names_the_entry_and_carries_the_rule() {
        use berth_bridge::targz::rules::{refusal, Refusal};
        let gz = archive(|b| {
            entry(b, b"ok", tar::EntryType::Regular, None, b"x");
            entry(b, b"h", tar::EntryType::Link, Some("/etc/passwd"), b"");
        });
        let e = check(&gz[..], DEFAULT_MAX_EXPANDED, &|| false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(
            e.to_string()
                .contains("\"h\" is a hard link pointing outside"),
            "{e}"
        );
        let r = refusal(&e).expect("a typed refusal");
        assert_eq!(r.why, Refusal::HardLinkOutside("/etc/passwd".into()));
        let e = check(&gz[..], DEFAULT_MAX_EXPANDED, &|| true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
    }
}

//! A skill shipped as an archive (`.zip`, `.tar.gz`, `.tgz`): read on the host only to find and
//! check its `SKILL.md` before anything reaches the workspace. The bridge extracts it there
//! with its own checks for hostile archives; this scan writes nothing.

use std::io::Read;
use std::path::Path;

use super::format::{self, SkillMeta, MAX_SKILL_FILE, SKILL_FILE};
use crate::{Error, Result};

/// Entries a skill archive may hold before it is refused unread.
const MAX_ENTRIES: usize = 100_000;

/// Where the skill sits in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `SKILL.md` at the archive's root.
    Root,
    /// `<folder>/SKILL.md`, everything in that folder.
    Folder(String),
}

/// Whether `path` names an archive kind a skill may come in.
pub fn is_archive(path: &Path) -> bool {
    let n = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    n.ends_with(".zip") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

/// Finds the one `SKILL.md` at the root or in one top folder, and checks it.
pub fn scan(path: &Path) -> Result<(SkillMeta, Layout)> {
    let lower = path.to_string_lossy().to_lowercase();
    let found = if lower.ends_with(".zip") {
        scan_zip(path)
    } else {
        scan_targz(path)
    }
    .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
    let (entry, text) = found.ok_or_else(|| {
        Error::invalid(format!(
            "{} holds no {SKILL_FILE} at its root or in one top folder",
            path.display()
        ))
    })?;
    let layout = match entry.split_once('/') {
        None => Layout::Root,
        Some((folder, _)) => Layout::Folder(folder.to_string()),
    };
    let meta = match &layout {
        Layout::Root => format::parse_alone(&text),
        Layout::Folder(f) => format::parse(f, &text),
    }
    .map_err(|e| Error::invalid(format!("{} is not a valid skill: {e}", path.display())))?;
    Ok((meta, layout))
}

/// `SKILL.md` or `<folder>/SKILL.md` (a leading `./` ignored); anything deeper is another file.
fn skill_entry(name: &str) -> Option<String> {
    let name = name.trim_start_matches("./");
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [f] if *f == SKILL_FILE => Some(SKILL_FILE.to_string()),
        [d, f] if *f == SKILL_FILE && *d != ".." && *d != "." => Some(format!("{d}/{SKILL_FILE}")),
        _ => None,
    }
}

type Found = Option<(String, String)>;

fn keep(found: &mut Found, entry: String, mut r: impl Read) -> std::result::Result<(), String> {
    if let Some((first, _)) = found {
        return Err(format!(
            "it holds two skills ({first} and {entry}); add them one by one"
        ));
    }
    let mut buf = Vec::new();
    r.by_ref()
        .take(MAX_SKILL_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_SKILL_FILE {
        return Err(format!(
            "its {entry} is larger than {} KiB",
            MAX_SKILL_FILE >> 10
        ));
    }
    let text = String::from_utf8(buf).map_err(|_| format!("its {entry} is not UTF-8 text"))?;
    *found = Some((entry, text));
    Ok(())
}

fn scan_targz(path: &Path) -> std::result::Result<Found, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let mut found = None;
    for (i, e) in tar.entries().map_err(|e| e.to_string())?.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(format!("it holds more than {MAX_ENTRIES} entries"));
        }
        let e = e.map_err(|e| format!("not a readable .tar.gz: {e}"))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .into_owned();
        if let Some(entry) = skill_entry(&name) {
            keep(&mut found, entry, e)?;
        }
    }
    Ok(found)
}

fn scan_zip(path: &Path) -> std::result::Result<Found, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| format!("not a readable .zip: {e}"))?;
    if zip.len() > MAX_ENTRIES {
        return Err(format!("it holds more than {MAX_ENTRIES} entries"));
    }
    let mut found = None;
    for i in 0..zip.len() {
        let e = zip.by_index(i).map_err(|e| e.to_string())?;
        if !e.is_file() {
            continue;
        }
        if let Some(entry) = skill_entry(e.name()) {
            keep(&mut found, entry, e)?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const SKILL: &str = "---\nname: pdf\ndescription: PDFs.\n---\n";

    fn targz(dir: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let p = dir.join(name);
        let gz =
            flate2::write::GzEncoder::new(std::fs::File::create(&p).unwrap(), Default::default());
        let mut t = tar::Builder::new(gz);
        for (n, body) in files {
            // The name written raw: the tar crate refuses to write `..`, hostile archives do.
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..n.len()].copy_from_slice(n.as_bytes());
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            t.append(&h, body.as_bytes()).unwrap();
        }
        t.into_inner().unwrap().finish().unwrap();
        p
    }

    fn zipfile(dir: &Path, name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let p = dir.join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        for (n, body) in files {
            z.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(body.as_bytes()).unwrap();
        }
        z.finish().unwrap();
        p
    }

    #[test]
    fn a_folder_or_the_root() {
        let d = tempfile::tempdir().unwrap();
        let a = targz(
            d.path(),
            "a.tar.gz",
            &[("pdf/SKILL.md", SKILL), ("pdf/scripts/x.py", "")],
        );
        assert_eq!(scan(&a).unwrap().1, Layout::Folder("pdf".into()));
        let b = zipfile(
            d.path(),
            "b.zip",
            &[("SKILL.md", SKILL), ("references/r.md", "")],
        );
        let (m, l) = scan(&b).unwrap();
        assert_eq!((m.name.as_str(), l), ("pdf", Layout::Root));
        let c = targz(d.path(), "c.tgz", &[("./pdf/SKILL.md", SKILL)]);
        assert_eq!(scan(&c).unwrap().1, Layout::Folder("pdf".into()));
    }

    #[test]
    fn refused_archives_say_why() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            (
                targz(d.path(), "1.tar.gz", &[("x/README.md", "")]),
                "holds no SKILL.md",
            ),
            (
                targz(d.path(), "2.tar.gz", &[("a/b/SKILL.md", SKILL)]),
                "holds no SKILL.md",
            ),
            (
                zipfile(
                    d.path(),
                    "3.zip",
                    &[("pdf/SKILL.md", SKILL), ("other/SKILL.md", SKILL)],
                ),
                "two skills",
            ),
            (
                targz(d.path(), "4.tar.gz", &[("other/SKILL.md", SKILL)]),
                "differs from its folder",
            ),
            (
                targz(d.path(), "5.tar.gz", &[("../SKILL.md", SKILL)]),
                "holds no SKILL.md",
            ),
        ];
        for (p, want) in cases {
            let e = scan(&p).unwrap_err();
            assert!(e.message.contains(want), "{}: {}", p.display(), e.message);
        }
        let junk = d.path().join("junk.zip");
        std::fs::write(&junk, b"not a zip").unwrap();
        assert!(scan(&junk)
            .unwrap_err()
            .message
            .contains("not a readable .zip"));
        let junk = d.path().join("junk.tar.gz");
        std::fs::write(&junk, b"not gzip").unwrap();
        assert!(scan(&junk).unwrap_err().message.contains("junk.tar.gz"));
    }
}

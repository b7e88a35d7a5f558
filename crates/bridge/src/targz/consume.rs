//! The hostile-archive-safe tar.gz and zip consumer (the Files service's extract, the Data
//! issue's import). Synchronous over `Read`, so memory stays constant.
//!
//! Absolute names, `..`, writing through a symlink (one from the archive or one already on disk),
//! links pointing out of the destination and hard links are all refused with `InvalidData`. The
//! caller removes the destination when extraction fails.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::read::GzDecoder;

/// What an extraction created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
}

/// Where extracted entries go, with the safety rules shared by tar and zip.
pub struct SafeDest {
    root: PathBuf,
    /// Apply owners from the archive (only meaningful as root).
    pub preserve_owner: bool,
    pub counts: Counts,
}

fn hostile(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl SafeDest {
    /// `root` must exist and be a directory.
    pub fn new(root: &Path) -> Self {
        SafeDest {
            root: root.to_path_buf(),
            preserve_owner: false,
            counts: Counts::default(),
        }
    }

    /// The destination of an archive name: relative, no `..`, and every existing ancestor inside
    /// the root a real directory (never a symlink).
    pub fn resolve(&self, name: &Path) -> io::Result<PathBuf> {
        let mut rel = PathBuf::new();
        for c in name.components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::CurDir => {}
                Component::RootDir | Component::Prefix(_) => {
                    return Err(hostile(format!(
                        "archive entry {:?} has an absolute path",
                        name
                    )))
                }
                Component::ParentDir => {
                    return Err(hostile(format!(
                        "archive entry {:?} goes outside with '..'",
                        name
                    )))
                }
            }
        }
        if rel.as_os_str().is_empty() {
            return Ok(self.root.clone());
        }
        let mut at = self.root.clone();
        let comps: Vec<_> = rel.components().collect();
        for c in &comps[..comps.len() - 1] {
            at.push(c);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(hostile(format!(
                        "archive entry {:?} goes through a symlink",
                        name
                    )))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(hostile(format!(
                        "archive entry {:?} goes through a file",
                        name
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&at)?;
                    self.counts_dir_created();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.root.join(rel))
    }

    fn counts_dir_created(&self) {}

    /// Removes whatever non-directory sits at `p` (a previous entry of the same name).
    fn clear(p: &Path) -> io::Result<()> {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => Err(hostile(format!(
                "archive entry {:?} replaces a directory",
                p
            ))),
            Ok(_) => fs::remove_file(p),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub fn dir(&mut self, name: &Path, mode: Option<u32>) -> io::Result<()> {
        let p = self.resolve(name)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(hostile(format!(
                    "archive entry {:?} replaces a file with a directory",
                    name
                )))
            }
            Err(_) => {
                fs::create_dir(&p)?;
                self.counts.dirs += 1;
            }
        }
        if let Some(mode) = mode {
            fs::set_permissions(&p, fs::Permissions::from_mode((mode & 0o777) | 0o700))?;
        }
        Ok(())
    }

    pub fn file(
        &mut self,
        name: &Path,
        data: &mut dyn Read,
        mode: Option<u32>,
        mtime: Option<u64>,
        owner: Option<(u32, u32)>,
    ) -> io::Result<()> {
        let p = self.resolve(name)?;
        Self::clear(&p)?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode.map(|m| m & 0o777).unwrap_or(0o644))
            .open(&p)?;
        io::copy(data, &mut f)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
        }
        if let Some(t) = mtime {
            let _ = f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
        }
        if let (true, Some((u, g))) = (self.preserve_owner, owner) {
            let _ = std::os::unix::fs::lchown(&p, Some(u), Some(g));
        }
        self.counts.files += 1;
        Ok(())
    }

    /// A symlink whose target is relative and stays inside the destination.
    pub fn symlink(&mut self, name: &Path, target: &Path) -> io::Result<()> {
        let p = self.resolve(name)?;
        if target.is_absolute() {
            return Err(hostile(format!(
                "archive link {:?} points to an absolute path {:?}",
                name, target
            )));
        }
        let rel = p
            .strip_prefix(&self.root)
            .map_err(|_| hostile("link outside"))?;
        let mut depth: i64 = rel.components().count() as i64 - 1;
        for c in target.components() {
            match c {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(hostile(format!(
                    "archive link {:?} points outside with {:?}",
                    name, target
                )));
            }
        }
        Self::clear(&p)?;
        std::os::unix::fs::symlink(target, &p)?;
        self.counts.links += 1;
        Ok(())
    }
}

/// Extracts a gzip'd tar from `input` into the existing directory `dest`.
pub fn extract_targz<R: Read>(input: R, dest: &Path, preserve_owner: bool) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest);
    sink.preserve_owner = preserve_owner;
    let mut ar = tar::Archive::new(GzDecoder::new(input));
    for entry in ar.entries()? {
        let mut entry = entry?;
        let name = PathBuf::from(OsString::from_vec(entry.path_bytes().into_owned()));
        let h = entry.header();
        let mode = h.mode().ok();
        let mtime = h.mtime().ok();
        let owner = match (h.uid(), h.gid()) {
            (Ok(u), Ok(g)) => Some((u as u32, g as u32)),
            _ => None,
        };
        let kind = h.entry_type();
        if kind.is_dir() {
            sink.dir(&name, mode)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            sink.file(&name, &mut entry, mode, mtime, owner)?;
        } else if kind.is_symlink() {
            let target = entry
                .link_name_bytes()
                .map(|b| PathBuf::from(OsString::from_vec(b.into_owned())))
                .ok_or_else(|| hostile("symlink without a target"))?;
            sink.symlink(&name, &target)?;
        } else if kind.is_hard_link() {
            return Err(hostile(format!(
                "archive entry {:?} is a hard link (not supported)",
                name
            )));
        } else if kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink()
        {
            // handled by the tar reader
        } else {
            // devices, fifos: skipped
        }
    }
    Ok(sink.counts)
}

/// Extracts a zip file into the existing directory `dest`.
pub fn extract_zip(file: File, dest: &Path) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest);
    let mut ar =
        zip::ZipArchive::new(file).map_err(|e| hostile(format!("not a valid zip: {e}")))?;
    for i in 0..ar.len() {
        let mut f = ar
            .by_index(i)
            .map_err(|e| hostile(format!("zip entry {i}: {e}")))?;
        let raw = PathBuf::from(std::ffi::OsStr::from_bytes(f.name_raw()).to_os_string());
        let mode = f.unix_mode();
        if f.is_dir() {
            sink.dir(&raw, mode)?;
        } else if f.is_symlink() {
            let mut target = Vec::new();
            f.read_to_end(&mut target)?;
            sink.symlink(&raw, &PathBuf::from(OsString::from_vec(target)))?;
        } else {
            sink.file(&raw, &mut f, mode, None, None)?;
        }
    }
    Ok(sink.counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targz::write_targz;

    #[test]
    fn round_trip_and_hostile_entries() {
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

        let d = tempfile::tempdir().unwrap();
        let s = SafeDest::new(d.path());
        assert!(s.resolve(Path::new("../x")).is_err());
        assert!(s.resolve(Path::new("/etc/x")).is_err());
        let mut s = SafeDest::new(d.path());
        assert!(s.symlink(Path::new("l"), Path::new("/tmp")).is_err());
        assert!(s.symlink(Path::new("l"), Path::new("../..")).is_err());
        s.symlink(Path::new("l"), Path::new("sub")).unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        assert!(s
            .file(Path::new("l/x"), &mut &b"x"[..], None, None, None)
            .is_err());
        assert!(!d.path().join("sub/x").exists());
    }
}

//! The hostile-archive-safe tar.gz and zip consumer (the Files service's extract, the Data
//! issue's import). Synchronous over `Read`, so memory stays constant.
//!
//! Absolute names, `..`, writing through a symlink (one from the archive or one already on disk),
//! links pointing out of the destination, hard links to anything but an earlier regular file
//! of the same archive, devices, FIFOs and other special entries are all refused with
//! `InvalidData` naming the entry. So is an archive whose files add up to more than the limit.
//! The caller removes the destination when extraction fails. The host's validation
//! (`berth-core` `data/validate.rs`) applies the same rules before an import.

use std::collections::HashSet;
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

/// A directory's metadata from the archive, applied after all entries: creating children
/// changes a directory's mtime, and a read-only mode would stop them being created.
struct DirMeta {
    path: PathBuf,
    mode: Option<u32>,
    mtime: Option<u64>,
}

/// Where extracted entries go, with the safety rules shared by tar and zip.
pub struct SafeDest {
    root: PathBuf,
    /// Apply owners from the archive (only meaningful as root).
    pub preserve_owner: bool,
    /// Refuse the archive once its files add up to more bytes than this (0: no limit).
    pub max_bytes: u64,
    pub counts: Counts,
    bytes: u64,
    dirs: Vec<DirMeta>,
    /// Regular files created so far (relative): the only valid hard-link targets.
    files: HashSet<PathBuf>,
}

fn hostile(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn os_path(b: std::borrow::Cow<[u8]>) -> PathBuf {
    PathBuf::from(OsString::from_vec(b.into_owned()))
}

/// The archive-relative form of `name`: no absolute path, no `..` (`.` components dropped).
fn relative(name: &Path) -> io::Result<PathBuf> {
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
    Ok(rel)
}

impl SafeDest {
    /// `root` must exist and be a directory.
    pub fn new(root: &Path) -> Self {
        SafeDest {
            root: root.to_path_buf(),
            preserve_owner: false,
            max_bytes: 0,
            counts: Counts::default(),
            bytes: 0,
            dirs: Vec::new(),
            files: HashSet::new(),
        }
    }

    /// The destination of an archive name: relative, no `..`, and every existing ancestor inside
    /// the root a real directory (never a symlink); missing ancestors are created.
    pub fn resolve(&self, name: &Path) -> io::Result<PathBuf> {
        let rel = relative(name)?;
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
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)?,
                Err(e) => return Err(e),
            }
        }
        Ok(self.root.join(rel))
    }

    /// Removes whatever non-directory sits at `p` (a previous entry of the same name), which
    /// then no longer counts as a hard-link target.
    fn clear(&mut self, p: &Path) -> io::Result<()> {
        if let Ok(rel) = p.strip_prefix(&self.root) {
            self.files.remove(rel);
        }
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

    /// Counts a file's size against the limit before any of it is written.
    fn charge(&mut self, name: &Path, size: u64) -> io::Result<()> {
        self.bytes = self.bytes.saturating_add(size);
        if self.max_bytes > 0 && self.bytes > self.max_bytes {
            return Err(hostile(format!(
                "the archive expands to more than {} bytes (at entry {:?}); raise the limit to import it",
                self.max_bytes, name
            )));
        }
        Ok(())
    }

    pub fn dir(&mut self, name: &Path, mode: Option<u32>, mtime: Option<u64>) -> io::Result<()> {
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
            // Owner-writable until `finish`, so the entries inside can be created.
            fs::set_permissions(&p, fs::Permissions::from_mode((mode & 0o777) | 0o700))?;
        }
        self.dirs.push(DirMeta {
            path: p,
            mode,
            mtime,
        });
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
        self.clear(&p)?;
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
        self.files.insert(relative(name)?);
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
        self.clear(&p)?;
        std::os::unix::fs::symlink(target, &p)?;
        self.counts.links += 1;
        Ok(())
    }

    /// A hard link to an earlier regular file of the same archive (`target` is relative to the
    /// archive root, as tar stores it), made with link(2) inside the destination.
    pub fn hardlink(&mut self, name: &Path, target: &Path) -> io::Result<()> {
        let refuse = |why: &str| hostile(format!("archive entry {:?} is a hard link {why}", name));
        let to =
            relative(target).map_err(|_| refuse(&format!("pointing outside ({:?})", target)))?;
        if !self.files.contains(&to) {
            return Err(refuse(&format!(
                "to {:?}, which is not an earlier file of the archive",
                target
            )));
        }
        let p = self.resolve(name)?;
        if p == self.root.join(&to) {
            return Err(refuse("to itself"));
        }
        let src = self.resolve(&to)?;
        if !fs::symlink_metadata(&src)?.is_file() {
            return Err(refuse(&format!("to {:?}, which is not a file", target)));
        }
        self.clear(&p)?;
        fs::hard_link(&src, &p)?;
        self.counts.files += 1;
        self.files.insert(relative(name)?);
        Ok(())
    }

    /// Applies the directories' modes and mtimes, deepest first (setting a parent's after its
    /// children's, since changing a child's metadata does not touch the parent but creating it
    /// did). Returns what was created.
    pub fn finish(mut self) -> io::Result<Counts> {
        self.dirs
            .sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
        for d in &self.dirs {
            // O_NOFOLLOW | O_DIRECTORY: only the directory the archive made, never a link.
            let f = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_DIRECTORY)
                .open(&d.path)?;
            if let Some(mode) = d.mode {
                f.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
            }
            if let Some(t) = d.mtime {
                f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t))?;
            }
        }
        Ok(self.counts)
    }

    /// Extracts a gzip'd tar from `input` (the entries only: call [`Self::finish`] after).
    pub fn extract_targz<R: Read>(&mut self, input: R) -> io::Result<()> {
        self.extract_tar(GzDecoder::new(input))
    }

    /// Extracts an uncompressed tar stream, for callers that inflate on another thread (the
    /// entries only: call [`Self::finish`] after).
    pub fn extract_tar<R: Read>(&mut self, input: R) -> io::Result<()> {
        let mut ar = tar::Archive::new(input);
        for entry in ar.entries()? {
            let mut entry = entry?;
            let name = os_path(entry.path_bytes());
            let h = entry.header();
            let (mode, mtime, kind) = (h.mode().ok(), h.mtime().ok(), h.entry_type());
            let owner = match (h.uid(), h.gid()) {
                (Ok(u), Ok(g)) => Some((u as u32, g as u32)),
                _ => None,
            };
            if kind.is_dir() {
                self.dir(&name, mode, mtime)?;
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                self.charge(&name, entry.size())?;
                self.file(&name, &mut entry, mode, mtime, owner)?;
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(os_path)
                    .ok_or_else(|| hostile(format!("archive link {:?} has no target", name)))?;
                if kind.is_symlink() {
                    self.symlink(&name, &target)?;
                } else {
                    self.hardlink(&name, &target)?;
                }
            } else if kind.is_pax_global_extensions()
                || kind.is_pax_local_extensions()
                || kind.is_gnu_longname()
                || kind.is_gnu_longlink()
            {
                // consumed by the tar reader
            } else {
                return Err(hostile(format!(
                    "archive entry {:?} {}",
                    name,
                    special(kind)
                )));
            }
        }
        Ok(())
    }
}

/// Why a special entry is refused (never skipped silently: an import would lose it unnoticed).
fn special(kind: tar::EntryType) -> String {
    if kind.is_character_special() || kind.is_block_special() {
        "is a device".into()
    } else if kind.is_fifo() {
        "is a FIFO".into()
    } else {
        format!("has an unsupported type {:?}", kind)
    }
}

/// Extracts a gzip'd tar from `input` into the existing directory `dest`.
pub fn extract_targz<R: Read>(input: R, dest: &Path, preserve_owner: bool) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest);
    sink.preserve_owner = preserve_owner;
    sink.extract_targz(input)?;
    sink.finish()
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
            sink.dir(&raw, mode, None)?;
        } else if f.is_symlink() {
            let mut target = Vec::new();
            f.read_to_end(&mut target)?;
            sink.symlink(&raw, &PathBuf::from(OsString::from_vec(target)))?;
        } else {
            sink.file(&raw, &mut f, mode, None, None)?;
        }
    }
    sink.finish()
}

#[cfg(test)]
mod tests;

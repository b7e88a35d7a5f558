//! The hostile-archive-safe tar.gz and zip consumer (the Files service's extract, the Data
//! issue's import, the host's folder downloads). Synchronous over `Read`, so memory stays
//! constant.
//!
//! Every entry first passes the archive rules (`rules.rs`, which the host's import validation
//! applies too): a refused entry stops the extraction with `InvalidData` naming it. Writing then
//! keeps its own on-disk safety: ancestors must be real directories (never a symlink, also one
//! that was there before), files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, nothing that
//! exists is overwritten. The caller removes the destination when extraction fails. With
//! [`SafeDest::with_writers`], threads of their own create the small files (`writers.rs`).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use flate2::read::GzDecoder;

use super::rules::{Accepted, Declared, Entry, Kind};
use writers::{Job, Writers, SMALL_FILE};

mod writers;

/// What an extraction created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
}

/// An entry's metadata from the archive.
#[derive(Debug, Default, Clone, Copy)]
pub struct Meta {
    pub mode: Option<u32>,
    pub mtime: Option<u64>,
    pub owner: Option<(u32, u32)>,
}

impl Meta {
    fn of_tar(h: &tar::Header) -> Meta {
        Meta {
            mode: h.mode().ok(),
            mtime: h.mtime().ok(),
            owner: match (h.uid(), h.gid()) {
                (Ok(u), Ok(g)) => Some((u as u32, g as u32)),
                _ => None,
            },
        }
    }
}

/// This process's umask, read once (`/proc/self/status`: reading it with umask(2) would change
/// it for a moment under the other threads). `None` when unknown: modes are then always set.
/// The bridge never changes its umask.
fn umask() -> Option<u32> {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    })
}

/// A directory's metadata from the archive, applied after all entries: creating children
/// changes a directory's mtime, and a read-only mode would stop them being created.
struct DirMeta {
    path: PathBuf,
    mode: Option<u32>,
    mtime: Option<u64>,
}

/// Where extracted entries go: the archive rules, then the on-disk writes.
pub struct SafeDest {
    root: PathBuf,
    /// Apply owners from the archive (only meaningful as root).
    pub preserve_owner: bool,
    pub counts: Counts,
    dirs: Vec<DirMeta>,
    /// Directories under the root this extraction made or found to be real directories: an
    /// entry's ancestors are checked once, not once per entry (20,000 files in 200 folders:
    /// 200 checks instead of 40,000). Whatever could turn one into a link later could as well
    /// between a check and the create that follows it.
    real_dirs: HashSet<PathBuf>,
    rules: Declared,
    /// Threads that write the small files (see `writers.rs`); `None`: this thread writes all.
    writers: Option<Writers>,
}

fn hostile(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl SafeDest {
    /// `root` must exist and be a directory.
    pub fn new(root: &Path) -> Self {
        Self::limited(root, 0)
    }

    /// Refuses the archive once its files add up to more than `max_bytes` (0: no limit),
    /// before the file that goes over is written.
    pub fn limited(root: &Path, max_bytes: u64) -> Self {
        SafeDest {
            root: root.to_path_buf(),
            preserve_owner: false,
            counts: Counts::default(),
            dirs: Vec::new(),
            real_dirs: HashSet::new(),
            rules: Declared::new(Some(max_bytes).filter(|&m| m > 0)),
            writers: None,
        }
    }

    /// Small files are written by `n` threads of their own while this one reads on (none: this
    /// thread writes every file).
    pub fn with_writers(mut self, n: usize) -> io::Result<Self> {
        self.writers = match n {
            0 => None,
            n => Some(Writers::start(n)?),
        };
        Ok(self)
    }

    /// Waits for the writers (if any) to finish what is queued; later files are written by
    /// this thread. The first writer's error comes back here.
    fn stop_writers(&mut self) -> io::Result<()> {
        match self.writers.take() {
            Some(mut w) => w.stop(),
            None => Ok(()),
        }
    }

    /// Extracts one entry (`data`: a file's contents) if the rules accept it.
    pub fn add(&mut self, e: &Entry, data: &mut dyn Read, meta: Meta) -> io::Result<()> {
        let ok = self.rules.check(e)?;
        match (ok.kind, ok.link()) {
            (Kind::Dir, _) => self.dir(&ok, meta)?,
            (Kind::File, _) => self.file(&ok, data, meta)?,
            (Kind::Symlink, Some(target)) => self.symlink(&ok, target)?,
            (Kind::HardLink, Some(target)) => self.hardlink(&ok, target)?,
            (kind, _) => {
                return Err(io::Error::other(format!(
                    "the archive rules let a {kind:?} entry through"
                )))
            }
        }
        self.rules.declare(ok);
        Ok(())
    }

    /// The destination of an accepted entry. Every existing ancestor inside the root must be a
    /// real directory (never a symlink); missing ancestors are created.
    fn place(&mut self, rel: &Path) -> io::Result<PathBuf> {
        if rel.as_os_str().is_empty() {
            return Ok(self.root.clone());
        }
        let mut at = self.root.clone();
        let mut comps = rel.components();
        comps.next_back();
        for c in comps {
            at.push(c);
            if self.real_dirs.contains(&at) {
                continue;
            }
            match fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(hostile(format!(
                        "archive entry {rel:?} goes through a symlink"
                    )))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(hostile(format!(
                        "archive entry {rel:?} goes through a file"
                    )))
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)?,
                Err(e) => return Err(e),
            }
            self.real_dirs.insert(at.clone());
        }
        Ok(self.root.join(rel))
    }

    fn dir(&mut self, ok: &Accepted, meta: Meta) -> io::Result<()> {
        let p = self.place(&ok.rel)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(hostile(format!(
                    "archive entry {:?} replaces a file with a directory",
                    ok.rel
                )))
            }
            Err(_) => {
                fs::create_dir(&p)?;
                self.counts.dirs += 1;
            }
        }
        self.real_dirs.insert(p.clone());
        if let Some(mode) = meta.mode {
            // Owner-writable until `finish`, so the entries inside can be created.
            fs::set_permissions(&p, fs::Permissions::from_mode((mode & 0o777) | 0o700))?;
        }
        self.dirs.push(DirMeta {
            path: p,
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    /// A new file, by a writer thread when it is small and there are writers.
    fn file(&mut self, ok: &Accepted, data: &mut dyn Read, meta: Meta) -> io::Result<()> {
        let path = self.place(&ok.rel)?;
        let preserve_owner = self.preserve_owner;
        match &mut self.writers {
            Some(w) if ok.size() <= SMALL_FILE => {
                let mut buf = Vec::with_capacity(ok.size() as usize);
                data.read_to_end(&mut buf)?;
                w.send(Job {
                    path,
                    data: buf,
                    meta,
                    preserve_owner,
                })?
            }
            _ => write_file(&path, data, meta, preserve_owner)?,
        }
        self.counts.files += 1;
        Ok(())
    }

    fn symlink(&mut self, ok: &Accepted, target: &Path) -> io::Result<()> {
        let p = self.place(&ok.rel)?;
        std::os::unix::fs::symlink(target, &p)?;
        self.counts.links += 1;
        Ok(())
    }

    /// A hard link to an earlier regular file of the same archive (`target` relative to the
    /// root), made with link(2), which does not follow a symlink at `target`.
    fn hardlink(&mut self, ok: &Accepted, target: &Path) -> io::Result<()> {
        self.stop_writers()?; // the target may still be queued
        let p = self.place(&ok.rel)?;
        let src = self.place(target)?;
        if !fs::symlink_metadata(&src)?.is_file() {
            return Err(hostile(format!(
                "archive entry {:?} is a hard link to {target:?}, which is not a file",
                ok.rel
            )));
        }
        fs::hard_link(&src, &p)?;
        self.counts.files += 1;
        Ok(())
    }

    /// Applies the directories' modes and mtimes, deepest first (setting a parent's after its
    /// children's, since changing a child's metadata does not touch the parent but creating it
    /// did). Returns what was created.
    pub fn finish(mut self) -> io::Result<Counts> {
        self.stop_writers()?;
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
            // Metadata entries (PAX, GNU long names) are consumed by the tar reader.
            if let Some(e) = Entry::of_tar(&entry) {
                let meta = Meta::of_tar(entry.header());
                self.add(&e, &mut entry, meta)?;
            }
        }
        Ok(())
    }
}

/// Creates a new file at `path` with `data`: `O_EXCL | O_NOFOLLOW`, so nothing that exists is
/// written through or over.
fn write_file(
    path: &Path,
    data: &mut dyn Read,
    meta: Meta,
    preserve_owner: bool,
) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(meta.mode.map(|m| m & 0o777).unwrap_or(0o644))
        .open(path)?;
    io::copy(data, &mut f)?;
    // open(2) applied the mode through the umask: fchmod only when the umask took bits.
    if let Some(mode) = meta
        .mode
        .filter(|m| umask().is_none_or(|u| m & 0o777 & u != 0))
    {
        f.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
    }
    if let Some(t) = meta.mtime {
        let _ = f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t));
    }
    if let (true, Some((u, g))) = (preserve_owner, meta.owner) {
        let _ = std::os::unix::fs::lchown(path, Some(u), Some(g));
    }
    Ok(())
}

/// Extracts a gzip'd tar from `input` into the existing directory `dest`.
pub fn extract_targz<R: Read>(input: R, dest: &Path, preserve_owner: bool) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest);
    sink.preserve_owner = preserve_owner;
    sink.extract_targz(input)?;
    sink.finish()
}

/// Extracts the contents of the one top-level directory `top` of a gzip'd tar into the
/// existing, empty directory `dest` (a folder download: the archive holds the folder under its
/// name). `top` must be a real directory entry and every other entry must be under it; the
/// rules then see the stripped names, so `dest` is the root nothing may point above (a link
/// `top/k -> ..` is refused, not moved into place pointing next to `dest`).
pub fn extract_targz_under<R: Read>(input: R, dest: &Path, top: &[u8]) -> io::Result<Counts> {
    let mut sink = SafeDest::new(dest);
    let mut ar = tar::Archive::new(GzDecoder::new(input));
    let mut seen_top = false;
    for entry in ar.entries()? {
        let mut entry = entry?;
        let Some(mut e) = Entry::of_tar(&entry) else {
            continue;
        };
        let name = e.name.strip_suffix(b"/").unwrap_or(&e.name);
        if name == top {
            if e.kind != Kind::Dir || seen_top {
                return Err(hostile(format!(
                    "archive entry {:?} is not the folder's one directory",
                    String::from_utf8_lossy(&e.name)
                )));
            }
            seen_top = true;
            continue;
        }
        e.name = under(&e.name, top)?;
        if e.kind == Kind::HardLink {
            e.link = Some(under(e.link.as_deref().unwrap_or_default(), top)?);
        }
        let meta = Meta::of_tar(entry.header());
        sink.add(&e, &mut entry, meta)?;
    }
    if !seen_top {
        return Err(hostile(format!(
            "the archive has no folder {:?}",
            String::from_utf8_lossy(top)
        )));
    }
    sink.finish()
}

/// `name` without its leading `top/`; refused when it is not under `top`.
fn under(name: &[u8], top: &[u8]) -> io::Result<Vec<u8>> {
    name.strip_prefix(top)
        .and_then(|rest| rest.strip_prefix(b"/"))
        .filter(|rest| !rest.is_empty())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            hostile(format!(
                "archive entry {:?} is outside the folder {:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(top)
            ))
        })
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
        let mut e = Entry {
            kind: Kind::File,
            name: f.name_raw().to_vec(),
            link: None,
            size: f.size(),
        };
        if f.is_dir() {
            e.kind = Kind::Dir;
        } else if f.is_symlink() {
            // A zip stores a symlink's target as its data.
            let mut target = Vec::new();
            f.read_to_end(&mut target)?;
            (e.kind, e.link, e.size) = (Kind::Symlink, Some(target), 0);
        }
        let meta = Meta {
            mode: f.unix_mode(),
            ..Meta::default()
        };
        sink.add(&e, &mut f, meta)?;
    }
    sink.finish()
}

#[cfg(test)]
mod tests;

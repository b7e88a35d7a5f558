//! The tar.gz producer: a gzip'd tar of several paths, each under its own name (the Files
//! service's archive, the Data issue's export of `/data`). Synchronous over `Write`, so callers
//! stream it through a bounded channel from a blocking thread and memory stays constant.
//!
//! Every regular file is opened first and its header carries the size of the OPEN descriptor
//! (`fstat`), and exactly that many bytes follow: a file that grows meanwhile is cut at that
//! size, one that shrinks is padded with zeros (and counted). Taking the size from the directory
//! walk instead is the overlayfs "write too long" bug (copy-up and concurrent writers make the
//! two disagree). Symlinks are stored as links and never followed. FIFOs, sockets and devices
//! are never opened (a FIFO would block the archive forever) and are counted as skipped.
//! Hard links are stored as separate regular files: the archive stays simple to validate and
//! import, at the cost of storing shared content twice.

mod walk;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use tar::{EntryType, Header};

/// What an archive holds and what it left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// FIFOs, sockets and devices: left out.
    pub skipped: u64,
    /// Files that shrank while being read: the rest of their header size is zeros.
    pub padded: u64,
    /// Bytes of file content written (padding included).
    pub source_bytes: u64,
}

/// Names for `sources` inside one archive: de-duplicated, children of an included parent dropped,
/// base names made unique (`a`, `a (2)`, …).
pub fn plan(sources: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut uniq: Vec<PathBuf> = Vec::new();
    for s in sources {
        if !uniq.contains(s) {
            uniq.push(s.clone());
        }
    }
    let kept: Vec<PathBuf> = uniq
        .iter()
        .filter(|p| !uniq.iter().any(|q| q != *p && p.starts_with(q)))
        .cloned()
        .collect();
    let mut used = HashSet::new();
    let mut out = Vec::new();
    for p in kept {
        let base: OsString = p
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "root".into());
        let mut name = base.clone();
        let mut i = 2;
        while !used.insert(name.clone()) {
            let mut n = base.clone();
            n.push(format!(" ({i})"));
            name = n;
            i += 1;
        }
        out.push((p, PathBuf::from(name)));
    }
    out
}

/// Bytes of the regular files under `items` (by `lstat`, a quick walk without reading): the
/// total for a progress bar. Unreadable parts count as nothing; it is an estimate.
pub fn source_total(items: &[(PathBuf, PathBuf)]) -> u64 {
    let mut total = 0u64;
    let _ = walk::walk(items, &mut |_, _, meta| {
        if meta.is_file() {
            total += meta.len();
        }
        Ok(())
    });
    total
}

/// Writes a gzip'd tar of `(source, name in archive)` pairs into `out`.
pub fn write_targz<W: Write>(out: W, items: &[(PathBuf, PathBuf)], level: u32) -> io::Result<W> {
    write_targz_counted(out, items, level, &mut |_| {}).map(|(w, _)| w)
}

/// [`write_targz`], calling `progress` with the file bytes written so far (after every read)
/// and returning what the archive holds.
pub fn write_targz_counted<W: Write>(
    out: W,
    items: &[(PathBuf, PathBuf)],
    level: u32,
    progress: &mut dyn FnMut(u64),
) -> io::Result<(W, Summary)> {
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::new(level)));
    let mut p = Producer {
        tar: &mut tar,
        summary: Summary::default(),
        progress,
    };
    walk::walk(items, &mut |src, name, meta| p.add(src, name, meta))?;
    let summary = p.summary;
    let gz = tar.into_inner()?;
    Ok((gz.finish()?, summary))
}

/// Appends entries to the tar, counting them.
struct Producer<'a, W: Write> {
    tar: &'a mut tar::Builder<W>,
    summary: Summary,
    progress: &'a mut dyn FnMut(u64),
}

impl<W: Write> Producer<'_, W> {
    /// One entry, by the `lstat` of the walk.
    fn add(&mut self, src: &Path, name: &Path, meta: &Metadata) -> io::Result<()> {
        let kind = meta.file_type();
        let r = if kind.is_dir() {
            self.add_dir(name, meta)
        } else if kind.is_symlink() {
            self.add_symlink(src, name)
        } else if kind.is_file() {
            self.add_file(src, name)
        } else {
            self.summary.skipped += 1;
            Ok(())
        };
        r.map_err(|e| with_path(e, src))
    }

    fn add_dir(&mut self, name: &Path, meta: &Metadata) -> io::Result<()> {
        let mut h = header(meta, EntryType::Directory, 0);
        self.tar.append_data(&mut h, name, io::empty())?;
        self.summary.dirs += 1;
        Ok(())
    }

    fn add_symlink(&mut self, src: &Path, name: &Path) -> io::Result<()> {
        // The link's own metadata: the walk's lstat may be older than the readlink.
        let read = fs::symlink_metadata(src).and_then(|m| Ok((m, fs::read_link(src)?)));
        let (meta, target) = match read {
            Ok(v) => v,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // deleted meanwhile
            Err(e) => return Err(e),
        };
        let mut h = header(&meta, EntryType::Symlink, 0);
        self.tar.append_link(&mut h, name, target)?;
        self.summary.links += 1;
        Ok(())
    }

    fn add_file(&mut self, src: &Path, name: &Path) -> io::Result<()> {
        let file = match open_nofollow(src) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // deleted meanwhile
            // Replaced by a symlink since the walk's lstat.
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return self.add_symlink(src, name),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            // Replaced by a FIFO, device or directory since the walk's lstat.
            self.summary.skipped += 1;
            return Ok(());
        }
        let size = meta.len();
        let mut h = header(&meta, EntryType::Regular, size);
        let mut body = Exact {
            file,
            left: size,
            padded: false,
            done: &mut self.summary.source_bytes,
            progress: &mut *self.progress,
        };
        self.tar.append_data(&mut h, name, &mut body)?;
        if body.padded {
            self.summary.padded += 1;
        }
        self.summary.files += 1;
        Ok(())
    }
}

/// Opens a regular file for reading without following a symlink, and without blocking should it
/// have become a FIFO since it was listed (`O_NONBLOCK` changes nothing for regular files).
fn open_nofollow(p: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(p)
}

/// A GNU header with `meta`'s permissions, owner and mtime (seconds; before 1970 stored as 0).
fn header(meta: &Metadata, kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(meta.uid().into());
    h.set_gid(meta.gid().into());
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

/// `e` naming the entry it happened at (same kind, so a consumer that went away stays
/// recognisable as `BrokenPipe`).
fn with_path(e: io::Error, p: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// A file's content cut or zero-padded to exactly the size its header announced.
struct Exact<'a> {
    file: File,
    left: u64,
    padded: bool,
    /// File bytes of the whole archive so far.
    done: &'a mut u64,
    progress: &'a mut dyn FnMut(u64),
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..want];
        let n = if self.padded { 0 } else { self.file.read(buf)? };
        let n = if n == 0 {
            // Shrunk since the fstat: zeros keep the archive's framing intact.
            self.padded = true;
            buf.fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        *self.done += n as u64;
        (self.progress)(*self.done);
        Ok(n)
    }
}

#[cfg(test)]
mod tests;

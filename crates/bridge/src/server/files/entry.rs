//! Turning file metadata into protocol entries.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use berth_bridge::proto::{FileEntry, FileKind};
use tonic::Status;

use super::path::{bytes, io_status};

pub fn kind_of(m: &Metadata) -> FileKind {
    let t = m.file_type();
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_file() {
        FileKind::File
    } else {
        FileKind::Other // fifo, socket, device
    }
}

/// The entry for `p` from its lstat metadata; symlinks get their target and its kind.
pub fn from_meta(p: &Path, m: &Metadata) -> FileEntry {
    let kind = kind_of(m);
    let (link_target, target_kind) = if kind == FileKind::Symlink {
        let target = std::fs::read_link(p).map(|t| bytes(&t)).unwrap_or_default();
        let tk = std::fs::metadata(p)
            .map(|m| kind_of(&m))
            .unwrap_or(FileKind::Unspecified);
        (target, tk)
    } else {
        (Vec::new(), FileKind::Unspecified)
    };
    let name = p
        .file_name()
        .map(|n| bytes(Path::new(n)))
        .unwrap_or_else(|| b"/".to_vec());
    FileEntry {
        path: bytes(p),
        name,
        kind: kind as i32,
        size: m.len(),
        mode: m.mode() & 0o7777,
        mtime_ms: m.mtime() * 1000 + m.mtime_nsec() / 1_000_000,
        link_target,
        target_kind: target_kind as i32,
        uid: m.uid(),
        gid: m.gid(),
    }
}

pub fn lstat(p: &Path) -> Result<FileEntry, Status> {
    let m = std::fs::symlink_metadata(p).map_err(|e| io_status("cannot stat", p, e))?;
    Ok(from_meta(p, &m))
}

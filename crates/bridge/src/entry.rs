//! File entries as the host accepts them from a bridge. The bridge is the bot's: every name,
//! path and link target in a reply is checked here before a caller sees it, so nothing that
//! could step out of a directory once joined to a host path (`/`, `..`, `.`, an empty name,
//! NUL) reaches the host's code. A reply that fails a check is refused as a whole.

use crate::error::BridgeError;
use crate::proto;

/// Longest name the host accepts (Linux's NAME_MAX).
pub const MAX_NAME: usize = 255;
/// Longest path or link target the host accepts (Linux's PATH_MAX).
pub const MAX_PATH: usize = 4096;

/// What a path is (of the path itself: a symlink is `Symlink`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    /// fifo, socket, device
    Other,
}

impl FileKind {
    fn from_i32(k: i32) -> Option<Self> {
        match proto::FileKind::try_from(k).ok()? {
            proto::FileKind::File => Some(FileKind::File),
            proto::FileKind::Dir => Some(FileKind::Dir),
            proto::FileKind::Symlink => Some(FileKind::Symlink),
            proto::FileKind::Other => Some(FileKind::Other),
            proto::FileKind::Unspecified => None,
        }
    }
}

/// One file system entry as the bridge reports it, checked: `path` is container-absolute and
/// normalised (no empty, `.` or `..` component, no NUL, at most [`MAX_PATH`] bytes) and `name` is
/// its last component, a single normal path component (`/` only for the root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Normalised container-absolute path (bytes: may not be UTF-8).
    pub path: Vec<u8>,
    /// Last component (`/` for the root).
    pub name: Vec<u8>,
    pub kind: FileKind,
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Modification time, ms since the Unix epoch.
    pub mtime_ms: i64,
    /// For symlinks: the link's target as stored.
    pub link_target: Option<Vec<u8>>,
    /// For symlinks: the kind of what it points to; `None` when dangling.
    pub target_kind: Option<FileKind>,
    pub uid: u32,
    pub gid: u32,
}

impl FileEntry {
    /// The entry of a reply, refused unless its path, name and link target pass the checks.
    pub(crate) fn from_proto(e: proto::FileEntry) -> Result<Self, BridgeError> {
        check_path(&e.path)?;
        let last = last_component(&e.path);
        if e.name != last {
            return Err(hostile(format!(
                "an entry named {} for the path {}",
                show(&e.name),
                show(&e.path)
            )));
        }
        if e.link_target.len() > MAX_PATH || e.link_target.contains(&0) {
            return Err(hostile(format!(
                "an invalid link target for {}",
                show(&e.path)
            )));
        }
        let kind = FileKind::from_i32(e.kind).unwrap_or(FileKind::Other);
        Ok(FileEntry {
            link_target: (kind == FileKind::Symlink).then_some(e.link_target),
            target_kind: FileKind::from_i32(e.target_kind),
            path: e.path,
            name: e.name,
            kind,
            size: e.size,
            mode: e.mode,
            mtime_ms: e.mtime_ms,
            uid: e.uid,
            gid: e.gid,
        })
    }

    /// An entry of a listing of `dir`: also its path must be `dir`'s path plus its name.
    pub(crate) fn child_of(dir: &FileEntry, e: proto::FileEntry) -> Result<Self, BridgeError> {
        check_name(&e.name)?;
        let mut want = dir.path.clone();
        if !want.ends_with(b"/") {
            want.push(b'/');
        }
        want.extend_from_slice(&e.name);
        if e.path != want {
            return Err(hostile(format!(
                "the entry {} in a listing of {}",
                show(&e.path),
                show(&dir.path)
            )));
        }
        Self::from_proto(e)
    }

    /// True for directories and symlinks to directories.
    pub fn is_dir_like(&self) -> bool {
        self.kind == FileKind::Dir
            || (self.kind == FileKind::Symlink && self.target_kind == Some(FileKind::Dir))
    }

    /// Bytes this entry holds on the heap (for the listing's memory bound).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.path.len() + self.name.len() + self.link_target.as_ref().map_or(0, Vec::len)
    }
}

/// Refuses anything but a single normal path component: not empty, no `/`, not `.` or `..`,
/// no NUL, at most [`MAX_NAME`] bytes.
pub fn check_name(name: &[u8]) -> Result<(), BridgeError> {
    if name.is_empty()
        || name == b"."
        || name == b".."
        || name.contains(&b'/')
        || name.contains(&0)
        || name.len() > MAX_NAME
    {
        return Err(hostile(format!(
            "the name {}, which is not a single path component",
            show(name)
        )));
    }
    Ok(())
}

/// Refuses anything but a normalised container-absolute path (`/`, or `/` followed by
/// components that each pass [`check_name`]), at most [`MAX_PATH`] bytes.
pub fn check_path(path: &[u8]) -> Result<(), BridgeError> {
    let bad = || hostile(format!("the path {}, which is not normalised", show(path)));
    if path.len() > MAX_PATH || path.first() != Some(&b'/') {
        return Err(bad());
    }
    if path == b"/" {
        return Ok(());
    }
    for c in path[1..].split(|&b| b == b'/') {
        check_name(c).map_err(|_| bad())?;
    }
    Ok(())
}

/// A request path as the bridge normalises it (relative from `/`, empty and `.` components
/// dropped, `..` popping but never above `/`): what a reply about that path must name.
pub fn normalise(raw: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(raw.len() + 1);
    for c in parts {
        out.push(b'/');
        out.extend_from_slice(c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Refuses an entry that is not about the path asked for.
pub(crate) fn expect_path(e: &FileEntry, asked: &[u8]) -> Result<(), BridgeError> {
    if e.path != normalise(asked) {
        return Err(hostile(format!(
            "the entry {} when asked about {}",
            show(&e.path),
            show(asked)
        )));
    }
    Ok(())
}

/// The last component of a checked path; `/` for the root.
fn last_component(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) if path.len() > 1 => &path[i + 1..],
        _ => b"/",
    }
}

/// A reply the host refuses; the message says what the bridge sent.
pub(crate) fn hostile(what: String) -> BridgeError {
    BridgeError::Internal(format!("refused a reply from the bridge: it sent {what}"))
}

/// Bytes for a message: escaped, and cut so a huge name cannot flood a log or a dialog.
pub(crate) fn show(b: &[u8]) -> String {
    let s = format!("{:?}", String::from_utf8_lossy(&b[..b.len().min(120)]));
    if b.len() > 120 {
        format!("{s}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_single_components() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"/",
            b"/etc",
            b"a\0b",
            &[b'x'; 256],
        ] {
            assert!(
                check_name(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [&b"a"[..], b"...", b".env", b"a b\n", b"\xff", &[b'x'; 255]] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn paths_must_be_normalised_and_absolute() {
        for bad in [
            &b""[..],
            b"data",
            b"//",
            b"/data/",
            b"/data//x",
            b"/data/../etc",
            b"/./x",
        ] {
            assert!(
                check_path(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for good in [&b"/"[..], b"/data", b"/data/a b/\xff"] {
            check_path(good).unwrap();
        }
    }

    #[test]
    fn normalises_like_the_bridge() {
        assert_eq!(normalise(b"/data/./x//y/"), b"/data/x/y");
        assert_eq!(normalise(b"/../../x/.."), b"/");
        assert_eq!(normalise(b"data/a/../b"), b"/data/b");
    }

    #[test]
    fn an_entry_name_is_the_last_component_of_its_path() {
        let e = |path: &[u8], name: &[u8]| proto::FileEntry {
            path: path.to_vec(),
            name: name.to_vec(),
            ..Default::default()
        };
        FileEntry::from_proto(e(b"/", b"/")).unwrap();
        FileEntry::from_proto(e(b"/data/x", b"x")).unwrap();
        assert!(FileEntry::from_proto(e(b"/data/x", b"../x")).is_err());
        assert!(FileEntry::from_proto(e(b"/data/x", b"/")).is_err());
        assert!(FileEntry::from_proto(e(b"/data", b"/")).is_err());
    }
}

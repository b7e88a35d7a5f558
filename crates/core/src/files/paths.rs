//! Path tokens (UTF-8 paths as themselves, other bytes as `hex:`), name joining, natural
//! ordering and "keep both" names.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_bridge::FileEntry;

use crate::{Error, Result};

use super::*;

/// Encodes container path bytes for IPC/JSON (see the module docs).
pub fn encode_path(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.starts_with('/') => s.to_string(),
        _ => format!("hex:{}", hex::encode(b)),
    }
}

/// Decodes a path token; a plain string must be container-absolute.
pub fn decode_path(s: &str) -> Result<Vec<u8>> {
    if let Some(h) = s.strip_prefix("hex:") {
        return hex::decode(h).map_err(|_| Error::invalid(format!("bad path token {s:?}")));
    }
    if !s.starts_with('/') {
        return Err(Error::invalid(format!(
            "{s:?} is not a container path (it must start with /)"
        )));
    }
    Ok(s.as_bytes().to_vec())
}

/// Joins a directory and a single name (no `/`, not `.` or `..`).
pub fn join_name(dir: &[u8], name: &[u8]) -> Result<Vec<u8>> {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." || name.contains(&0)
    {
        return Err(Error::invalid(format!(
            "{:?} is not a valid name (no '/', not '.' or '..')",
            String::from_utf8_lossy(name)
        )));
    }
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    Ok(p)
}

pub(super) fn parent_of(p: &[u8]) -> Vec<u8> {
    match Path::new(std::ffi::OsStr::from_bytes(p)).parent() {
        Some(d) => d.as_os_str().as_bytes().to_vec(),
        None => b"/".to_vec(),
    }
}

/// The last component of a container path (the path itself when it has none).
pub fn base_of(p: &[u8]) -> Vec<u8> {
    Path::new(std::ffi::OsStr::from_bytes(p))
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default()
}

pub fn info_of(e: &FileEntry) -> FileInfo {
    let name = String::from_utf8_lossy(&e.name).to_string();
    FileInfo {
        path: encode_path(&e.path),
        lossy: name.as_bytes() != e.name.as_slice(),
        name,
        kind: e.kind.into(),
        size: e.size,
        mode: e.mode,
        modified_ms: e.mtime_ms,
        link_target: e
            .link_target
            .as_ref()
            .map(|t| String::from_utf8_lossy(t).to_string()),
        target_kind: e.target_kind.map(Into::into),
        uid: e.uid,
        gid: e.gid,
    }
}

/// Natural order: digit runs compare as numbers, the rest case-insensitively.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let mut n1 = String::new();
                while let Some(c) = x.peek().filter(|c| c.is_ascii_digit()) {
                    n1.push(*c);
                    x.next();
                }
                let mut n2 = String::new();
                while let Some(c) = y.peek().filter(|c| c.is_ascii_digit()) {
                    n2.push(*c);
                    y.next();
                }
                let (t1, t2) = (n1.trim_start_matches('0'), n2.trim_start_matches('0'));
                let o = t1.len().cmp(&t2.len()).then_with(|| t1.cmp(t2));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(c), Some(d)) => {
                let o = c.to_lowercase().cmp(d.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                x.next();
                y.next();
            }
        }
    }
}

/// Directories (and links to them) first, then natural name order.
pub fn sort_entries(v: &mut [FileInfo]) {
    let dirlike = |e: &FileInfo| e.kind == FileType::Dir || e.target_kind == Some(FileType::Dir);
    v.sort_by(|a, b| {
        dirlike(b)
            .cmp(&dirlike(a))
            .then_with(|| natural_cmp(&a.name, &b.name))
    });
}

/// A "keep both" name: `report.txt` → `report (2).txt`, `dir` → `dir (2)`.
pub fn numbered_name(name: &[u8], n: u32) -> Vec<u8> {
    let s = name;
    // split the extension (not for dot-files), keeping .tar.gz together
    let split = if s.ends_with(b".tar.gz") && s.len() > 7 {
        s.len() - 7
    } else {
        match s.iter().rposition(|&c| c == b'.') {
            Some(i) if i > 0 => i,
            _ => s.len(),
        }
    };
    let mut out = s[..split].to_vec();
    out.extend_from_slice(format!(" ({n})").as_bytes());
    out.extend_from_slice(&s[split..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{FileInfo, FileType};

    #[test]
    fn path_tokens_round_trip() {
        for p in [
            &b"/data/a b"[..],
            b"/data/new\nline",
            b"/data/\xff\xfe",
            "/data/日本".as_bytes(),
        ] {
            assert_eq!(decode_path(&encode_path(p)).unwrap(), p);
        }
        assert!(encode_path(b"/data/\xff").starts_with("hex:"));
        assert!(decode_path("relative").is_err());
    }

    #[test]
    fn natural_order_dirs_first() {
        let mk = |name: &str, kind| FileInfo {
            path: format!("/d/{name}"),
            name: name.into(),
            lossy: false,
            kind,
            size: 0,
            mode: 0,
            modified_ms: 0,
            link_target: None,
            target_kind: None,
            uid: 0,
            gid: 0,
        };
        let mut v = vec![
            mk("file10", FileType::File),
            mk("file2", FileType::File),
            mk("zdir", FileType::Dir),
            mk("B", FileType::File),
            mk("a", FileType::File),
        ];
        sort_entries(&mut v);
        let names: Vec<_> = v.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["zdir", "a", "B", "file2", "file10"]);
    }

    #[test]
    fn keep_both_names() {
        assert_eq!(numbered_name(b"report.txt", 2), b"report (2).txt");
        assert_eq!(numbered_name(b"dir", 3), b"dir (3)");
        assert_eq!(numbered_name(b".env", 2), b".env (2)");
        assert_eq!(numbered_name(b"a.tar.gz", 2), b"a (2).tar.gz");
        assert!(join_name(b"/data", b"..").is_err());
        assert!(join_name(b"/data", b"a/b").is_err());
        assert_eq!(join_name(b"/", b"x").unwrap(), b"/x");
    }
}

//! Path rules: container-absolute, normalised lexically (`..` collapses at the root), carried as
//! bytes; Berth's own mounts are read-only for every mutating call.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use tonic::Status;

/// Berth's own mounts inside every workspace: the bridge binary and templates, and the socket.
pub const READ_ONLY: &[&str] = &["/opt/berth", "/run/berth"];

/// Normalises a request path: relative paths are taken from `/`, `.` and empty segments vanish,
/// `..` pops (never above `/`). NUL bytes are refused. Nothing else is changed: spaces, newlines,
/// non-UTF-8 bytes stay as they are.
pub fn normalise(raw: &[u8]) -> Result<PathBuf, Status> {
    if raw.is_empty() {
        return Err(Status::invalid_argument("no path given"));
    }
    if raw.contains(&0) {
        return Err(Status::invalid_argument("a path cannot contain a NUL byte"));
    }
    let mut out = PathBuf::from("/");
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

pub fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_bytes().to_vec()
}

pub fn show(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// True when `p` is one of Berth's own mounts or inside one.
pub fn is_read_only(p: &Path) -> bool {
    READ_ONLY.iter().any(|ro| p.starts_with(ro))
}

/// Refuses a mutation of `p`: lexically, and also after resolving symlinks of the deepest
/// existing ancestor (so `/data/link -> /opt/berth` cannot be used to write there).
pub fn check_writable(p: &Path) -> Result<(), Status> {
    let refuse = || {
        Status::permission_denied(format!(
            "{} is read-only: /opt/berth and /run/berth are Berth's own mounts",
            show(p)
        ))
    };
    if is_read_only(p) {
        return Err(refuse());
    }
    let mut probe = p.parent();
    while let Some(a) = probe {
        if let Ok(real) = std::fs::canonicalize(a) {
            if is_read_only(&real) {
                return Err(refuse());
            }
            break;
        }
        probe = a.parent();
    }
    // The path itself, when it is a symlink: writes follow it.
    if let Ok(real) = std::fs::canonicalize(p) {
        if is_read_only(&real) {
            return Err(refuse());
        }
    }
    Ok(())
}

/// Maps an I/O error to a status that names the path.
pub fn io_status(what: &str, p: &Path, e: io::Error) -> Status {
    let msg = format!("{what} {}: {e}", show(p));
    match e.kind() {
        io::ErrorKind::NotFound => Status::not_found(msg),
        io::ErrorKind::AlreadyExists => Status::already_exists(msg),
        io::ErrorKind::PermissionDenied => Status::permission_denied(msg),
        io::ErrorKind::ReadOnlyFilesystem => Status::permission_denied(msg),
        io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::DirectoryNotEmpty
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::CrossesDevices => Status::failed_precondition(msg),
        _ => Status::internal(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &[u8]) -> Vec<u8> {
        bytes(&normalise(s).unwrap())
    }

    #[test]
    fn normalises_lexically() {
        assert_eq!(n(b"data"), b"/data");
        assert_eq!(n(b"/data/../../etc//passwd"), b"/etc/passwd");
        assert_eq!(n(b"/../.."), b"/");
        assert_eq!(n(b"/data/./a b\nc/\xff\xfe"), b"/data/a b\nc/\xff\xfe");
        assert!(normalise(b"").is_err());
        assert!(normalise(b"/a\0b").is_err());
    }

    #[test]
    fn read_only_mounts() {
        assert!(is_read_only(Path::new("/opt/berth")));
        assert!(is_read_only(Path::new("/opt/berth/x")));
        assert!(is_read_only(Path::new("/run/berth/bridge.sock")));
        assert!(!is_read_only(Path::new("/opt/berthx")));
        assert!(!is_read_only(Path::new("/data")));
        assert!(check_writable(Path::new("/opt/berth/y")).is_err());
        assert!(check_writable(Path::new("/tmp/y")).is_ok());
    }
}

//! Where a workspace's bridge socket appears on the host.
//!
//! Apple's runtime cannot share a directory holding a socket with the VM, so the bridge's socket
//! is published with `--publish-socket HOST:CONTAINER`: the host side listens at `HOST` and
//! relays each connection over vsock to the bridge's socket file in the container
//! (apple/containerization `UnixSocketRelay.swift`, direction `.outOf`; it unlinks `HOST` at
//! start and removes it at stop). `HOST` must fit in `sun_path` (104 bytes on macOS, NUL
//! included) and contain no `:` (the flag is split at `:`); otherwise a short name in a private
//! directory of the user's is used instead.

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_runtime::{Result, RuntimeError};
use sha2::{Digest, Sha256};

/// The bridge's socket file in the container (a single file: see the module doc).
pub const CONTAINER_SOCKET: &str = "/run/berth/bridge.sock";
/// Longest host socket path: macOS's `sun_path` is 104 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 103;

/// The host path of the bridge socket of a workspace whose socket directory is `socket_dir`:
/// `socket_dir/bridge.sock` when that is short enough and has no `:`, else
/// `/tmp/berth-<uid>/<16 hex digits of sha256(socket_dir)>.sock`.
pub fn host_socket(socket_dir: &Path) -> PathBuf {
    let direct = socket_dir.join("bridge.sock");
    let text = direct.as_os_str().as_encoded_bytes();
    if text.len() <= MAX_SOCKET_PATH && !text.contains(&b':') {
        return direct;
    }
    let digest = Sha256::digest(socket_dir.as_os_str().as_encoded_bytes());
    fallback_dir().join(format!("{}.sock", &hex::encode(digest)[..16]))
}

/// `/tmp/berth-<uid>`: short, and per user (it is checked to be private before use).
pub fn fallback_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    PathBuf::from(format!("/tmp/berth-{uid}"))
}

/// Makes `host` usable for `--publish-socket`: its directory exists (the private fallback
/// directory created 0700 and checked to be this user's), and nothing stale is at the path
/// (the CLI refuses a socket there, "already exists and may be in use").
pub fn prepare(host: &Path) -> Result<()> {
    ensure_parent(host)?;
    match std::fs::symlink_metadata(host) {
        Ok(m) if m.is_dir() => Err(RuntimeError::conflict(format!(
            "{} should be the bridge's socket but is a directory",
            host.display()
        ))),
        Ok(_) => {
            std::fs::remove_file(host).map_err(|e| io_error("removing the stale socket", host, &e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("checking", host, &e)),
    }
}

/// Creates the socket's directory if missing (after a reboot emptied `/tmp`, before a start).
pub fn ensure_parent(host: &Path) -> Result<()> {
    let Some(dir) = host.parent() else {
        return Err(RuntimeError::invalid(format!(
            "{} has no directory",
            host.display()
        )));
    };
    if dir == fallback_dir() {
        return ensure_private_dir(dir);
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating", dir, &e))
}

/// Creates `dir` 0700 unless it exists, then checks that it is a real directory (not a link)
/// owned by this user and closed to others: in a shared `/tmp`, anyone could have made it first.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_error("creating", dir, &e)),
    }
    let m = std::fs::symlink_metadata(dir).map_err(|e| io_error("checking", dir, &e))?;
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(RuntimeError::conflict(format!(
            "refusing {} for the bridge sockets: it must be a directory of uid {uid} with mode \
             0700 (it is {}, uid {}, mode {:o}); remove it and try again",
            dir.display(),
            if m.is_dir() {
                "a directory"
            } else {
                "not a directory"
            },
            m.uid(),
            m.mode() & 0o7777
        )));
    }
    Ok(())
}

/// Removes a socket left at `host` (after a delete; the relay removes it at a clean stop).
pub fn remove(host: &Path) {
    if let Err(e) = std::fs::remove_file(host) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::debug!(path = %host.display(), error = %e, "removing a bridge socket");
        }
    }
}

fn io_error(what: &str, path: &Path, e: &io::Error) -> RuntimeError {
    RuntimeError::internal(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_dirs_keep_their_socket_long_ones_get_a_private_short_name() {
        let short = Path::new("/Users/me/Library/Application Support/berth/run/berth-alice");
        assert_eq!(host_socket(short), short.join("bridge.sock"));

        let long = PathBuf::from(format!("/Users/me/{}/berth-alice", "x".repeat(90)));
        let a = host_socket(&long);
        assert_eq!(a.parent().unwrap(), fallback_dir());
        assert!(a.as_os_str().len() <= MAX_SOCKET_PATH);
        assert_eq!(a, host_socket(&long), "stable");
        assert_ne!(
            a,
            host_socket(&long.with_file_name("berth-bob")),
            "per directory"
        );

        let colon = Path::new("/Volumes/My:Disk/berth-alice");
        assert_eq!(host_socket(colon).parent().unwrap(), fallback_dir());
    }

    #[test]
    fn the_103_byte_limit_is_exact() {
        // "/bridge.sock" is 12 bytes: a 91-byte directory gives exactly 103.
        let dir = PathBuf::from(format!("/{}", "d".repeat(90)));
        assert_eq!(host_socket(&dir), dir.join("bridge.sock"));
        let dir = PathBuf::from(format!("/{}", "d".repeat(91)));
        assert_ne!(host_socket(&dir), dir.join("bridge.sock"));
    }

    #[test]
    fn prepare_removes_stale_paths_and_refuses_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("run/berth-alice/bridge.sock");
        prepare(&host).unwrap();
        assert!(host.parent().unwrap().is_dir());
        std::fs::write(&host, b"stale").unwrap();
        prepare(&host).unwrap();
        assert!(!host.exists());
        std::os::unix::fs::symlink("/nonexistent", &host).unwrap();
        prepare(&host).unwrap();
        assert!(std::fs::symlink_metadata(&host).is_err());
        std::fs::create_dir(&host).unwrap();
        assert_eq!(
            prepare(&host).unwrap_err().kind,
            berth_runtime::ErrorKind::Conflict
        );
    }

    #[test]
    fn a_private_dir_must_be_ours_and_closed() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("berth-x");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert!(err.message.contains("mode 755"), "{err}");
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert!(ensure_private_dir(&link).is_err(), "a symlink is refused");
    }
}

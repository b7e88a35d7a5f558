//! Workspace network namespaces made by Berth and pinned by a bind mount on a file, which the
//! container's spec names: the task joins the namespace instead of runc making one. Its network
//! can then be set up before the task exists — during the image pull of a create — and the
//! task's init never runs without it.
//!
//! The pin is made with util-linux `unshare --net=FILE` (in a rootless containerd's user and
//! mount namespaces, where runc will look for it) and removed with `umount`. A file that exists
//! may pin a namespace; one that does not pins nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::RuntimeError;

use crate::network_guard::run;
use crate::rootless::Namespaces;

/// `umount`'s exit status for "not mounted".
const NOT_MOUNTED: i32 = 32;

/// Where a Berth state directory keeps its pins.
pub fn pin_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("netns")
}

/// Makes a new network namespace pinned at `path` (a file that must not pin one already).
pub async fn make(path: &Path, ns: Option<&Arc<Namespaces>>) -> Result<(), RuntimeError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| RuntimeError::internal(format!("{}: {e}", dir.display())))?;
    }
    std::fs::File::create(path)
        .map_err(|e| RuntimeError::internal(format!("{}: {e}", path.display())))?;
    let mut net = std::ffi::OsString::from("--net=");
    net.push(path);
    let out = run(ns, "unshare", &[net.as_os_str(), "true".as_ref()]).await?;
    if !out.status.success() {
        let _ = std::fs::remove_file(path);
        return Err(RuntimeError::internal(format!(
            "making the workspace's network namespace at {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Unpins and removes `path`; nothing to do when there is no such file. The namespace goes with
/// its last user (a task still in it keeps it).
pub async fn remove(path: &Path, ns: Option<&Arc<Namespaces>>) -> Result<(), RuntimeError> {
    if !path.exists() {
        return Ok(());
    }
    let out = run(ns, "umount", &[path.as_os_str()]).await?;
    if !out.status.success() && out.status.code() != Some(NOT_MOUNTED) {
        return Err(RuntimeError::internal(format!(
            "unpinning the workspace's network namespace at {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::internal(format!(
            "removing {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

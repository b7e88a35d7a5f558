//! What the host prepares before a workspace's task starts: its socket directory (mounted at
//! `/run/berth`) without a stale socket, and its log file kept bounded. The bridge caps what one
//! run writes to the log; the host keeps at most one older log beside the current one, so
//! restarts cannot grow it without bound either.

use std::path::Path;

use crate::{Berth, Result};

/// A log larger than this is moved to `<log>.1` (replacing the older one) before a start.
pub const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

impl Berth {
    /// Where container `id`'s bridge socket is on the host: the runtime says (a VM runtime
    /// publishes it where a Unix socket path fits); Berth's layout while none is connected.
    pub(crate) fn bridge_socket(&self, id: &str) -> std::path::PathBuf {
        let dir = self.inner.paths.socket_dir(id);
        match self.inner.runtime.read().unwrap().as_ref() {
            Some(rt) => rt.bridge_socket(&dir),
            None => self.inner.paths.bridge_socket(id),
        }
    }

    /// Prepares container `id`'s socket directory and log for a start of its task.
    pub(crate) fn prepare_start(&self, id: &str) -> Result<()> {
        let paths = &self.inner.paths;
        std::fs::create_dir_all(paths.socket_dir(id))
            .map_err(crate::paths::io("creating the socket directory"))?;
        let _ = std::fs::remove_file(self.bridge_socket(id));
        rotate(&paths.log_file(id), LOG_ROTATE_BYTES);
        Ok(())
    }
}

/// Moves `log` to `<log>.1` when it is larger than `limit`. A failure only costs the rotation.
fn rotate(log: &Path, limit: u64) {
    let big = std::fs::metadata(log).is_ok_and(|m| m.len() > limit);
    if big {
        let mut old = log.as_os_str().to_owned();
        old.push(".1");
        if let Err(e) = std::fs::rename(log, &old) {
            tracing::warn!(error = %e, log = %log.display(), "rotating the bridge log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rotate;

    #[test]
    fn a_log_over_the_limit_is_moved_aside_replacing_the_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("w.log");
        let old = dir.path().join("w.log.1");
        std::fs::write(&log, b"12345").unwrap();
        rotate(&log, 5);
        assert!(log.exists() && !old.exists(), "at the limit: kept");
        std::fs::write(&old, b"older").unwrap();
        std::fs::write(&log, b"123456").unwrap();
        rotate(&log, 5);
        assert!(!log.exists(), "over the limit: moved");
        assert_eq!(std::fs::read(&old).unwrap(), b"123456");
        rotate(&log, 5); // no log yet: nothing happens
    }
}

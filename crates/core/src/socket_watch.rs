//! Waking up when a starting bridge creates its socket, instead of after a fixed pause: an
//! inotify watch on the socket's directory (Linux), set before the first dial so the creation
//! cannot slip between a failed dial and the wait. Elsewhere, and as a bound on every wait (a
//! socket bound but not yet listening sends no second event), a timer.

use std::path::Path;
use std::time::Duration;

/// Changes in one directory: entries created, moved in or changed.
pub(crate) struct DirWatch {
    #[cfg(target_os = "linux")]
    inotify: Option<linux::Inotify>,
}

impl DirWatch {
    /// Watches `dir`; without a watch (not Linux, or inotify refused) [`DirWatch::changed`]
    /// waits for its bound only.
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            #[cfg(target_os = "linux")]
            inotify: linux::Inotify::watch(dir)
                .map_err(|e| tracing::debug!(dir = %dir.display(), error = %e, "no inotify watch"))
                .ok(),
        }
    }

    /// Returns when the directory changed since the last call (or the watch began), or after
    /// `at_most`.
    pub(crate) async fn changed(&mut self, at_most: Duration) {
        #[cfg(target_os = "linux")]
        if let Some(inotify) = &mut self.inotify {
            match tokio::time::timeout(at_most, inotify.next_event()).await {
                // A watch that fails would end every wait at once: the timer takes over.
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "inotify watch failed");
                    self.inotify = None;
                }
                _ => return,
            }
        }
        tokio::time::sleep(at_most).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use tokio::io::unix::AsyncFd;

    pub(super) struct Inotify(AsyncFd<OwnedFd>);

    impl Inotify {
        pub(super) fn watch(dir: &Path) -> std::io::Result<Self> {
            // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `fd` was just returned by inotify_init1 and is owned by nothing else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let path = std::ffi::CString::new(dir.as_os_str().as_bytes())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ATTRIB;
            // SAFETY: a valid inotify descriptor and a NUL-terminated path.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: the AsyncFd owns `fd` from here on and nothing else closes it.
            let fd = unsafe { AsyncFd::register(fd) }?;
            Ok(Self(fd))
        }

        /// Waits until at least one event is queued, and drains the queue.
        pub(super) async fn next_event(&mut self) -> std::io::Result<()> {
            loop {
                let mut guard = self.0.readable().await?;
                let fd = guard.get_inner().as_raw_fd();
                let mut read_any = false;
                // Whatever is queued belongs to the same wake-up.
                while read_some(fd) > 0 {
                    read_any = true;
                }
                let err = std::io::Error::last_os_error();
                guard.clear_ready();
                if read_any {
                    return Ok(());
                }
                if err.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(err);
                }
            }
        }
    }

    /// One read of queued events (discarded: any change is reason to dial again).
    fn read_some(fd: std::os::fd::RawFd) -> isize {
        let mut buf = [0u8; 4096];
        // SAFETY: reads at most `buf.len()` bytes into `buf` from a descriptor we own.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::DirWatch;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn a_created_entry_wakes_the_wait_before_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(dir.path());
        let path = dir.path().join("bridge.sock");
        let t0 = Instant::now();
        let create = async {
            tokio::task::yield_now().await;
            let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        };
        let ((), ()) = tokio::join!(watch.changed(Duration::from_secs(30)), create);
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "woke after {:?}, not on the event",
            t0.elapsed()
        );
    }

    #[tokio::test]
    async fn without_a_change_the_wait_ends_at_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = DirWatch::new(dir.path());
        let t0 = Instant::now();
        watch.changed(Duration::from_millis(20)).await;
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }
}

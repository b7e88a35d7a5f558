//! Changes in a host directory as they happen (inotify), so a test can act at an observed point
//! of another process's work (a file created, written, opened, closed, renamed into place)
//! instead of after a guessed time. Events queue from the moment the watch exists, so a watch
//! made before the process starts misses nothing.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub use libc::{
    IN_ACCESS, IN_CLOSE_NOWRITE, IN_CLOSE_WRITE, IN_CREATE, IN_MODIFY, IN_MOVED_TO, IN_OPEN,
};

/// One inotify watch on one directory: events about the directory's entries.
pub struct DirWatch {
    fd: OwnedFd,
    pending: VecDeque<(u32, String)>,
}

impl DirWatch {
    /// Watches `dir` for every event kind this module names.
    pub fn new(dir: &Path) -> DirWatch {
        // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        assert!(
            raw >= 0,
            "inotify_init1: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let path = CString::new(dir.as_os_str().as_bytes()).unwrap();
        let mask = IN_ACCESS
            | IN_CLOSE_NOWRITE
            | IN_CLOSE_WRITE
            | IN_CREATE
            | IN_MODIFY
            | IN_MOVED_TO
            | IN_OPEN;
        // SAFETY: a valid descriptor and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
        assert!(
            wd >= 0,
            "watching {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
        DirWatch {
            fd,
            pending: VecDeque::new(),
        }
    }

    /// Waits for the next event `(mask, entry name)` that `wanted` accepts; panics naming
    /// `what` when none comes within `timeout`.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut wanted: impl FnMut(u32, &str) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some((mask, name)) = self.pending.pop_front() {
                if wanted(mask, &name) {
                    return;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{what}: not seen within {timeout:?}");
            self.read(left);
        }
    }

    /// Reads what is queued, waiting at most `timeout` for something to be.
    fn read(&mut self, timeout: Duration) {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut poll, 1, timeout.as_millis().max(1) as i32) } != 1 {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: reading into a buffer of the given length.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        assert!(
            n >= 0,
            "reading inotify: {}",
            std::io::Error::last_os_error()
        );
        let mut at = 0;
        let head = std::mem::size_of::<libc::inotify_event>();
        while at + head <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name = &buf[at + head..at + head + ev.len as usize];
            let name = String::from_utf8_lossy(name.split(|&b| b == 0).next().unwrap_or_default());
            self.pending.push_back((ev.mask, name.into_owned()));
            at += head + ev.len as usize;
        }
    }
}

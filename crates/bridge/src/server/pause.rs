//! Pausing the workspace's other processes for a consistent view of its files (export, import).

/// Every other process of the workspace stopped (SIGSTOP) until dropped (SIGCONT), so an
/// archive sees no file half-written. Only as PID 1: `kill(-1, …)` from PID 1 of a PID namespace
/// reaches every process of the namespace except the caller. Stopped processes (terminals
/// included) simply continue afterwards.
pub struct Paused(bool);

impl Paused {
    pub fn all_others() -> Self {
        if std::process::id() != 1 {
            return Paused(false);
        }
        // SAFETY: plain syscall.
        unsafe { libc::kill(-1, libc::SIGSTOP) };
        Paused(true)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if self.0 {
            // SAFETY: plain syscall.
            unsafe { libc::kill(-1, libc::SIGCONT) };
        }
    }
}

//! The zombie reaper and the registry of exec'd children.
//!
//! Only one place in the process ever calls `waitpid`: the SIGCHLD-driven loop here, using
//! `waitpid(-1, WNOHANG)`. Exec sessions spawn with `std::process::Command` and never wait on
//! their child themselves; instead they register the pid and receive its status through a
//! oneshot. This avoids the classic race where a global reaper steals the status of a child that
//! a per-child wait (e.g. `tokio::process`) was waiting for, and it still reaps orphans that the
//! kernel re-parents to us (as PID 1, or as a child subreaper when not PID 1).

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

/// How a child ended, decoded from the raw wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Shared registry of live exec'd children: pid → where to deliver its exit status.
#[derive(Clone, Default)]
pub struct Reaper {
    children: Arc<Mutex<HashMap<i32, oneshot::Sender<Exit>>>>,
}

impl Reaper {
    /// Spawns `cmd` and registers it atomically with respect to the reaper.
    ///
    /// The registry lock is held across `spawn` because the reaper also holds it around
    /// `waitpid`: otherwise a fast-exiting child could be reaped before it is registered (its
    /// status would be lost), and std's own `waitpid` on a failed exec could be pre-empted.
    pub fn spawn(&self, cmd: &mut Command) -> std::io::Result<(Child, oneshot::Receiver<Exit>)> {
        let mut children = self.lock();
        let child = cmd.spawn()?;
        let (tx, rx) = oneshot::channel();
        children.insert(child.id() as i32, tx);
        Ok((child, rx))
    }

    /// Sends `sig` to the process group of `pid` if that child has not been reaped yet.
    ///
    /// Checking under the lock matters: once reaped, the pid may be reused by an unrelated process.
    pub fn kill_group(&self, pid: i32, sig: i32) -> bool {
        let children = self.lock();
        if !children.contains_key(&pid) {
            return false;
        }
        // SAFETY: plain syscall; the group id is our child's pid (it was spawned with
        // process_group(0)) and that child is not yet reaped, so the id cannot have been reused.
        unsafe { libc::killpg(pid, sig) == 0 }
    }

    /// Sends `sig` to every registered child's process group; returns how many were signalled.
    pub fn signal_all(&self, sig: i32) -> usize {
        let children = self.lock();
        children
            .keys()
            // SAFETY: as in `kill_group`: every key is an unreaped child that leads its own group.
            .filter(|&&pid| unsafe { libc::killpg(pid, sig) } == 0)
            .count()
    }

    /// Number of exec'd children that have not been reaped yet.
    pub fn live(&self) -> usize {
        self.lock().len()
    }

    /// Reaps every child that has exited, delivering statuses of registered ones. Returns
    /// `false` when we have no children at all (ECHILD).
    pub fn reap_now(&self) -> bool {
        let mut children = self.lock();
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: waitpid with a valid out-pointer; WNOHANG keeps it non-blocking, so
            // holding the registry lock here never stalls spawners for long.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid == 0 {
                return true; // children exist, none has exited yet
            }
            if pid < 0 {
                let err = std::io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false; // ECHILD: nothing left to reap
            }
            let exit = if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status))
            } else {
                Exit::Code(libc::WEXITSTATUS(status))
            };
            // Unknown pids are orphans re-parented to us: reaping them is all they need.
            if let Some(tx) = children.remove(&pid) {
                let _ = tx.send(exit);
            }
        }
    }

    /// Starts the reaper loop: a sweep on every SIGCHLD, plus a slow periodic sweep as a safety
    /// net (signals coalesce). Call it before spawning anything so no SIGCHLD is missed; it
    /// must run inside the tokio runtime.
    pub fn start(&self) -> std::io::Result<()> {
        let mut sigchld = signal(SignalKind::child())?;
        let reaper = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                reaper.reap_now();
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tick.tick() => {}
                }
            }
        });
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<Exit>>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep going.
        self.children.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes orphaned descendants re-parent to us when we are not PID 1 (tests, debugging), so
/// reaping behaves the same as in a container.
pub fn become_subreaper() {
    if std::process::id() == 1 {
        return;
    }
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        log_line!(
            "berth-bridge: cannot become a child subreaper: {}",
            std::io::Error::last_os_error()
        );
    }
}

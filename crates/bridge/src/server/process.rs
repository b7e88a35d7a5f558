//! What the pipe exec (`exec.rs`) and the PTY exec (`terminal.rs`) share: checking the start
//! request (working directory, environment), turning spawn failures and exits into protocol
//! terms, killing a session's process group when the session goes away, and serving a session
//! until its client hangs up.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use super::reaper::{Exit, Reaper};

/// The directory to run in: `requested`, or the data directory when empty. Checked here because
/// a failed chdir in the child reports ENOENT just like a missing program, and the caller
/// deserves to know which one it was.
pub fn working_dir(requested: &str, data_dir: &Path) -> Result<PathBuf, Status> {
    let cwd = if requested.is_empty() {
        data_dir.to_path_buf()
    } else {
        PathBuf::from(requested)
    };
    match std::fs::metadata(&cwd) {
        Ok(m) if m.is_dir() => Ok(cwd),
        Ok(_) => Err(Status::invalid_argument(format!(
            "working directory {cwd:?} is not a directory"
        ))),
        Err(_) => Err(Status::not_found(format!(
            "working directory {cwd:?} not found"
        ))),
    }
}

/// Adds the request's `K=V` entries to `cmd`.
pub fn apply_env(cmd: &mut Command, env: &[String]) -> Result<(), Status> {
    for kv in env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => cmd.env(k, v),
            _ => {
                return Err(Status::invalid_argument(format!(
                    "env entry {kv:?} is not K=V"
                )))
            }
        };
    }
    Ok(())
}

/// The gRPC status for a failed spawn of `program`.
pub fn spawn_failed(program: &str, e: std::io::Error) -> Status {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Status::not_found(format!("executable {program:?} not found"))
        }
        std::io::ErrorKind::PermissionDenied => {
            Status::permission_denied(format!("executable {program:?} is not executable"))
        }
        _ => Status::internal(format!("cannot start {program:?}: {e}")),
    }
}

/// (exit code, signal) of a finished process; `None` when the reaper lost it.
pub fn code_and_signal(
    exit: Result<Exit, oneshot::error::RecvError>,
) -> Option<(Option<i32>, Option<i32>)> {
    match exit {
        Ok(Exit::Code(c)) => Some((Some(c), None)),
        Ok(Exit::Signal(s)) => Some((None, Some(s))),
        Err(_) => None,
    }
}

/// Owns a spawned process group: dropping it kills the group if the leader is still unreaped
/// (the reaper checks under its lock), so a session that ends early leaves nothing running.
pub struct Group {
    pub pid: i32,
    reaper: Reaper,
    /// For the log line: "exec" or "terminal".
    what: &'static str,
}

impl Group {
    pub fn new(pid: i32, reaper: &Reaper, what: &'static str) -> Self {
        Group {
            pid,
            reaper: reaper.clone(),
            what,
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.reaper.kill_group(self.pid, libc::SIGKILL) {
            log_line!(
                "berth-bridge: {} pid {} ended early, killed its process group",
                self.what,
                self.pid
            );
        }
    }
}

/// Runs `session` in the background until it finishes or the client drops the call (then the
/// session future is dropped, and with it its [`Group`]).
pub fn serve<T: Send + 'static>(
    session: impl Future<Output = ()> + Send + 'static,
    closed: mpsc::Sender<T>,
) {
    tokio::spawn(async move {
        tokio::select! {
            _ = session => {}
            _ = closed.closed() => {}
        }
    });
}

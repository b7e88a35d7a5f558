//! Berth's own containerd, for a machine where none runs: state, socket and log in a directory
//! of Berth's, started detached (its own session, so it outlives the window or terminal that
//! started it, and the app and the CLI share it), and stopped with every shim it started.
//! As root it is a plain containerd ([`RootfulContainerd`]); as a user, containerd in
//! RootlessKit's namespaces ([`RootlessContainerd`]).

mod rootful;
mod rootless;

pub use rootful::RootfulContainerd;
pub use rootless::RootlessContainerd;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_runtime::{ErrorKind, OwnDaemon, Result, RuntimeError};

/// How long a daemon may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long containerd and its shims get to end after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub(crate) use crate::programs::find as find_binary;

pub(crate) fn io(what: &str) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::internal(format!("{what}: {e}"))
}

/// containerd's configuration: everything under `dir`, no CRI, and `extra` lines.
pub(crate) fn write_config(dir: &Path, socket: &Path, extra: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io("creating containerd's directory"))?;
    let config = dir.join("config.toml");
    let body = format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
         disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n{extra}\
         [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = socket.display(),
    );
    let tmp = dir.join(".config.toml.tmp");
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &config))
        .map_err(io("writing containerd's configuration"))?;
    Ok(config)
}

/// Starts `cmd` as a daemon: forked twice, so it is no process's child (a window or terminal
/// that started it, and whatever ends their process trees, do not take it along), in a session
/// of its own, with its output in `dir/containerd.log`. It is found again by its configuration
/// path ([`daemon_pids`]), so no pid file can go stale.
pub(crate) fn spawn_detached(mut cmd: Command, dir: &Path) -> Result<()> {
    let log = std::fs::File::create(dir.join("containerd.log")).map_err(io("containerd.log"))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io("containerd.log"))?)
        .stderr(log);
    use std::os::unix::process::CommandExt;
    // SAFETY: only fork, _exit and setsid run between fork and exec, all async-signal-safe.
    // The intermediate process exits at once; its child goes on to exec the daemon (an exec
    // error still reaches `spawn` through std's close-on-exec pipe, which it inherits).
    unsafe {
        cmd.pre_exec(|| {
            match libc::fork() {
                -1 => return Err(std::io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            libc::setsid();
            Ok(())
        });
    }
    let mut intermediate = cmd.spawn().map_err(io("starting containerd"))?;
    let _ = intermediate.wait();
    Ok(())
}

/// The socket to start `daemon` on, or `None` when one answers there already; `Unsupported`,
/// naming what is missing, when it cannot run on this machine.
pub(crate) fn socket_to_start(daemon: &dyn OwnDaemon, dir: &Path) -> Result<Option<PathBuf>> {
    if let Some(m) = daemon.missing() {
        return Err(RuntimeError::new(ErrorKind::Unsupported, m));
    }
    let socket = daemon.endpoint(dir);
    Ok((!answers(&socket)).then_some(socket))
}

/// Waits until the socket accepts connections, or says where to look when it does not.
pub(crate) async fn wait_answering(socket: &Path, dir: &Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    // containerd gives no readiness signal but its socket: poll it, bounded.
    while !answers(socket) {
        if tokio::time::Instant::now() > deadline {
            return Err(RuntimeError::unavailable(format!(
                "Berth's containerd did not answer within {} s; see {}",
                START_TIMEOUT.as_secs(),
                dir.join("containerd.log").display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Ends the daemon run with `config` (every process of it: containerd, or RootlessKit with its
/// child and containerd) and then the shims it started (which outlive it by design) with what
/// runs under them. The shims are found by the socket they name, which also finds those of an
/// earlier run of the same daemon. `false` when nothing was running.
pub(crate) async fn stop_all(config: &Path, socket: &Path) -> Result<bool> {
    let mut stopped = false;
    for pid in daemon_pids(config) {
        stopped |= terminate(pid).await?;
    }
    stopped |= stop_shims(socket).await?;
    Ok(stopped)
}

/// Ends the shims of the daemon on `socket` and the workspaces' processes under them.
pub(crate) async fn stop_shims(socket: &Path) -> Result<bool> {
    let mut stopped = false;
    for shim in shims_of(socket) {
        for child in children_of(shim) {
            terminate(child).await?;
        }
        stopped |= terminate(shim).await?;
    }
    Ok(stopped)
}

/// The processes whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The processes of this user running the daemon with `config`: containerd, RootlessKit and
/// RootlessKit's child, each of which has the configuration's path among its arguments.
pub(crate) fn daemon_pids(config: &Path) -> Vec<i32> {
    let want = config.as_os_str().as_encoded_bytes();
    let me = unsafe { libc::geteuid() };
    processes(|owner, args| {
        let daemon = [&b"containerd"[..], b"rootlesskit", b"/proc/self/exe"]
            .iter()
            .any(|name| args[0].ends_with(name));
        owner == me && daemon && args[1..].contains(&want)
    })
}

/// The processes whose owner and arguments `keep` accepts.
fn processes(keep: impl Fn(u32, &[&[u8]]) -> bool) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid: i32 = p.file_name().to_str()?.parse().ok()?;
            let owner = p.metadata().ok()?.uid();
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            (!args[0].is_empty() && keep(owner, &args)).then_some(pid)
        })
        .collect()
}

/// Something accepts connections on the socket.
pub fn answers(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// The shims containerd started for the daemon on `socket` (they outlive it by design).
pub(crate) fn shims_of(socket: &Path) -> Vec<i32> {
    let want = socket.as_os_str().as_encoded_bytes();
    processes(|_, args| {
        args[0].ends_with(b"containerd-shim-runc-v2")
            && args.windows(2).any(|w| w[0] == b"-address" && w[1] == want)
    })
}

/// SIGTERM, then SIGKILL after the grace; returns once the process has ended (`false` when it
/// was not there).
pub(crate) async fn terminate(pid: i32) -> Result<bool> {
    let Some(fd) = pidfd(pid) else {
        return Ok(false);
    };
    // SAFETY: signalling through the pidfd cannot reach a process that reused the pid.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGTERM,
            0,
            0,
        )
    };
    // SAFETY: the AsyncFd owns the pidfd from here on; nothing else closes or registers it.
    let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(|e| {
        RuntimeError::internal(format!("waiting for a process: {}", e.into_parts().1))
    })?;
    if tokio::time::timeout(STOP_GRACE, fd.readable())
        .await
        .is_err()
    {
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                0,
                0,
            )
        };
        let _ = fd.readable().await.map_err(io("waiting for a process"))?;
    }
    Ok(true)
}

/// A descriptor of the live process `pid`, readable once it ends.
pub(crate) fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, libc::PIDFD_NONBLOCK) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

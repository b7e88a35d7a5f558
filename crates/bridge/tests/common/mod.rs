//! Test harness: runs the real `berth-bridge` binary on a temporary socket with temporary data
//! and templates directories, and kills it when the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use berth_bridge::{BridgeClient, BridgeError, ExecRequest, ExitStatus, ExpectedPeer, Health};

pub struct Bridge {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub client: BridgeClient,
    pub health: Health,
    /// Who listens on the socket: the child itself, or (under `unshare`) unchecked.
    pub peer: ExpectedPeer,
}

impl Bridge {
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/berth/bridge.sock")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    /// Host pid of the process we started (`unshare` when started as PID 1).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Starts a bridge; `prepare` may populate `templates/` and `data/` first.
    pub async fn start_with(prepare: impl FnOnce(&Path)) -> Bridge {
        Self::spawn(&[], prepare).await
    }

    /// Starts the bridge as PID 1 of a new pid namespace (`unshare`, needs root), as in a
    /// container. `None` when that is impossible here; fails instead when `CI` is set.
    pub async fn start_as_pid1() -> Option<Bridge> {
        let usable = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !usable {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: `unshare --pid` (root) is required"
            );
            eprintln!("skipping: cannot create a pid namespace here");
            return None;
        }
        Some(
            Self::spawn(
                &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
                |_| {},
            )
            .await,
        )
    }

    /// Starts `prefix... berth-bridge`. `BERTH_BRIDGE_BIN` runs the suite against another build,
    /// e.g. the static one from scripts/build-bridge.sh.
    async fn spawn(prefix: &[&str], prepare: impl FnOnce(&Path)) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        prepare(dir.path());
        let socket = dir.path().join("run/berth/bridge.sock");
        let bin = std::env::var_os("BERTH_BRIDGE_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_berth-bridge").into());
        let mut cmd = match prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = cmd
            .env("BERTH_BRIDGE_SOCKET", &socket)
            .env("BERTH_DATA_DIR", dir.path().join("data"))
            .env("BERTH_TEMPLATES_DIR", dir.path().join("templates"))
            .spawn()
            .expect("spawn berth-bridge");
        // Under `unshare --fork` the bridge is unshare's child, whose pid we do not learn
        // before it listens; the harness started it, so it vouches for the socket.
        let peer = if prefix.is_empty() {
            ExpectedPeer::Pid(child.id())
        } else {
            ExpectedPeer::VouchedByRuntime
        };
        let (client, health) =
            BridgeClient::wait_ready(&socket, peer.clone(), Duration::from_secs(10))
                .await
                .expect("bridge ready");
        Bridge {
            dir,
            child: Some(child),
            client,
            health,
            peer,
        }
    }

    pub async fn start() -> Bridge {
        Self::start_with(|_| {}).await
    }

    /// Runs argv with optional stdin and collects stdout, stderr and the status.
    pub async fn run(
        &self,
        req: ExecRequest,
        stdin: Option<Vec<u8>>,
    ) -> Result<Output, BridgeError> {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = self
            .client
            .exec(req, stdin.map(std::io::Cursor::new), &mut out, &mut err)
            .await?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }

    pub async fn sh(&self, script: &str) -> Output {
        self.run(ExecRequest::new(["sh", "-c", script]), None)
            .await
            .expect("exec sh")
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// State letter from /proc/PID/stat (`None` when the process no longer exists).
pub fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces; the fields after the last ')' are "state ppid ...".
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Polls until `f` is true or `timeout` passes. Only for conditions nothing announces (a
/// process reaped by another process, a /proc state): events are awaited directly.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// An output sink that publishes everything written to it, so a test can wait for a line the
/// program prints when it reached a point instead of guessing how long that takes.
pub struct Published(tokio::sync::watch::Sender<Vec<u8>>);

/// A sink and the receiver that sees its bytes so far.
pub fn published() -> (Published, tokio::sync::watch::Receiver<Vec<u8>>) {
    let (tx, rx) = tokio::sync::watch::channel(Vec::new());
    (Published(tx), rx)
}

impl tokio::io::AsyncWrite for Published {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.send_modify(|v| v.extend_from_slice(buf));
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Waits (at most `timeout`) until the published output holds a line ending in `marker`, and
/// returns the text before the marker on that line.
pub async fn line_with(
    rx: &mut tokio::sync::watch::Receiver<Vec<u8>>,
    marker: &str,
    timeout: Duration,
) -> String {
    let find = |v: &[u8]| {
        String::from_utf8_lossy(v)
            .lines()
            .find_map(|l| l.strip_suffix(marker).map(str::to_string))
    };
    let seen = tokio::time::timeout(timeout, rx.wait_for(|v| find(v).is_some()))
        .await
        .unwrap_or_else(|_| panic!("no line ending in {marker:?} within {timeout:?}"))
        .expect("the output sink was dropped before the marker");
    find(&seen).unwrap()
}

/// The host pids of `pid`'s children.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![];
    };
    tasks
        .flatten()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|c| c.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// A named pipe in `dir`: a process that reads it lives exactly until the test writes to it.
pub fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
    path
}

/// Ends the readers of a fifo made by [`fifo`]: opening it for writing and closing it gives them
/// end-of-file.
pub fn release(fifo: &Path) {
    drop(
        std::fs::OpenOptions::new()
            .write(true)
            .open(fifo)
            .expect("open the fifo for writing"),
    );
}

/// Waits for `child` to exit (a pidfd becomes readable when the process ends), at most
/// `timeout`; `None` when it still runs.
pub fn exited(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.id() as libc::pid_t, 0) } as i32;
    assert!(fd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; the descriptor is ours and closed right after.
    let ready = unsafe { libc::poll(&mut poll, 1, timeout.as_millis() as i32) };
    unsafe { libc::close(fd) };
    (ready == 1).then(|| child.wait().expect("wait for the exited child"))
}

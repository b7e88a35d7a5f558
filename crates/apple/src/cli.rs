//! Runs the `container` program, modelled on containerd's Rust `runc` crate: an argument array
//! (never a shell string), stdin closed, stdout and stderr read at the same time (a full pipe
//! cannot stall the program), a deadline per call, and the program's whole process group killed
//! when the call times out, is cancelled or is dropped.
//!
//! Everything the program prints is untrusted input: stdout is buffered up to [`MAX_STDOUT`]
//! (the call fails beyond it), stderr is handed over line by line (capped at [`MAX_LINE`]) and
//! only its last [`STDERR_TAIL`] bytes are kept for error messages.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use berth_runtime::{CancellationToken, Result, RuntimeError};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Most stdout a call may print (a `list` of thousands of containers stays far below).
pub const MAX_STDOUT: usize = 16 << 20;
/// Longest stderr line handed to a caller; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 16 << 10;
/// How much of stderr's end is kept for the error message of a failed call.
pub const STDERR_TAIL: usize = 64 << 10;

/// What one call printed, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    /// The end of stderr (lossy UTF-8), at most [`STDERR_TAIL`] bytes.
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// The `container` program at one path.
#[derive(Debug, Clone)]
pub struct Cli {
    program: PathBuf,
}

impl Cli {
    pub fn new(program: PathBuf) -> Self {
        Self { program }
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `container <args>` to completion within `timeout`.
    pub async fn run(&self, args: &[OsString], timeout: Duration) -> Result<Output> {
        self.run_with(args, timeout, &CancellationToken::new(), &mut |_| {})
            .await
    }

    /// Runs `container <args>`, handing every stderr line to `on_line` as it arrives; kills the
    /// process group when `cancel` fires (`Cancelled`) or `timeout` passes (`Unavailable`).
    pub async fn run_with(
        &self,
        args: &[OsString],
        timeout: Duration,
        cancel: &CancellationToken,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Output> {
        let what = describe(args);
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so whatever it starts is killed with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| spawn_error(&self.program, &e))?;
        let group = Group::new(child.id());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(RuntimeError::internal(
                "the container program's pipes are missing",
            ));
        };
        let work = async {
            tokio::join!(
                read_capped(stdout, &group),
                read_lines(stderr, on_line),
                child.wait()
            )
        };
        let (out, stderr, status) = tokio::select! {
            r = work => r,
            _ = tokio::time::sleep(timeout) => {
                group.kill();
                return Err(RuntimeError::unavailable(format!(
                    "`{what}` did not finish within {} s and was killed",
                    timeout.as_secs()
                )));
            }
            _ = cancel.cancelled() => {
                group.kill();
                return Err(RuntimeError::cancelled());
            }
        };
        let status =
            status.map_err(|e| RuntimeError::internal(format!("waiting for `{what}`: {e}")))?;
        group.disarm();
        Ok(Output {
            status,
            stdout: out.map_err(|e| e.context(format!("`{what}`")))?,
            stderr,
        })
    }
}

/// `container image pull` → "container image pull": the words before the first flag (two for
/// the `image` and `system` groups), for messages.
pub fn describe(args: &[OsString]) -> String {
    let mut words = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| !a.starts_with('-'));
    let mut text = String::from("container");
    if let Some(first) = words.next() {
        let group = matches!(first.as_str(), "image" | "system");
        text = format!("{text} {first}");
        if let Some(second) = words.next().filter(|_| group) {
            text = format!("{text} {second}");
        }
    }
    text
}

fn spawn_error(program: &Path, e: &std::io::Error) -> RuntimeError {
    RuntimeError::unavailable(format!(
        "cannot run Apple's container CLI at {}: {e}",
        program.display()
    ))
}

/// The process group of one call. Killed when the call is abandoned (timeout, cancel, or the
/// future dropped by its caller); left alone once the program was waited for.
struct Group {
    pgid: Option<libc::pid_t>,
    armed: std::sync::atomic::AtomicBool,
}

impl Group {
    fn new(pid: Option<u32>) -> Self {
        Self {
            pgid: pid.and_then(|p| libc::pid_t::try_from(p).ok()),
            armed: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn kill(&self) {
        use std::sync::atomic::Ordering;
        if let Some(pgid) = self.pgid {
            if self.armed.swap(false, Ordering::SeqCst) {
                // SAFETY: kill(2) with a negative pid signals the group; no memory is shared.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
        }
    }

    fn disarm(&self) {
        self.armed.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads all of stdout, failing (and killing the group, so the program cannot block on a full
/// pipe) beyond [`MAX_STDOUT`].
async fn read_capped(mut pipe: impl AsyncRead + Unpin, group: &Group) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = pipe
            .read(&mut chunk)
            .await
            .map_err(|e| RuntimeError::internal(format!("reading its output: {e}")))?;
        if n == 0 {
            return Ok(buf);
        }
        if buf.len() + n > MAX_STDOUT {
            group.kill();
            return Err(RuntimeError::internal(format!(
                "it printed more than {} MiB; refusing to read on",
                MAX_STDOUT >> 20
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads stderr to its end, splitting lines at `\n` or `\r` (a progress bar that redraws
/// itself), and returns its last [`STDERR_TAIL`] bytes.
async fn read_lines(
    mut pipe: impl AsyncRead + Unpin,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for &b in &chunk[..n] {
            if b == b'\n' || b == b'\r' {
                flush_line(&mut line, on_line);
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 2 * STDERR_TAIL {
            tail.drain(..tail.len() - STDERR_TAIL);
        }
    }
    flush_line(&mut line, on_line);
    if tail.len() > STDERR_TAIL {
        tail.drain(..tail.len() - STDERR_TAIL);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

fn flush_line(line: &mut Vec<u8>, on_line: &mut (dyn FnMut(&str) + Send)) {
    if !line.is_empty() {
        on_line(&String::from_utf8_lossy(line));
        line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn describes_a_call_by_its_subcommand() {
        assert_eq!(
            describe(&os(&["image", "pull", "--progress", "plain", "x"])),
            "container image pull"
        );
        assert_eq!(
            describe(&os(&["stop", "-t", "5", "berth-a"])),
            "container stop"
        );
        assert_eq!(describe(&os(&["inspect", "berth-a"])), "container inspect");
        assert_eq!(describe(&os(&["--version"])), "container");
    }

    #[tokio::test]
    async fn reads_stdout_and_stderr_lines_concurrently() {
        let cli = Cli::new("/bin/sh".into());
        let script = "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); \
                      done; printf 'last\\rbar' >&2";
        let mut lines = Vec::new();
        let out = cli
            .run_with(
                &os(&["-c", script]),
                Duration::from_secs(30),
                &CancellationToken::new(),
                &mut |l| lines.push(l.to_string()),
            )
            .await
            .unwrap();
        assert!(out.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2000);
        assert_eq!(lines.len(), 2002);
        assert_eq!(lines[1999], "err1999");
        assert_eq!(&lines[2000..], ["last", "bar"]);
    }

    #[tokio::test]
    async fn refuses_endless_stdout_and_kills_the_program() {
        let cli = Cli::new("/bin/sh".into());
        let err = cli
            .run(
                &os(&["-c", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]),
                Duration::from_secs(60),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("more than 16 MiB"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_unavailable() {
        let cli = Cli::new("/nonexistent/container".into());
        let err = cli
            .run(&os(&["--version"]), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind, berth_runtime::ErrorKind::Unavailable);
        assert!(err.message.contains("/nonexistent/container"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn cancel_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The grandchild (`sleep`) is in the program's process group; its pid is written first.
        let script = format!(
            "sleep 600 & echo $! > {}; echo started >&2; wait",
            pidfile.display()
        );
        let cli = Cli::new("/bin/sh".into());
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        let err = cli
            .run_with(
                &os(&["-c", &script]),
                Duration::from_secs(60),
                &cancel,
                &mut |l| {
                    if l == "started" {
                        c2.cancel();
                    }
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, berth_runtime::ErrorKind::Cancelled);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_deadline_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 600 & echo $! > {}; wait", pidfile.display());
        let cli = Cli::new("/bin/sh".into());
        let err = cli
            .run(&os(&["-c", &script]), Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(err.kind, berth_runtime::ErrorKind::Unavailable);
        assert!(err.message.contains("did not finish"), "{err}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_gone(pid).await;
    }

    #[cfg(target_os = "linux")]
    /// Waits (up to 10 s) until `pid` no longer runs: a killed process disappears once reaped,
    /// or shows as a zombie until its parent (init) reaps it.
    pub(crate) async fn wait_gone(pid: i32) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if stat.is_empty() || state == Some("Z") {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "process {pid} still runs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

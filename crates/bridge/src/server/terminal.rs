//! Terminal sessions: a process on a pseudo-terminal (PTY).
//!
//! `openpty` gives a master/slave pair; the child becomes a session leader (`setsid`) and takes
//! the slave as its controlling terminal (`TIOCSCTTY`), so job control, Ctrl+C and SIGWINCH
//! behave as in any terminal. The child is spawned through the [`Reaper`] and never waited on
//! here. Output is read from the master into a bounded queue: when the client reads slowly the
//! queue fills, we stop reading the master, the kernel's PTY buffer fills, and the writing
//! program blocks — memory never grows with the output.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::process::{apply_env, code_and_signal, serve, spawn_failed, working_dir, Group};
use super::reaper::{Exit, Reaper};
use berth_bridge::proto::{
    terminal_input, terminal_output, terminal_server, TerminalExit, TerminalInput, TerminalOutput,
    TerminalSize, TerminalStart, TerminalStarted,
};

/// Read size from the master.
const CHUNK: usize = 32 * 1024;
/// Output queue depth per session: with `CHUNK`, at most ~0.5 MiB buffered per terminal.
const OUTPUT_QUEUE: usize = 16;
/// After the shell exits, a background job may still hold the terminal open; keep forwarding
/// its output, but stop once the terminal stays silent this long.
const DRAIN_IDLE: Duration = Duration::from_secs(1);
/// Shells tried in order when the client asks for "the workspace's shell".
pub const SHELLS: &[&str] = &["/bin/bash", "/usr/bin/bash", "/bin/sh", "/usr/bin/sh"];

pub struct TerminalService {
    pub data_dir: PathBuf,
    pub reaper: Reaper,
}

type OutTx = mpsc::Sender<Result<TerminalOutput, Status>>;
type OpenStream = Pin<Box<dyn Stream<Item = Result<TerminalOutput, Status>> + Send>>;

#[tonic::async_trait]
impl terminal_server::Terminal for TerminalService {
    type OpenStream = OpenStream;

    async fn open(
        &self,
        request: Request<Streaming<TerminalInput>>,
    ) -> Result<Response<OpenStream>, Status> {
        let mut inbound = request.into_inner();
        let start = match inbound.message().await? {
            Some(TerminalInput {
                input: Some(terminal_input::Input::Start(start)),
            }) => start,
            _ => {
                return Err(Status::invalid_argument(
                    "the first terminal message must be `start`",
                ))
            }
        };
        let session = spawn(start, &self.data_dir, &self.reaper, Path::new("/"))?;
        let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
        serve(session.run(inbound, tx.clone()), tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// The first existing, executable shell of [`SHELLS`] under `root`.
pub fn choose_shell(root: &Path) -> Option<&'static str> {
    use std::os::unix::fs::PermissionsExt;
    SHELLS.iter().copied().find(|s| {
        std::fs::metadata(root.join(s.trim_start_matches('/')))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

struct Session {
    group: Group,
    program: String,
    master: Arc<AsyncFd<OwnedFd>>,
    exit: oneshot::Receiver<Exit>,
}

fn winsize(size: Option<&TerminalSize>) -> libc::winsize {
    let (rows, cols) = match size {
        Some(s) if s.rows > 0 && s.cols > 0 => {
            (s.rows.min(u16::MAX as u32), s.cols.min(u16::MAX as u32))
        }
        _ => (24, 80),
    };
    libc::winsize {
        ws_row: rows as u16,
        ws_col: cols as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

fn spawn(
    start: TerminalStart,
    data_dir: &Path,
    reaper: &Reaper,
    root: &Path,
) -> Result<Session, Status> {
    let argv: Vec<Vec<u8>> = if start.argv.is_empty() {
        let shell = choose_shell(root).ok_or_else(|| {
            Status::not_found("the workspace has no shell (/bin/bash or /bin/sh)")
        })?;
        vec![shell.as_bytes().to_vec()]
    } else {
        start.argv
    };
    if argv[0].is_empty() {
        return Err(Status::invalid_argument("argv[0] is empty"));
    }
    let program = String::from_utf8_lossy(&argv[0]).into_owned();
    let cwd = working_dir(&start.cwd, data_dir)?;

    let ws = winsize(start.size.as_ref());
    let (master, slave) = openpty(&ws).map_err(|e| Status::internal(format!("openpty: {e}")))?;
    let stdio = |fd: &OwnedFd| -> Result<Stdio, Status> {
        fd.try_clone()
            .map(Stdio::from)
            .map_err(|e| Status::internal(format!("dup pty: {e}")))
    };

    let mut cmd = Command::new(OsStr::from_bytes(&argv[0]));
    cmd.args(argv[1..].iter().map(|a| OsStr::from_bytes(a)));
    cmd.env("TERM", "xterm-256color");
    if std::env::var_os("HOME").is_none() {
        cmd.env("HOME", "/root");
    }
    apply_env(&mut cmd, &start.env)?;
    cmd.current_dir(&cwd)
        .stdin(stdio(&slave)?)
        .stdout(stdio(&slave)?)
        .stderr(stdio(&slave)?);
    let master_raw = master.as_raw_fd();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // New session (and process group, pgid = pid): the shell leads it, so kills of its
            // group and the terminal's SIGHUP reach what it started.
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // stdin is the slave by now: make it the controlling terminal.
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The master is CLOEXEC already; close it anyway in case it is not.
            libc::close(master_raw);
            Ok(())
        });
    }
    let spawned = reaper.spawn(&mut cmd);
    drop(cmd); // closes our copies of the slave in the Command
    drop(slave); // only the child holds the slave now: its exit makes the master read EIO
    let (child, exit) = spawned.map_err(|e| spawn_failed(&program, e))?;
    let pid = child.id() as i32;
    drop(child); // never waited here: the reaper owns waitpid
    set_nonblocking(&master).map_err(|e| Status::internal(format!("pty master: {e}")))?;
    // SAFETY: `master` is an OwnedFd that the AsyncFd owns from here on and that nothing else
    // closes or re-registers while it is registered.
    let master = unsafe { AsyncFd::register(master) }
        .map_err(|e| Status::internal(format!("pty master: {}", e.into_parts().1)))?;
    Ok(Session {
        group: Group::new(pid, reaper, "terminal"),
        program,
        master: Arc::new(master),
        exit,
    })
}

impl Session {
    async fn run(mut self, inbound: Streaming<TerminalInput>, tx: OutTx) {
        let started = TerminalOutput {
            output: Some(terminal_output::Output::Started(TerminalStarted {
                pid: self.group.pid as u32,
                program: self.program.clone(),
            })),
        };
        if tx.send(Ok(started)).await.is_err() {
            return;
        }
        let input = AbortOnDrop(tokio::spawn(feed_input(
            inbound,
            self.master.clone(),
            self.group.pid,
        )));
        let (exited_tx, exited_rx) = watch::channel(false);
        let exit_rx = &mut self.exit;
        let wait = async move {
            let exit = exit_rx.await;
            let _ = exited_tx.send(true);
            (exit, exited_tx)
        };
        let (waited, ()) = tokio::join!(wait, pump(&self.master, &tx, exited_rx));
        drop(input);
        let Some((code, signal)) = code_and_signal(waited.0) else {
            let _ = tx.send(Err(Status::internal("lost the exit status"))).await;
            return;
        };
        let exit = TerminalExit { code, signal };
        let _ = tx
            .send(Ok(TerminalOutput {
                output: Some(terminal_output::Output::Exit(exit)),
            }))
            .await;
    }
}

/// Forwards the master's output until EIO (no process holds the terminal any more), or until
/// it stays idle after the shell exited.
async fn pump(master: &AsyncFd<OwnedFd>, tx: &OutTx, mut exited: watch::Receiver<bool>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let read = if *exited.borrow() {
            match tokio::time::timeout(DRAIN_IDLE, read_fd(master, &mut buf)).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = read_fd(master, &mut buf) => r,
                _ = exited.changed() => continue,
            }
        };
        match read {
            Ok(0) | Err(_) => return, // EIO: every holder of the slave is gone
            Ok(mut n) => {
                // A PTY hands out at most a few KiB per read; take what else is ready now, so
                // a fast writer costs few large messages instead of many small ones. Never
                // waits, so a single keystroke's echo is not delayed.
                while n < buf.len() {
                    match read_ready(master, &mut buf[n..]) {
                        Some(m) if m > 0 => n += m,
                        _ => break,
                    }
                }
                // A full queue parks us here and we stop reading the master: back-pressure.
                let msg = TerminalOutput {
                    output: Some(terminal_output::Output::Data(buf[..n].to_vec())),
                };
                if tx.send(Ok(msg)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Applies input messages: bytes to the master, resizes, and signals to the foreground group.
async fn feed_input(
    mut inbound: Streaming<TerminalInput>,
    master: Arc<AsyncFd<OwnedFd>>,
    pid: i32,
) {
    while let Ok(Some(msg)) = inbound.message().await {
        match msg.input {
            Some(terminal_input::Input::Data(bytes)) => {
                if write_all(&master, &bytes).await.is_err() {
                    return;
                }
            }
            Some(terminal_input::Input::Resize(size)) => {
                let ws = winsize(Some(&size));
                // SAFETY: ioctl on our own master fd with a valid winsize.
                unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ as _, &ws) };
            }
            Some(terminal_input::Input::Signal(sig)) => {
                // SAFETY: plain syscalls. tcgetpgrp on the master names the terminal's current
                // foreground group (the shell's own group when nothing runs in the foreground).
                unsafe {
                    let fg = libc::tcgetpgrp(master.as_raw_fd());
                    libc::killpg(if fg > 0 { fg } else { pid }, sig);
                }
            }
            Some(terminal_input::Input::Start(_)) | None => {}
        }
    }
}

async fn read_fd(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| {
            // SAFETY: reading into a valid buffer from an fd we own.
            let n = unsafe { libc::read(inner.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

/// One read of what the master has right now; `None` when nothing is ready (or on error,
/// which the next awaited read reports).
fn read_ready(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: reading into a valid buffer from our non-blocking fd.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then_some(n as usize)
}

async fn write_all(fd: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut guard = fd.writable().await?;
        match guard.try_io(|inner| {
            // SAFETY: writing from a valid buffer to an fd we own.
            let n = unsafe { libc::write(inner.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

fn openpty(ws: &libc::winsize) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: out-pointers are valid; name and termios are null (defaults).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            ws as *const libc::winsize as *mut libc::winsize,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openpty returned two fresh fds that nobody else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on fds we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok((master, slave))
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_bash_and_falls_back_to_sh() {
        let dir = tempfile::tempdir().unwrap();
        let make = |p: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        assert_eq!(choose_shell(dir.path()), None);
        make("bin/sh", 0o755);
        assert_eq!(choose_shell(dir.path()), Some("/bin/sh"));
        make("bin/bash", 0o644); // not executable: skipped
        assert_eq!(choose_shell(dir.path()), Some("/bin/sh"));
        make("usr/bin/bash", 0o755);
        assert_eq!(choose_shell(dir.path()), Some("/usr/bin/bash"));
    }
}

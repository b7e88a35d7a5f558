//! One exec session: spawn the process, feed its stdin, stream its stdout/stderr, and report
//! its exit status last.
//!
//! Output flows through a bounded channel to the gRPC response, so a process that writes faster
//! than the client reads is paused by the pipe (back-pressure) instead of growing our memory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};

use super::process::{apply_env, code_and_signal, spawn_failed, working_dir, Group};
use super::reaper::{Exit, Reaper};
use berth_bridge::proto::{
    exec_input, exec_output, ExecExit, ExecInput, ExecOutput, ExecStart, ExecStarted,
};

/// Chunk size for stdout/stderr messages.
const CHUNK: usize = 32 * 1024;
/// Output queue depth per session: with `CHUNK`, at most ~0.5 MiB buffered per exec.
pub const OUTPUT_QUEUE: usize = 16;
/// After the process exits, a descendant may still hold its stdout open (e.g. `daemon &`).
/// We keep forwarding output, but stop once the pipes stay silent this long.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

pub type OutTx = mpsc::Sender<Result<ExecOutput, Status>>;

/// A spawned process, ready to be driven by [`Session::run`].
pub struct Session {
    group: Group,
    exit: tokio::sync::oneshot::Receiver<Exit>,
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
}

/// Validates the start message and spawns the process. Errors become the call's gRPC status.
pub fn spawn(start: ExecStart, data_dir: &Path, reaper: &Reaper) -> Result<Session, Status> {
    let program = start
        .argv
        .first()
        .ok_or_else(|| Status::invalid_argument("argv is empty"))?;
    let program_name = String::from_utf8_lossy(program).into_owned();
    if program.is_empty() {
        return Err(Status::invalid_argument("argv[0] is empty"));
    }
    let cwd = working_dir(&start.cwd, data_dir)?;

    let mut cmd = Command::new(OsStr::from_bytes(program));
    cmd.args(start.argv[1..].iter().map(|a| OsStr::from_bytes(a)));
    apply_env(&mut cmd, &start.env)?;
    cmd.current_dir(&cwd)
        // Own process group, so kills and shutdown signals reach the whole pipeline.
        .process_group(0)
        .stdin(if start.has_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let (mut child, exit) = reaper
        .spawn(&mut cmd)
        .map_err(|e| spawn_failed(&program_name, e))?;
    let pid = child.id() as i32;
    let internal = |e: std::io::Error| Status::internal(format!("pipe setup: {e}"));
    // From here on the session owns the pid: dropping it kills the group if still running.
    let mut session = Session {
        group: Group::new(pid, reaper, "exec"),
        exit,
        stdin: None,
        stdout: pipe::Receiver::from_owned_fd(child.stdout.take().expect("piped").into())
            .map_err(internal)?,
        stderr: pipe::Receiver::from_owned_fd(child.stderr.take().expect("piped").into())
            .map_err(internal)?,
    };
    if let Some(stdin) = child.stdin.take() {
        session.stdin = Some(pipe::Sender::from_owned_fd(stdin.into()).map_err(internal)?);
    }
    // `child` is dropped without waiting: the reaper owns waitpid for every process.
    Ok(session)
}

impl Session {
    /// Drives the session to completion. Returns early (killing the group via `Drop`) when the
    /// client goes away.
    pub async fn run(mut self, inbound: Streaming<ExecInput>, tx: OutTx) {
        let started = ExecOutput {
            output: Some(exec_output::Output::Started(ExecStarted {
                pid: self.group.pid as u32,
            })),
        };
        if tx.send(Ok(started)).await.is_err() {
            return;
        }
        let stdin_task = AbortOnDrop(tokio::spawn(feed_stdin(inbound, self.stdin.take())));

        let (exited_tx, exited_rx) = watch::channel(false);
        let exit_rx = &mut self.exit;
        let wait = async move {
            let exit = exit_rx.await;
            let _ = exited_tx.send(true);
            // Keep the sender alive until the pumps are done with it.
            (exit, exited_tx)
        };
        let out = tokio::join!(
            wait,
            pump(
                &mut self.stdout,
                exec_output::Output::Stdout,
                &tx,
                exited_rx.clone()
            ),
            pump(
                &mut self.stderr,
                exec_output::Output::Stderr,
                &tx,
                exited_rx
            ),
        );
        drop(stdin_task);
        let Some((code, signal)) = code_and_signal(out.0 .0) else {
            let _ = tx.send(Err(Status::internal("lost the exit status"))).await;
            return;
        };
        let exit = ExecExit { code, signal };
        let _ = tx
            .send(Ok(ExecOutput {
                output: Some(exec_output::Output::Exit(exit)),
            }))
            .await;
    }
}

/// Forwards one pipe to the client until EOF, or until it stays idle after the process exited.
async fn pump(
    pipe: &mut (impl AsyncRead + Unpin),
    wrap: fn(Vec<u8>) -> exec_output::Output,
    tx: &OutTx,
    mut exited: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let read = if *exited.borrow() {
            match tokio::time::timeout(DRAIN_IDLE, pipe.read(&mut buf)).await {
                Ok(r) => r,
                Err(_) => return,
            }
        } else {
            tokio::select! {
                r = pipe.read(&mut buf) => r,
                // Re-enter the loop to switch to the idle-bounded read; reads are cancel-safe.
                _ = exited.changed() => continue,
            }
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // A full queue parks us here, which stops reading the pipe: back-pressure.
                if tx
                    .send(Ok(ExecOutput {
                        output: Some(wrap(buf[..n].to_vec())),
                    }))
                    .await
                    .is_err()
                {
                    return; // client gone; `Service` notices via `tx.closed()` and drops us
                }
            }
        }
    }
}

/// Copies stdin chunks from the request stream into the process until `stdin_eof`, the end of
/// the request stream, or the process closing its stdin.
async fn feed_stdin(mut inbound: Streaming<ExecInput>, mut stdin: Option<pipe::Sender>) {
    while let Ok(Some(msg)) = inbound.message().await {
        match msg.input {
            Some(exec_input::Input::Stdin(bytes)) => {
                if let Some(pipe) = stdin.as_mut() {
                    if pipe.write_all(&bytes).await.is_err() {
                        stdin = None; // EPIPE: the process stopped reading; discard the rest
                    }
                }
            }
            Some(exec_input::Input::StdinEof(_)) => stdin = None, // closing the pipe is the EOF
            Some(exec_input::Input::Start(_)) | None => {}        // duplicate start: ignore
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

//! Host-side client for the bridge: connects over the workspace's Unix socket and exposes
//! health and exec with plain Rust types.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::channel::BridgeChannel;

use crate::error::BridgeError;
use crate::peer::ExpectedPeer;
use crate::proto::{self, bridge_client::BridgeClient as Raw, exec_input, exec_output};

/// Size of the stdin chunks sent to the bridge; well under gRPC's 4 MiB message limit.
const STDIN_CHUNK: usize = 64 * 1024;
/// Outbound queue depth: bounded so a fast stdin source waits for the bridge (back-pressure).
const STDIN_QUEUE: usize = 8;

/// A connection to one bridge. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct BridgeClient {
    raw: Raw<Channel>,
}

/// What `Health` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Version of the bridge binary (its crate version).
    pub version: String,
    /// The bridge's pid inside the container (1 when it is the init process).
    pub pid: u32,
    /// Milliseconds since the bridge started.
    pub uptime_ms: u64,
}

/// A process to run through the bridge, in pipe mode (no terminal).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program and arguments; bytes so non-UTF-8 arguments work. `argv[0]` is looked up in PATH.
    pub argv: Vec<Vec<u8>>,
    /// `"K=V"` entries added to (or overriding) the bridge's environment.
    pub env: Vec<String>,
    /// Working directory; `None` means the workspace's data directory (`/data`).
    pub cwd: Option<String>,
}

impl ExecRequest {
    /// Convenience constructor from UTF-8 arguments.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ExecRequest {
            argv: argv
                .into_iter()
                .map(|a| a.as_ref().as_bytes().to_vec())
                .collect(),
            ..Default::default()
        }
    }
}

/// How an exec'd process ended: exactly one of the two is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code, when the process exited normally.
    pub code: Option<i32>,
    /// Signal number, when the process was killed by a signal.
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// True when the process exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl BridgeClient {
    /// Connects to the bridge listening on `socket`. Fails with `Unavailable` if nothing listens.
    pub async fn connect(socket: &Path, peer: ExpectedPeer) -> Result<Self, BridgeError> {
        Ok(Self::new(&BridgeChannel::connect(socket, peer).await?))
    }

    /// A client on an existing connection.
    pub fn new(channel: &BridgeChannel) -> Self {
        BridgeClient {
            raw: Raw::new(channel.channel()).max_decoding_message_size(crate::MAX_MESSAGE),
        }
    }

    /// Asks the bridge for its version, pid and uptime.
    pub async fn health(&self) -> Result<Health, BridgeError> {
        let reply = self
            .raw
            .clone()
            .health(proto::HealthRequest {})
            .await?
            .into_inner();
        Ok(Health {
            version: reply.version,
            pid: reply.pid,
            uptime_ms: reply.uptime_ms,
        })
    }

    /// Retries connect + health every 50 ms until it succeeds or `timeout` passes; used right
    /// after a container starts, when the socket may not exist yet. A listener that is not
    /// `peer` ends the wait at once with `NotTheBridge`.
    pub async fn wait_ready(
        socket: &Path,
        peer: ExpectedPeer,
        timeout: Duration,
    ) -> Result<(Self, Health), BridgeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let attempt = async {
                let client = Self::connect(socket, peer.clone()).await?;
                let health = client.health().await?;
                Ok::<_, BridgeError>((client, health))
            };
            let last_err = match tokio::time::timeout_at(deadline.into(), attempt).await {
                Ok(Ok(ready)) => return Ok(ready),
                Ok(Err(e @ BridgeError::NotTheBridge(_))) => return Err(e),
                Ok(Err(e)) => e,
                Err(_) => BridgeError::Unavailable("timed out connecting".into()),
            };
            if Instant::now() + Duration::from_millis(50) >= deadline {
                return Err(BridgeError::Unavailable(format!(
                    "bridge at {} not ready after {:?}: {}",
                    socket.display(),
                    timeout,
                    last_err.message()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs a process and streams its output into `stdout` / `stderr` until it exits.
    ///
    /// With `stdin = None` the process reads `/dev/null`. Dropping the returned future cancels
    /// the call, and the bridge then kills the process group.
    pub async fn exec(
        &self,
        req: ExecRequest,
        stdin: Option<impl AsyncRead + Unpin + Send + 'static>,
        mut stdout: impl AsyncWrite + Unpin + Send,
        mut stderr: impl AsyncWrite + Unpin + Send,
    ) -> Result<ExitStatus, BridgeError> {
        let (tx, rx) = mpsc::channel(STDIN_QUEUE);
        let start = proto::ExecStart {
            argv: req.argv,
            env: req.env,
            cwd: req.cwd.unwrap_or_default(),
            has_stdin: stdin.is_some(),
        };
        // Queue `start` before issuing the call so the first request message is ready at once.
        tx.send(input(exec_input::Input::Start(start)))
            .await
            .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
        // The pump task only ends on its own (EOF) or when `_pump` aborts it at return / drop.
        let _pump = AbortOnDrop(stdin.map(|src| tokio::spawn(pump_stdin(src, tx.clone()))));
        drop(tx);

        let mut outputs = self
            .raw
            .clone()
            .exec(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let mut started = false;
        while let Some(msg) = outputs.message().await? {
            match msg.output {
                Some(exec_output::Output::Started(_)) => started = true,
                Some(exec_output::Output::Stdout(b)) => write(&mut stdout, &b, "stdout").await?,
                Some(exec_output::Output::Stderr(b)) => write(&mut stderr, &b, "stderr").await?,
                Some(exec_output::Output::Exit(exit)) => {
                    if !started {
                        return Err(BridgeError::Internal("exit before started".into()));
                    }
                    flush(&mut stdout, "stdout").await?;
                    flush(&mut stderr, "stderr").await?;
                    return Ok(ExitStatus {
                        code: exit.code,
                        signal: exit.signal,
                    });
                }
                None => {}
            }
        }
        Err(BridgeError::Unavailable(
            "exec stream ended without an exit status".into(),
        ))
    }
}

fn input(i: exec_input::Input) -> proto::ExecInput {
    proto::ExecInput { input: Some(i) }
}

/// Copies the caller's stdin into the request stream, then sends `stdin_eof`.
async fn pump_stdin(mut src: impl AsyncRead + Unpin, tx: mpsc::Sender<proto::ExecInput>) {
    let mut buf = vec![0u8; STDIN_CHUNK];
    loop {
        match src.read(&mut buf).await {
            Ok(0) | Err(_) => break, // a failing source ends the input like EOF would
            Ok(n) => {
                if tx
                    .send(input(exec_input::Input::Stdin(buf[..n].to_vec())))
                    .await
                    .is_err()
                {
                    return; // the call is over; nobody reads stdin any more
                }
            }
        }
    }
    let _ = tx.send(input(exec_input::Input::StdinEof(true))).await;
}

async fn write(w: &mut (impl AsyncWrite + Unpin), b: &[u8], what: &str) -> Result<(), BridgeError> {
    w.write_all(b)
        .await
        .map_err(|e| BridgeError::Internal(format!("writing {what}: {e}")))
}

async fn flush(w: &mut (impl AsyncWrite + Unpin), what: &str) -> Result<(), BridgeError> {
    w.flush()
        .await
        .map_err(|e| BridgeError::Internal(format!("flushing {what}: {e}")))
}

/// Aborts the stdin pump when `exec` returns or is cancelled, so it never outlives the call.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

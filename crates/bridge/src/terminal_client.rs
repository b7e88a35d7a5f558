//! Host-side client for the bridge's `Terminal` service: interactive sessions on a PTY, with
//! plain Rust types only (no tonic in the public API).

use std::path::Path;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::channel::BridgeChannel;

use crate::client::ExitStatus;
use crate::error::BridgeError;
use crate::peer::ExpectedPeer;
use crate::proto::{self, terminal_client::TerminalClient as Raw, terminal_input, terminal_output};

/// Input queue depth. Keystrokes are tiny; a big paste waits for the bridge (back-pressure).
const INPUT_QUEUE: usize = 64;
/// Largest data message sent to the bridge (a paste is split), well under gRPC's limit.
const INPUT_CHUNK: usize = 64 * 1024;

/// What to run on the terminal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TerminalRequest {
    /// Program and arguments; empty means the workspace's shell (bash if present, else sh).
    pub argv: Vec<Vec<u8>>,
    /// `"K=V"` entries on top of `TERM=xterm-256color` and the bridge's environment.
    pub env: Vec<String>,
    /// Working directory; `None` means the data directory (`/data`).
    pub cwd: Option<String>,
    /// Initial size; 0 means the default (24 rows × 80 columns).
    pub rows: u16,
    pub cols: u16,
}

/// One event from a terminal, in order: output bytes (raw, possibly splitting UTF-8
/// sequences), then exactly one `Exit` at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TerminalEvent {
    Output(Vec<u8>),
    Exit(ExitStatus),
}

/// A connection to one bridge's terminal service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TerminalClient {
    raw: Raw<Channel>,
}

/// Sends input, resizes and signals to one session. Cheap to clone; the session ends (the
/// bridge kills it) once the [`TerminalReader`] and every writer are dropped.
#[derive(Clone, Debug)]
pub struct TerminalWriter {
    tx: mpsc::Sender<proto::TerminalInput>,
}

/// Receives a session's output and its exit status.
#[derive(Debug)]
pub struct TerminalReader {
    stream: tonic::Streaming<proto::TerminalOutput>,
    done: bool,
}

/// A started session.
#[derive(Debug)]
pub struct TerminalSession {
    /// The process id inside the container.
    pub pid: u32,
    /// What was started, e.g. `/bin/bash`.
    pub program: String,
    pub writer: TerminalWriter,
    pub reader: TerminalReader,
}

impl TerminalClient {
    /// Connects to the bridge listening on `socket`.
    pub async fn connect(socket: &Path, peer: ExpectedPeer) -> Result<Self, BridgeError> {
        Ok(Self::new(&BridgeChannel::connect(socket, peer).await?))
    }

    /// A client on an existing connection.
    pub fn new(channel: &BridgeChannel) -> Self {
        TerminalClient {
            raw: Raw::new(channel.channel()).max_decoding_message_size(crate::MAX_MESSAGE),
        }
    }

    /// Starts a session; returns once the process runs (or with why it could not start).
    pub async fn open(&self, req: TerminalRequest) -> Result<TerminalSession, BridgeError> {
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let start = proto::TerminalStart {
            argv: req.argv,
            env: req.env,
            cwd: req.cwd.unwrap_or_default(),
            size: Some(proto::TerminalSize {
                rows: req.rows as u32,
                cols: req.cols as u32,
            }),
        };
        tx.send(input(terminal_input::Input::Start(start)))
            .await
            .map_err(|_| BridgeError::Internal("request stream closed".into()))?;
        let mut stream = self
            .raw
            .clone()
            .open(ReceiverStream::new(rx))
            .await?
            .into_inner();
        match stream.message().await? {
            Some(proto::TerminalOutput {
                output: Some(terminal_output::Output::Started(s)),
            }) => Ok(TerminalSession {
                pid: s.pid,
                program: s.program,
                writer: TerminalWriter { tx },
                reader: TerminalReader {
                    stream,
                    done: false,
                },
            }),
            _ => Err(BridgeError::Internal(
                "terminal did not report `started` first".into(),
            )),
        }
    }
}

impl TerminalWriter {
    /// Writes bytes to the terminal (what the user types or pastes).
    pub async fn write(&self, data: &[u8]) -> Result<(), BridgeError> {
        for chunk in data.chunks(INPUT_CHUNK) {
            self.send(terminal_input::Input::Data(chunk.to_vec()))
                .await?;
        }
        Ok(())
    }

    /// Changes the terminal's size; the foreground program gets SIGWINCH.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), BridgeError> {
        self.send(terminal_input::Input::Resize(proto::TerminalSize {
            rows: rows as u32,
            cols: cols as u32,
        }))
        .await
    }

    /// Sends a signal to the terminal's foreground process group.
    pub async fn signal(&self, signal: i32) -> Result<(), BridgeError> {
        self.send(terminal_input::Input::Signal(signal)).await
    }

    async fn send(&self, i: terminal_input::Input) -> Result<(), BridgeError> {
        self.tx
            .send(input(i))
            .await
            .map_err(|_| BridgeError::Unavailable("the terminal session has ended".into()))
    }
}

impl TerminalReader {
    /// The next event. After `Exit`, or when the bridge goes away (the workspace stopped), it
    /// returns an `Unavailable` error.
    pub async fn next(&mut self) -> Result<TerminalEvent, BridgeError> {
        if self.done {
            return Err(BridgeError::Unavailable(
                "the terminal session has ended".into(),
            ));
        }
        loop {
            let msg = match self.stream.message().await {
                Ok(Some(m)) => m,
                Ok(None) => {
                    self.done = true;
                    return Err(BridgeError::Unavailable(
                        "the terminal stream ended without an exit status".into(),
                    ));
                }
                Err(e) => {
                    self.done = true;
                    return Err(e.into());
                }
            };
            match msg.output {
                Some(terminal_output::Output::Data(b)) => return Ok(TerminalEvent::Output(b)),
                Some(terminal_output::Output::Exit(e)) => {
                    self.done = true;
                    return Ok(TerminalEvent::Exit(ExitStatus {
                        code: e.code,
                        signal: e.signal,
                    }));
                }
                Some(terminal_output::Output::Started(_)) | None => {}
            }
        }
    }
}

fn input(i: terminal_input::Input) -> proto::TerminalInput {
    proto::TerminalInput { input: Some(i) }
}

//! Interactive terminals in workspaces, owned by the Rust side.
//!
//! A [`Terminals`] registry keeps every session (its bridge connection, a bounded scrollback and
//! its status) independently of any view: a view attaches a [`TerminalSink`], gets the
//! scrollback first and then live output, and may go away and attach again (page switch, window
//! reload) without the shell noticing. Sessions notice when their program exits and when their
//! workspace stops.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use berth_bridge::{TerminalClient, TerminalReader};
pub use berth_bridge::{TerminalEvent, TerminalRequest, TerminalSession, TerminalWriter};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::model::WorkspaceState;
use crate::{Berth, Error, Result};

/// How much output each session keeps for views that attach later.
pub const SCROLLBACK_BYTES: usize = 1024 * 1024;

/// Where a terminal session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum TerminalStatus {
    /// The program runs.
    Running,
    /// The program ended; `exitCode` or `exitSignal` says how.
    Exited,
    /// The workspace stopped (or its bridge went away) while the session was open.
    WorkspaceStopped,
}

/// One terminal session as views and `terminal_list` see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TerminalInfo {
    pub id: String,
    pub bot: String,
    /// The tab's title (renamable).
    pub title: String,
    /// What runs, e.g. `/bin/bash`.
    pub program: String,
    pub rows: u16,
    pub cols: u16,
    pub status: TerminalStatus,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
}

/// Receives a session's output (raw bytes, possibly splitting UTF-8 sequences; the terminal
/// emulator decodes) and status changes. Returning `false` means the view is gone: it is
/// detached and the session keeps running.
pub trait TerminalSink: Send + Sync + 'static {
    fn output(&self, data: &[u8]) -> bool;
    fn status(&self, info: &TerminalInfo) -> bool;
}

struct Session {
    info: TerminalInfo,
    scrollback: VecDeque<u8>,
    sink: Option<Box<dyn TerminalSink>>,
    writer: Option<TerminalWriter>,
    task: Option<tokio::task::JoinHandle<()>>,
}

type Shared = Arc<Mutex<Session>>;

/// The registry of terminal sessions. Cheap to clone; clones share the sessions.
#[derive(Clone)]
pub struct Terminals {
    berth: Berth,
    sessions: Arc<Mutex<HashMap<String, Shared>>>,
    next: Arc<AtomicU64>,
}

impl Berth {
    /// Opens a raw terminal session in the bot's running workspace (for the CLI; the app uses
    /// [`Terminals`], which adds scrollback and re-attaching).
    pub async fn terminal(&self, bot: &str, req: TerminalRequest) -> Result<TerminalSession> {
        let req = &req;
        let open = move |ch| async move { Ok(TerminalClient::new(&ch).open(req.clone()).await?) };
        self.with_bridge(bot, open).await
    }
}

impl Terminals {
    /// A registry over `berth`. Must be called inside a tokio runtime: it follows workspace
    /// state changes to mark sessions of stopped workspaces.
    pub fn new(berth: Berth) -> Self {
        let t = Terminals {
            berth,
            sessions: Arc::new(Mutex::new(HashMap::new())),
            next: Arc::new(AtomicU64::new(1)),
        };
        let mut changes = t.berth.subscribe();
        let weak = Arc::downgrade(&t.sessions);
        tokio::spawn(async move {
            loop {
                let change = match changes.recv().await {
                    Ok(c) => c,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                let Some(sessions) = weak.upgrade() else {
                    return;
                };
                if change.state == WorkspaceState::Running {
                    continue;
                }
                let of_bot: Vec<Shared> = sessions
                    .lock()
                    .unwrap()
                    .values()
                    .filter(|s| s.lock().unwrap().info.bot == change.bot)
                    .cloned()
                    .collect();
                for s in of_bot {
                    mark_stopped(&s);
                }
            }
        });
        t
    }

    /// Starts the workspace's shell (bash if present, else sh) in `/data` at the given size and
    /// attaches `sink`.
    pub async fn open(
        &self,
        bot: &str,
        rows: u16,
        cols: u16,
        sink: Box<dyn TerminalSink>,
    ) -> Result<TerminalInfo> {
        let session = self
            .berth
            .terminal(
                bot,
                TerminalRequest {
                    rows,
                    cols,
                    ..Default::default()
                },
            )
            .await?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("term-{n}");
        let count = self.list(Some(bot)).len() + 1;
        let info = TerminalInfo {
            id: id.clone(),
            bot: bot.to_string(),
            title: format!("{} {count}", shell_name(&session.program)),
            program: session.program.clone(),
            rows,
            cols,
            status: TerminalStatus::Running,
            exit_code: None,
            exit_signal: None,
        };
        let shared: Shared = Arc::new(Mutex::new(Session {
            info: info.clone(),
            scrollback: VecDeque::new(),
            sink: Some(sink),
            writer: Some(session.writer),
            task: None,
        }));
        let task = tokio::spawn(read_loop(session.reader, shared.clone()));
        shared.lock().unwrap().task = Some(task);
        self.sessions.lock().unwrap().insert(id, shared);
        Ok(info)
    }

    /// Attaches a new view: it receives the scrollback at once, then live output. Replaces the
    /// previous view, if any.
    pub fn attach(&self, id: &str, sink: Box<dyn TerminalSink>) -> Result<TerminalInfo> {
        let s = self.get(id)?;
        let mut s = s.lock().unwrap();
        let (a, b) = s.scrollback.as_slices();
        let mut replay = Vec::with_capacity(a.len() + b.len());
        replay.extend_from_slice(a);
        replay.extend_from_slice(b);
        // Under the session lock: the reader cannot slip output in between (no gap, no repeat).
        if !replay.is_empty() {
            sink.output(&replay);
        }
        sink.status(&s.info);
        s.sink = Some(sink);
        Ok(s.info.clone())
    }

    /// Sends input (keystrokes, pastes) to the session.
    pub async fn write(&self, id: &str, data: &[u8]) -> Result<()> {
        let w = self.writer(id)?;
        w.write(data)
            .await
            .map_err(|e| Error::from(e).context("writing to the terminal"))
    }

    /// Changes the session's size; the program gets SIGWINCH.
    pub async fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Err(Error::invalid("terminal size must be at least 1x1"));
        }
        let w = self.writer(id)?;
        {
            let s = self.get(id)?;
            let mut s = s.lock().unwrap();
            s.info.rows = rows;
            s.info.cols = cols;
        }
        w.resize(rows, cols)
            .await
            .map_err(|e| Error::from(e).context("resizing the terminal"))
    }

    /// Renames the session's tab.
    pub fn rename(&self, id: &str, title: &str) -> Result<TerminalInfo> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > 64 {
            return Err(Error::invalid("a terminal title needs 1 to 64 characters"));
        }
        let s = self.get(id)?;
        let mut s = s.lock().unwrap();
        s.info.title = title.to_string();
        Ok(s.info.clone())
    }

    /// Ends the session (the bridge kills its processes) and forgets it.
    pub fn close(&self, id: &str) -> Result<()> {
        let s = self
            .sessions
            .lock()
            .unwrap()
            .remove(id)
            .ok_or_else(|| Error::not_found(format!("no terminal session {id}")))?;
        let mut s = s.lock().unwrap();
        s.writer = None;
        s.sink = None;
        if let Some(t) = s.task.take() {
            t.abort(); // drops the reader: the call ends and the bridge kills the shell
        }
        Ok(())
    }

    /// Sessions, oldest first; only the bot's when `bot` is given.
    pub fn list(&self, bot: Option<&str>) -> Vec<TerminalInfo> {
        let mut v: Vec<TerminalInfo> = self
            .sessions
            .lock()
            .unwrap()
            .values()
            .map(|s| s.lock().unwrap().info.clone())
            .filter(|i| bot.is_none_or(|b| i.bot == b))
            .collect();
        v.sort_by_key(|i| i.id.trim_start_matches("term-").parse::<u64>().unwrap_or(0));
        v
    }

    /// The session's scrollback (what a view attaching now would be sent first).
    pub fn scrollback(&self, id: &str) -> Result<Vec<u8>> {
        let s = self.get(id)?;
        let s = s.lock().unwrap();
        Ok(s.scrollback.iter().copied().collect())
    }

    fn get(&self, id: &str) -> Result<Shared> {
        self.sessions
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no terminal session {id}")))
    }

    fn writer(&self, id: &str) -> Result<TerminalWriter> {
        let s = self.get(id)?;
        let s = s.lock().unwrap();
        match (&s.writer, s.info.status) {
            (Some(w), TerminalStatus::Running) => Ok(w.clone()),
            _ => Err(Error::conflict(format!("terminal {id} has ended"))),
        }
    }
}

/// Opens an http(s) link from a terminal in the user's browser (`xdg-open`, or `open` on macOS).
pub fn open_link(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || url.chars().any(char::is_whitespace)
    {
        return Err(Error::invalid(format!(
            "only http(s) links open from a terminal, not {url:?}"
        )));
    }
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut child = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| Error::unavailable(format!("cannot run {opener} to open the link: {e}")))?;
    // Reap it in the background; the browser outlives it.
    std::thread::spawn(move || child.wait());
    Ok(())
}

fn shell_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

async fn read_loop(mut reader: TerminalReader, s: Shared) {
    loop {
        match reader.next().await {
            Ok(TerminalEvent::Output(data)) => {
                let mut s = s.lock().unwrap();
                push_scrollback(&mut s.scrollback, &data);
                if let Some(sink) = &s.sink {
                    if !sink.output(&data) {
                        s.sink = None; // the view went away; keep the session
                    }
                }
            }
            Ok(TerminalEvent::Exit(status)) => {
                let mut s = s.lock().unwrap();
                if s.info.status == TerminalStatus::Running {
                    s.info.status = TerminalStatus::Exited;
                    s.info.exit_code = status.code;
                    s.info.exit_signal = status.signal;
                }
                s.writer = None;
                notify(&mut s);
                return;
            }
            Err(_) => {
                // The bridge went away: the workspace stopped or restarted.
                let mut s = s.lock().unwrap();
                s.writer = None;
                if s.info.status == TerminalStatus::Running {
                    s.info.status = TerminalStatus::WorkspaceStopped;
                    notify(&mut s);
                }
                return;
            }
        }
    }
}

/// The workspace stopped: a session still running, or one whose shell was just killed by the
/// stop (a signal), is marked as stopped by the workspace rather than as exited.
fn mark_stopped(s: &Shared) {
    let mut s = s.lock().unwrap();
    let killed = s.info.status == TerminalStatus::Exited && s.info.exit_signal.is_some();
    if s.info.status == TerminalStatus::Running || killed {
        s.info.status = TerminalStatus::WorkspaceStopped;
        s.writer = None;
        notify(&mut s);
    }
}

fn notify(s: &mut Session) {
    if let Some(sink) = &s.sink {
        if !sink.status(&s.info) {
            s.sink = None;
        }
    }
}

/// Appends to a scrollback bounded by [`SCROLLBACK_BYTES`]. When trimming, it also drops the
/// rest of the oldest line, so a replay starts at a line start rather than inside an escape
/// sequence or a multi-byte character.
fn push_scrollback(buf: &mut VecDeque<u8>, data: &[u8]) {
    let data = if data.len() > SCROLLBACK_BYTES {
        &data[data.len() - SCROLLBACK_BYTES..]
    } else {
        data
    };
    buf.extend(data);
    if buf.len() > SCROLLBACK_BYTES {
        let excess = buf.len() - SCROLLBACK_BYTES;
        buf.drain(..excess);
        let line_end = buf.iter().take(4096).position(|&c| c == b'\n');
        if let Some(p) = line_end {
            buf.drain(..=p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_open() {
        assert!(open_link("file:///etc/passwd").is_err());
        assert!(open_link("javascript:alert(1)").is_err());
        assert!(open_link("https://a b").is_err());
    }

    #[test]
    fn scrollback_keeps_the_last_mebibyte_from_a_line_start() {
        let mut buf = VecDeque::new();
        for i in 0..200_000u32 {
            push_scrollback(&mut buf, format!("line {i}\r\n").as_bytes());
        }
        assert!(buf.len() <= SCROLLBACK_BYTES);
        assert!(buf.len() > SCROLLBACK_BYTES - 4096);
        let text: Vec<u8> = buf.iter().copied().collect();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("line "), "{}", &text[..20]);
        assert!(text.ends_with("line 199999\r\n"));
        // A single write bigger than the limit keeps its tail.
        let mut buf = VecDeque::new();
        push_scrollback(&mut buf, &vec![b'x'; 3 * SCROLLBACK_BYTES]);
        assert_eq!(buf.len(), SCROLLBACK_BYTES);
    }
}

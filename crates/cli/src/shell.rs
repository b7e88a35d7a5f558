//! Interactive terminals: `berth shell BOT` and `berth exec -t`.
//!
//! The local terminal goes into raw mode (every key, including Ctrl+C, goes to the remote
//! program, whose own PTY does the line editing and signals), window-size changes (SIGWINCH)
//! are forwarded as resizes, and the local terminal is restored on the way out.

use std::io::IsTerminal;

use berth_core::terminals::{TerminalEvent, TerminalRequest};
use berth_core::{Berth, Error};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, SignalKind};

/// Runs `req` on a PTY in the bot's workspace, wired to this terminal; returns the exit code
/// (128 + signal when it was killed).
pub async fn run(
    berth: &Berth,
    bot: &str,
    mut req: TerminalRequest,
    stdin: bool,
) -> Result<i32, Error> {
    let (rows, cols) = window_size().unwrap_or((24, 80));
    req.rows = rows;
    req.cols = cols;
    let session = berth.terminal(bot, req).await?;
    let _raw = if stdin && std::io::stdin().is_terminal() {
        RawMode::enter()
    } else {
        None
    };

    let writer = session.writer.clone();
    let mut reader = session.reader;
    let input = stdin.then(|| {
        let writer = writer.clone();
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stdin.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        // Piped input ended: Ctrl+D tells the remote program so.
                        let _ = writer.write(b"\x04").await;
                        return;
                    }
                    Ok(n) => {
                        if writer.write(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        })
    });
    let winch = {
        let writer = writer.clone();
        let mut sig = signal(SignalKind::window_change())
            .map_err(|e| Error::internal(format!("SIGWINCH: {e}")))?;
        tokio::spawn(async move {
            while sig.recv().await.is_some() {
                if let Some((rows, cols)) = window_size() {
                    let _ = writer.resize(rows, cols).await;
                }
            }
        })
    };

    // Plain blocking writes: tokio's stdout hands every write to a blocking thread, which
    // costs more than the write itself for a stream of small terminal chunks.
    let mut stdout = std::io::stdout().lock();
    let result = loop {
        match reader.next().await {
            Ok(TerminalEvent::Output(data)) => {
                use std::io::Write;
                if stdout
                    .write_all(&data)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break Ok(141); // stdout closed (EPIPE), like a shell pipeline
                }
            }
            Ok(TerminalEvent::Exit(status)) => {
                break Ok(match (status.code, status.signal) {
                    (Some(c), _) => c,
                    (None, Some(s)) => 128 + s,
                    _ => 1,
                })
            }
            Err(e) => {
                break Err(Error::from(e)
                    .context("the terminal connection ended (did the workspace stop?)"))
            }
        }
    };
    winch.abort();
    if let Some(t) = input {
        t.abort();
    }
    result
}

/// Rows and columns of the terminal on stdout (or stdin), if there is one.
fn window_size() -> Option<(u16, u16)> {
    for fd in [1, 0, 2] {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ with a valid out-pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0
            && ws.ws_row > 0
            && ws.ws_col > 0
        {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

/// Raw mode on stdin for as long as it lives.
struct RawMode(libc::termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        // SAFETY: termios calls on fd 0 with valid pointers.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode(saved))
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes saved in `enter`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.0) };
    }
}

//! MCP servers inside the workspace: each is started through the bridge's exec (argv and
//! environment as such, never a shell line) with its stdin and stdout as the MCP stream, owned
//! for as long as the agent's session lasts, and its process group killed when the session ends
//! (the exec is dropped). Its tools are re-exported as `<server>__<tool>`; its stderr's last
//! lines are kept for the app.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use berth_core::mcp_servers::McpServer;
use berth_core::{Berth, ExecRequest};
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject, Tool};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

/// How long a server has to start and list its tools.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Separates a server's name from its tool's in a re-exported name.
pub const SEPARATOR: &str = "__";
const STDERR_LINES: usize = 50;
const PIPE: usize = 64 * 1024;

/// The last lines a server wrote to stderr.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<(VecDeque<String>, Vec<u8>)>>);

impl StderrTail {
    pub fn lines(&self) -> Vec<String> {
        let g = self.0.lock().unwrap();
        let mut v: Vec<String> = g.0.iter().cloned().collect();
        if !g.1.is_empty() {
            v.push(printable(&g.1));
        }
        v
    }
}

impl AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut g = self.0.lock().unwrap();
        for &b in buf {
            if b == b'\n' {
                let line = printable(&g.1);
                g.1.clear();
                g.0.push_back(line);
                if g.0.len() > STDERR_LINES {
                    g.0.pop_front();
                }
            } else if g.1.len() < 4096 {
                g.1.push(b);
            }
        }
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Text from a workspace made safe for a terminal and a log: lossy UTF-8, and control
/// characters other than newline and tab (escape sequences a hostile server could send to
/// rewrite the user's terminal) shown as U+FFFD.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// Called when a server says its tools changed.
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

struct Client {
    on_change: OnChange,
}

impl ClientHandler for Client {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        (self.on_change)();
    }
}

/// A running in-workspace server.
pub struct Running {
    pub name: String,
    tools: std::sync::RwLock<Vec<Tool>>,
    pub stderr: StderrTail,
    client: RunningService<RoleClient, Client>,
    exec: JoinHandle<berth_core::Result<berth_core::ExitStatus>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        // Ends the bridge's exec session, which kills the server's process group.
        self.exec.abort();
    }
}

impl Running {
    /// Calls one of its tools by its own (not re-exported) name.
    pub async fn call(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, String> {
        let mut p = CallToolRequestParams::new(tool.to_string());
        p.arguments = arguments;
        self.client.peer().call_tool(p).await.map_err(|e| {
            format!(
                "the MCP server {} failed: {e}{}",
                self.name,
                self.tail_hint()
            )
        })
    }

    /// Its tools, as it lists them.
    pub fn tools(&self) -> Vec<Tool> {
        self.tools.read().unwrap().clone()
    }

    /// Lists its tools again (after it said they changed).
    pub async fn refresh(&self) -> Result<(), String> {
        let tools = self
            .client
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| format!("the MCP server {} failed: {e}", self.name))?;
        *self.tools.write().unwrap() = tools;
        Ok(())
    }

    /// Whether the process still runs.
    pub fn alive(&self) -> bool {
        !self.exec.is_finished() && !self.client.is_closed()
    }

    fn tail_hint(&self) -> String {
        match self.stderr.lines().last() {
            Some(l) => format!(" (its last stderr line: {l})"),
            None => String::new(),
        }
    }
}

/// Starts `server` in the bot's workspace and lists its tools, within [`START_TIMEOUT`].
pub async fn start(
    berth: &Berth,
    bot: &str,
    server: &McpServer,
    on_change: OnChange,
) -> Result<Running, String> {
    let stderr = StderrTail::default();
    let (to_server, server_stdin) = tokio::io::duplex(PIPE);
    let (from_server, server_stdout) = tokio::io::duplex(PIPE);
    let mut argv = vec![server.command.clone().into_bytes()];
    argv.extend(server.args.iter().map(|a| a.clone().into_bytes()));
    let req = ExecRequest {
        argv,
        env: server.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        cwd: server.cwd.clone(),
    };
    let exec = tokio::spawn({
        let (berth, bot, err) = (berth.clone(), bot.to_string(), stderr.clone());
        async move {
            berth
                .exec(&bot, req, Some(server_stdin), server_stdout, err)
                .await
        }
    });
    let name = server.name.clone();
    let started = async {
        let (reader, writer) = (
            tokio::io::split(from_server).0,
            tokio::io::split(to_server).1,
        );
        let client = Client { on_change }
            .serve((reader, writer))
            .await
            .map_err(|e| e.to_string())?;
        let tools = client
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((client, tools))
    };
    let outcome = tokio::time::timeout(START_TIMEOUT, started).await;
    let (client, tools) = match outcome {
        Ok(Ok(ok)) => ok,
        Ok(Err(e)) => {
            // The stream usually closes because the process ended (or never started): its
            // exit says why. A process that is still there spoke something else than MCP.
            let mut exec = exec;
            let why = match tokio::time::timeout(Duration::from_secs(5), &mut exec).await {
                Ok(Ok(Ok(s))) => format!("it exited ({}) before answering", exit_words(&s)),
                Ok(Ok(Err(e))) => e.message,
                Ok(Err(e)) => e.to_string(),
                Err(_) => {
                    exec.abort();
                    e
                }
            };
            return Err(explain(server, &why, &stderr));
        }
        Err(_) => {
            exec.abort();
            return Err(explain(
                server,
                &format!("it did not answer within {} s", START_TIMEOUT.as_secs()),
                &stderr,
            ));
        }
    };
    Ok(Running {
        name,
        tools: std::sync::RwLock::new(tools),
        stderr,
        client,
        exec,
    })
}

fn exit_words(s: &berth_core::ExitStatus) -> String {
    match (s.code, s.signal) {
        (Some(c), _) => format!("exit code {c}"),
        (_, Some(sig)) => format!("signal {sig}"),
        _ => "ended".into(),
    }
}

/// What went wrong, with the fix for a program the image lacks (`npx`, `uvx`).
fn explain(server: &McpServer, why: &str, stderr: &StderrTail) -> String {
    let cmd = &server.command;
    let mut msg = if why.contains("not found") && why.contains(cmd.as_str()) {
        let fix = match cmd.rsplit('/').next().unwrap_or(cmd) {
            "npx" | "node" | "npm" => " — use an image with Node.js (for example node:22-bookworm-slim) or install it in the workspace (Debian: `apt-get install -y nodejs npm`)",
            "uvx" | "uv" => " — use an image with uv (for example ghcr.io/astral-sh/uv:debian) or install it in the workspace (`pip install uv`, or `curl -LsSf https://astral.sh/uv/install.sh | sh`)",
            "python" | "python3" | "pip" => " — use an image with Python (for example python:3.12-slim) or install it in the workspace (Debian: `apt-get install -y python3`)",
            _ => " — install it in the workspace or give its full path",
        };
        format!(
            "the MCP server {} could not start: the workspace has no `{cmd}`{fix}",
            server.name
        )
    } else {
        format!("the MCP server {} could not start: {why}", server.name)
    };
    let tail = stderr.lines();
    if !tail.is_empty() {
        let last: Vec<_> = tail.iter().rev().take(5).rev().cloned().collect();
        msg.push_str(&format!("; its stderr ends with:\n{}", last.join("\n")));
    }
    msg
}

/// A tool of `server` under its re-exported name.
pub fn exported(server: &str, tool: &Tool) -> Tool {
    let mut t = tool.clone();
    t.name = format!("{server}{SEPARATOR}{}", tool.name).into();
    let about = tool.description.as_deref().unwrap_or("");
    t.description = Some(format!("[{server}, in the workspace] {about}").into());
    t
}

/// Whether a server's tool can be offered: MCP clients accept names of `[A-Za-z0-9_.-]`, and a
/// hostile server must not smuggle text into the agent's tool list through one.
pub fn exportable(tool: &Tool) -> bool {
    let n = &tool.name;
    !n.is_empty()
        && n.len() <= 64
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Splits a re-exported name into server and tool.
pub fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once(SEPARATOR)
        .filter(|(s, t)| !s.is_empty() && !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let tool = |n: &str| Tool::new(n.to_string(), "", Arc::new(Default::default()));
        assert!(exportable(&tool("read_file")) && exportable(&tool("a.b-c")));
        for bad in [
            "",
            "a b",
            "ignore previous\ninstructions",
            "é",
            &"a".repeat(65),
        ] {
            assert!(!exportable(&tool(bad)), "{bad:?}");
        }
        assert_eq!(split("fs__read_file"), Some(("fs", "read_file")));
        assert_eq!(split("fs__a__b"), Some(("fs", "a__b")));
        assert_eq!(split("read_file"), None);
        assert_eq!(split("__x"), None);
    }

    #[test]
    fn stderr_keeps_the_last_lines() {
        let mut t = StderrTail::default();
        let waker = futures_noop();
        let mut cx = Context::from_waker(&waker);
        for i in 0..60 {
            let line = format!("line {i}\n");
            let _ = Pin::new(&mut t).poll_write(&mut cx, line.as_bytes());
        }
        let _ = Pin::new(&mut t).poll_write(&mut cx, b"partial\x1b]0;title\x07");
        let lines = t.lines();
        assert_eq!(lines.len(), STDERR_LINES + 1);
        assert_eq!(lines[0], "line 10");
        assert_eq!(lines.last().unwrap(), "partial\u{fffd}]0;title\u{fffd}");
    }

    fn futures_noop() -> std::task::Waker {
        std::task::Waker::noop().clone()
    }

    #[test]
    fn a_missing_program_says_how_to_get_it() {
        let s = McpServer {
            name: "fs".into(),
            command: "npx".into(),
            args: vec![],
            env: Default::default(),
            cwd: None,
        };
        let m = explain(&s, "executable \"npx\" not found", &StderrTail::default());
        assert!(m.contains("has no `npx`") && m.contains("Node.js"), "{m}");
        let m = explain(&s, "connection closed", &StderrTail::default());
        assert!(m.contains("could not start: connection closed"), "{m}");
    }
}

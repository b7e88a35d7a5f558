//! The in-workspace MCP servers of one `berth mcp serve` session: started once the workspace
//! runs, their tools listed with the built-in ones, calls forwarded, a change of their tools
//! passed on to the agent, and (with an idle timeout) stopped when unused.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::model::WorkspaceState;
use rmcp::model::{CallToolResult, JsonObject, Tool};

use crate::proxy::{self, Running};
use crate::server::BerthMcp;
use crate::tools::ToolError;

/// The in-workspace servers of this session.
#[derive(Default)]
pub(crate) struct Proxied {
    /// Whether starting them was tried (it is once the workspace runs).
    tried: bool,
    running: BTreeMap<String, (Arc<Running>, Instant)>,
    /// Why a server is left out.
    failed: BTreeMap<String, String>,
}

impl BerthMcp {
    /// Starts the bot's in-workspace servers, once the workspace runs; a server that fails is
    /// reported (stderr, for the agent's log) and left out, the others and the built-in tools
    /// keep working.
    pub(crate) async fn ensure_servers(&self) {
        let Ok(berth) = self.berth().await else {
            return;
        };
        let mut p = self.proxied.lock().await;
        if p.tried {
            return;
        }
        let servers = match berth.mcp_servers(&self.bot) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "berth mcp: cannot read the MCP servers of {}: {}",
                    self.bot,
                    proxy::printable(e.message.as_bytes())
                );
                return;
            }
        };
        if servers.is_empty() {
            p.tried = true;
            return;
        }
        let running =
            matches!(berth.info(&self.bot).await, Ok(i) if i.state == WorkspaceState::Running);
        if !running {
            return; // tried again on the next listing, once it runs
        }
        p.tried = true;
        let starts = servers.iter().map(|s| async move {
            (
                s.name.clone(),
                proxy::start(berth, &self.bot, s, self.on_change(s.name.clone())).await,
            )
        });
        for (name, r) in futures::future::join_all(starts).await {
            match r {
                Ok(run) => {
                    p.running.insert(name, (Arc::new(run), Instant::now()));
                }
                Err(why) => {
                    eprintln!("berth mcp: {}", proxy::printable(why.as_bytes()));
                    p.failed.insert(name, why);
                }
            }
        }
    }

    /// A server said its tools changed: list them again and tell the agent.
    fn on_change(&self, name: String) -> proxy::OnChange {
        let me = self.me.clone();
        Arc::new(move || {
            let (me, name) = (me.clone(), name.clone());
            tokio::spawn(async move {
                let Some(me) = me.upgrade() else { return };
                let run = me
                    .proxied
                    .lock()
                    .await
                    .running
                    .get(&name)
                    .map(|r| r.0.clone());
                if let Some(run) = run {
                    if let Err(e) = run.refresh().await {
                        eprintln!("berth mcp: {}", proxy::printable(e.as_bytes()));
                    }
                }
                if let Some(peer) = me.peer.get() {
                    let _ = peer.notify_tool_list_changed().await;
                }
            });
        })
    }

    /// Stops servers unused for longer than the idle timeout.
    pub(crate) fn watch_idle(&self) {
        let Some(idle) = self.options.idle_timeout else {
            return;
        };
        let me = self.me.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(
                (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30)),
            );
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { return };
                let mut p = me.proxied.lock().await;
                let before = p.running.len();
                p.running.retain(|_, (_, used)| used.elapsed() < idle);
                if p.running.len() < before {
                    p.tried = false; // started again when next listed or called
                }
            }
        });
    }

    pub(crate) async fn proxied_tools(&self) -> Vec<Tool> {
        self.ensure_servers().await;
        let p = self.proxied.lock().await;
        let read_only = self.options.read_only;
        p.running
            .values()
            .flat_map(|(run, _)| {
                run.tools()
                    .into_iter()
                    .map(|t| proxy::exported(&run.name, &t))
            })
            .filter(|t| {
                !read_only || t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
            })
            .collect()
    }

    pub(crate) async fn call_proxied(
        &self,
        server: &str,
        tool: &str,
        a: Option<JsonObject>,
    ) -> Result<CallToolResult, ToolError> {
        self.ensure_servers().await;
        let mut p = self.proxied.lock().await;
        if let Some(why) = p.failed.get(server) {
            return Err(ToolError(why.clone()));
        }
        let Some((run, used)) = p.running.get_mut(server) else {
            return Err(ToolError(format!(
                "there is no tool {server}{}{tool}",
                proxy::SEPARATOR
            )));
        };
        let read_only = self.options.read_only;
        let tools = run.tools();
        let known = tools
            .iter()
            .find(|t| t.name == tool && proxy::exportable(t));
        let allowed = known.is_some_and(|t| {
            !read_only || t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
        });
        if !allowed {
            return Err(ToolError(format!(
                "the MCP server {server} offers no tool {tool:?}{}",
                if read_only && known.is_some() {
                    " to a read-only session"
                } else {
                    ""
                }
            )));
        }
        if !run.alive() {
            let tail = run.stderr.lines();
            p.running.remove(server);
            p.tried = false;
            return Err(ToolError(format!("the MCP server {server} has stopped; it is started again on the next call. Its stderr ends with: {}", tail.last().map(String::as_str).unwrap_or("(nothing)"))));
        }
        *used = Instant::now();
        // The lock is not held across the call: other servers stay usable meanwhile.
        let run = run.clone();
        drop(p);
        run.call(tool, a).await.map_err(ToolError)
    }
}

//! `berth mcp serve BOT`: the MCP server a local agent launches. It answers `initialize` at
//! once; the workspace is reached on the first call (Berth is opened then), and a stopped
//! workspace gives a tool error saying how to start it, or is started with `allow_start`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use berth_core::model::{ErrorCode, WorkspaceState};
use berth_core::Berth;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, Prompt, PromptMessage, Role,
    ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, Peer, RoleServer, ServerHandler};
use tokio::sync::{Mutex, OnceCell};

use crate::proxied::Proxied;
use crate::proxy;
use crate::schema;
use crate::tools::{self, Progress, ToolError, ToolResult};

/// Opens Berth on first use.
pub type Opener =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = berth_core::Result<Berth>> + Send>> + Send + Sync>;

/// How the server was asked to run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Offer only the tools that change nothing.
    pub read_only: bool,
    /// Start the workspace when a call finds it stopped.
    pub allow_start: bool,
    /// Stop an in-workspace server unused for this long (started again on its next use).
    pub idle_timeout: Option<Duration>,
}

pub struct BerthMcp {
    pub(crate) bot: String,
    pub(crate) options: ServeOptions,
    open: Opener,
    berth: OnceCell<Berth>,
    pub(crate) proxied: Mutex<Proxied>,
    /// The agent, for notifications (set by its first request).
    pub(crate) peer: OnceLock<Peer<RoleServer>>,
    pub(crate) me: Weak<BerthMcp>,
}

impl BerthMcp {
    pub fn new(bot: String, options: ServeOptions, open: Opener) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            bot,
            options,
            open,
            berth: OnceCell::new(),
            proxied: Mutex::default(),
            peer: OnceLock::new(),
            me: me.clone(),
        })
    }

    pub(crate) async fn berth(&self) -> Result<&Berth, ToolError> {
        self.berth
            .get_or_try_init(|| (self.open)())
            .await
            .map_err(|e| ToolError(format!("Berth could not be opened: {}", e.message)))
    }

    /// Runs a tool; when it fails because the workspace does not run, says how to start it (or
    /// starts it, once, with `allow_start`).
    async fn run_tool(
        &self,
        name: &str,
        p: CallToolRequestParams,
        progress: Option<Progress>,
    ) -> ToolResult {
        let berth = self.berth().await?;
        match self
            .dispatch(berth, name, p.arguments.clone(), progress)
            .await
        {
            Err(e) if e.1 => {
                if !self.options.allow_start {
                    return Err(self.not_running(berth).await.unwrap_or(e.0));
                }
                let info = berth.info(&self.bot).await?;
                if info.state != WorkspaceState::Stopped {
                    return Err(self.not_running(berth).await.unwrap_or(e.0));
                }
                berth.start(&self.bot).await?;
                self.dispatch(berth, name, p.arguments, None)
                    .await
                    .map_err(|e| e.0)
            }
            r => r.map_err(|e| e.0),
        }
    }

    /// The result, or the error with whether it came from a workspace that does not run.
    async fn dispatch(
        &self,
        berth: &Berth,
        name: &str,
        a: Option<rmcp::model::JsonObject>,
        progress: Option<Progress>,
    ) -> Result<CallToolResult, (ToolError, bool)> {
        let bot = self.bot.as_str();
        let r = match name {
            "read_file" => tools::read_file(berth, bot, a).await,
            "list_dir" => tools::list_dir(berth, bot, a).await,
            "list_skills" => tools::list_skills(berth, bot, a).await,
            "get_skill" => tools::get_skill(berth, bot, a).await,
            "write_file" => tools::write_file(berth, bot, a).await,
            "edit_file" => tools::edit_file(berth, bot, a).await,
            "exec" => tools::exec(berth, bot, a, progress).await,
            _ => match proxy::split(name) {
                Some((server, tool)) => self.call_proxied(server, tool, a).await,
                None => return Err((ToolError(format!("there is no tool {name:?}")), false)),
            },
        };
        r.map_err(|e| {
            let stopped = e.0.contains("workspace is not running");
            (e, stopped)
        })
    }

    async fn not_running(&self, berth: &Berth) -> Option<ToolError> {
        let bot = &self.bot;
        let info = match berth.info(bot).await {
            Ok(i) => i,
            Err(e) if e.code == ErrorCode::NotFound => return Some(ToolError(e.message)),
            Err(_) => return None,
        };
        let how = match info.state {
            WorkspaceState::Absent => format!("the bot {bot} has no workspace; create it with `berth create {bot}` or in the Berth app"),
            WorkspaceState::Creating => format!("the workspace of {bot} is being created; try again when it runs"),
            _ => format!("the workspace of {bot} is stopped; start it with `berth start {bot}` or in the Berth app, or let this server start it (`berth mcp serve {bot} --allow-start`)"),
        };
        Some(ToolError(how))
    }
}

impl ServerHandler for BerthMcp {
    fn get_info(&self) -> ServerConfig {
        let caps = ServerCapabilities::builder()
            .enable_tools()
            .enable_prompts()
            .build();
        let mut about = Implementation::new("berth", env!("CARGO_PKG_VERSION"));
        about.title = Some(format!("Berth workspace of {}", self.bot));
        ServerConfig::new(caps)
            .with_server_info(about)
            .with_instructions(format!(
                "Tools on the Linux workspace of the bot {bot}: its files (relative paths are under /data), commands (exec) and skills (list_skills, get_skill; also offered as prompts).",
                bot = self.bot
            ))
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let _ = self.peer.set(cx.peer.clone());
        let mut tools = schema::builtin(self.options.read_only);
        tools.extend(self.proxied_tools().await);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        p: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let _ = self.peer.set(cx.peer.clone());
        let name = p.name.to_string();
        let offered = schema::builtin(self.options.read_only)
            .iter()
            .any(|t| t.name == name)
            || proxy::split(&name).is_some();
        if !offered {
            let why = if schema::builtin(false).iter().any(|t| t.name == name) {
                format!("{name} changes the workspace and this server is read-only (--read-only)")
            } else {
                format!("there is no tool {name:?}")
            };
            return Ok(error(why).into());
        }
        let progress: Option<Progress> = cx.meta.get_progress_token().map(|token| {
            let peer = cx.peer.clone();
            Box::new(move |secs: f64, message: String| {
                let (peer, token) = (peer.clone(), token.clone());
                tokio::spawn(async move {
                    let p = ProgressNotificationParam::new(token, secs).with_message(message);
                    let _ = peer.notify_progress(p).await;
                });
            }) as Progress
        });
        let result = tokio::select! {
            r = self.run_tool(&name, p, progress) => r,
            _ = cx.ct.cancelled() => Err(ToolError("cancelled".into())),
        };
        Ok(match result {
            Ok(r) => r,
            Err(e) => error(e.0),
        }
        .into())
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        // Prompts are a listing: a workspace that cannot be reached offers none.
        let Ok(berth) = self.berth().await else {
            return Ok(ListPromptsResult::default());
        };
        let skills = berth.skills_list(&self.bot).await.unwrap_or_default();
        let prompts = skills
            .into_iter()
            .filter(|s| s.valid)
            .map(|s| Prompt::new(s.name, Some(s.description), None))
            .collect();
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn get_prompt(
        &self,
        p: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let berth = self
            .berth()
            .await
            .map_err(|e| McpError::internal_error(e.0, None))?;
        let text = berth
            .skill_text(&self.bot, &p.name)
            .await
            .map_err(|e| McpError::invalid_params(e.message, None))?;
        let root = berth.skills_root(&self.bot).unwrap_or_default();
        let intro = format!(
            "Use the skill {name} of the Berth workspace. Its files are in {root}/{name}/ (read them with read_file). Its SKILL.md:\n\n",
            name = p.name
        );
        let message = PromptMessage::new_text(Role::User, format!("{intro}{}", text.content));
        Ok(GetPromptResult::new(vec![message]).into())
    }
}

fn error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn serve_stdio(bot: String, options: ServeOptions, open: Opener) -> std::io::Result<()> {
    use rmcp::ServiceExt;
    let server = BerthMcp::new(bot, options, open);
    server.watch_idle();
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

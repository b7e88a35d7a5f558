//! `berth mcp`: the MCP server a local agent launches (`serve`, stdio), the configuration to
//! paste into an agent (`config`), and the MCP servers run inside a bot's workspace (`add`,
//! `ls`, `rm`, `import`, `probe`). `serve` opens Berth on the first tool call, so `initialize`
//! is answered at once even while containerd starts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_core::mcp_servers::{self, McpServer};
use berth_core::{Berth, Error, Options};
use berth_mcp::{serve_stdio, ServeOptions};
use clap::Subcommand;

use crate::escape::escape;
use crate::json::print_json;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Serve MCP on stdin/stdout for a local agent (Claude Desktop, Claude Code, Cursor): the
    /// bot's files, commands, skills, and the tools of its in-workspace MCP servers.
    Serve {
        bot: String,
        /// Offer only the tools that change nothing (read_file, list_dir, list_skills,
        /// get_skill, and in-workspace tools marked read-only).
        #[arg(long)]
        read_only: bool,
        /// Start the workspace when a call finds it stopped (default: the call says how).
        #[arg(long)]
        allow_start: bool,
        /// Stop an in-workspace server unused for this many minutes (started again on its
        /// next use; default: kept for the whole session).
        #[arg(long, value_name = "MINUTES")]
        idle_timeout: Option<u64>,
    },
    /// Print what to paste into an agent to give it this bot's workspace.
    Config {
        bot: String,
        #[arg(long)]
        json: bool,
    },
    /// Add an MCP server to run inside the workspace:
    /// `berth mcp add BOT NAME [--env K=V]... [--cwd DIR] -- CMD [ARGS...]`.
    Add {
        bot: String,
        name: String,
        /// An environment variable of the server, KEY=VALUE (repeatable).
        #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Its working directory in the workspace (default /data).
        #[arg(long)]
        cwd: Option<String>,
        /// Replace a server of the same name.
        #[arg(long)]
        replace: bool,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List the bot's in-workspace MCP servers.
    Ls {
        bot: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an in-workspace MCP server.
    Rm { bot: String, name: String },
    /// Add the servers of a Claude-Desktop-style configuration file (`{"mcpServers": {...}}`);
    /// all or none.
    Import {
        bot: String,
        file: PathBuf,
        /// Replace servers of the same names.
        #[arg(long)]
        replace: bool,
    },
    /// Start an in-workspace server, list its tools, and stop it.
    Probe {
        bot: String,
        name: String,
        #[arg(long)]
        json: bool,
    },
}

/// `serve` opens Berth itself, lazily; the others get it opened.
pub async fn run(
    options: Options,
    connector: Arc<dyn berth_core::Connector>,
    cmd: McpCommand,
) -> Result<i32, Error> {
    if let McpCommand::Serve {
        bot,
        read_only,
        allow_start,
        idle_timeout,
    } = cmd
    {
        berth_core::validate_bot_name(&bot)?;
        let open = Box::new(move || {
            let (options, connector) = (options.clone(), connector.clone());
            Box::pin(async move { Berth::open(options, connector).await }) as _
        });
        let opts = ServeOptions {
            read_only,
            allow_start,
            idle_timeout: idle_timeout.map(|m| Duration::from_secs(m * 60)),
        };
        serve_stdio(bot, opts, open)
            .await
            .map_err(|e| Error::internal(format!("the MCP session ended: {e}")))?;
        return Ok(0);
    }
    let berth = Berth::open(options.clone(), connector).await?;
    match cmd {
        McpCommand::Serve { .. } => unreachable!("served above"),
        McpCommand::Config { bot, json } => {
            berth.check_bot(&bot)?;
            let exe = std::env::current_exe().map_err(|e| Error::internal(e.to_string()))?;
            let c = mcp_servers::agent_config(&bot, &exe, &options.agent_env());
            if json {
                print_json(&c);
            } else {
                println!("Claude Desktop (claude_desktop_config.json) and Cursor (~/.cursor/mcp.json):\n{}\n", c.json);
                println!("Claude Code:\n  {}", c.claude_code);
            }
            Ok(0)
        }
        McpCommand::Add {
            bot,
            name,
            env,
            cwd,
            replace,
            command,
        } => {
            let mut vars = BTreeMap::new();
            for kv in env {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| Error::invalid(format!("--env {kv:?}: expected KEY=VALUE")))?;
                vars.insert(k.to_string(), v.to_string());
            }
            let mut command = command.into_iter();
            let server = McpServer {
                name,
                command: command.next().unwrap_or_default(),
                args: command.collect(),
                env: vars,
                cwd,
            };
            berth.mcp_servers_add(&bot, &[server], replace)?;
            Ok(0)
        }
        McpCommand::Ls { bot, json } => {
            let servers = berth.mcp_servers(&bot)?;
            if json {
                print_json(&servers);
            } else if servers.is_empty() {
                eprintln!("{bot} has no MCP servers (add one with `berth mcp add {bot} NAME -- CMD [ARGS...]`)");
            } else {
                for s in &servers {
                    let mut line = format!("{}  {}", s.name, s.command);
                    for a in &s.args {
                        line.push(' ');
                        line.push_str(a);
                    }
                    if !s.env.is_empty() {
                        let keys: Vec<_> = s.env.keys().map(String::as_str).collect();
                        line.push_str(&format!("  (env: {})", keys.join(", ")));
                    }
                    println!("{}", escape(&line));
                }
            }
            Ok(0)
        }
        McpCommand::Rm { bot, name } => {
            berth.mcp_server_remove(&bot, &name)?;
            Ok(0)
        }
        McpCommand::Import { bot, file, replace } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::invalid(format!("cannot read {}: {e}", file.display())))?;
            let servers = mcp_servers::parse_config(&text)?;
            berth.mcp_servers_add(&bot, &servers, replace)?;
            let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
            eprintln!("added {}", names.join(", "));
            Ok(0)
        }
        McpCommand::Probe { bot, name, json } => {
            let p = berth_mcp::probe(&berth, &bot, &name).await?;
            if json {
                print_json(&p);
            } else if let Some(e) = &p.error {
                eprintln!("{}", escape(e));
            } else {
                println!("{name}: {} tools ({} ms)", p.tools.len(), p.elapsed_ms);
                for t in &p.tools {
                    println!(
                        "  {}__{}  {}",
                        name,
                        escape(&t.name),
                        escape(&t.description)
                    );
                }
            }
            Ok(if p.ok { 0 } else { 1 })
        }
    }
}

//! `berth mcp serve BOT`: the MCP server a local agent launches (stdio). Berth is opened on the
//! first tool call, so `initialize` is answered at once even while containerd starts.

use std::sync::Arc;

use berth_core::{Berth, Error, Options};
use berth_mcp::{serve_stdio, ServeOptions};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum McpCommand {
    /// Serve MCP on stdin/stdout for a local agent (Claude Desktop, Claude Code, Cursor): the
    /// bot's files, commands and skills as tools.
    Serve {
        bot: String,
        /// Offer only the tools that change nothing (read_file, list_dir, list_skills,
        /// get_skill).
        #[arg(long)]
        read_only: bool,
        /// Start the workspace when a call finds it stopped (default: the call says how).
        #[arg(long)]
        allow_start: bool,
    },
}

pub async fn run(options: Options, cmd: McpCommand) -> Result<i32, Error> {
    let McpCommand::Serve {
        bot,
        read_only,
        allow_start,
    } = cmd;
    berth_core::validate_bot_name(&bot)?;
    let open = Box::new(move || {
        let options = options.clone();
        Box::pin(async move {
            Berth::open(options, Arc::new(berth_containerd::ContainerdConnector)).await
        }) as _
    });
    let opts = ServeOptions {
        read_only,
        allow_start,
    };
    serve_stdio(bot, opts, open)
        .await
        .map_err(|e| Error::internal(format!("the MCP session ended: {e}")))?;
    Ok(0)
}

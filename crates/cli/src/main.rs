//! `berth`: create and run bots' workspaces from a terminal. Every command is a thin call into
//! `berth-core`, the same core the desktop app uses.

mod create;
mod data;
mod escape;
mod files;
mod json;
mod limits;
mod mcp;
mod network;
mod progress;
mod shell;
mod skills;
mod stats;
mod system;
mod versions;

use std::io::Write;
use std::path::PathBuf;

use berth_core::model::WorkspaceState;
use berth_core::{Berth, Error, ExecRequest, Options};
use clap::{Parser, Subcommand};

use create::Pull;
use json::print_json;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Run AI bots' workspaces on containerd or Apple Container"
)]
struct Cli {
    /// containerd's socket (default: the saved setting, else /run/containerd/containerd.sock).
    #[arg(long, global = true, env = "BERTH_CONTAINERD_SOCKET")]
    containerd_socket: Option<PathBuf>,
    /// containerd namespace Berth works in (default: berth).
    #[arg(long, global = true, env = "BERTH_NAMESPACE")]
    namespace: Option<String>,
    /// Berth's data directory (default: ~/.local/share/berth).
    #[arg(long, global = true, env = "BERTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Container backend: apple or containerd (default: the saved setting, else apple on
    /// macOS and containerd elsewhere).
    #[arg(long, global = true, env = "BERTH_BACKEND")]
    backend: Option<String>,
    /// Apple's `container` program (default: /usr/local/bin/container,
    /// /opt/homebrew/bin/container, then PATH).
    #[arg(long, global = true, env = "BERTH_CONTAINER_BIN")]
    container_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (and start) a bot's workspace; creates the bot if needed.
    Create {
        bot: String,
        /// Image reference (default: the bot's last image, else the default image).
        #[arg(long)]
        image: Option<String>,
        #[arg(long, value_enum)]
        pull: Option<Pull>,
        #[command(flatten)]
        network: network::NetworkArgs,
        #[command(flatten)]
        limits: limits::LimitArgs,
    },
    /// A running workspace's CPU, memory against its limit, processes and layer size.
    Stats {
        bot: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a bot's resource limits, or change them (`default` goes back to the default).
    Limits {
        bot: String,
        #[command(flatten)]
        limits: limits::LimitArgs,
        #[arg(long)]
        json: bool,
    },
    /// The containerd Berth talks to; start and stop Berth's own.
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
    /// MCP for local agents: `berth mcp serve BOT` gives an agent the bot's workspace.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
    /// A bot's skills (`/data/.skills/<name>/SKILL.md`).
    Skills {
        #[command(subcommand)]
        command: skills::SkillsCommand,
    },
    /// Show a bot's network settings, or change them.
    Network {
        bot: String,
        #[command(flatten)]
        network: network::NetworkArgs,
        #[arg(long)]
        json: bool,
    },
    /// Recreate a bot's workspace on another image, keeping /data (its versions go with the
    /// old workspace).
    ChangeImage {
        bot: String,
        image: String,
        #[arg(long, value_enum)]
        pull: Option<Pull>,
    },
    /// List bots and their workspaces, or with `BOT:/path` a workspace directory.
    Ls {
        /// `BOT:/path`: list that directory of the bot's running workspace.
        target: Option<std::ffi::OsString>,
        #[arg(long)]
        json: bool,
        /// With `BOT:/path`: include names starting with a dot.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Copy files and folders between the host and a workspace; one side is `BOT:/path`.
    /// `berth cp BOT:/path -` writes a tar.gz of the path to stdout.
    Cp {
        src: std::ffi::OsString,
        dst: std::ffi::OsString,
    },
    /// Show one bot's workspace.
    Info {
        bot: String,
        #[arg(long)]
        json: bool,
    },
    /// Start a stopped workspace.
    Start { bot: String },
    /// Stop a running workspace (SIGTERM, then SIGKILL after 10 s).
    Stop { bot: String },
    /// Delete a bot's workspace and the bot.
    Rm {
        bot: String,
        /// Keep the workspace's /data in <data dir>/backups/BOT.tar.gz; the next create restores it.
        #[arg(long)]
        keep_data: bool,
    },
    /// Write the workspace's /data as a .tar.gz to FILE.
    Export { bot: String, file: PathBuf },
    /// Import a .tar.gz into the workspace's /data (merge, or --replace); all-or-nothing.
    Import {
        bot: String,
        file: PathBuf,
        /// Replace /data instead of merging into it.
        #[arg(long)]
        replace: bool,
        /// Refuse archives that expand to more than this many bytes (default 64 GiB).
        #[arg(long)]
        max_size: Option<u64>,
    },
    /// Restore the bot's kept data (from `rm --keep-data`) into its running workspace.
    Restore { bot: String },
    /// Run a command in a running workspace: `berth exec BOT -- CMD [ARGS...]`.
    Exec {
        bot: String,
        /// Working directory (default /data).
        #[arg(long, short = 'w')]
        workdir: Option<String>,
        /// Extra environment variables, KEY=VALUE.
        #[arg(long = "env", short = 'e')]
        env: Vec<String>,
        /// Keep stdin open (it always is in pipe mode; with -t it decides whether keys are sent).
        #[arg(long, short = 'i')]
        interactive: bool,
        /// Run on a terminal (PTY): raw mode, window-size changes forwarded.
        #[arg(long, short = 't')]
        tty: bool,
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// Open an interactive shell in a running workspace (bash if the image has it, else sh).
    Shell {
        bot: String,
        /// Working directory (default /data).
        #[arg(long, short = 'w')]
        workdir: Option<String>,
    },
    /// Save the workspace's current state as a version; prints the new version number.
    Snapshot {
        bot: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List a workspace's versions (`*` marks the current one), or manage them.
    #[command(args_conflicts_with_subcommands = true)]
    Versions {
        #[command(subcommand)]
        cmd: Option<versions::VersionsCmd>,
        bot: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Return the workspace to a version; the current state is saved first unless --no-save.
    Rollback {
        bot: String,
        version: u32,
        #[arg(long)]
        no_save: bool,
    },
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = runtime.block_on(real_main());
    // Exit at once: a blocking read of stdin (exec) must not hold the process open.
    std::process::exit(code);
}

async fn real_main() -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("BERTH_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {}", escape::escape(&e.message));
            if e.code == berth_core::model::ErrorCode::Cancelled {
                130
            } else {
                1
            }
        }
    }
}

async fn run(cli: Cli) -> Result<i32, Error> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(berth_core::default_data_dir);
    let backend = berth_backends::Backend::choose(cli.backend.as_deref(), &data_dir)
        .map_err(Error::invalid)?;
    let connector = backend.connector(cli.container_bin.clone());
    let mut agent_env = vec![];
    if cli.backend.is_some() {
        agent_env.push(("BERTH_BACKEND", backend.name().to_string()));
    }
    if let Some(bin) = &cli.container_bin {
        agent_env.push(("BERTH_CONTAINER_BIN", bin.display().to_string()));
    }
    let options = Options {
        data_dir: cli.data_dir,
        containerd_socket: cli.containerd_socket,
        namespace: cli.namespace,
        bridge_binary: None,
        agent_env,
    };
    // The MCP server opens Berth on first use, after answering the agent's `initialize`.
    let command = match cli.command {
        Command::Mcp { command } => return mcp::run(options, connector, command).await,
        c => c,
    };
    let berth = Berth::open(options, connector).await?;
    match command {
        Command::Mcp { .. } => unreachable!("served above"),
        Command::Skills { command } => skills::run(&berth, command).await,
        Command::Create {
            bot,
            image,
            pull,
            network,
            limits,
        } => create::create(&berth, &bot, image, pull, &network, &limits).await,
        Command::System { command } => system::run(&berth, command).await,
        Command::Network { bot, network, json } => network::run(&berth, &bot, &network, json).await,
        Command::Limits { bot, limits, json } => limits::run(&berth, &bot, &limits, json).await,
        Command::Stats { bot, json } => stats::run(&berth, &bot, json).await,
        Command::ChangeImage { bot, image, pull } => {
            create::change_image(&berth, &bot, &image, pull).await
        }
        Command::Ls {
            target: None, json, ..
        } => ls(&berth, json).await,
        Command::Ls {
            target: Some(t),
            json,
            all,
        } => match files::parse_remote(&t) {
            Some((bot, path)) => files::ls(&berth, &bot, &path, json, all).await,
            None => Err(Error::invalid(
                "usage: berth ls [BOT:/path] [--json] (the path must start with /)",
            )),
        },
        Command::Cp { src, dst } => files::cp(&berth, src, dst).await,
        Command::Info { bot, json } => {
            let info = berth.info(&bot).await?;
            if json {
                print_json(&info);
            } else {
                println!("bot:        {}", info.bot);
                println!("state:      {}", state_word(info.state));
                println!("image:      {}", info.image.as_deref().unwrap_or("-"));
                println!(
                    "container:  {}",
                    info.container_id.as_deref().unwrap_or("-")
                );
                let network = match info.network {
                    Some(berth_core::model::NetworkMode::Host) => "host",
                    Some(berth_core::model::NetworkMode::Cni) => "bridge",
                    None => "-",
                };
                println!("network:    {network}");
                if info.host_network && info.network != Some(berth_core::model::NetworkMode::Host) {
                    println!("            (the next workspace: host)");
                }
                if let Some(e) = &info.last_error {
                    println!("last error: {}", escape::escape(e));
                }
            }
            Ok(0)
        }
        Command::Start { bot } => {
            berth.start(&bot).await?;
            Ok(0)
        }
        Command::Stop { bot } => {
            berth.stop(&bot).await?;
            Ok(0)
        }
        Command::Rm { bot, keep_data } => data::rm(&berth, &bot, keep_data).await,
        Command::Export { bot, file } => data::export(&berth, &bot, &file).await,
        Command::Import {
            bot,
            file,
            replace,
            max_size,
        } => data::import(&berth, &bot, &file, replace, max_size).await,
        Command::Restore { bot } => data::restore(&berth, &bot).await,
        Command::Exec {
            bot,
            workdir,
            env,
            interactive,
            tty: true,
            command,
        } => {
            use std::os::unix::ffi::OsStringExt;
            let req = berth_core::terminals::TerminalRequest {
                argv: command.into_iter().map(OsStringExt::into_vec).collect(),
                env,
                cwd: workdir,
                ..Default::default()
            };
            shell::run(&berth, &bot, req, interactive).await
        }
        Command::Exec {
            bot,
            workdir,
            env,
            command,
            ..
        } => exec(&berth, &bot, workdir, env, command).await,
        Command::Shell { bot, workdir } => {
            let req = berth_core::terminals::TerminalRequest {
                cwd: workdir,
                ..Default::default()
            };
            shell::run(&berth, &bot, req, true).await
        }
        Command::Snapshot { bot, name } => versions::snapshot(&berth, &bot, name.as_deref()).await,
        Command::Versions { cmd: Some(cmd), .. } => versions::run(&berth, cmd).await,
        Command::Versions {
            cmd: None,
            bot: Some(bot),
            json,
        } => versions::list(&berth, &bot, json).await,
        Command::Versions {
            cmd: None,
            bot: None,
            ..
        } => Err(Error::invalid("usage: berth versions BOT [--json]")),
        Command::Rollback {
            bot,
            version,
            no_save,
        } => versions::rollback(&berth, &bot, version, no_save).await,
    }
}

async fn ls(berth: &Berth, json: bool) -> Result<i32, Error> {
    // The states come from what Berth last saw: without a runtime to confirm them, an empty or
    // stale table would read as the truth.
    let status = berth.status().await;
    if !status.connected {
        let why = status
            .error
            .unwrap_or_else(|| format!("containerd at {} does not answer", status.socket));
        return Err(Error::unavailable(format!(
            "{why}; the workspaces' states are unknown: start containerd, or point \
             --containerd-socket at it"
        )));
    }
    let bots = berth.bots()?;
    if json {
        print_json(&bots);
        return Ok(0);
    }
    println!("{:<24} {:<10} IMAGE", "BOT", "STATE");
    for b in bots {
        println!(
            "{:<24} {:<10} {}",
            b.name,
            state_word(b.state),
            b.image.unwrap_or_default()
        );
    }
    Ok(0)
}

async fn exec(
    berth: &Berth,
    bot: &str,
    workdir: Option<String>,
    env: Vec<String>,
    command: Vec<std::ffi::OsString>,
) -> Result<i32, Error> {
    use std::os::unix::ffi::OsStringExt;
    let req = ExecRequest {
        argv: command.into_iter().map(OsStringExt::into_vec).collect(),
        env,
        cwd: workdir,
    };
    let status = berth
        .exec(
            bot,
            req,
            Some(tokio::io::stdin()),
            tokio::io::stdout(),
            tokio::io::stderr(),
        )
        .await?;
    let _ = std::io::stdout().flush();
    Ok(match (status.code, status.signal) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 1,
    })
}

fn state_word(s: WorkspaceState) -> &'static str {
    match s {
        WorkspaceState::Absent => "absent",
        WorkspaceState::Creating => "creating",
        WorkspaceState::Stopped => "stopped",
        WorkspaceState::Running => "running",
        WorkspaceState::Error => "error",
    }
}

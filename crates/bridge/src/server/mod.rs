//! The bridge server: configuration, socket setup, serving, and orderly shutdown.

mod data;
mod exec;
mod files;
mod pause;
mod process;
mod reaper;
mod seed;
mod service;
mod terminal;

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::UnixListenerStream;

use berth_bridge::proto::bridge_server::BridgeServer;
use berth_bridge::proto::data_server::DataServer;
use berth_bridge::proto::files_server::FilesServer;
use berth_bridge::proto::terminal_server::TerminalServer;
use reaper::Reaper;

/// How long children get between SIGTERM and SIGKILL when the bridge is asked to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Paths the bridge uses; each can be overridden by an environment variable so tests can run
/// the real binary in temporary directories.
#[derive(Debug, Clone)]
pub struct Config {
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub templates_dir: PathBuf,
}

impl Config {
    pub fn from_env() -> Self {
        let path = |var: &str, default: &str| {
            PathBuf::from(std::env::var_os(var).unwrap_or_else(|| default.into()))
        };
        Config {
            socket: path("BERTH_BRIDGE_SOCKET", berth_bridge::DEFAULT_SOCKET),
            data_dir: path("BERTH_DATA_DIR", "/data"),
            templates_dir: path("BERTH_TEMPLATES_DIR", "/opt/berth/templates"),
        }
    }
}

/// Finishes or rolls back an import that a crash interrupted. Must run before [`seed`]: a
/// replace of older bridges could leave `/data` missing with the old tree aside, and seeding
/// would create an empty `/data` in its place.
pub fn recover_data(cfg: &Config) -> io::Result<()> {
    data::recover_at_start(&cfg.data_dir)
}

/// Seeds the data directory. Synchronous and before serving, so the first exec already sees it.
pub fn seed(cfg: &Config) -> io::Result<()> {
    let r = seed::seed(&cfg.data_dir, &cfg.templates_dir)?;
    log_line!(
        "berth-bridge: seeded {} from {}: {} copied, {} kept, {} failed",
        cfg.data_dir.display(),
        cfg.templates_dir.display(),
        r.copied,
        r.skipped,
        r.failed
    );
    Ok(())
}

/// Serves until SIGTERM/SIGINT, then stops the children and returns.
pub async fn run(cfg: Config) -> io::Result<()> {
    reaper::become_subreaper();
    let reaper = Reaper::default();
    // Install SIGCHLD (reaper) and SIGTERM/SIGINT handlers before anything can spawn. As PID 1
    // a signal without a handler is ignored by the kernel, so these handlers are what makes
    // `ctr task kill` / container stop work at all.
    reaper.start()?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let listener = bind(&cfg.socket)?;
    log_line!(
        "berth-bridge {} listening on {} (pid {})",
        env!("CARGO_PKG_VERSION"),
        cfg.socket.display(),
        std::process::id()
    );
    let svc = service::Service {
        started: Instant::now(),
        data_dir: cfg.data_dir.clone(),
        reaper: reaper.clone(),
    };
    let server = tonic::transport::Server::builder()
        // Files: HTTP/2's 64 KiB default window throttles uploads; 8 MiB per stream.
        .initial_stream_window_size(Some(8 * 1024 * 1024))
        .initial_connection_window_size(Some(16 * 1024 * 1024))
        .add_service(BridgeServer::new(svc))
        .add_service(FilesServer::new(files::FilesService))
        .add_service(DataServer::new(data::DataService::new(&cfg.data_dir)))
        .add_service(TerminalServer::new(terminal::TerminalService {
            data_dir: cfg.data_dir.clone(),
            reaper: reaper.clone(),
        }))
        .serve_with_incoming(UnixListenerStream::new(listener));

    let outcome = tokio::select! {
        r = server => r.map_err(io::Error::other),
        _ = term.recv() => { log_line!("berth-bridge: SIGTERM, stopping"); Ok(()) }
        _ = int.recv() => { log_line!("berth-bridge: SIGINT, stopping"); Ok(()) }
    };
    stop_children(&reaper).await;
    let _ = std::fs::remove_file(&cfg.socket);
    outcome
}

/// Creates the socket's directory, removes a stale socket left by a previous run, binds, and
/// restricts the socket to its owner (the host side connects as root).
fn bind(socket: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// SIGTERM to every exec'd process group (and, as PID 1, to every process in the container),
/// then waits up to `STOP_GRACE` before SIGKILL.
async fn stop_children(reaper: &Reaper) {
    let pid1 = std::process::id() == 1;
    let signalled = reaper.signal_all(libc::SIGTERM);
    if pid1 {
        // SAFETY: kill(-1) as PID 1 reaches every other process in our pid namespace; never
        // done when we are not PID 1, where it would hit the host user's processes.
        unsafe { libc::kill(-1, libc::SIGTERM) };
    }
    log_line!("berth-bridge: sent SIGTERM to {signalled} exec process group(s)");
    let deadline = Instant::now() + STOP_GRACE;
    // As PID 1 wait for every process (orphans included); otherwise for our exec'd children.
    let done = || {
        if pid1 {
            !reaper.reap_now()
        } else {
            reaper.live() == 0
        }
    };
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !done() {
        let n = reaper.signal_all(libc::SIGKILL);
        if pid1 {
            // SAFETY: as above.
            unsafe { libc::kill(-1, libc::SIGKILL) };
        }
        log_line!("berth-bridge: {n} exec process group(s) ignored SIGTERM, killed");
    }
    // Give sessions a moment to send their final exit message to still-connected clients.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

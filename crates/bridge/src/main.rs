//! `berth-bridge`: PID 1 of every Berth workspace container.
//!
//! Startup order matters: environment and `/data` are prepared synchronously before the async
//! runtime (and its threads) exist, then the server runs until SIGTERM/SIGINT.

#[macro_use]
mod log;
mod server;

use std::process::ExitCode;

/// PATH for images whose config sets none; without it `sh`, `ls` etc. could not be found.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn main() -> ExitCode {
    if std::env::var_os("PATH").is_none() {
        // Single-threaded here (no runtime yet), so mutating the environment is sound.
        std::env::set_var("PATH", DEFAULT_PATH);
    }
    // Not dumpable: no process of the workspace (root, but without CAP_SYS_PTRACE) can open
    // /proc/1/fd, /proc/1/mem or /proc/1/environ, so none can write into the bridge's log or
    // its sockets, or read its memory. Children get the flag reset by execve.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        log_line!(
            "berth-bridge: cannot make itself non-dumpable: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::FAILURE;
    }
    let cfg = server::Config::from_env();
    // Recovery before seeding: seeding creates a missing /data, which would hide that an
    // interrupted replace left the old tree aside (and let the next recovery delete it).
    if let Err(e) = server::recover_data(&cfg) {
        // Keep serving without seeding; the next import retries the repair.
        log_line!("berth-bridge: cannot repair an interrupted import ({e}); /data not seeded");
    } else if let Err(e) = server::seed(&cfg) {
        // Keep serving: exec and health are still useful for diagnosing a broken /data.
        log_line!(
            "berth-bridge: cannot prepare {}: {e}",
            cfg.data_dir.display()
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log_line!("berth-bridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(server::run(cfg)) {
        Ok(()) => {
            log_line!("berth-bridge: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log_line!("berth-bridge: {e}");
            ExitCode::FAILURE
        }
    }
}

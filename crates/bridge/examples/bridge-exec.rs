//! Manual probe: `cargo run -p berth-bridge --example bridge-exec -- SOCKET PROGRAM [ARGS...]`
//! prints the bridge's health to stderr, runs the program with this process's stdin/stdout/
//! stderr, and exits with its status (128+signal when killed).

use std::path::PathBuf;
use std::time::Duration;

use berth_bridge::{BridgeClient, ExecRequest, ExpectedPeer};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let socket = PathBuf::from(
        args.next()
            .expect("usage: bridge-exec SOCKET PROGRAM [ARGS...]"),
    );
    let argv: Vec<String> = args.collect();
    // A manual probe of a socket the person running it chose: they vouch for its listener.
    let peer = ExpectedPeer::VouchedByRuntime;
    let (client, health) = BridgeClient::wait_ready(&socket, peer, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(69)
        });
    eprintln!(
        "bridge {} pid {} up {} ms",
        health.version, health.pid, health.uptime_ms
    );
    if argv.is_empty() {
        return;
    }
    let status = client
        .exec(
            ExecRequest::new(argv),
            Some(tokio::io::stdin()),
            tokio::io::stdout(),
            tokio::io::stderr(),
        )
        .await
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(127)
        });
    std::process::exit(
        status
            .code
            .unwrap_or_else(|| 128 + status.signal.unwrap_or(0)),
    );
}

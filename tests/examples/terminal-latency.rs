//! Keystroke round-trip latency through core's terminal sessions and the bridge, for
//! scripts/bench-terminal.sh: `terminal-latency BOT [N]` (environment as for the CLI:
//! BERTH_DATA_DIR, BERTH_CONTAINERD_SOCKET, BERTH_NAMESPACE).
//!
//! Opens a session like the app does (`Terminals::open` with a sink), switches the shell to
//! `stty raw -echo; exec cat`, then N times writes one byte and waits until that byte comes back
//! through the PTY and the sink. Prints `p50_us=… p99_us=… mean_us=… n=…`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::terminals::{TerminalInfo, TerminalSink, Terminals};
use berth_core::{Berth, Options};
use tokio::sync::Notify;

struct Sink {
    out: Arc<Mutex<Vec<u8>>>,
    notify: Arc<Notify>,
}

impl TerminalSink for Sink {
    fn output(&self, data: &[u8]) -> bool {
        self.out.lock().unwrap().extend_from_slice(data);
        self.notify.notify_one();
        true
    }
    fn status(&self, _: &TerminalInfo) -> bool {
        true
    }
}

async fn wait_for(out: &Mutex<Vec<u8>>, notify: &Notify, needle: &[u8], from: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        {
            let o = out.lock().unwrap();
            if o.len() > from && o[from..].windows(needle.len()).any(|w| w == needle) {
                return;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {:?}",
            String::from_utf8_lossy(needle)
        );
        let _ = tokio::time::timeout(left, notify.notified()).await;
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bot = args.next().expect("usage: terminal-latency BOT [N]");
    let n: usize = args.next().map(|a| a.parse().expect("N")).unwrap_or(500);
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let berth = Berth::open(
        Options {
            data_dir: var("BERTH_DATA_DIR").map(Into::into),
            containerd_socket: var("BERTH_CONTAINERD_SOCKET").map(Into::into),
            namespace: var("BERTH_NAMESPACE").and_then(|v| v.into_string().ok()),
            bridge_binary: None,
            agent_env: vec![],
        },
        berth_tests::connector(),
    )
    .await
    .expect("open Berth");
    let terminals = Terminals::new(berth);
    let out = Arc::new(Mutex::new(Vec::new()));
    let notify = Arc::new(Notify::new());
    let info = terminals
        .open(
            &bot,
            24,
            80,
            Box::new(Sink {
                out: out.clone(),
                notify: notify.clone(),
            }),
        )
        .await
        .expect("open terminal");
    terminals
        .write(&info.id, b"stty raw -echo; echo READY''; exec cat\n")
        .await
        .unwrap();
    wait_for(&out, &notify, b"READY\n", 0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let keys = b"abcdefghijklmnopqrstuvwxyz";
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + 20 {
        let key = [keys[i % keys.len()]];
        let from = out.lock().unwrap().len();
        let t0 = Instant::now();
        terminals.write(&info.id, &key).await.unwrap();
        wait_for(&out, &notify, &key, from).await;
        if i >= 20 {
            samples.push(t0.elapsed()); // the first 20 warm up connections and caches
        }
    }
    terminals.close(&info.id).unwrap();
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)].as_micros();
    let mean = samples.iter().map(|d| d.as_micros()).sum::<u128>() / samples.len() as u128;
    println!(
        "p50_us={} p99_us={} mean_us={} n={}",
        pct(0.50),
        pct(0.99),
        mean,
        samples.len()
    );
}

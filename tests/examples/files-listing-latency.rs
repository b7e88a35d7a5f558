//! Latency of a Files-tab folder listing through core, as the app makes it: `files-listing-latency
//! BOT [N] [PATH]` (environment as for the CLI: BERTH_DATA_DIR, BERTH_CONTAINERD_SOCKET,
//! BERTH_NAMESPACE). Lists PATH (default `/data`) N times (default 200) with
//! `Berth::file_list` and prints the first call (which finds the workspace and dials its bridge)
//! and the rest (`first_us=… p50_us=… p99_us=… mean_us=… n=…`).

use std::time::Instant;

use berth_core::{Berth, Options};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bot = args
        .next()
        .expect("usage: files-listing-latency BOT [N] [PATH]");
    let n: usize = args.next().map(|a| a.parse().expect("N")).unwrap_or(200);
    let path = args.next().unwrap_or_else(|| "/data".into());
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
    let time = || async {
        let t = Instant::now();
        berth.file_list(&bot, &path).await.expect("listing");
        t.elapsed().as_micros()
    };
    let first = time().await;
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        us.push(time().await);
    }
    us.sort_unstable();
    let mean = us.iter().sum::<u128>() / n.max(1) as u128;
    println!(
        "first_us={first} p50_us={} p99_us={} mean_us={mean} n={n}",
        us[n / 2],
        us[(n * 99 / 100).min(n - 1)]
    );
}

//! `berth stats BOT [--json]`: a running workspace's CPU, memory against its limit, processes
//! and writable-layer size. CPU is a rate: two readings a second apart, like `docker stats
//! --no-stream`.

use std::time::Duration;

use berth_core::model::WorkspaceStats;
use berth_core::{Berth, Error};

/// The time between the two readings the CPU share is measured over.
const CPU_WINDOW: Duration = Duration::from_secs(1);

pub async fn run(berth: &Berth, bot: &str, json: bool) -> Result<i32, Error> {
    berth.stats(bot).await?;
    tokio::time::sleep(CPU_WINDOW).await;
    let s = berth.stats(bot).await?;
    if json {
        crate::print_json(&s);
    } else {
        print!("{}", show(&s));
    }
    Ok(0)
}

fn show(s: &WorkspaceStats) -> String {
    let cpu = s.cpu_percent.map_or("-".into(), |p| format!("{p:.1} %"));
    let memory = match s.memory_limit {
        Some(l) => format!("{} / {} ({:.0} %)", mib(s.memory), mib(l), pct(s.memory, l)),
        None => mib(s.memory),
    };
    let layer = s.layer_bytes.map_or("-".into(), mib);
    format!(
        "cpu:        {cpu}\nmemory:     {memory}\nprocesses:  {}\nlayer:      {layer}\n",
        s.pids
    )
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
}

fn pct(part: u64, whole: u64) -> f64 {
    part as f64 * 100.0 / whole.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_memory_against_its_limit() {
        let s = WorkspaceStats {
            cpu_percent: Some(12.34),
            cpu_nanos: 1,
            memory: 64 << 20,
            memory_limit: Some(256 << 20),
            pids: 5,
            layer_bytes: None,
        };
        assert_eq!(
            show(&s),
            "cpu:        12.3 %\nmemory:     64.0 MiB / 256.0 MiB (25 %)\nprocesses:  5\nlayer:      -\n"
        );
    }
}

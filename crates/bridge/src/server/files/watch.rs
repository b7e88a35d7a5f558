//! Watch: inotify (through `notify`) on directories and files, not recursive. Raw events go into
//! a bounded queue (overflow is flagged, never buffered without limit) and are coalesced over a
//! short window into one `WatchEvent`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tonic::Status;

use super::path::{bytes, show};
use berth_bridge::proto::WatchEvent;

/// Events that arrive within this window after the first one are sent together.
const COALESCE: Duration = Duration::from_millis(100);
/// Distinct paths per event before it becomes an `overflow` (re-read everything).
const MAX_PATHS: usize = 512;

pub fn start(paths: Vec<PathBuf>) -> Result<mpsc::Receiver<Result<WatchEvent, Status>>, Status> {
    if paths.is_empty() {
        return Err(Status::invalid_argument("nothing to watch"));
    }
    let (raw_tx, mut raw_rx) = mpsc::channel::<PathBuf>(1024);
    let overflow = Arc::new(AtomicBool::new(false));
    let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
    let mut watcher = {
        let overflow = overflow.clone();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.need_rescan() {
                    overflow.store(true, Ordering::Relaxed);
                }
                for p in ev.paths {
                    if raw_tx.try_send(p).is_err() {
                        overflow.store(true, Ordering::Relaxed);
                    }
                }
                let _ = wake_tx.try_send(());
            }
            Err(_) => {
                overflow.store(true, Ordering::Relaxed);
                let _ = wake_tx.try_send(());
            }
        })
        .map_err(|e| Status::internal(format!("cannot start watching: {e}")))?
    };
    for p in &paths {
        watcher
            .watch(p, RecursiveMode::NonRecursive)
            .map_err(|e| match e.kind {
                notify::ErrorKind::PathNotFound => {
                    Status::not_found(format!("cannot watch {}: it does not exist", show(p)))
                }
                _ => Status::internal(format!("cannot watch {}: {e}", show(p))),
            })?;
    }
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        let _watcher = watcher; // lives as long as the stream
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                w = wake_rx.recv() => if w.is_none() { return },
            }
            tokio::time::sleep(COALESCE).await;
            let mut set = BTreeSet::new();
            while let Ok(p) = raw_rx.try_recv() {
                if set.len() < MAX_PATHS {
                    set.insert(p);
                } else {
                    overflow.store(true, Ordering::Relaxed);
                }
            }
            while wake_rx.try_recv().is_ok() {}
            let over = overflow.swap(false, Ordering::Relaxed);
            if set.is_empty() && !over {
                continue;
            }
            let ev = WatchEvent {
                paths: set.iter().map(|p| bytes(p)).collect(),
                overflow: over,
            };
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

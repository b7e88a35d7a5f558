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

/// Whether an event means the watched thing changed. Opens and reads are not changes: the
/// client's own listing of a folder or read of a file fires them, and reporting those would make
/// every reload trigger the next one (a reload every ~150 ms that could also overwrite what the
/// user was typing). A close after writing is kept: it marks a finished write.
fn changes_something(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

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
            Ok(ev) if !changes_something(&ev.kind) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};

    #[test]
    fn opens_and_reads_are_not_changes() {
        assert!(!changes_something(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!changes_something(&EventKind::Access(AccessKind::Read)));
        assert!(!changes_something(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(changes_something(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(changes_something(&EventKind::Create(CreateKind::File)));
        assert!(changes_something(&EventKind::Modify(ModifyKind::Any)));
    }

    /// Listing a watched folder and reading a watched file send nothing; a write does.
    #[tokio::test]
    async fn reading_does_not_wake_the_watch() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"x").unwrap();
        let mut rx = start(vec![d.path().to_path_buf(), f.clone()]).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..3 {
            let _ = std::fs::read_dir(d.path()).unwrap().count();
            let _ = std::fs::read(&f).unwrap();
        }
        let quiet = tokio::time::timeout(COALESCE * 4, rx.recv()).await;
        assert!(quiet.is_err(), "reads produced {quiet:?}");
        std::fs::write(&f, b"y").unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        let ev = ev.expect("a write is reported").unwrap().unwrap();
        assert!(ev.paths.iter().any(|p| p.ends_with(b"/f")), "{ev:?}");
    }
}

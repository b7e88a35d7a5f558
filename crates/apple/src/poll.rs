//! Events by polling: Apple's CLI has no event stream, so the workspace list is read every
//! `poll_interval` and the difference from the previous reading becomes events. A failed poll
//! is a gap: once polling works again the stream yields `Resynced` (state must be re-read)
//! instead of guessing what happened in between.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_runtime::RuntimeEvent;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::runtime::Inner;
use crate::workspace;

/// Each workspace's id and whether it runs.
type Snapshot = BTreeMap<String, bool>;

/// Starts polling in a background task that ends when the stream is dropped. The first
/// reading is the baseline: events are what changes after it (a change made before that first
/// `list` ends is part of the baseline, as a containerd event from before its subscription is).
pub fn subscribe(inner: Arc<Inner>) -> BoxStream<'static, RuntimeEvent> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run(inner, tx));
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }))
}

async fn run(inner: Arc<Inner>, tx: mpsc::Sender<RuntimeEvent>) {
    let mut known: Option<Snapshot> = None;
    let mut gap = false;
    loop {
        let polled = tokio::select! {
            _ = tx.closed() => return,
            r = workspace::list(&inner) => r,
        };
        match polled {
            Ok(list) => {
                let now: Snapshot = list.into_iter().map(|s| (s.id, s.running)).collect();
                let events = match (&known, gap) {
                    (_, true) => vec![RuntimeEvent::Resynced],
                    (Some(before), false) => diff(before, &now),
                    (None, false) => vec![],
                };
                for e in events {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                known = Some(now);
                gap = false;
            }
            Err(e) => {
                tracing::debug!(error = %e, "polling Apple's containers failed; will resync");
                gap = true;
            }
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(inner.options.poll_interval) => {}
        }
    }
}

/// The events that turn `before` into `now`. `list` carries no exit status, so exits are
/// reported with status 0.
fn diff(before: &Snapshot, now: &Snapshot) -> Vec<RuntimeEvent> {
    let mut events = Vec::new();
    for (id, &running) in now {
        let was = before.get(id).copied().unwrap_or(false);
        if running && !was {
            events.push(RuntimeEvent::TaskStarted { id: id.clone() });
        } else if was && !running {
            events.push(RuntimeEvent::TaskExited {
                id: id.clone(),
                exit_status: 0,
            });
        }
    }
    for (id, &was) in before {
        if now.contains_key(id) {
            continue;
        }
        if was {
            events.push(RuntimeEvent::TaskExited {
                id: id.clone(),
                exit_status: 0,
            });
        }
        events.push(RuntimeEvent::ContainerDeleted { id: id.clone() });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(v: &[(&str, bool)]) -> Snapshot {
        v.iter().map(|(id, r)| (id.to_string(), *r)).collect()
    }

    #[test]
    fn diffs_starts_exits_and_deletes() {
        let before = snap(&[
            ("a", false),
            ("b", true),
            ("c", true),
            ("d", false),
            ("e", true),
        ]);
        let now = snap(&[
            ("a", true),
            ("b", false),
            ("c", true),
            ("f", true),
            ("g", false),
        ]);
        let started = |id: &str| RuntimeEvent::TaskStarted { id: id.into() };
        let exited = |id: &str| RuntimeEvent::TaskExited {
            id: id.into(),
            exit_status: 0,
        };
        let deleted = |id: &str| RuntimeEvent::ContainerDeleted { id: id.into() };
        assert_eq!(
            diff(&before, &now),
            [
                started("a"),
                exited("b"),
                started("f"),
                deleted("d"),
                exited("e"),
                deleted("e")
            ]
        );
        assert!(diff(&now, &now).is_empty());
    }
}

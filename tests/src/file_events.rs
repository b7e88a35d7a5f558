//! A workspace folder watched through `Berth::file_watch` in the background, its events on a
//! channel. It is handed out only once it is known to be watching (it reported a probe file the
//! test made), so tests wait on the events themselves rather than on a guessed set-up time.

use std::time::{Duration, Instant};

use berth_core::{Berth, CancellationToken};
use tokio::sync::mpsc;

use crate::sh;

pub struct FileEvents {
    rx: mpsc::UnboundedReceiver<(Instant, Vec<String>)>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<berth_core::Result<()>>,
}

impl FileEvents {
    /// Watches `dir` (an absolute path in the workspace) and waits until the watch reports a
    /// probe file made and removed there.
    pub async fn start(berth: &Berth, bot: &str, dir: &str) -> FileEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let task = {
            let (berth, bot, dir, cancel) = (
                berth.clone(),
                bot.to_string(),
                dir.to_string(),
                cancel.clone(),
            );
            tokio::spawn(async move {
                berth
                    .file_watch(&bot, &[dir], cancel, move |ev| {
                        tx.send((Instant::now(), ev.paths)).is_ok()
                    })
                    .await
            })
        };
        let mut events = FileEvents { rx, cancel, task };
        let probe = format!("{dir}/.watch-probe-{}", crate::suffix());
        // The watch may not be set up yet when the probe is first made: make it again until
        // an event names it. Each round waits on the event stream, never on a fixed time.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            sh(berth, bot, &format!("rm -f {probe}; touch {probe}")).await;
            if events
                .naming(&probe, Duration::from_millis(500))
                .await
                .is_some()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the watch on {dir} never reported {probe}"
            );
        }
        sh(berth, bot, &format!("rm {probe}")).await;
        events
            .naming(&probe, Duration::from_secs(10))
            .await
            .expect("the probe's removal reported");
        events
    }

    /// The time of the next event that names `path`, if one comes within `timeout`.
    pub async fn naming(&mut self, path: &str, timeout: Duration) -> Option<Instant> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (at, paths) = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .ok()??;
            if paths.iter().any(|p| p == path) {
                return Some(at);
            }
        }
    }

    /// The next event's paths, if one comes within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Vec<String>> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()?
            .map(|(_, paths)| paths)
    }

    /// Cancels the watch and returns how it ended.
    pub async fn stop(self) -> berth_core::Result<()> {
        self.cancel.cancel();
        self.task.await.expect("the watch task")
    }
}

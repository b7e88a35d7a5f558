//! The deterministic tier's harness: core opened on a [`FakeRuntime`] in a temporary data
//! directory, with the real (static) bridge installed so the fake's tasks answer, and a
//! recorder of create phases that tests can await.
//!
//! The bridge binary is found like the app finds it (`BERTH_BRIDGE_BINARY`, or
//! `target/bridge/berth-bridge` from `scripts/build-bridge.sh`). Without it a test fails
//! under `CI` and is skipped (saying why) otherwise.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::model::{CreateEvent, WorkspaceState};
use berth_core::{Berth, Options};
use berth_runtime::fake::FakeRuntime;
use tokio::sync::mpsc;

#[allow(unused_imports)]
pub use berth_runtime::fake::{Op, Point};

/// Upper bound for anything awaited; reaching it is a failure (a hang), never a sync point.
pub const GUARD: Duration = Duration::from_secs(20);

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub fake: Arc<FakeRuntime>,
    pub berth: Berth,
    bridge: std::path::PathBuf,
}

impl Harness {
    /// Core on a fresh fake with bot `a` (and `b`) created; `None` when skipped.
    pub async fn new(test: &str) -> Option<Harness> {
        let Some(bridge) = berth_core::find_bridge_binary(None) else {
            let why =
                "no static bridge binary: run scripts/build-bridge.sh or set BERTH_BRIDGE_BINARY";
            assert!(std::env::var_os("CI").is_none(), "CI: {test}: {why}");
            eprintln!("SKIPPED {test}: {why}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeRuntime::new(dir.path().join("fake"));
        let berth = open(dir.path().join("data"), &fake, &bridge).await;
        berth.create_bot("a").unwrap();
        berth.create_bot("b").unwrap();
        Some(Harness {
            dir,
            fake,
            berth,
            bridge,
        })
    }

    /// Another core over the same fake, data directory and database.
    pub async fn reopen(&self) -> Berth {
        open(self.dir.path().join("data"), &self.fake, &self.bridge).await
    }

    /// Another core over the same fake and data directory whose database was lost (removed;
    /// the first core keeps its open handle on the removed file).
    pub async fn reopen_fresh(&self) -> Berth {
        let db = self.berth.paths().database();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        open(self.dir.path().join("data"), &self.fake, &self.bridge).await
    }

    /// Creates `bot`'s workspace and expects it to complete.
    pub async fn create(&self, bot: &str) -> Phases {
        let phases = Phases::new();
        let emit = phases.sink();
        let info = guard(
            self.berth
                .create_workspace(bot, Some("test/image:1"), None, &*emit),
        )
        .await
        .expect("create");
        assert_eq!(info.state, WorkspaceState::Running);
        phases
    }

    /// Starts a create of `bot` in the background; its phases arrive in the returned recorder.
    pub fn spawn_create(
        &self,
        bot: &str,
    ) -> (
        Phases,
        tokio::task::JoinHandle<berth_core::Result<berth_core::model::WorkspaceInfo>>,
    ) {
        let phases = Phases::new();
        let emit = phases.sink();
        let berth = self.berth.clone();
        let bot = bot.to_string();
        let task = tokio::spawn(async move {
            berth
                .create_workspace(&bot, Some("test/image:1"), None, &*emit)
                .await
        });
        (phases, task)
    }

    pub async fn state(&self, bot: &str) -> WorkspaceState {
        self.berth.info(bot).await.expect("info").state
    }
}

async fn open(
    data_dir: std::path::PathBuf,
    fake: &Arc<FakeRuntime>,
    bridge: &std::path::Path,
) -> Berth {
    let options = Options {
        data_dir: Some(data_dir.clone()),
        containerd_socket: Some(data_dir.join("fake.sock")),
        namespace: Some("fake".into()),
        bridge_binary: Some(bridge.to_path_buf()),
        agent_env: vec![],
    };
    Berth::open(options, fake.connector()).await.expect("open")
}

/// Fails the test when `f` hangs instead of letting it run forever.
pub async fn guard<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("timed out: the operation hung")
}

/// The phase name of a create event, as the UI sees it.
pub fn phase(e: &CreateEvent) -> String {
    serde_json::to_value(e).unwrap()["phase"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Records a create's events and lets a test await a phase.
#[derive(Clone)]
pub struct Phases {
    seen: Arc<Mutex<Vec<String>>>,
    tx: mpsc::UnboundedSender<String>,
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>,
}

impl Phases {
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Phases {
            seen: Arc::default(),
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
        }
    }

    /// The callback core reports through.
    pub fn sink(&self) -> Arc<dyn Fn(CreateEvent) + Send + Sync> {
        let (seen, tx) = (self.seen.clone(), self.tx.clone());
        Arc::new(move |e| {
            let p = phase(&e);
            seen.lock().unwrap().push(p.clone());
            let _ = tx.send(p);
        })
    }

    /// Every phase so far, consecutive repeats (progress updates) folded.
    pub fn distinct(&self) -> Vec<String> {
        let mut out: Vec<String> = self.seen.lock().unwrap().clone();
        out.dedup();
        out
    }

    /// Waits until phase `p` is reported.
    pub async fn reached(&self, p: &str) {
        let mut rx = self.rx.lock().await;
        guard(async {
            while let Some(got) = rx.recv().await {
                if got == p {
                    return;
                }
            }
            panic!("the create ended before {p}");
        })
        .await
    }
}

/// The phases of a create in order; a run must follow them without going back.
pub const ORDER: [&str; 7] = [
    "resolving",
    "pulling",
    "unpacking",
    "creating",
    "starting",
    "waitingBridge",
    "restoring",
];

/// Asserts `seen` is `ORDER` up to and including `last` (skipping phases not in `expected`),
/// then exactly one `end`, and nothing after it.
pub fn assert_phases(seen: &[String], last: &str, end: &str) {
    let upto = ORDER.iter().position(|p| *p == last).unwrap();
    let mut want: Vec<String> = ORDER[..=upto].iter().map(|s| s.to_string()).collect();
    want.push(end.to_string());
    assert_eq!(
        seen, want,
        "phases out of order, or progress after a phase ended"
    );
}

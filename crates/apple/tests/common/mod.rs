//! The fake `container` for each test: a wrapper script in a temporary directory that sets the
//! fake's environment (release, state directory, call log) and runs `tests/fake/container`, so
//! tests running in parallel never share state or process environment. A test changes the
//! fake's behaviour while it runs by writing `env` next to the wrapper (sourced by it).

#![allow(dead_code)]

pub mod round_trip;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_apple::{AppleConnector, AppleOptions};
use berth_runtime::{
    Connector, ImageRef, Limits, Network, PullEvent, PullSink, Runtime, RuntimeEvent, Target,
    WorkspaceSpec,
};
use futures::StreamExt;

pub const IMAGE: &str = "127.0.0.1:5000/berth-test/busybox:1";
pub const VERSIONS: &[&str] = &["1.0", "1.1", "1.2"];

pub struct Fake {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

impl Fake {
    /// A fake of release `version` with `extra` environment (`KEY=value`).
    pub fn new(version: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log = dir.path().join("calls.jsonl");
        std::fs::create_dir_all(&state).unwrap();
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake/container");
        let mut script = String::from("#!/bin/sh\n");
        script += &format!("export FAKE_CONTAINER_VERSION='{version}'\n");
        script += &format!("export FAKE_CONTAINER_STATE='{}'\n", state.display());
        script += &format!("export FAKE_CONTAINER_LOG='{}'\n", log.display());
        for kv in extra {
            script += &format!("export {kv}\n");
        }
        let env_file = dir.path().join("env");
        script += &format!("[ -f '{0}' ] && . '{0}'\n", env_file.display());
        // The interpreter itself: a version manager's `python3` shim can triple each call's cost.
        script += &format!(
            "exec '{}' '{}' \"$@\"\n",
            python().display(),
            fake.display()
        );
        let bin = dir.path().join("container");
        write_executable(&bin, &script);
        Self {
            dir,
            bin,
            state,
            log,
        }
    }

    /// Changes the fake's environment for the calls from now on (`None`: back to the start).
    pub fn set_env(&self, lines: Option<&str>) {
        let path = self.dir.path().join("env");
        match lines {
            Some(l) => std::fs::write(path, l).unwrap(),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    pub fn options() -> AppleOptions {
        AppleOptions {
            poll_interval: Duration::from_millis(100),
            ..AppleOptions::default()
        }
    }

    pub fn connector(&self, options: AppleOptions) -> AppleConnector {
        AppleConnector::with_options(Some(self.bin.clone()), options)
    }

    pub fn target(&self) -> Target {
        Target {
            endpoint: PathBuf::from("/unused"),
            namespace: "berth".into(),
            state_dir: self.dir.path().join("net"),
        }
    }

    pub async fn connect(&self) -> Arc<dyn Runtime> {
        self.connector(Self::options())
            .connect(&self.target())
            .await
            .unwrap()
    }

    /// A workspace spec whose directories live in this fake's temporary directory.
    pub fn spec(&self, bot: &str) -> WorkspaceSpec {
        let runtime_dir = self.dir.path().join("runtime");
        std::fs::create_dir_all(runtime_dir.join("templates")).unwrap();
        // Create checks the bridge's architecture against the platform: a stand-in of this
        // machine's (the fake's replay mode never runs it).
        let bridge = runtime_dir.join("bridge");
        if !bridge.exists() {
            std::fs::write(&bridge, elf_header()).unwrap();
        }
        WorkspaceSpec {
            id: format!("berth-{bot}"),
            bot: bot.into(),
            image: ImageRef::parse(IMAGE).unwrap(),
            runtime_dir,
            socket_dir: self.dir.path().join("run").join(format!("berth-{bot}")),
            log_path: self
                .dir
                .path()
                .join("logs")
                .join(format!("berth-{bot}.log")),
            network: Network::Bridge,
            block_private_networks: false,
            limits: Limits::default(),
        }
    }

    /// Every call's arguments so far.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return vec![];
        };
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    }

    /// Runs the fake directly (a change made outside Berth); panics if it fails.
    /// How many `list` calls the fake has logged.
    pub fn list_calls(&self) -> usize {
        self.calls().iter().filter(|c| c[0] == "list").count()
    }

    /// Waits until the poller subscribed after `lists_before` calls has taken its baseline.
    /// Its first `list` is the baseline: a change made before that reading ends is part of it
    /// and never becomes an event. Polls are sequential, so the first has ended once a second
    /// one is logged.
    pub async fn wait_for_poll_baseline(&self, lists_before: usize) {
        wait_until("the poller's first reading", || {
            self.list_calls() > lists_before + 1
        })
        .await;
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(&self.bin)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "container {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// The Python 3 interpreter `python3` on PATH resolves to.
fn python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed by the fake container CLI");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// The platform the backend passes to `image pull` and `create`: the user's
/// `CONTAINER_DEFAULT_PLATFORM`, else Linux on this machine's architecture.
pub fn platform() -> String {
    match std::env::var("CONTAINER_DEFAULT_PLATFORM") {
        Ok(p) if !p.trim().is_empty() => p,
        _ => match std::env::consts::ARCH {
            "aarch64" => "linux/arm64".into(),
            "x86_64" => "linux/amd64".into(),
            other => format!("linux/{other}"),
        },
    }
}

pub fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// What a [`Sink`] does with each event besides keeping it.
pub type OnEvent = Box<dyn Fn(&PullEvent) + Send + Sync>;

/// Collects pull events; `on_event` may act on each (e.g. cancel).
#[derive(Default)]
pub struct Sink {
    pub events: Mutex<Vec<PullEvent>>,
    pub on_event: Option<OnEvent>,
}

impl PullSink for Sink {
    fn event(&self, event: PullEvent) {
        if let Some(f) = &self.on_event {
            f(&event);
        }
        self.events.lock().unwrap().push(event);
    }
}

/// The next event matching `want`, within a generous deadline (events come from polling).
pub async fn wait_event(
    events: &mut futures::stream::BoxStream<'static, RuntimeEvent>,
    want: impl Fn(&RuntimeEvent) -> bool,
) -> RuntimeEvent {
    let deadline = Duration::from_secs(30);
    tokio::time::timeout(deadline, async {
        loop {
            let e = events.next().await.expect("the event stream ended");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("no such event within 30 s")
}

/// Waits (up to 30 s) until `cond` holds, checking as things change (for a poll's side effect).
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process is gone (on Linux also: a zombie waiting to be reaped).
pub fn gone(pid: i32) -> bool {
    if cfg!(target_os = "linux") {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        return stat.is_empty() || state == Some("Z");
    }
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) != 0 }
}

/// The first bytes of a Linux executable for this machine's architecture.
fn elf_header() -> Vec<u8> {
    let machine: u16 = match std::env::consts::ARCH {
        "aarch64" => 183,
        _ => 62,
    };
    let mut head = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    head.resize(18, 0);
    head.extend(machine.to_le_bytes());
    head.resize(64, 0);
    head
}

/// Writes an executable through a child process. Written by this process, the file could not
/// always be run: a test on another thread that starts a process at that moment forks a child
/// that holds the open file until it execs, and running a file open for writing fails with
/// "Text file busy" (seen: `lifecycle_1_0`, 1 run in 5 beside two others).
fn write_executable(path: &Path, contents: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(contents.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
}

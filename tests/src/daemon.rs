//! A private containerd for tests that restart the daemon: the shared one must keep running for
//! the tests in parallel. Same configuration as `scripts/services.sh`, in a temporary directory.
//! Dropping it kills its tasks, the daemon, leftover shims and their mounts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PrivateContainerd {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateContainerd {
    /// Starts it; None when it cannot run here (gate rules apply: fails under `CI`).
    pub fn start(test: &str) -> Option<Self> {
        if unsafe { libc::geteuid() } != 0 || which("containerd").is_none() {
            crate::unavailable(
                test,
                "a private containerd needs root and the containerd binary",
            );
            return None;
        }
        // /tmp/berth-cdXXXX: short, since the socket path must fit in sun_path.
        let dir = tempfile::Builder::new()
            .prefix("berth-cd")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let mut d = Self { dir, child: None };
        d.write_config();
        d.launch();
        Some(d)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn write_config(&self) {
        let d = self.dir.path().display();
        let body = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
required_plugins = [
  "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.runtime.v2.task",
  "io.containerd.grpc.v1.tasks",
]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{d}/opt"
"#
        );
        std::fs::write(self.config(), body).expect("writing containerd config");
    }

    fn launch(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("containerd.log"))
            .expect("log file");
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting containerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.healthy() {
            assert!(
                Instant::now() < deadline,
                "private containerd did not come up; see {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn healthy(&self) -> bool {
        self.socket().exists() && ctr(&self.socket(), None, &["version"]).is_ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// SIGTERM and wait; shims and their containers keep running, as after a daemon upgrade.
    pub fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Stops and starts the daemon on the same state.
    pub fn restart(&mut self) {
        self.stop_daemon();
        self.launch();
    }

    /// Shims of this daemon: their command line names our socket.
    fn shim_pids(&self) -> Vec<i32> {
        let needle = format!(" {} ", self.socket().display());
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return vec![];
        };
        rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                cmd.contains("containerd-shim") && cmd.contains(&needle)
            })
            .collect()
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        let sock = self.socket();
        if self.child.is_some() {
            for ns in ctr(&sock, None, &["namespaces", "ls", "-q"])
                .unwrap_or_default()
                .lines()
            {
                for task in ctr(&sock, Some(ns), &["tasks", "ls", "-q"])
                    .unwrap_or_default()
                    .lines()
                {
                    let _ = ctr(&sock, Some(ns), &["tasks", "kill", "-s", "SIGKILL", task]);
                    let deadline = Instant::now() + Duration::from_secs(5);
                    while ctr(&sock, Some(ns), &["tasks", "rm", "-f", task]).is_err()
                        && Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        self.stop_daemon();
        for pid in self.shim_pids() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Mounts under our root (rootfs of killed containers), deepest first.
        let root = format!("{}/", self.dir.path().display());
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.sort();
        for m in mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

/// `ctr --address SOCK [--namespace NS] args…`
pub fn ctr(sock: &Path, ns: Option<&str>, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("timeout");
    cmd.args(["20", "ctr", "--address"]).arg(sock);
    if let Some(ns) = ns {
        cmd.args(["--namespace", ns]);
    }
    let out = cmd.args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ctr {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

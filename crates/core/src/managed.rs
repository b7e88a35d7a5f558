//! Berth's own containerd, for a machine where none runs: state under Berth's data directory,
//! started on the user's request as a detached daemon (so the app and the CLI share it, and
//! workspaces outlive the window), and started again at open while the setting is on.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::{NetworkMode, SystemStatus};
use crate::{Berth, Error, Result};

fn containerd_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"])
        .map(|d| PathBuf::from(d).join("containerd"))
        .find(|p| p.is_file())
}

/// Root and the binary are what a private containerd needs.
pub(crate) fn can_manage() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    root && containerd_binary().is_some()
}

impl Berth {
    /// The connection as the status indicator shows it. While disconnected each call tries to
    /// connect again, so the indicator recovers by itself once containerd is started.
    pub async fn status(&self) -> SystemStatus {
        if self.inner.runtime.read().unwrap().is_none() {
            self.connect().await;
        }
        let s = self
            .settings()
            .unwrap_or_else(|_| crate::settings::defaults());
        let rt = self.inner.runtime.read().unwrap().clone();
        let (version, error, bridge) = match rt {
            Some(rt) => match rt.version().await {
                Ok(v) => (Some(v), None, rt.capabilities().bridge_network),
                Err(e) => (None, Some(e.message), false),
            },
            None => (
                None,
                self.inner.runtime_error.read().unwrap().clone(),
                false,
            ),
        };
        let managed = s.managed_containerd
            && s.containerd_socket == self.managed_socket().display().to_string();
        SystemStatus {
            connected: version.is_some(),
            socket: s.containerd_socket,
            namespace: s.namespace,
            version,
            error,
            can_manage: can_manage(),
            managed,
            network: if bridge {
                NetworkMode::Cni
            } else {
                NetworkMode::Host
            },
        }
    }

    /// Starts Berth's own containerd and switches the saved socket to it.
    pub async fn start_managed_containerd(&self) -> Result<SystemStatus> {
        if !can_manage() {
            return Err(Error::new(
                crate::model::ErrorCode::Unsupported,
                "Berth can run its own containerd only as root with the containerd binary installed \
                 (Debian: apt-get install containerd runc)",
            ));
        }
        let dir = self.inner.paths.managed_containerd_dir();
        let socket = self.managed_socket();
        if !answers(&socket) {
            spawn(&dir)?;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut s = self.settings()?;
        s.containerd_socket = socket.display().to_string();
        s.managed_containerd = true;
        self.set_settings(s).await?;
        while !self.connect().await {
            if Instant::now() > deadline {
                return Err(Error::unavailable(format!(
                    "Berth's containerd did not answer; see {}",
                    dir.join("containerd.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(self.status().await)
    }

    pub fn managed_socket(&self) -> PathBuf {
        self.inner
            .paths
            .managed_containerd_dir()
            .join("containerd.sock")
    }

    /// Stops Berth's own containerd (SIGTERM; workspaces keep running in their shims).
    pub fn stop_managed_containerd(&self) -> Result<bool> {
        let pid_file = self
            .inner
            .paths
            .managed_containerd_dir()
            .join("containerd.pid");
        let Ok(pid) = std::fs::read_to_string(&pid_file) else {
            return Ok(false);
        };
        let pid: i32 = pid
            .trim()
            .parse()
            .map_err(|_| Error::internal("corrupt containerd.pid"))?;
        let _ = std::fs::remove_file(&pid_file);
        Ok(unsafe { libc::kill(pid, libc::SIGTERM) } == 0)
    }
}

/// Something accepts connections on the socket.
fn answers(socket: &std::path::Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

fn spawn(dir: &std::path::Path) -> Result<()> {
    let io = |e: std::io::Error| Error::internal(format!("starting containerd: {e}"));
    std::fs::create_dir_all(dir).map_err(io)?;
    let config = dir.join("config.toml");
    let body = format!(
        "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
         [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
        root = dir.join("root").display(),
        state = dir.join("state").display(),
        sock = dir.join("containerd.sock").display(),
    );
    std::fs::write(&config, body).map_err(io)?;
    let log = std::fs::File::create(dir.join("containerd.log")).map_err(io)?;
    let mut cmd = Command::new(
        containerd_binary().ok_or_else(|| Error::internal("containerd binary vanished"))?,
    );
    cmd.arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log);
    // Its own session: the daemon must not die with the terminal or window that started it.
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(io)?;
    std::fs::write(dir.join("containerd.pid"), child.id().to_string()).map_err(io)?;
    // Reap it if it exits while we run; it is not ours to wait for otherwise.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(())
}

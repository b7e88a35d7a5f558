//! Berth's own containerd, for a machine where none runs: state under Berth's data directory,
//! started on the user's request, stopped with Berth.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::model::{NetworkMode, SystemStatus};
use crate::{Berth, Error, Result};

pub(crate) struct Managed {
    child: Child,
}

impl Drop for Managed {
    fn drop(&mut self) {
        // SIGTERM lets containerd close cleanly; running workspaces keep running in their shims.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

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
    /// The connection as the status indicator shows it.
    pub async fn status(&self) -> SystemStatus {
        let s = self.settings().unwrap_or_else(|_| crate::settings::defaults());
        let rt = self.inner.runtime.read().unwrap().clone();
        let (version, error, bridge) = match rt {
            Some(rt) => match rt.version().await {
                Ok(v) => (Some(v), None, rt.capabilities().bridge_network),
                Err(e) => (None, Some(e.message), false),
            },
            None => (None, self.inner.runtime_error.read().unwrap().clone(), false),
        };
        SystemStatus {
            connected: version.is_some(),
            socket: s.containerd_socket,
            namespace: s.namespace,
            version,
            error,
            can_manage: can_manage(),
            managed: self.inner.managed.lock().unwrap().is_some(),
            network: if bridge { NetworkMode::Cni } else { NetworkMode::Host },
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
        let socket = dir.join("containerd.sock");
        if self.inner.managed.lock().unwrap().is_none() {
            let child = spawn(&dir)?;
            *self.inner.managed.lock().unwrap() = Some(Managed { child });
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
}

fn spawn(dir: &std::path::Path) -> Result<Child> {
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
    Command::new(containerd_binary().ok_or_else(|| Error::internal("containerd binary vanished"))?)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io)?)
        .stderr(log)
        .spawn()
        .map_err(io)
}

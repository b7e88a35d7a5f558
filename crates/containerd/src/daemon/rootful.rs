//! containerd run by root, as Berth's own.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::{OwnDaemon, Result};

use super::{find_binary, socket_to_start, spawn_detached, stop_all, wait_answering, write_config};

/// containerd run by root for Berth.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfulContainerd;

#[async_trait::async_trait]
impl OwnDaemon for RootfulContainerd {
    fn rootless(&self) -> bool {
        false
    }

    fn missing(&self) -> Option<String> {
        if unsafe { libc::geteuid() } != 0 {
            return Some("Berth's rootful containerd needs root".into());
        }
        find_binary("containerd")
            .is_none()
            .then(|| "containerd is not installed: apt-get install containerd runc".into())
    }

    fn endpoint(&self, dir: &Path) -> PathBuf {
        dir.join("containerd.sock")
    }

    async fn start(&self, dir: &Path) -> Result<()> {
        let Some(socket) = socket_to_start(self, dir)? else {
            return Ok(());
        };
        let config = write_config(dir, &socket, "")?;
        let mut cmd = Command::new(find_binary("containerd").expect("checked by missing()"));
        cmd.arg("--config").arg(&config);
        spawn_detached(cmd, dir)?;
        wait_answering(&socket, dir).await
    }

    async fn stop(&self, dir: &Path) -> Result<bool> {
        stop_all(&dir.join("config.toml"), &self.endpoint(dir)).await
    }
}

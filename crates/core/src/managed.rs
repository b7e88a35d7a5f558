//! Berth's own containerd, for a machine where none runs: state under Berth's data directory,
//! started on the user's request as a detached daemon (so the app and the CLI share it, and
//! workspaces outlive the window), and started again at open while the setting is on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_runtime::OwnDaemon;

use crate::model::{BackendFeature, Limitation, NetworkMode, SystemStatus, WorkspaceState};
use crate::{Berth, Error, Result};

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
        let caps = rt.as_ref().map(|rt| rt.capabilities());
        let notes = rt.as_ref().map(|rt| rt.notes()).unwrap_or_default();
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
        let daemon = self.inner.connector.own_daemon();
        let missing = match &daemon {
            Some(d) => d.missing(),
            None => Some("this backend has no daemon Berth can run".into()),
        };
        let rootless = if managed {
            daemon.is_some_and(|d| d.rootless())
        } else {
            socket_owner(&s.containerd_socket).is_some_and(|uid| uid != 0)
        };
        SystemStatus {
            connected: version.is_some(),
            socket: s.containerd_socket,
            namespace: s.namespace,
            version,
            error,
            can_manage: missing.is_none(),
            missing,
            managed,
            rootless,
            own_by_default: self.default_socket() == self.managed_socket().display().to_string(),
            resource_limits: caps.is_none_or(|c| c.resource_limits),
            backend: self.inner.connector.name().into(),
            limitations: caps
                .map(|c| limitations(self.inner.connector.name(), &c))
                .unwrap_or_default(),
            notes,
            network: if bridge {
                NetworkMode::Cni
            } else {
                NetworkMode::Host
            },
        }
    }

    /// Starts Berth's own daemon and switches the saved socket to it.
    pub async fn start_managed_containerd(&self) -> Result<SystemStatus> {
        let daemon = self.own_daemon()?;
        if let Some(m) = daemon.missing() {
            return Err(Error::new(crate::model::ErrorCode::Unsupported, m));
        }
        let dir = self.inner.paths.managed_containerd_dir();
        daemon.start(&dir).await.map_err(Error::from)?;
        let mut s = self.settings()?;
        s.containerd_socket = self.managed_socket().display().to_string();
        s.managed_containerd = true;
        self.set_settings(s).await?;
        // It accepts connections already; a failure to connect now is a real error.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.connect().await {
            if Instant::now() > deadline {
                return Err(Error::unavailable(format!(
                    "Berth's containerd does not answer; see {}",
                    dir.join("containerd.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(self.status().await)
    }

    /// The socket used until the user picks one: the system's containerd for root, Berth's own
    /// (rootless) daemon for a normal user, who cannot use root's.
    pub(crate) fn default_socket(&self) -> String {
        if unsafe { libc::geteuid() } == 0 {
            crate::settings::DEFAULT_SOCKET.to_string()
        } else {
            self.managed_socket().display().to_string()
        }
    }

    pub fn managed_socket(&self) -> PathBuf {
        match self.inner.connector.own_daemon() {
            Some(d) => d.endpoint(&self.inner.paths.managed_containerd_dir()),
            None => self
                .inner
                .paths
                .managed_containerd_dir()
                .join("containerd.sock"),
        }
    }

    /// Stops Berth's own daemon: first every running workspace (as `berth stop` does), then
    /// the daemon and the processes it started; returns once none is left, and no longer
    /// starts it at open. `false` when it was not running.
    pub async fn stop_managed_containerd(&self) -> Result<bool> {
        let daemon = self.own_daemon()?;
        let status = self.status().await;
        if status.managed && status.connected {
            for bot in self.bots()? {
                if bot.state == WorkspaceState::Running {
                    self.stop(&bot.name).await?;
                }
            }
        }
        let stopped = daemon
            .stop(&self.inner.paths.managed_containerd_dir())
            .await
            .map_err(Error::from)?;
        let mut s = self.settings()?;
        if s.managed_containerd {
            s.managed_containerd = false;
            self.set_settings(s).await?;
        }
        Ok(stopped)
    }

    fn own_daemon(&self) -> Result<Arc<dyn OwnDaemon>> {
        self.inner.connector.own_daemon().ok_or_else(|| {
            Error::new(
                crate::model::ErrorCode::Unsupported,
                "this backend has no daemon Berth can run",
            )
        })
    }
}

/// Who owns the socket (a rootless daemon's socket is its user's), when it exists.
fn socket_owner(socket: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(socket).ok().map(|m| m.uid())
}

/// Whether the connector's own daemon can run here.
pub(crate) fn can_manage(berth: &Berth) -> bool {
    berth
        .inner
        .connector
        .own_daemon()
        .is_some_and(|d| d.missing().is_none())
}

/// What a backend with `caps` cannot do, in words the UI and `berth system status` show.
fn limitations(backend: &str, caps: &berth_runtime::Capabilities) -> Vec<Limitation> {
    let mut v = vec![];
    let mut add = |missing: bool, feature, reason: String| {
        if missing {
            v.push(Limitation { feature, reason });
        }
    };
    add(
        !caps.layer_progress,
        BackendFeature::LayerProgress,
        format!("{backend} reports a download as a whole, not per layer"),
    );
    add(
        !caps.native_versions,
        BackendFeature::NativeVersions,
        format!(
            "{backend} has no snapshots: versions are archives of /data, and changes outside \
            /data are not captured"
        ),
    );
    add(
        !caps.change_limits,
        BackendFeature::ChangeLimits,
        format!(
            "{backend} fixes a workspace's limits when it creates it: a change applies when \
            the workspace is created again"
        ),
    );
    add(
        !caps.host_network,
        BackendFeature::HostNetwork,
        format!(
            "{backend} runs each workspace in a virtual machine with its own network: it \
            cannot use this computer's network"
        ),
    );
    add(
        caps.bridge_network && !caps.private_network_block,
        BackendFeature::PrivateNetworkBlock,
        format!(
            "{backend} cannot keep a workspace off private networks (your LAN, VPNs, cloud \
            metadata)"
        ),
    );
    add(
        !caps.live_events,
        BackendFeature::LiveEvents,
        format!(
            "{backend} has no event stream: Berth checks its containers every few seconds, \
            so a change made outside Berth shows up a little late"
        ),
    );
    v
}

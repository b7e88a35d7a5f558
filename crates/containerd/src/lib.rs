//! Berth's [`Runtime`] over containerd's gRPC API: our own pull (registry → content → unpack),
//! workspace containers and tasks, versions (committed snapshots), CNI networking and the event
//! stream. No tonic or prost type
//! leaves this crate.

mod beneath;
mod changes;
mod conn;
mod content;
mod daemon;
mod events;
mod limits;
mod network;
mod network_guard;
mod oci;
mod private_networks;
mod programs;
mod pull;
mod registry;
mod rootless;
mod seccomp;
mod spec;
mod task;
mod unpack;
mod usage;
mod versions;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{
    BridgeTrust, CancellationToken, Capabilities, Connector, ContainerStatus, FileChange, ImageRef,
    PullPolicy, PullSink, Result, Runtime, RuntimeEvent, SnapshotInfo, Target, VersionLabels,
    WorkspaceSnapshots, WorkspaceSpec,
};
use futures::stream::BoxStream;

pub use conn::SNAPSHOTTER;
pub use daemon::{RootfulContainerd, RootlessContainerd};
pub use network::Cni;

/// A connected containerd backend.
pub struct ContainerdRuntime {
    conn: conn::Conn,
    cni: Option<Cni>,
    /// containerd runs in a user namespace (rootless) rather than as root on the host.
    rootless: bool,
    /// Where generated host files (resolv.conf) live.
    state_dir: PathBuf,
}

impl ContainerdRuntime {
    /// Connects to containerd on `socket` and works in `namespace`. `state_dir` is Berth's own
    /// directory for files it generates for containers.
    pub async fn connect(socket: &Path, namespace: &str, state_dir: &Path) -> Result<Self> {
        let conn = conn::Conn::connect(socket, namespace).await?;
        let rootless = rootless::Namespaces::detect(socket).is_some();
        let cni = Cni::detect().map(|c| {
            if rootless {
                c.in_namespaces(socket, state_dir)
            } else {
                c
            }
        });
        let rt = Self {
            conn,
            cni,
            rootless,
            state_dir: state_dir.to_path_buf(),
        };
        rt.version().await?;
        Ok(rt)
    }

    pub fn socket(&self) -> &Path {
        self.conn.socket()
    }
}

/// What a rootless containerd cannot do here: runc gives its workspaces no cgroup of their own
/// unless root delegated a cgroup tree to the user, which Berth does not set up yet.
fn no_cgroups(what: &str) -> berth_runtime::RuntimeError {
    berth_runtime::RuntimeError::new(
        berth_runtime::ErrorKind::Unsupported,
        format!(
            "{what}: not available with a rootless containerd on this machine (workspaces get \
             no cgroup of their own without a cgroup tree delegated to your user)"
        ),
    )
}

/// The [`Connector`] the composition roots hand to core: a [`ContainerdRuntime`] on the target's
/// socket (`endpoint`) and namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerdConnector;

#[async_trait::async_trait]
impl Connector for ContainerdConnector {
    fn name(&self) -> &'static str {
        "containerd"
    }

    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>> {
        let rt = ContainerdRuntime::connect(&target.endpoint, &target.namespace, &target.state_dir)
            .await?;
        Ok(Arc::new(rt))
    }

    fn own_daemon(&self) -> Option<Arc<dyn berth_runtime::OwnDaemon>> {
        if unsafe { libc::geteuid() } == 0 {
            Some(Arc::new(RootfulContainerd))
        } else {
            Some(Arc::new(RootlessContainerd))
        }
    }
}

#[async_trait::async_trait]
impl Runtime for ContainerdRuntime {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_versions: true,
            bridge_network: self.cni.is_some(),
            private_network_block: self.cni.is_some(),
            resource_limits: !self.rootless,
            bridge_trust: BridgeTrust::CheckPeerPid,
            host_network: true,
            layer_progress: true,
            change_limits: true,
            live_events: true,
        }
    }

    async fn usage(&self, id: &str) -> Result<berth_runtime::Usage> {
        if self.rootless {
            return Err(no_cgroups("live CPU and memory use"));
        }
        usage::read(&self.conn, id).await
    }

    async fn layer_bytes(&self, id: &str) -> Result<Option<u64>> {
        usage::layer_bytes(&self.conn, id).await.map(Some)
    }

    async fn set_limits(&self, id: &str, limits: &berth_runtime::Limits) -> Result<()> {
        if self.rootless {
            return Err(no_cgroups("resource limits"));
        }
        limits::set(&self.conn, id, limits).await
    }

    async fn set_private_networks_blocked(&self, id: &str, blocked: bool) -> Result<()> {
        let ns = match self.rootless {
            true => Some(rootless::Namespaces::current(self.conn.socket())?),
            false => None,
        };
        private_networks::set(&self.conn, id, blocked, ns.as_ref()).await
    }

    fn bridge_network_fix(&self) -> String {
        network::Cni::missing_fix()
    }

    async fn version(&self) -> Result<String> {
        let v = self
            .conn
            .version()
            .version(())
            .await
            .map_err(conn::st("asking containerd for its version"))?;
        Ok(v.into_inner().version)
    }

    async fn ensure_image(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        sink: &dyn PullSink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        pull::ensure(&self.conn, image, policy, sink, cancel)
            .await
            .map(|_| ())
    }

    async fn create(&self, spec: &WorkspaceSpec) -> Result<()> {
        let resolv = match spec.network {
            berth_runtime::Network::Bridge => {
                Some(network::resolv_conf(&self.state_dir, self.rootless)?)
            }
            berth_runtime::Network::Host => None,
        };
        workspace::create(&self.conn, spec, resolv.as_deref(), self.rootless).await
    }

    async fn start(&self, id: &str) -> Result<u32> {
        workspace::start(&self.conn, self.cni.as_ref(), id).await
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        workspace::stop(&self.conn, self.cni.as_ref(), id, grace).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        workspace::delete(&self.conn, self.cni.as_ref(), id).await
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        workspace::status(&self.conn, id).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>> {
        workspace::list(&self.conn).await
    }

    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        events::subscribe(self.conn.clone())
    }

    async fn commit_version(&self, id: &str, name: &str, labels: &VersionLabels) -> Result<()> {
        versions::commit(&self.conn, id, name, labels).await
    }

    async fn checkout_version(&self, id: &str, name: &str) -> Result<()> {
        versions::checkout(&self.conn, id, name).await
    }

    async fn list_snapshots(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        versions::list(&self.conn, id, false).await
    }

    async fn list_snapshots_sized(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        versions::list(&self.conn, id, true).await
    }

    async fn delete_version(&self, id: &str, name: &str) -> Result<()> {
        versions::delete_version(&self.conn, id, name).await
    }

    async fn repair_versions(&self, id: &str) -> Result<Vec<String>> {
        versions::repair(&self.conn, id).await
    }

    async fn repair_and_list_versions(&self, ids: &[String]) -> Result<Vec<WorkspaceSnapshots>> {
        versions::repair_and_list(&self.conn, ids).await
    }

    async fn changes_since(&self, id: &str, name: &str) -> Result<Vec<FileChange>> {
        changes::changes_since(&self.conn, id, name).await
    }
}

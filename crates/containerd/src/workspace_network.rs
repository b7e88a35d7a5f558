//! A workspace's network through its task's life. A workspace created by this Berth has a pinned
//! network namespace (see [`crate::netns`]), set up on the bridge before its task exists: during
//! the image pull of a create ([`prepare`]), else at start. One created before pinning has runc
//! make its namespace with the task and joins the bridge while the task starts. Both are released
//! at stop and delete.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_runtime::{Network, RuntimeError, WorkspaceSpec};
use containerd_client::services::v1::Container;

use crate::conn::Conn;
use crate::network::Cni;
use crate::{private_networks, task};

/// Network ids whose namespace [`prepare`] set up in this process and no start has used yet.
/// Any other pinned namespace a start finds is stale (left by a task that died, or by a Berth
/// stopped half-way) and set up again.
#[derive(Debug, Default)]
pub struct Prepared(Mutex<HashSet<String>>);

impl Prepared {
    fn insert(&self, network_id: &str) {
        self.0.lock().unwrap().insert(network_id.to_string());
    }

    /// True once after [`Prepared::insert`] of `network_id`.
    fn take(&self, network_id: &str) -> bool {
        self.0.lock().unwrap().remove(network_id)
    }
}

/// The CNI id: one container id may exist in several namespaces, an address belongs to one.
pub fn network_id(conn: &Conn, id: &str) -> String {
    format!("{}-{id}", conn.namespace())
}

/// The pinned namespace a new container's spec names; None off the bridge or without plugins
/// (the start then says what is missing).
pub fn pin_for_create(conn: &Conn, cni: Option<&Cni>, ws: &WorkspaceSpec) -> Option<PathBuf> {
    match (ws.network, cni) {
        (Network::Bridge, Some(cni)) => Some(cni.pin_path(&network_id(conn, &ws.id))),
        _ => None,
    }
}

/// Sets up the pinned namespace of the workspace `ws` will create, on the bridge.
pub async fn prepare(
    conn: &Conn,
    cni: Option<&Cni>,
    prepared: &Prepared,
    ws: &WorkspaceSpec,
) -> Result<(), RuntimeError> {
    let Some(cni) = cni.filter(|_| ws.network == Network::Bridge) else {
        return Ok(());
    };
    let nid = network_id(conn, &ws.id);
    prepared.take(&nid);
    cni.prepare(&nid, &cni.pin_path(&nid)).await?;
    prepared.insert(&nid);
    tracing::debug!(id = %ws.id, "network prepared");
    Ok(())
}

/// How a task being started gets its network.
pub enum AtStart<'a> {
    /// Host networking: nothing to do.
    Host,
    /// The task joins the namespace pinned at `pin`, already on the bridge.
    Pinned {
        cni: &'a Cni,
        network_id: String,
        pin: PathBuf,
    },
    /// runc makes the namespace; it joins the bridge while the task starts.
    Unpinned { cni: &'a Cni, network_id: String },
}

impl<'a> AtStart<'a> {
    /// Decides for `container`, and sets up its pinned namespace unless this process just did.
    pub async fn before_task(
        conn: &Conn,
        cni: Option<&'a Cni>,
        prepared: &Prepared,
        id: &str,
        container: &Container,
    ) -> Result<AtStart<'a>, RuntimeError> {
        if !crate::workspace::on_bridge(container) {
            return Ok(AtStart::Host);
        }
        let cni = cni.ok_or_else(|| {
            RuntimeError::new(
                berth_runtime::ErrorKind::Unsupported,
                "the workspace was created with bridge networking but no CNI plugins are \
                 installed",
            )
        })?;
        let network_id = network_id(conn, id);
        let Some(pin) = pinned(Some(container)) else {
            return Ok(AtStart::Unpinned { cni, network_id });
        };
        // Prepared by this process for a create is only ever the runtime's own pin path, which
        // is what the new container's spec names.
        if !(pin == cni.pin_path(&network_id) && prepared.take(&network_id)) {
            cni.prepare(&network_id, &pin).await?;
            tracing::debug!(id, "network prepared");
        }
        Ok(AtStart::Pinned {
            cni,
            network_id,
            pin,
        })
    }

    /// Starts the created task (init `pid`) with its network complete: blocked private networks
    /// are written into the namespace before the init runs (pinned) or before the namespace
    /// joins the bridge (unpinned, which happens while the task starts).
    pub async fn start_task(
        &self,
        conn: &Conn,
        id: &str,
        pid: u32,
        container: &Container,
    ) -> Result<(), RuntimeError> {
        match self {
            AtStart::Host => task::start(conn, id).await,
            AtStart::Pinned { cni, .. } => {
                block_private_networks(cni, pid, container).await?;
                task::start(conn, id).await
            }
            AtStart::Unpinned { cni, network_id } => {
                let network = async {
                    block_private_networks(cni, pid, container).await?;
                    cni.attach(network_id, &format!("/proc/{pid}/ns/net")).await
                };
                let (started, attached) = tokio::join!(task::start(conn, id), network);
                started.and(attached)
            }
        }
    }

    /// Releases what [`AtStart::before_task`] and [`AtStart::start_task`] set up, after a
    /// failed start (`pid`: the task's init, when it was created).
    pub async fn undo(&self, pid: Option<u32>) {
        match self {
            AtStart::Host => {}
            AtStart::Pinned {
                cni,
                network_id,
                pin,
            } => {
                if let Err(e) = cni.release(network_id, pin).await {
                    tracing::warn!(network_id, error = %e, "network release failed");
                }
            }
            AtStart::Unpinned { cni, network_id } => {
                let netns = pid.map(|p| format!("/proc/{p}/ns/net")).unwrap_or_default();
                let _ = cni.detach(network_id, &netns).await;
            }
        }
    }
}

/// Writes the rules of blocked private networks into the task's namespace when the workspace
/// wants them.
async fn block_private_networks(
    cni: &Cni,
    pid: u32,
    container: &Container,
) -> Result<(), RuntimeError> {
    if !private_networks::wanted(container) {
        return Ok(());
    }
    private_networks::apply_at_start(pid, container, cni.namespaces()?.as_ref()).await
}

/// Before a running task (init `pid`) is killed: releases the address of a namespace runc made
/// (the namespace still exists, so the plugins can also remove its interface). A pinned one
/// (`pin`) is released after the task, by [`after_task`].
pub async fn before_kill(conn: &Conn, cni: Option<&Cni>, id: &str, pid: u32, pin: Option<&Path>) {
    let Some(cni) = cni.filter(|_| pin.is_none()) else {
        return;
    };
    let netns = format!("/proc/{pid}/ns/net");
    if let Err(e) = cni.detach(&network_id(conn, id), &netns).await {
        tracing::warn!(id, error = %e, "network teardown failed");
    }
}

/// Once the task is gone (stopped, or never started): releases the address and the namespace
/// pinned at `pin`.
pub async fn after_task(conn: &Conn, cni: Option<&Cni>, id: &str, pin: &Path) {
    let Some(cni) = cni else { return };
    if let Err(e) = cni.release(&network_id(conn, id), pin).await {
        tracing::warn!(id, error = %e, "network release failed");
    }
}

/// Where a workspace's network namespace would be pinned had this runtime made it: a create
/// that failed before its container existed leaves it only there.
pub fn own_pin(conn: &Conn, cni: Option<&Cni>, id: &str) -> Option<PathBuf> {
    cni.map(|c| c.pin_path(&network_id(conn, id)))
}

/// The pinned network namespace the container's spec names, if any.
pub fn pinned(container: Option<&Container>) -> Option<PathBuf> {
    spec_netns(container?)
}

/// The network namespace path the container's spec names, if any.
fn spec_netns(container: &Container) -> Option<PathBuf> {
    let spec: serde_json::Value = serde_json::from_slice(&container.spec.as_ref()?.value).ok()?;
    spec["linux"]["namespaces"]
        .as_array()?
        .iter()
        .find(|n| n["type"] == "network")?["path"]
        .as_str()
        .map(PathBuf::from)
}

//! Workspace containers and their tasks: create (writable layer + container record), start
//! (task + network), stop (SIGTERM, grace, SIGKILL), delete (task, network, container, and every
//! snapshot of the workspace: writable layers and versions).

use std::collections::HashMap;
use std::time::Duration;

use berth_runtime::{ContainerStatus, Network, RuntimeError, WorkspaceSpec};
use containerd_client::services::v1::container::Runtime as CdRuntime;
use containerd_client::services::v1::snapshots::{
    MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest,
};
use containerd_client::services::v1::{
    Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest, DeleteRequest,
    GetContainerRequest, ListContainersRequest, ListTasksRequest,
};
use containerd_client::types::v1::Status as TaskStatus;

use crate::conn::{is_not_found, st, Conn, SNAPSHOTTER};
use crate::network::Cni;
use crate::task::{delete_task, kill_and_wait, task};
use crate::workspace_network::{self, network_id, AtStart, Prepared};
use crate::{private_networks, pull, spec};

const RUNC: &str = "io.containerd.runc.v2";
const SPEC_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
pub const LABEL_BOT: &str = "berth.bot";
pub const LABEL_WORKSPACE: &str = "berth.workspace";
/// Keeps a snapshot from containerd's garbage collector (see `versions.rs` for why every
/// writable layer carries it: Berth removes its snapshots itself).
pub const GC_ROOT: &str = "containerd.io/gc.root";
const LABEL_LOG: &str = "berth.log";
const LABEL_NETWORK: &str = "berth.network";

/// Labels of a writable layer of workspace `id`: whose it is, and gc-rooted.
pub(crate) fn writable_layer_labels(id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_WORKSPACE.to_string(), id.to_string()),
        (
            GC_ROOT.to_string(),
            crate::pull::rfc3339(std::time::SystemTime::now()),
        ),
    ])
}

/// Creates the writable layer and the container record. The image must be local.
pub async fn create(
    conn: &Conn,
    cni: Option<&Cni>,
    ws: &WorkspaceSpec,
    resolv: Option<&std::path::Path>,
    rootless: bool,
) -> Result<(), RuntimeError> {
    if get(conn, &ws.id).await?.is_some() {
        return Err(RuntimeError::new(
            berth_runtime::ErrorKind::AlreadyExists,
            format!("container {} already exists", ws.id),
        ));
    }
    let (image, _) = pull::local_image(conn, &ws.image).await?.ok_or_else(|| {
        RuntimeError::not_found(format!("image {} is not present locally", ws.image))
    })?;
    let lease = pull::create_lease(conn).await?;
    let netns = workspace_network::pin_for_create(conn, cni, ws);
    let created = Created {
        resolv,
        rootless,
        netns: netns.as_deref(),
    };
    let result = create_in_lease(conn, ws, &image, &created, &lease).await;
    let _ = conn
        .leases()
        .delete(conn.req(DeleteRequest {
            id: lease,
            sync: false,
        }))
        .await;
    result
}

/// What the host gives a new container's spec besides the workspace's own settings.
struct Created<'a> {
    resolv: Option<&'a std::path::Path>,
    rootless: bool,
    /// The pinned network namespace the task joins.
    netns: Option<&'a std::path::Path>,
}

async fn create_in_lease(
    conn: &Conn,
    ws: &WorkspaceSpec,
    image: &pull::LocalImage,
    host: &Created<'_>,
    lease: &str,
) -> Result<(), RuntimeError> {
    let prepare = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: ws.id.clone(),
        parent: image.top_chain_id.clone(),
        labels: writable_layer_labels(&ws.id),
    };
    conn.snapshots()
        .prepare(conn.leased(prepare, lease))
        .await
        .map_err(|s| {
            if s.code() == tonic::Code::AlreadyExists {
                // Never removed automatically: it may hold a bot's data from a container that vanished.
                RuntimeError::conflict(format!(
                    "a writable layer named {} already exists without its container; \
                 remove it with `ctr -n {} snapshots rm {}` once its data is safe",
                    ws.id,
                    conn.namespace(),
                    ws.id
                ))
            } else {
                st("preparing the workspace's writable layer")(s)
            }
        })?;
    let network = match ws.network {
        Network::Bridge => "bridge",
        Network::Host => "host",
    };
    let spec = spec::build(ws, &image.config, host.resolv, host.rootless, host.netns);
    let container = Container {
        id: ws.id.clone(),
        labels: HashMap::from([
            (LABEL_BOT.to_string(), ws.bot.clone()),
            (LABEL_WORKSPACE.to_string(), "1".to_string()),
            (LABEL_LOG.to_string(), ws.log_path.display().to_string()),
            (LABEL_NETWORK.to_string(), network.to_string()),
            (
                private_networks::LABEL.to_string(),
                if ws.block_private_networks { "1" } else { "0" }.to_string(),
            ),
        ]),
        image: ws.image.to_string(),
        runtime: Some(CdRuntime {
            name: RUNC.into(),
            options: None,
        }),
        spec: Some(prost_types::Any {
            type_url: SPEC_TYPE.into(),
            value: spec.to_string().into_bytes(),
        }),
        snapshotter: SNAPSHOTTER.into(),
        snapshot_key: ws.id.clone(),
        ..Default::default()
    };
    let created = conn
        .containers()
        .create(conn.leased(
            CreateContainerRequest {
                container: Some(container),
            },
            lease,
        ))
        .await;
    tracing::debug!(id = %ws.id, "container created");
    if let Err(s) = created {
        remove_snapshot(conn, &ws.id).await;
        return Err(st("creating container")(s));
    }
    Ok(())
}

/// Starts the task with its output in the log file, on its network (see [`workspace_network`]).
pub async fn start(
    conn: &Conn,
    cni: Option<&Cni>,
    prepared: &Prepared,
    id: &str,
) -> Result<u32, RuntimeError> {
    let container = get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    if let Some(task) = task(conn, id).await? {
        if task.status == TaskStatus::Running as i32 {
            return Err(RuntimeError::conflict(format!(
                "workspace {id} is already running"
            )));
        }
        delete_task(conn, id).await?;
    }
    let network = AtStart::before_task(conn, cni, prepared, id, &container).await?;
    let pid = match create_task(conn, id, &container).await {
        Ok(pid) => pid,
        Err(e) => {
            network.undo(None).await;
            return Err(e);
        }
    };
    tracing::debug!(id, pid, "task created");
    if let Err(e) = network.start_task(conn, id, pid, &container).await {
        network.undo(Some(pid)).await;
        let _ = kill_and_wait(conn, id, Duration::ZERO).await;
        let _ = delete_task(conn, id).await;
        return Err(e);
    }
    tracing::debug!(id, "task started");
    Ok(pid)
}

/// Creates the task on the writable layer, its output going to the log file; returns its pid.
async fn create_task(conn: &Conn, id: &str, container: &Container) -> Result<u32, RuntimeError> {
    let rootfs = conn
        .snapshots()
        .mounts(conn.req(MountsRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: container.snapshot_key.clone(),
        }))
        .await
        .map_err(st("reading the writable layer's mounts"))?
        .into_inner()
        .mounts;
    let log = container
        .labels
        .get(LABEL_LOG)
        .map(|p| format!("file://{p}"))
        .unwrap_or_default();
    if let Some(p) = container.labels.get(LABEL_LOG) {
        if let Some(dir) = std::path::Path::new(p).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
    }
    let create = CreateTaskRequest {
        container_id: id.into(),
        rootfs,
        stdout: log.clone(),
        stderr: log,
        ..Default::default()
    };
    let pid = conn
        .tasks()
        .create(conn.req(create))
        .await
        .map_err(st("creating task"))?
        .into_inner()
        .pid;
    Ok(pid)
}

/// Whether the container joins the bridge network (rather than sharing the host's).
pub fn on_bridge(container: &Container) -> bool {
    container.labels.get(LABEL_NETWORK).map(String::as_str) == Some("bridge")
}

/// Stops the task if one runs, and releases its network.
pub async fn stop(
    conn: &Conn,
    cni: Option<&Cni>,
    id: &str,
    grace: Duration,
) -> Result<(), RuntimeError> {
    let pin = workspace_network::pinned(get(conn, id).await?.as_ref());
    if let Some(task) = task(conn, id).await? {
        if task.status == TaskStatus::Running as i32 || task.status == TaskStatus::Paused as i32 {
            workspace_network::before_kill(conn, cni, id, task.pid, pin.as_deref()).await;
            kill_and_wait(conn, id, grace).await?;
        }
        delete_task(conn, id).await?;
    }
    if let Some(pin) = &pin {
        workspace_network::after_task(conn, cni, id, pin).await;
    }
    Ok(())
}

/// Removes everything of the workspace; missing parts are not an error (delete is idempotent).
pub async fn delete(conn: &Conn, cni: Option<&Cni>, id: &str) -> Result<(), RuntimeError> {
    stop(conn, cni, id, Duration::ZERO).await?;
    if let Some(pin) = workspace_network::own_pin(conn, cni, id) {
        workspace_network::after_task(conn, cni, id, &pin).await;
    }
    if let Some(cni) = cni {
        // An address a task that died without a release may still hold.
        let _ = cni.detach(&network_id(conn, id), "").await;
    }
    match conn
        .containers()
        .delete(conn.req(DeleteContainerRequest { id: id.into() }))
        .await
    {
        Ok(_) => {}
        Err(s) if is_not_found(&s) => {}
        Err(s) => return Err(st("deleting container")(s)),
    }
    remove_snapshot(conn, id).await;
    // Versions and later writable layers: every snapshot labelled as this workspace's.
    crate::versions::delete_all(conn, id).await
}

async fn remove_snapshot(conn: &Conn, key: &str) {
    let req = RemoveSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    if let Err(s) = conn.snapshots().remove(conn.req(req)).await {
        if !is_not_found(&s) {
            tracing::warn!(key, error = %s.message(), "removing snapshot failed");
        }
    }
}

/// Every workspace container of the namespace.
pub async fn containers(conn: &Conn) -> Result<Vec<Container>, RuntimeError> {
    let filter = format!("labels.\"{LABEL_WORKSPACE}\"==1");
    Ok(conn
        .containers()
        .list(conn.req(ListContainersRequest {
            filters: vec![filter],
        }))
        .await
        .map_err(st("listing containers"))?
        .into_inner()
        .containers)
}

pub async fn get(conn: &Conn, id: &str) -> Result<Option<Container>, RuntimeError> {
    match conn
        .containers()
        .get(conn.req(GetContainerRequest { id: id.into() }))
        .await
    {
        Ok(r) => Ok(r.into_inner().container),
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(st("reading container")(s)),
    }
}

fn to_status(
    c: &Container,
    task: Option<&containerd_client::types::v1::Process>,
) -> ContainerStatus {
    let running = task.is_some_and(|t| t.status == TaskStatus::Running as i32);
    ContainerStatus {
        id: c.id.clone(),
        bot: c.labels.get(LABEL_BOT).cloned(),
        image: c.image.clone(),
        running,
        pid: task.filter(|_| running).map(|t| t.pid),
    }
}

pub async fn status(conn: &Conn, id: &str) -> Result<ContainerStatus, RuntimeError> {
    let c = get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    let t = task(conn, id).await?;
    Ok(to_status(&c, t.as_ref()))
}

pub async fn list(conn: &Conn) -> Result<Vec<ContainerStatus>, RuntimeError> {
    let containers = containers(conn).await?;
    let tasks = conn
        .tasks()
        .list(conn.req(ListTasksRequest {
            filter: String::new(),
        }))
        .await
        .map_err(st("listing tasks"))?
        .into_inner()
        .tasks;
    Ok(containers
        .iter()
        // containerd 1.6 fills only `id` (the container id) in listed tasks.
        .map(|c| {
            to_status(
                c,
                tasks
                    .iter()
                    .find(|t| t.id == c.id || t.container_id == c.id),
            )
        })
        .collect())
}

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
    GetContainerRequest, ListContainersRequest, ListTasksRequest, StartRequest,
};
use containerd_client::types::v1::Status as TaskStatus;

use crate::conn::{is_not_found, st, Conn, SNAPSHOTTER};
use crate::network::Cni;
use crate::task::{delete_task, kill_and_wait, task};
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
    let result = create_in_lease(conn, ws, &image, resolv, rootless, &lease).await;
    let _ = conn
        .leases()
        .delete(conn.req(DeleteRequest {
            id: lease,
            sync: false,
        }))
        .await;
    result
}

async fn create_in_lease(
    conn: &Conn,
    ws: &WorkspaceSpec,
    image: &pull::LocalImage,
    resolv: Option<&std::path::Path>,
    rootless: bool,
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
    let spec = spec::build(ws, &image.config, resolv, rootless);
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

/// Starts the task with its output in the log file, and joins the network meanwhile.
pub async fn start(conn: &Conn, cni: Option<&Cni>, id: &str) -> Result<u32, RuntimeError> {
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
    tracing::debug!(id, pid, "task created");
    // The task's init waits for `start`; its network namespace exists from the create, so the
    // network is set up while the task starts. Both must succeed before the start is reported.
    let start = async {
        conn.tasks()
            .start(conn.req(StartRequest {
                container_id: id.into(),
                exec_id: String::new(),
            }))
            .await
            .map(drop)
            .map_err(st("starting task"))
    };
    let network = async {
        if on_bridge(&container) {
            join_network(conn, cni, id, pid, &container).await?;
            tracing::debug!(id, "network attached");
        }
        Ok(())
    };
    let (started, attached) = tokio::join!(start, network);
    if let Err(e) = started.and(attached) {
        if let (true, Some(cni)) = (on_bridge(&container), cni) {
            let _ = cni.detach(&network_id(conn, id), Some(pid)).await;
        }
        let _ = kill_and_wait(conn, id, Duration::ZERO).await;
        let _ = delete_task(conn, id).await;
        return Err(e);
    }
    tracing::debug!(id, "task started");
    Ok(pid)
}

/// Puts the task's network namespace on the bridge. Blocked private networks are written into
/// the namespace first, so the workspace is never on the bridge without them.
async fn join_network(
    conn: &Conn,
    cni: Option<&Cni>,
    id: &str,
    pid: u32,
    container: &Container,
) -> Result<(), RuntimeError> {
    let Some(cni) = cni else {
        return Err(RuntimeError::new(
            berth_runtime::ErrorKind::Unsupported,
            "the workspace was created with bridge networking but no CNI plugins are installed",
        ));
    };
    if private_networks::wanted(container) {
        private_networks::apply_at_start(pid, container, cni.namespaces()?.as_ref()).await?;
    }
    cni.attach(&network_id(conn, id), pid).await
}

/// Whether the container joins the bridge network (rather than sharing the host's).
pub fn on_bridge(container: &Container) -> bool {
    container.labels.get(LABEL_NETWORK).map(String::as_str) == Some("bridge")
}

/// Stops the task if one runs; releases its network address first (the namespace is still there).
pub async fn stop(
    conn: &Conn,
    cni: Option<&Cni>,
    id: &str,
    grace: Duration,
) -> Result<(), RuntimeError> {
    let Some(task) = task(conn, id).await? else {
        return Ok(());
    };
    if task.status == TaskStatus::Running as i32 || task.status == TaskStatus::Paused as i32 {
        if let Some(cni) = cni {
            if let Err(e) = cni.detach(&network_id(conn, id), Some(task.pid)).await {
                tracing::warn!(id, error = %e, "network teardown failed");
            }
        }
        kill_and_wait(conn, id, grace).await?;
    }
    delete_task(conn, id).await
}

/// Removes everything of the workspace; missing parts are not an error (delete is idempotent).
pub async fn delete(conn: &Conn, cni: Option<&Cni>, id: &str) -> Result<(), RuntimeError> {
    stop(conn, cni, id, Duration::ZERO).await?;
    if let Some(cni) = cni {
        let _ = cni.detach(&network_id(conn, id), None).await;
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

/// The CNI id: one container id may exist in several namespaces, an address belongs to one.
fn network_id(conn: &Conn, id: &str) -> String {
    format!("{}-{id}", conn.namespace())
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

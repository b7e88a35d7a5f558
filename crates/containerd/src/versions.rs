//! Workspace versions on containerd: a version is the container's writable layer
//! committed under a stable name with `containerd.io/gc.root` and Berth's labels; the container
//! then continues on a fresh active child of it. Rollback gives the container a fresh child of
//! another version, so history is a tree. The task must be stopped around both: committing the
//! layer of a running task breaks the container (containerd accepts the commit; the
//! task then runs on a layer that is no longer active).
//!
//! Every snapshot of a workspace (versions and writable layers) carries
//! `berth.workspace=<container id>`, so workspace delete can find and remove all of them, and
//! `containerd.io/gc.root` from the moment it is made, so containerd's garbage collector never
//! takes one: Berth removes each explicitly. This matters because containerd 1.6's collector
//! deletes a snapshot without unlinking it from its parent's list of children (`metadata/gc.go`
//! only drops the snapshot's bucket, while `Snapshots.Remove` also unlinks it). A writable layer
//! left for the collector — e.g. the old layer of a rollback, unreferenced once the container
//! points at its new one — made its version refuse every later removal with "cannot remove
//! snapshot with child" although no listing showed a child (measured: in each of three runs of
//! the save → write → rollback → delete loop under load, the one refusal came right after the
//! collector had taken that round's old layer before Berth removed it).

use std::collections::HashMap;
use std::time::SystemTime;

use berth_runtime::{
    RuntimeError, SnapshotInfo, SnapshotKind, VersionLabels, WorkspaceSnapshots, LABEL_VERSION,
    LABEL_VERSION_BOT, LABEL_VERSION_NAME, LABEL_VERSION_SOURCE,
};
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, Info, Kind, ListSnapshotsRequest, PrepareSnapshotRequest,
    RemoveSnapshotRequest, StatSnapshotRequest, UpdateSnapshotRequest, UsageRequest,
};
use containerd_client::services::v1::{Container, UpdateContainerRequest};
use futures::StreamExt;

use crate::conn::{is_not_found, st, Conn, SNAPSHOTTER};
use crate::pull;
use crate::workspace::{self, GC_ROOT, LABEL_WORKSPACE};

/// Commits the writable layer as `name` and moves the container onto a fresh child of it.
pub async fn commit(
    conn: &Conn,
    id: &str,
    name: &str,
    v: &VersionLabels,
) -> Result<(), RuntimeError> {
    let container = stopped_container(conn, id).await?;
    let old_key = container.snapshot_key.clone();
    let mut labels = HashMap::from([
        (GC_ROOT.to_string(), now_rfc3339()),
        (LABEL_WORKSPACE.to_string(), id.to_string()),
        (LABEL_VERSION.to_string(), v.number.to_string()),
        (LABEL_VERSION_BOT.to_string(), v.bot.clone()),
        (LABEL_VERSION_SOURCE.to_string(), v.source.clone()),
    ]);
    if let Some(n) = &v.name {
        labels.insert(LABEL_VERSION_NAME.to_string(), n.clone());
    }
    let commit = CommitSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        name: name.into(),
        key: old_key.clone(),
        labels,
    };
    conn.snapshots()
        .commit(conn.req(commit))
        .await
        .map_err(st("committing the writable layer"))?;
    // The commit consumed the active key: the container must get a new one before anything else.
    if let Err(e) = switch(conn, container, name).await {
        // Put a writable layer back under the old key, so the container stays usable.
        let again = prepare(conn, &old_key, name, id).await;
        return Err(match again {
            Ok(()) => e,
            Err(e2) => e.context(format!(
                "and restoring the writable layer also failed ({e2})"
            )),
        });
    }
    Ok(())
}

/// Moves the container onto a fresh child of version `name`; the old writable layer is removed.
pub async fn checkout(conn: &Conn, id: &str, name: &str) -> Result<(), RuntimeError> {
    let container = stopped_container(conn, id).await?;
    let info = stat(conn, name).await?.ok_or_else(|| {
        RuntimeError::not_found(format!("version snapshot {name} does not exist"))
    })?;
    if info.kind != Kind::Committed as i32
        || info.labels.get(LABEL_WORKSPACE).map(String::as_str) != Some(id)
    {
        return Err(RuntimeError::invalid(format!(
            "{name} is not a version of {id}"
        )));
    }
    let old_key = container.snapshot_key.clone();
    switch(conn, container, name).await?;
    remove(conn, &old_key).await
}

/// Prepares a fresh active child of `parent` and points the container at it. The child is
/// gc-rooted from its creation (see [`prepare`]), so nothing can collect it in between.
async fn switch(conn: &Conn, mut container: Container, parent: &str) -> Result<(), RuntimeError> {
    let id = container.id.clone();
    let key = format!("{id}-active-{:x}", now_nanos());
    prepare(conn, &key, parent, &id).await?;
    container.snapshot_key = key.clone();
    // containerd names the field "snapshotkey" in update masks (metadata/containers.go).
    let update = UpdateContainerRequest {
        container: Some(container),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["snapshotkey".into()],
        }),
    };
    if let Err(s) = conn.containers().update(conn.req(update)).await {
        let _ = remove(conn, &key).await;
        return Err(st("pointing the container at its new writable layer")(s));
    }
    Ok(())
}

/// A writable layer of workspace `id` on `parent`, labelled as the workspace's and gc-rooted.
async fn prepare(conn: &Conn, key: &str, parent: &str, id: &str) -> Result<(), RuntimeError> {
    let req = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
        parent: parent.into(),
        labels: workspace::writable_layer_labels(id),
    };
    conn.snapshots()
        .prepare(conn.req(req))
        .await
        .map_err(st("preparing a writable layer"))?;
    Ok(())
}

/// The container, with any exited task deleted (its rootfs unmounted). `Conflict` when it runs.
async fn stopped_container(conn: &Conn, id: &str) -> Result<Container, RuntimeError> {
    let container = workspace::get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    if workspace::status(conn, id).await?.running {
        return Err(RuntimeError::conflict(format!(
            "workspace {id} is running; stop its task before committing"
        )));
    }
    crate::task::delete_task(conn, id).await?;
    Ok(container)
}

/// Repairs what a crash in the middle of a version operation can leave: a container whose
/// writable layer is missing (killed between commit and switch) gets a fresh child of its newest
/// version; writable layers of the workspace that the container no longer uses (killed between
/// switch and removal) are removed. Only touches things older than a minute, so an operation of
/// another Berth process in progress is left alone. Returns what it did.
pub async fn repair(conn: &Conn, id: &str) -> Result<Vec<String>, RuntimeError> {
    let Some(container) = workspace::get(conn, id).await? else {
        return Ok(vec![]);
    };
    repair_with(conn, &container, &list_raw(conn, &of_workspace(id)).await?).await
}

/// [`repair`] of the workspace `container`, whose snapshots are `infos`.
async fn repair_with(
    conn: &Conn,
    container: &Container,
    infos: &[Info],
) -> Result<Vec<String>, RuntimeError> {
    let id = &container.id;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let old = |i: &Info| i.created_at.as_ref().is_some_and(|t| now - t.seconds > 60);
    let mut done = vec![];
    let Some(current) = infos.iter().find(|i| i.name == container.snapshot_key) else {
        let newest = infos
            .iter()
            .filter(|i| i.kind == Kind::Committed as i32 && i.labels.contains_key(LABEL_VERSION))
            .max_by_key(|i| i.created_at.as_ref().map_or(0, |t| t.seconds));
        if let Some(v) = newest.filter(|v| old(v)) {
            let name = v.name.clone();
            switch(conn, container.clone(), &name).await?;
            done.push(format!(
                "gave {id} a new writable layer on {name} (its own had vanished)"
            ));
        }
        return Ok(done);
    };
    if !current.labels.contains_key(GC_ROOT) {
        root(conn, current).await?;
        done.push(format!(
            "protected the writable layer {} from containerd's garbage collector",
            current.name
        ));
    }
    for i in infos
        .iter()
        .filter(|i| i.kind == Kind::Active as i32 && i.name != container.snapshot_key && old(i))
    {
        remove(conn, &i.name).await?;
        done.push(format!("removed the unused writable layer {}", i.name));
    }
    Ok(done)
}

/// [`repair`] and [`list`] (without sizes) for every workspace in `ids`, from one listing of
/// the workspaces' containers and one of their snapshots; a workspace is listed again only when
/// a repair changed its snapshots. Per workspace that was a `Get` and two listings, each of which
/// containerd answers by scanning every snapshot of the namespace.
pub async fn repair_and_list(
    conn: &Conn,
    ids: &[String],
) -> Result<Vec<WorkspaceSnapshots>, RuntimeError> {
    let containers: HashMap<String, Container> = workspace::containers(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut infos: HashMap<String, Vec<Info>> = HashMap::new();
    for i in list_raw(conn, &format!("labels.\"{LABEL_WORKSPACE}\"")).await? {
        if let Some(id) = i.labels.get(LABEL_WORKSPACE) {
            infos.entry(id.clone()).or_default().push(i);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mine = infos.remove(id).unwrap_or_default();
        let repairs = match containers.get(id) {
            Some(c) => repair_with(conn, c, &mine).await,
            None => Ok(vec![]),
        };
        let snapshots = match &repairs {
            Ok(done) if done.is_empty() => {
                Ok(mine.into_iter().map(|i| snapshot(i, None)).collect())
            }
            _ => list(conn, id, false).await,
        };
        out.push(WorkspaceSnapshots {
            id: id.clone(),
            repairs,
            snapshots,
        });
    }
    Ok(out)
}

/// Every snapshot labelled as the workspace's; with their sizes when `sized` (the snapshotter's
/// usage, which walks an active snapshot's every file).
pub async fn list(conn: &Conn, id: &str, sized: bool) -> Result<Vec<SnapshotInfo>, RuntimeError> {
    let infos = list_raw(conn, &of_workspace(id)).await?;
    let mut out = Vec::with_capacity(infos.len());
    for i in infos {
        let size = match sized {
            true => usage(conn, &i.name).await,
            false => None,
        };
        out.push(snapshot(i, size));
    }
    Ok(out)
}

/// The filter for the snapshots of workspace `id`.
fn of_workspace(id: &str) -> String {
    format!("labels.\"{LABEL_WORKSPACE}\"=={}", quote(id))
}

fn snapshot(i: Info, size: Option<u64>) -> SnapshotInfo {
    SnapshotInfo {
        kind: match Kind::try_from(i.kind) {
            Ok(Kind::Active) => SnapshotKind::Active,
            Ok(Kind::View) => SnapshotKind::View,
            _ => SnapshotKind::Committed,
        },
        parent: Some(i.parent.clone()).filter(|p| !p.is_empty()),
        created_at: i.created_at.as_ref().map_or(0, |t| t.seconds),
        name: i.name,
        labels: i.labels,
        size,
    }
}

async fn list_raw(conn: &Conn, filter: &str) -> Result<Vec<Info>, RuntimeError> {
    let req = ListSnapshotsRequest {
        snapshotter: SNAPSHOTTER.into(),
        filters: vec![filter.to_string()],
    };
    let mut stream = conn
        .snapshots()
        .list(conn.req(req))
        .await
        .map_err(st("listing snapshots"))?
        .into_inner();
    let mut out = vec![];
    while let Some(msg) = stream.next().await {
        out.extend(msg.map_err(st("listing snapshots"))?.info);
    }
    Ok(out)
}

async fn usage(conn: &Conn, key: &str) -> Option<u64> {
    let req = UsageRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    conn.snapshots()
        .usage(conn.req(req))
        .await
        .ok()
        .map(|r| r.into_inner().size.max(0) as u64)
}

async fn stat(conn: &Conn, key: &str) -> Result<Option<Info>, RuntimeError> {
    let req = StatSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    match conn.snapshots().stat(conn.req(req)).await {
        Ok(r) => Ok(r.into_inner().info),
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(st("reading snapshot")(s)),
    }
}

/// Deletes one version snapshot of the workspace; `Conflict` naming what builds on it.
pub async fn delete_version(conn: &Conn, id: &str, name: &str) -> Result<(), RuntimeError> {
    let info = stat(conn, name).await?.ok_or_else(|| {
        RuntimeError::not_found(format!("version snapshot {name} does not exist"))
    })?;
    if info.labels.get(LABEL_WORKSPACE).map(String::as_str) != Some(id)
        || info.kind != Kind::Committed as i32
    {
        return Err(RuntimeError::invalid(format!(
            "{name} is not a version of {id}"
        )));
    }
    let children = list_raw(conn, &format!("parent=={}", quote(name))).await?;
    if !children.is_empty() {
        let names: Vec<_> = children.iter().map(|c| c.name.as_str()).collect();
        return Err(RuntimeError::conflict(format!(
            "{name} has snapshots built on it: {}",
            names.join(", ")
        )));
    }
    remove(conn, name).await
}

/// Removes every snapshot of the workspace, children before parents. Missing ones are fine.
pub async fn delete_all(conn: &Conn, id: &str) -> Result<(), RuntimeError> {
    let filter = format!("labels.\"{LABEL_WORKSPACE}\"=={}", quote(id));
    let mut left = list_raw(conn, &filter).await?;
    while !left.is_empty() {
        let parents: std::collections::HashSet<String> =
            left.iter().map(|i| i.parent.clone()).collect();
        let (leaves, rest): (Vec<Info>, Vec<Info>) =
            left.into_iter().partition(|i| !parents.contains(&i.name));
        if leaves.is_empty() {
            return Err(RuntimeError::internal(format!(
                "snapshots of {id} form a cycle"
            )));
        }
        for l in &leaves {
            if let Err(e) = remove(conn, &l.name).await {
                return Err(with_children(conn, &l.name, e).await);
            }
        }
        left = rest;
    }
    Ok(())
}

/// Adds `containerd.io/gc.root` to a snapshot's labels.
async fn root(conn: &Conn, info: &Info) -> Result<(), RuntimeError> {
    let mut labels = info.labels.clone();
    labels.insert(GC_ROOT.to_string(), now_rfc3339());
    let req = UpdateSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        info: Some(Info {
            labels,
            ..info.clone()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![format!("labels.{GC_ROOT}")],
        }),
    };
    conn.snapshots()
        .update(conn.req(req))
        .await
        .map_err(st("labelling a writable layer"))?;
    Ok(())
}

/// `e` with the names (and labels) of `key`'s children when containerd refused the removal
/// because of them.
async fn with_children(conn: &Conn, key: &str, e: RuntimeError) -> RuntimeError {
    if e.kind != berth_runtime::ErrorKind::Conflict {
        return e;
    }
    let Ok(all) = list_raw(conn, &format!("parent=={}", quote(key))).await else {
        return e;
    };
    let children: Vec<_> = all
        .iter()
        .map(|i| format!("{} {:?}", i.name, i.labels))
        .collect();
    e.context(format!("{key} has children: {}", children.join("; ")))
}

async fn remove(conn: &Conn, key: &str) -> Result<(), RuntimeError> {
    let req = RemoveSnapshotRequest {
        snapshotter: SNAPSHOTTER.into(),
        key: key.into(),
    };
    match conn.snapshots().remove(conn.req(req)).await {
        Ok(_) => Ok(()),
        Err(s) if is_not_found(&s) => Ok(()),
        Err(s) => Err(st("removing snapshot")(s)),
    }
}

/// A filter value in double quotes (containerd's filter syntax; ids and names have no quotes).
fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

fn now_rfc3339() -> String {
    pull::rfc3339(SystemTime::now())
}

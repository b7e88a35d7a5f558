//! The fake's in-memory world: images, containers with their writable layer and task, and
//! snapshots with parents and labels, kept coherent the way containerd keeps them (a version
//! with a child cannot go, a running task's layer cannot be committed). Synchronous: the
//! [`super::FakeRuntime`] calls it under one lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{
    ContainerStatus, Result, RuntimeError, SnapshotInfo, SnapshotKind, VersionLabels,
    WorkspaceSpec, LABEL_VERSION, LABEL_VERSION_BOT, LABEL_VERSION_NAME, LABEL_VERSION_SOURCE,
};

use super::task::Task;

/// The label every snapshot of a workspace carries, as in the containerd backend.
pub const LABEL_WORKSPACE: &str = "berth.workspace";

pub(super) struct Container {
    pub spec: WorkspaceSpec,
    /// The name of its writable (active) snapshot.
    pub active: String,
    pub task: Option<Task>,
}

#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    pub workspace: String,
    pub parent: Option<String>,
    pub kind: SnapshotKind,
    pub labels: HashMap<String, String>,
    pub created_at: i64,
}

#[derive(Default)]
pub(super) struct Model {
    pub images: BTreeSet<String>,
    pub containers: BTreeMap<String, Container>,
    pub snapshots: BTreeMap<String, Snapshot>,
    /// A logical clock for `created_at`, so "the newest" never depends on timing.
    clock: i64,
}

impl Model {
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    pub fn container(&self, id: &str) -> Result<&Container> {
        self.containers
            .get(id)
            .ok_or_else(|| RuntimeError::not_found(format!("container {id} not found")))
    }

    fn container_mut(&mut self, id: &str) -> Result<&mut Container> {
        self.containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::not_found(format!("container {id} not found")))
    }

    pub fn set_limits(&mut self, id: &str, limits: crate::Limits) -> Result<()> {
        self.container_mut(id)?.spec.limits = limits;
        Ok(())
    }

    pub fn set_private_networks_blocked(&mut self, id: &str, blocked: bool) -> Result<()> {
        self.container_mut(id)?.spec.block_private_networks = blocked;
        Ok(())
    }

    pub fn create(&mut self, spec: &WorkspaceSpec) -> Result<()> {
        if self.containers.contains_key(&spec.id) {
            return Err(RuntimeError::new(
                crate::ErrorKind::AlreadyExists,
                format!("container {} already exists", spec.id),
            ));
        }
        let image = spec.image.to_string();
        if !self.images.contains(&image) {
            return Err(RuntimeError::not_found(format!(
                "image {image} is not unpacked"
            )));
        }
        let active = self.new_active(&spec.id, Some(format!("{image}@top")));
        let container = Container {
            spec: spec.clone(),
            active,
            task: None,
        };
        self.containers.insert(spec.id.clone(), container);
        Ok(())
    }

    fn new_active(&mut self, id: &str, parent: Option<String>) -> String {
        let created_at = self.tick();
        let name = format!("{id}-active-{created_at}");
        let labels = HashMap::from([(LABEL_WORKSPACE.to_string(), id.to_string())]);
        let snap = Snapshot {
            workspace: id.into(),
            parent,
            kind: SnapshotKind::Active,
            labels,
            created_at,
        };
        self.snapshots.insert(name.clone(), snap);
        name
    }

    /// Removes the container and every snapshot of it; returns its task to be stopped.
    pub fn delete(&mut self, id: &str) -> Option<Task> {
        let container = self.containers.remove(id)?;
        self.snapshots.retain(|_, s| s.workspace != id);
        container.task
    }

    pub fn status(&mut self, id: &str) -> Result<ContainerStatus> {
        let c = self.container_mut(id)?;
        let pid = c.task.as_mut().and_then(Task::running_pid);
        Ok(ContainerStatus {
            id: id.to_string(),
            bot: Some(c.spec.bot.clone()),
            image: c.spec.image.to_string(),
            running: pid.is_some(),
            pid,
        })
    }

    pub fn set_task(&mut self, id: &str, task: Task) -> Result<()> {
        self.container_mut(id)?.task = Some(task);
        Ok(())
    }

    pub fn take_task(&mut self, id: &str) -> Result<Option<Task>> {
        Ok(self.container_mut(id)?.task.take())
    }

    fn require_stopped(&mut self, id: &str) -> Result<()> {
        if self.status(id)?.running {
            return Err(RuntimeError::conflict(format!(
                "the task of {id} is running; stop it first"
            )));
        }
        Ok(())
    }

    pub fn commit_version(&mut self, id: &str, name: &str, labels: &VersionLabels) -> Result<()> {
        self.require_stopped(id)?;
        if self.snapshots.contains_key(name) {
            return Err(RuntimeError::new(
                crate::ErrorKind::AlreadyExists,
                format!("snapshot {name} already exists"),
            ));
        }
        let active = self.container(id)?.active.clone();
        let mut snap = self
            .snapshots
            .remove(&active)
            .expect("a container has its layer");
        snap.kind = SnapshotKind::Committed;
        snap.created_at = self.tick();
        snap.labels.extend(version_labels(labels));
        self.snapshots.insert(name.to_string(), snap);
        let fresh = self.new_active(id, Some(name.to_string()));
        self.container_mut(id)?.active = fresh;
        Ok(())
    }

    pub fn checkout_version(&mut self, id: &str, name: &str) -> Result<()> {
        self.require_stopped(id)?;
        self.committed_of(id, name)?;
        let fresh = self.new_active(id, Some(name.to_string()));
        let old = std::mem::replace(&mut self.container_mut(id)?.active, fresh);
        self.snapshots.remove(&old);
        Ok(())
    }

    fn committed_of(&self, id: &str, name: &str) -> Result<&Snapshot> {
        self.snapshots
            .get(name)
            .filter(|s| s.workspace == id && s.kind == SnapshotKind::Committed)
            .ok_or_else(|| RuntimeError::not_found(format!("version snapshot {name} not found")))
    }

    pub fn list_snapshots(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        self.container(id)?;
        Ok(self
            .snapshots
            .iter()
            .filter(|(_, s)| s.workspace == id)
            .map(|(name, s)| SnapshotInfo {
                name: name.clone(),
                parent: s.parent.clone(),
                kind: s.kind,
                created_at: s.created_at,
                labels: s.labels.clone(),
                size: None,
            })
            .collect())
    }

    pub fn delete_version(&mut self, id: &str, name: &str) -> Result<()> {
        self.committed_of(id, name)?;
        let children: Vec<&String> = self
            .snapshots
            .iter()
            .filter(|(_, s)| s.parent.as_deref() == Some(name))
            .map(|(n, _)| n)
            .collect();
        if !children.is_empty() {
            return Err(RuntimeError::conflict(format!(
                "snapshot {name} has children: {children:?}"
            )));
        }
        self.snapshots.remove(name);
        Ok(())
    }
}

fn version_labels(l: &VersionLabels) -> Vec<(String, String)> {
    let mut labels = vec![
        (LABEL_VERSION_BOT.to_string(), l.bot.clone()),
        (LABEL_VERSION.to_string(), l.number.to_string()),
        (LABEL_VERSION_SOURCE.to_string(), l.source.clone()),
    ];
    if let Some(n) = &l.name {
        labels.push((LABEL_VERSION_NAME.to_string(), n.clone()));
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, ImageRef, Network};

    fn model_with(id: &str) -> Model {
        let mut m = Model::default();
        let image = ImageRef::parse("test/image:1").unwrap();
        m.images.insert(image.to_string());
        let spec = WorkspaceSpec {
            id: id.into(),
            bot: "a".into(),
            image,
            runtime_dir: "/nonexistent".into(),
            socket_dir: "/nonexistent".into(),
            log_path: "/nonexistent".into(),
            network: Network::Host,
            block_private_networks: false,
            limits: Default::default(),
        };
        m.create(&spec).unwrap();
        m
    }

    fn labels(number: u32) -> VersionLabels {
        VersionLabels {
            bot: "a".into(),
            number,
            name: None,
            source: "manual".into(),
        }
    }

    #[test]
    fn a_version_with_a_child_cannot_be_deleted() {
        let mut m = model_with("w");
        m.commit_version("w", "v1", &labels(1)).unwrap();
        m.commit_version("w", "v2", &labels(2)).unwrap();
        let e = m.delete_version("w", "v1").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
        // v2 has the writable layer on it; after a checkout of v1 it has no child.
        m.checkout_version("w", "v1").unwrap();
        m.delete_version("w", "v2").unwrap();
        let snaps = m.list_snapshots("w").unwrap();
        let active: Vec<_> = snaps
            .iter()
            .filter(|s| s.kind == SnapshotKind::Active)
            .collect();
        assert_eq!(active.len(), 1, "the old writable layer is gone: {snaps:?}");
        assert_eq!(active[0].parent.as_deref(), Some("v1"));
        assert_eq!(
            snaps.iter().find(|s| s.name == "v1").unwrap().version(),
            Some(1)
        );
    }

    #[test]
    fn a_running_task_blocks_commit_and_delete_removes_everything() {
        let mut m = model_with("w");
        m.set_task("w", Task::silent(7)).unwrap();
        let e = m.commit_version("w", "v1", &labels(1)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Conflict);
        assert!(m.take_task("w").unwrap().is_some());
        m.commit_version("w", "v1", &labels(1)).unwrap();
        assert!(m.delete("w").is_none());
        assert!(m.containers.is_empty() && m.snapshots.is_empty());
    }

    #[test]
    fn create_needs_the_image_and_a_free_id() {
        let mut m = model_with("w");
        let mut spec = m.container("w").unwrap().spec.clone();
        let e = m.create(&spec).unwrap_err();
        assert_eq!(e.kind, ErrorKind::AlreadyExists);
        spec.id = "x".into();
        spec.image = ImageRef::parse("test/missing:1").unwrap();
        assert_eq!(m.create(&spec).unwrap_err().kind, ErrorKind::NotFound);
    }
}

//! The fake's side of the contract: [`Runtime`] and [`Connector`] over its model, each call
//! recorded, held where a test armed a hold, and failing where a test scripted a failure.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use tokio::sync::broadcast;

use super::{Call, FakeRuntime, Op, Point};
use crate::{
    BridgeTrust, CancellationToken, Capabilities, Connector, ContainerStatus, FileChange, ImageRef,
    PullEvent, PullPolicy, PullSink, Result, Runtime, RuntimeError, RuntimeEvent, SnapshotInfo,
    Target, VersionLabels, WorkspaceSpec,
};

pub(super) struct FakeConnector(pub(super) Arc<FakeRuntime>);

#[async_trait::async_trait]
impl Connector for FakeConnector {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>> {
        self.0.targets.lock().unwrap().push(target.clone());
        Ok(self.0.clone())
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_versions: true,
            bridge_network: self.has_bridge_network(),
            private_network_block: self.has_bridge_network(),
            resource_limits: true,
            // Its tasks run the real bridge, so core's peer check runs against it.
            bridge_trust: BridgeTrust::CheckPeerPid,
            host_network: true,
            layer_progress: true,
            change_limits: true,
            live_events: true,
        }
    }

    async fn version(&self) -> Result<String> {
        self.enter(Op::Version, &[]).await?;
        Ok("fake".into())
    }

    async fn ensure_image(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        sink: &dyn PullSink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        let name = image.to_string();
        let args = [name.as_str(), &format!("{policy:?}")];
        self.calls.lock().unwrap().push(Call {
            op: Op::EnsureImage,
            args: args.iter().map(|a| a.to_string()).collect(),
        });
        self.pass_cancellable(Point::Before(Op::EnsureImage), cancel)
            .await?;
        self.scripted(Op::EnsureImage)?;
        let present = self.model.lock().unwrap().images.contains(&name);
        if policy == PullPolicy::Never && !present {
            return Err(RuntimeError::not_found(format!(
                "{name} is not present locally"
            )));
        }
        let digest = format!("sha256:layer-of-{name}");
        sink.event(PullEvent::Resolved {
            image: name.clone(),
            layers: vec![(digest.clone(), 1000)],
        });
        sink.event(PullEvent::Downloading {
            digest: digest.clone(),
            done: 500,
        });
        self.pass_cancellable(Point::Downloading, cancel).await?;
        sink.event(PullEvent::LayerDone {
            digest,
            existed: present,
        });
        sink.event(PullEvent::Unpacking {
            layer: 1,
            layers: 1,
        });
        self.pass_cancellable(Point::Unpacking, cancel).await?;
        self.model.lock().unwrap().images.insert(name);
        Ok(())
    }

    async fn create(&self, spec: &WorkspaceSpec) -> Result<()> {
        let network = match spec.network {
            crate::Network::Bridge => "bridge",
            crate::Network::Host => "host",
        };
        self.enter(Op::Create, &[&spec.id, &spec.image.to_string(), network])
            .await?;
        self.model.lock().unwrap().create(spec)
    }

    async fn start(&self, id: &str) -> Result<u32> {
        self.enter(Op::Start, &[id]).await?;
        if self.model.lock().unwrap().status(id)?.running {
            return Err(RuntimeError::conflict(format!(
                "the task of {id} already runs"
            )));
        }
        let mut task = self.new_task(id)?;
        let pid = task.running_pid().unwrap_or_default();
        self.model.lock().unwrap().set_task(id, task)?;
        self.emit(RuntimeEvent::TaskStarted { id: id.into() });
        Ok(pid)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<()> {
        self.enter(Op::Stop, &[id]).await?;
        let task = self.model.lock().unwrap().take_task(id)?;
        if let Some(t) = task {
            t.stop().await;
            self.emit(RuntimeEvent::TaskExited {
                id: id.into(),
                exit_status: 137,
            });
        }
        Ok(())
    }

    async fn delete(&self, id: &str) -> Result<()> {
        self.enter(Op::Delete, &[id]).await?;
        let (existed, task) = {
            let mut m = self.model.lock().unwrap();
            let existed = m.containers.contains_key(id);
            (existed, m.delete(id))
        };
        if let Some(t) = task {
            t.stop().await;
        }
        let _ = std::fs::remove_dir_all(self.state_dir.join(id));
        if existed {
            self.emit(RuntimeEvent::ContainerDeleted { id: id.into() });
        }
        Ok(())
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        self.enter(Op::Status, &[id]).await?;
        self.model.lock().unwrap().status(id)
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>> {
        self.enter(Op::List, &[]).await?;
        let mut m = self.model.lock().unwrap();
        let ids: Vec<String> = m.containers.keys().cloned().collect();
        ids.iter().map(|id| m.status(id)).collect()
    }

    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        let rx = self.events.subscribe();
        Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(e) => return Some((e, rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }

    async fn commit_version(&self, id: &str, name: &str, labels: &VersionLabels) -> Result<()> {
        self.enter(Op::CommitVersion, &[id, name]).await?;
        self.model.lock().unwrap().commit_version(id, name, labels)
    }

    async fn checkout_version(&self, id: &str, name: &str) -> Result<()> {
        self.enter(Op::CheckoutVersion, &[id, name]).await?;
        self.model.lock().unwrap().checkout_version(id, name)
    }

    async fn list_snapshots(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        self.enter(Op::ListSnapshots, &[id]).await?;
        self.model.lock().unwrap().list_snapshots(id)
    }

    async fn list_snapshots_sized(&self, id: &str) -> Result<Vec<SnapshotInfo>> {
        self.enter(Op::ListSnapshotsSized, &[id]).await?;
        self.model.lock().unwrap().list_snapshots(id)
    }

    async fn delete_version(&self, id: &str, name: &str) -> Result<()> {
        self.enter(Op::DeleteVersion, &[id, name]).await?;
        self.model.lock().unwrap().delete_version(id, name)
    }

    async fn repair_versions(&self, id: &str) -> Result<Vec<String>> {
        self.enter(Op::RepairVersions, &[id]).await?;
        Ok(vec![])
    }

    async fn changes_since(&self, id: &str, name: &str) -> Result<Vec<FileChange>> {
        self.enter(Op::ChangesSince, &[id, name]).await?;
        Ok(vec![])
    }

    async fn usage(&self, id: &str) -> Result<crate::Usage> {
        self.enter(Op::Usage, &[id]).await?;
        self.model.lock().unwrap().status(id)?;
        Ok(self.current_usage())
    }

    async fn layer_bytes(&self, id: &str) -> Result<Option<u64>> {
        self.enter(Op::LayerBytes, &[id]).await?;
        self.model.lock().unwrap().status(id)?;
        Ok(self.current_layer_bytes())
    }

    async fn set_limits(&self, id: &str, limits: &crate::Limits) -> Result<()> {
        self.enter(Op::SetLimits, &[id]).await?;
        self.model.lock().unwrap().set_limits(id, *limits)
    }

    async fn set_private_networks_blocked(&self, id: &str, blocked: bool) -> Result<()> {
        self.enter(Op::SetPrivateNetworksBlocked, &[id]).await?;
        self.model
            .lock()
            .unwrap()
            .set_private_networks_blocked(id, blocked)
    }
}

//! containerd's event stream, narrowed to what changes a workspace's state. containerd does not
//! replay events, so after a reconnect the stream yields `Resynced` and callers re-read state.

use std::time::Duration;

use berth_runtime::RuntimeEvent;
use containerd_client::events::{ContainerDelete, TaskExit, TaskStart};
use containerd_client::services::v1::SubscribeRequest;
use futures::stream::BoxStream;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::conn::Conn;

/// Subscribes in a background task that reconnects until the receiver is dropped.
pub fn subscribe(conn: Conn) -> BoxStream<'static, RuntimeEvent> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            if tx.is_closed() {
                return;
            }
            let ns = conn.namespace().to_string();
            let filters = vec![
                format!("namespace=={ns},topic~=\"^/tasks/\""),
                format!("namespace=={ns},topic==\"/containers/delete\""),
            ];
            match conn
                .events()
                .subscribe(conn.req(SubscribeRequest { filters }))
                .await
            {
                Ok(resp) => {
                    if !first && tx.send(RuntimeEvent::Resynced).await.is_err() {
                        return;
                    }
                    let mut stream = resp.into_inner();
                    loop {
                        let msg = tokio::select! {
                            _ = tx.closed() => return,
                            m = stream.message() => m,
                        };
                        let Ok(Some(envelope)) = msg else { break };
                        if let Some(event) =
                            decode(&envelope.topic, envelope.event.map(|a| a.value))
                        {
                            if tx.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e.message(), "event subscription failed; retrying")
                }
            }
            first = false;
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Decodes by topic: the Any's type URL lacks the usual prefix, so it is not used.
fn decode(topic: &str, value: Option<Vec<u8>>) -> Option<RuntimeEvent> {
    let bytes = value?;
    match topic {
        "/tasks/exit" => {
            let e = TaskExit::decode(bytes.as_slice()).ok()?;
            // Exits of exec'd processes do not change the workspace's state.
            let init = e.id == e.container_id || e.id.is_empty();
            init.then_some(RuntimeEvent::TaskExited {
                id: e.container_id,
                exit_status: e.exit_status,
            })
        }
        "/tasks/start" => TaskStart::decode(bytes.as_slice())
            .ok()
            .map(|e| RuntimeEvent::TaskStarted { id: e.container_id }),
        "/containers/delete" => ContainerDelete::decode(bytes.as_slice())
            .ok()
            .map(|e| RuntimeEvent::ContainerDeleted { id: e.id }),
        _ => None,
    }
}

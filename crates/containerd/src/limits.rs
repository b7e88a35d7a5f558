//! Changing a workspace's limits: the `linux.resources` of the spec containerd stores for the
//! container are rewritten (Containers.Update, field `spec`). runc applies the spec when it
//! starts the task, so new limits take effect at the workspace's next start.

use berth_runtime::{Limits, RuntimeError};
use containerd_client::services::v1::UpdateContainerRequest;
use serde_json::Value;

use crate::conn::{st, Conn};
use crate::{spec, workspace};

pub async fn set(conn: &Conn, id: &str, limits: &Limits) -> Result<(), RuntimeError> {
    let mut container = workspace::get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    let stored = container
        .spec
        .take()
        .ok_or_else(|| RuntimeError::internal(format!("container {id} has no spec")))?;
    let mut json: Value = serde_json::from_slice(&stored.value)
        .map_err(|e| RuntimeError::internal(format!("reading the spec of {id}: {e}")))?;
    let linux = json
        .get_mut("linux")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| RuntimeError::internal(format!("the spec of {id} has no linux part")))?;
    linux.insert("resources".into(), spec::resources(limits));
    container.spec = Some(prost_types::Any {
        type_url: stored.type_url,
        value: json.to_string().into_bytes(),
    });
    let update = UpdateContainerRequest {
        container: Some(container),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["spec".into()],
        }),
    };
    conn.containers()
        .update(conn.req(update))
        .await
        .map_err(st("changing the workspace's limits"))?;
    Ok(())
}

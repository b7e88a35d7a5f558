//! A container's task (its running process tree): reading it, signalling it, waiting for it to
//! exit, and deleting it.

use std::time::Duration;

use berth_runtime::RuntimeError;
use containerd_client::services::v1::{DeleteTaskRequest, GetRequest, KillRequest, WaitRequest};

use crate::conn::{is_not_found, st, Conn};

/// SIGTERM, up to `grace` for the exit, then SIGKILL to every process of the container.
pub(crate) async fn kill_and_wait(
    conn: &Conn,
    id: &str,
    grace: Duration,
) -> Result<(), RuntimeError> {
    let wait = {
        let conn = conn.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            conn.tasks()
                .wait(conn.req(WaitRequest {
                    container_id: id,
                    exec_id: String::new(),
                }))
                .await
        })
    };
    let abort = wait.abort_handle();
    if !grace.is_zero() {
        kill(conn, id, libc::SIGTERM as u32, false).await?;
        if tokio::time::timeout(grace, wait).await.is_ok() {
            return Ok(());
        }
    } else {
        abort.abort();
    }
    // To the task's init only: it is PID 1 of the workspace's pid namespace, so every process
    // there dies with it. (`all` would list the cgroup's processes, and a rootless task has no
    // cgroup of its own.)
    kill(conn, id, libc::SIGKILL as u32, false).await?;
    let waited = tokio::time::timeout(
        Duration::from_secs(10),
        conn.tasks().wait(conn.req(WaitRequest {
            container_id: id.into(),
            exec_id: String::new(),
        })),
    )
    .await;
    match waited {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(s)) if is_not_found(&s) => Ok(()),
        Ok(Err(s)) => Err(st("waiting for the task to exit")(s)),
        Err(_) => Err(RuntimeError::internal(format!(
            "task {id} did not exit 10 s after SIGKILL"
        ))),
    }
}

pub(crate) async fn kill(
    conn: &Conn,
    id: &str,
    signal: u32,
    all: bool,
) -> Result<(), RuntimeError> {
    let req = KillRequest {
        container_id: id.into(),
        exec_id: String::new(),
        signal,
        all,
    };
    match conn.tasks().kill(conn.req(req)).await {
        Ok(_) => Ok(()),
        Err(s) if is_not_found(&s) => Ok(()),
        Err(s) => Err(st("signalling task")(s)),
    }
}

pub(crate) async fn delete_task(conn: &Conn, id: &str) -> Result<(), RuntimeError> {
    match conn
        .tasks()
        .delete(conn.req(DeleteTaskRequest {
            container_id: id.into(),
        }))
        .await
    {
        Ok(_) => Ok(()),
        Err(s) if is_not_found(&s) => Ok(()),
        Err(s) => Err(st("deleting task")(s)),
    }
}

pub(crate) async fn task(
    conn: &Conn,
    id: &str,
) -> Result<Option<containerd_client::types::v1::Process>, RuntimeError> {
    match conn
        .tasks()
        .get(conn.req(GetRequest {
            container_id: id.into(),
            exec_id: String::new(),
        }))
        .await
    {
        Ok(r) => Ok(r.into_inner().process),
        Err(s) if is_not_found(&s) => Ok(None),
        Err(s) => Err(st("reading task")(s)),
    }
}

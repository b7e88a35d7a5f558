//! A fake workspace's task. By default it is the real bridge binary from the spec's
//! `runtime_dir`, run as a normal process (no namespaces, no root) with its socket in the
//! spec's socket directory and its `/data` in a directory the fake owns per container, so core's
//! wait for the bridge, exec and the Data service work against the real agent. A *silent* task
//! has no process: its bridge never answers, which holds core in `waitingBridge` for as long
//! as a test wants.
//!
//! Limits of running the bridge outside a container: container-absolute paths it is asked to
//! read (the Files service, the export of `/data`) are the host's, so only the Data import
//! (which uses the data directory it was given) sees the fake's `/data`.

use std::path::Path;
use std::process::Stdio;

use crate::{Result, RuntimeError, WorkspaceSpec};

pub(super) struct Task {
    pid: u32,
    child: Option<tokio::process::Child>,
}

impl Task {
    /// A task without a process; `pid` is made up.
    pub fn silent(pid: u32) -> Self {
        Self { pid, child: None }
    }

    /// Runs `<runtime_dir>/bridge` for `spec` with `/data` at `data_dir`.
    pub fn bridge(spec: &WorkspaceSpec, data_dir: &Path) -> Result<Self> {
        let fail = |what: &str, e: std::io::Error| RuntimeError::internal(format!("{what}: {e}"));
        std::fs::create_dir_all(data_dir).map_err(|e| fail("creating the data directory", e))?;
        if let Some(dir) = spec.log_path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail("creating the log directory", e))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .map_err(|e| fail("opening the log", e))?;
        let err = log.try_clone().map_err(|e| fail("opening the log", e))?;
        let child = tokio::process::Command::new(spec.runtime_dir.join("bridge"))
            .env("BERTH_BRIDGE_SOCKET", spec.socket_dir.join("bridge.sock"))
            .env("BERTH_DATA_DIR", data_dir)
            .env("BERTH_TEMPLATES_DIR", spec.runtime_dir.join("templates"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| fail("starting the bridge", e))?;
        let pid = child.id().unwrap_or_default();
        Ok(Self {
            pid,
            child: Some(child),
        })
    }

    /// The PID while the task runs (a silent task runs until stopped).
    pub fn running_pid(&mut self) -> Option<u32> {
        match &mut self.child {
            None => Some(self.pid),
            Some(c) => matches!(c.try_wait(), Ok(None)).then_some(self.pid),
        }
    }

    /// Kills the process and reaps it. SIGKILL at once: the fake has no grace to model.
    pub async fn stop(mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill().await;
        }
    }
}

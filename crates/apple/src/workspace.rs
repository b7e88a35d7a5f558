//! Workspace containers: create (all or nothing), start, stop, delete, status, list and usage,
//! each a `container` call or two. Only containers carrying Berth's labels and this namespace
//! are reported or changed (`labels.rs`).
//!
//! What Apple has no equivalent for: a host pid (the bridge runs in a VM: 0, see
//! `AppleRuntime::start`), a process-count limit, a log file of Berth's (Apple keeps each
//! container's output itself, `container logs <id>`; the workspace's log file gets a note saying
//! so), the host's network and blocking private networks (refused at create), an exit status
//! (`list` has none: exits are reported as 0).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use berth_runtime::{
    ContainerStatus, ErrorKind, Network, Result, RuntimeError, Usage, WorkspaceSpec,
};

use crate::model::{self, Container, State};
use crate::runtime::Inner;
use crate::socket::{self, CONTAINER_SOCKET};
use crate::{args, labels};

/// Creates the container, or nothing: a failure after the CLI made it deletes it again.
pub async fn create(inner: &Inner, spec: &WorkspaceSpec, host_socket: &Path) -> Result<()> {
    refuse_unsupported(spec)?;
    crate::arch::check_bridge(&spec.runtime_dir, &inner.platform)?;
    if let Some(c) = find(inner, &spec.id).await? {
        return Err(exists(inner, &c));
    }
    socket::prepare(host_socket)?;
    let labels = labels::for_workspace(&spec.bot, &inner.namespace)?;
    let argv = args::create(&args::Create {
        id: &spec.id,
        labels: &labels,
        image: &spec.image.to_string(),
        platform: &inner.platform,
        rosetta: crate::arch::needs_rosetta(&inner.platform, crate::arch::host()),
        runtime_dir: &spec.runtime_dir,
        host_socket,
        limits: spec.limits,
    })?;
    if let Some(pids) = spec.limits.pids {
        tracing::info!(
            id = %spec.id,
            pids,
            "Apple's container has no process limit; each workspace is a VM of its own"
        );
    }
    let failed = match inner.run(argv, inner.options.lifecycle_timeout).await {
        Err(e) if e.kind == ErrorKind::AlreadyExists => return Err(e),
        Err(e) => Some((e, false)),
        Ok(_) => verify(inner, &spec.id).await.err().map(|e| (e, true)),
    };
    if let Some((e, made)) = failed {
        remove_partial(inner, &spec.id, made).await;
        return Err(e);
    }
    log_note(&spec.log_path, &spec.id);
    Ok(())
}

fn refuse_unsupported(spec: &WorkspaceSpec) -> Result<()> {
    if spec.network == Network::Host {
        return Err(RuntimeError::new(
            ErrorKind::Unsupported,
            format!(
                "Apple's container runs every workspace in a virtual machine with its own \
                 network: {}'s workspace cannot share the Mac's network; turn the host network \
                 off for this bot",
                spec.bot
            ),
        ));
    }
    if spec.block_private_networks {
        return Err(RuntimeError::new(
            ErrorKind::Unsupported,
            format!(
                "Apple's container backend cannot keep a workspace off private networks; turn \
                 that setting off for {} to create its workspace here",
                spec.bot
            ),
        ));
    }
    Ok(())
}

fn exists(inner: &Inner, c: &Container) -> RuntimeError {
    let whose = if labels::is_ours(c.labels(), &inner.namespace) {
        String::new()
    } else {
        format!(" (not a Berth workspace of namespace {})", inner.namespace)
    };
    RuntimeError::new(
        ErrorKind::AlreadyExists,
        format!("container {} already exists{whose}", c.id()),
    )
}

/// The CLI made a container: it must carry Berth's labels (a CLI that dropped them would make
/// a workspace Berth could never find again).
async fn verify(inner: &Inner, id: &str) -> Result<()> {
    match owned(inner, id).await? {
        Some(_) => Ok(()),
        None => Err(RuntimeError::internal(format!(
            "`container create` made {id} without Berth's labels"
        ))),
    }
}

/// Deletes what a failed create left. `made`: the CLI reported success, so the container of
/// that name (absent just before) is the one it made, labels or not; otherwise only a container
/// carrying Berth's labels is taken for a half-made one.
async fn remove_partial(inner: &Inner, id: &str, made: bool) {
    let found = match find(inner, id).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(id, error = %e, "checking for a half-created workspace");
            return;
        }
    };
    let Some(c) = found else { return };
    if !made && !labels::is_ours(c.labels(), &inner.namespace) {
        return;
    }
    if let Err(e) = inner
        .run(args::delete(id), inner.options.lifecycle_timeout)
        .await
    {
        tracing::warn!(id, error = %e, "removing a half-created workspace");
    }
}

/// Apple keeps a container's output itself; the workspace's log file says where.
fn log_note(log_path: &Path, id: &str) {
    let note = format!(
        "This workspace runs on Apple's container, which keeps its output itself: \
         run `container logs {id}` (`container logs --boot {id}` for the VM's boot log).\n"
    );
    let write = || -> std::io::Result<()> {
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        f.write_all(note.as_bytes())
    };
    if let Err(e) = write() {
        tracing::debug!(path = %log_path.display(), error = %e, "writing the log note");
    }
}

/// Starts the container. Its socket's directory is made again first: the private fallback in
/// `/tmp` does not survive a reboot, and the relay cannot listen without it.
pub async fn start(inner: &Inner, id: &str) -> Result<()> {
    let c = owned(inner, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    if c.state() == State::Running {
        return Err(RuntimeError::conflict(format!(
            "workspace {id} is already running"
        )));
    }
    if let Some(host) = c.published_host_path(CONTAINER_SOCKET) {
        socket::ensure_parent(Path::new(&host))?;
    }
    inner
        .run(args::start(id), inner.options.lifecycle_timeout)
        .await?;
    // A detached start succeeds once the process is started, even if it dies at once.
    match owned(inner, id).await? {
        Some(c) if c.state() == State::Running => {
            tracing::debug!(
                id,
                address = c.ipv4_address().unwrap_or("none"),
                "workspace started"
            );
            Ok(())
        }
        _ => Err(RuntimeError::internal(format!(
            "workspace {id} stopped right after it started (see `container logs {id}`)"
        ))),
    }
}

/// Stops the container: SIGTERM, SIGKILL after `grace`. A stopped or missing one is fine; a
/// stop that fails is followed by a kill, and is fine if the container then is stopped.
pub async fn stop(inner: &Inner, id: &str, grace: Duration) -> Result<()> {
    let Some(c) = owned(inner, id).await? else {
        return Ok(());
    };
    if c.state() == State::Stopped {
        return Ok(());
    }
    let timeout = grace.saturating_add(inner.options.lifecycle_timeout);
    let err = match inner.run(args::stop(id, grace), timeout).await {
        Ok(_) => return Ok(()),
        Err(e) if e.kind == ErrorKind::NotFound => return Ok(()),
        Err(e) => e,
    };
    tracing::warn!(id, error = %err, "stop failed; killing");
    let _ = inner.run(args::kill(id), inner.options.query_timeout).await;
    match owned(inner, id).await {
        Ok(None) => Ok(()),
        Ok(Some(c)) if c.state() == State::Stopped => Ok(()),
        _ => Err(err),
    }
}

/// Deletes the container (stopping it first) and its host socket. A missing one is fine; one
/// that is not Berth's in this namespace is left alone (`Conflict`).
pub async fn delete(inner: &Inner, id: &str) -> Result<()> {
    let Some(c) = find(inner, id).await? else {
        return Ok(());
    };
    if !labels::is_ours(c.labels(), &inner.namespace) {
        return Err(RuntimeError::conflict(format!(
            "container {id} is not a Berth workspace of namespace {}; not deleting it",
            inner.namespace
        )));
    }
    match inner
        .run(args::delete(id), inner.options.lifecycle_timeout)
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(host) = c.published_host_path(CONTAINER_SOCKET) {
        socket::remove(Path::new(&host));
    }
    Ok(())
}

pub async fn status(inner: &Inner, id: &str) -> Result<ContainerStatus> {
    owned(inner, id)
        .await?
        .map(|c| to_status(&c))
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))
}

pub async fn list(inner: &Inner) -> Result<Vec<ContainerStatus>> {
    let all = model::containers(&inner.query(args::list()).await?)?;
    Ok(all
        .iter()
        .filter(|c| labels::is_ours(c.labels(), &inner.namespace))
        .map(to_status)
        .collect())
}

/// Live usage from `stats --no-stream` (two samples 2 s apart, so it takes that long); missing
/// measurements are 0. Apple reports no writable-layer size (the default `layer_bytes`).
pub async fn usage(inner: &Inner, id: &str) -> Result<Usage> {
    let stats = model::stats(&inner.query(args::stats(id)).await?)?;
    let s = stats
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| RuntimeError::conflict(format!("workspace {id} is not running")))?;
    Ok(Usage {
        cpu_nanos: s.cpu_usage_usec.unwrap_or(0).saturating_mul(1000),
        memory: s.memory_usage_bytes.unwrap_or(0),
        memory_limit: s.memory_limit_bytes,
        pids: s.num_processes.unwrap_or(0),
    })
}

/// A running container's pid is 0: there is no host pid for a process in a VM, and core
/// does not check one under `BridgeTrust::RuntimeVouches`.
fn to_status(c: &Container) -> ContainerStatus {
    let running = c.state() == State::Running;
    ContainerStatus {
        id: c.id().to_string(),
        bot: c.labels().get(labels::BOT).cloned(),
        image: c.configuration.image.reference.clone(),
        running,
        pid: running.then_some(0),
    }
}

/// The container named `id`, whoever's it is; `None` when there is none.
async fn find(inner: &Inner, id: &str) -> Result<Option<Container>> {
    match inner.query(args::inspect(id)).await {
        Ok(json) => Ok(model::containers(&json)?.into_iter().find(|c| c.id() == id)),
        Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The container named `id` if it is Berth's in this namespace.
async fn owned(inner: &Inner, id: &str) -> Result<Option<Container>> {
    Ok(find(inner, id)
        .await?
        .filter(|c| labels::is_ours(c.labels(), &inner.namespace)))
}

//! Live usage of a workspace: CPU time, memory against its limit and processes, read from its
//! cgroup on the host (runc puts the task in `/berth/<id>`, see `spec.rs`; cgroup v1 with a
//! hierarchy per controller, or v2); the size of its writable layer from the snapshotter.

use std::path::Path;

use berth_runtime::{RuntimeError, Usage};
use containerd_client::services::v1::snapshots::UsageRequest;
use containerd_client::services::v1::Container;

use crate::conn::{st, Conn, SNAPSHOTTER};
use crate::workspace;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// cgroup v1 reports "no limit" as a huge number (a page-aligned i64::MAX).
const NO_LIMIT_V1: u64 = 1 << 62;

pub async fn read(conn: &Conn, id: &str) -> Result<Usage, RuntimeError> {
    container(conn, id).await?;
    Ok(cgroup(Path::new(CGROUP_ROOT), id).unwrap_or_default())
}

/// The snapshotter's usage of the writable layer: for an active overlay snapshot, a walk of
/// every file in it.
pub async fn layer_bytes(conn: &Conn, id: &str) -> Result<u64, RuntimeError> {
    let layer = conn
        .snapshots()
        .usage(conn.req(UsageRequest {
            snapshotter: SNAPSHOTTER.into(),
            key: container(conn, id).await?.snapshot_key,
        }))
        .await
        .map_err(st("measuring the writable layer"))?
        .into_inner();
    Ok(u64::try_from(layer.size).unwrap_or(0))
}

async fn container(conn: &Conn, id: &str) -> Result<Container, RuntimeError> {
    workspace::get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))
}

/// What the cgroup of container `id` under `root` says; `None` when it has none (not running).
fn cgroup(root: &Path, id: &str) -> Option<Usage> {
    let rel = Path::new("berth").join(id);
    let num = |p: &Path| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let stat = |p: &Path, key: &str| -> Option<u64> {
        let text = std::fs::read_to_string(p).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    };
    let memory_v1 = root.join("memory").join(&rel);
    if memory_v1.is_dir() {
        let used = num(&memory_v1.join("memory.usage_in_bytes"))?;
        let inactive = stat(&memory_v1.join("memory.stat"), "total_inactive_file").unwrap_or(0);
        let limit = num(&memory_v1.join("memory.limit_in_bytes")).filter(|&l| l < NO_LIMIT_V1);
        return Some(Usage {
            cpu_nanos: num(&root.join("cpuacct").join(&rel).join("cpuacct.usage")).unwrap_or(0),
            memory: used.saturating_sub(inactive),
            memory_limit: limit,
            pids: num(&root.join("pids").join(&rel).join("pids.current")).unwrap_or(0),
        });
    }
    let v2 = root.join(&rel);
    if !v2.join("memory.current").is_file() {
        return None;
    }
    let used = num(&v2.join("memory.current"))?;
    let inactive = stat(&v2.join("memory.stat"), "inactive_file").unwrap_or(0);
    Some(Usage {
        cpu_nanos: stat(&v2.join("cpu.stat"), "usage_usec").map_or(0, |u| u * 1000),
        memory: used.saturating_sub(inactive),
        memory_limit: num(&v2.join("memory.max")),
        pids: num(&v2.join("pids.current")).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_cgroup_v1_and_v2() {
        let v1 = tempfile::tempdir().unwrap();
        let r = v1.path();
        write(r, "memory/berth/w/memory.usage_in_bytes", "5000\n");
        write(
            r,
            "memory/berth/w/memory.stat",
            "cache 9\ntotal_inactive_file 1000\n",
        );
        write(
            r,
            "memory/berth/w/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(r, "cpuacct/berth/w/cpuacct.usage", "123456789\n");
        write(r, "pids/berth/w/pids.current", "7\n");
        let u = cgroup(r, "w").unwrap();
        assert_eq!(
            (u.cpu_nanos, u.memory, u.memory_limit, u.pids),
            (123_456_789, 4000, None, 7)
        );
        assert_eq!(cgroup(r, "other"), None);

        let v2 = tempfile::tempdir().unwrap();
        let r = v2.path();
        write(r, "berth/w/memory.current", "8000\n");
        write(r, "berth/w/memory.stat", "anon 1\ninactive_file 500\n");
        write(r, "berth/w/memory.max", "1048576\n");
        write(r, "berth/w/cpu.stat", "usage_usec 42\nuser_usec 40\n");
        write(r, "berth/w/pids.current", "3\n");
        let u = cgroup(r, "w").unwrap();
        assert_eq!(
            (u.cpu_nanos, u.memory, u.memory_limit, u.pids),
            (42_000, 7500, Some(1_048_576), 3)
        );
    }
}

//! The OCI runtime spec of a workspace: the image's environment, the bridge as PID 1 and Berth's
//! mounts, confined at least as tightly as a Docker container by default — fewer capabilities,
//! a seccomp allowlist ([`crate::seccomp`]), no new privileges, masked and read-only `/proc`
//! paths, its own cgroup namespace, and limits on processes, memory and CPU share.

use std::path::Path;

use berth_runtime::{Limits, Network, WorkspaceSpec};
use serde_json::{json, Value};

use crate::oci::ImageConfig;

/// Where the bridge's directory appears in the container.
pub const RUNTIME_MOUNT: &str = "/opt/berth";
/// Where the bridge's socket directory appears in the container.
pub const SOCKET_MOUNT: &str = "/run/berth";
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The capabilities of a workspace: Docker's and containerd's default set without `NET_RAW`
/// (raw sockets: spoofing and sniffing on the bridge), `MKNOD` (device nodes), `AUDIT_WRITE`
/// and `SETFCAP` (file capabilities, a way to carry privileges across `execve`). What remains
/// is what package managers and a root shell need: owning and moving files, switching users,
/// binding low ports, `chroot`, signalling the container's own processes.
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
];

/// At most this many processes and threads: a fork bomb stops here instead of the host.
pub const PIDS_LIMIT: i64 = 4096;
/// Relative CPU weight (cgroup v1 `cpu.shares`; the host's own processes have 1024), so a busy
/// workspace cannot starve the desktop.
pub const CPU_SHARES: u64 = 512;

/// Memory limit: half of the host's memory (at least 1 GiB), so a balloon in a workspace is
/// killed by the kernel inside its own cgroup before the host swaps.
pub fn memory_limit() -> i64 {
    const GIB: i64 = 1 << 30;
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(8 * GIB, |kib| kib * 1024);
    (total / 2).max(GIB)
}

/// The CFS period the CPU limit is expressed in (100 ms, runc's default).
const CPU_PERIOD_US: u64 = 100_000;

/// `linux.resources` for `limits`: every device denied, the pids and memory limits (defaults:
/// [`PIDS_LIMIT`], [`memory_limit`]), the CPU weight [`CPU_SHARES`] and, when set, a CPU quota.
pub fn resources(limits: &Limits) -> Value {
    let mut cpu = json!({"shares": CPU_SHARES});
    if let Some(millis) = limits.cpu_millis {
        cpu["quota"] = json!(u64::from(millis) * CPU_PERIOD_US / 1000);
        cpu["period"] = json!(CPU_PERIOD_US);
    }
    let memory = limits
        .memory
        .map_or_else(memory_limit, |m| i64::try_from(m).unwrap_or(i64::MAX));
    json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "pids": {"limit": limits.pids.map_or(PIDS_LIMIT, i64::from)},
        "memory": {"limit": memory},
        "cpu": cpu
    })
}

/// Builds the spec as JSON (the form containerd stores and runc reads).
/// `rootless`: for a containerd in a user namespace, which gets no cgroup of its own (no
/// `cgroupsPath`, no limits: runc refuses both there).
pub fn build(
    ws: &WorkspaceSpec,
    image: &ImageConfig,
    resolv_conf: Option<&Path>,
    rootless: bool,
) -> Value {
    let mut env: Vec<String> = image
        .config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.into());
    }
    env.push(format!("BERTH_BRIDGE_SOCKET={SOCKET_MOUNT}/bridge.sock"));
    env.push(format!("BERTH_TEMPLATES_DIR={RUNTIME_MOUNT}/templates"));
    env.push("HOME=/root".into());
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    if ws.network == Network::Bridge {
        namespaces.push(json!({"type": "network"}));
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": [format!("{RUNTIME_MOUNT}/bridge")],
            "env": env,
            "cwd": "/",
            "capabilities": {"bounding": CAPS, "effective": CAPS, "permitted": CAPS},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs"},
        "hostname": ws.bot,
        "mounts": mounts(ws, resolv_conf),
        "linux": {
            "resources": resources(&ws.limits),
            "cgroupsPath": format!("/berth/{}", ws.id),
            "namespaces": namespaces,
            "seccomp": crate::seccomp::profile(),
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi", "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if rootless {
        let linux = spec["linux"].as_object_mut().expect("built above");
        linux.remove("resources");
        linux.remove("cgroupsPath");
    }
    spec
}

fn mounts(ws: &WorkspaceSpec, resolv_conf: Option<&Path>) -> Vec<Value> {
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        bind(&ws.runtime_dir, RUNTIME_MOUNT, true),
        bind(&ws.socket_dir, SOCKET_MOUNT, false),
    ];
    if let Some(r) = resolv_conf {
        m.push(bind(r, "/etc/resolv.conf", true));
    }
    if Path::new("/etc/localtime").exists() {
        m.push(bind(Path::new("/etc/localtime"), "/etc/localtime", true));
    }
    m
}

fn bind(source: &Path, destination: &str, read_only: bool) -> Value {
    let mut options = vec!["rbind", "nosuid", "nodev"];
    options.push(if read_only { "ro" } else { "rw" });
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::ImageRef;
    use std::path::PathBuf;

    fn ws(network: Network) -> WorkspaceSpec {
        WorkspaceSpec {
            id: "berth-a".into(),
            bot: "a".into(),
            image: ImageRef::parse("busybox").unwrap(),
            runtime_dir: PathBuf::from("/var/lib/berth/runtime"),
            socket_dir: PathBuf::from("/var/lib/berth/run/a"),
            log_path: PathBuf::from("/var/lib/berth/logs/a.log"),
            network,
            block_private_networks: false,
            limits: Limits::default(),
        }
    }

    #[test]
    fn limits_default_and_chosen() {
        let r = resources(&Limits::default());
        assert_eq!(r["pids"]["limit"], PIDS_LIMIT);
        assert_eq!(r["memory"]["limit"], memory_limit());
        assert_eq!(r["cpu"], json!({"shares": CPU_SHARES}));
        let r = resources(&Limits {
            memory: Some(2 << 30),
            cpu_millis: Some(1500),
            pids: Some(2048),
        });
        assert_eq!(r["pids"]["limit"], 2048);
        assert_eq!(r["memory"]["limit"], 2i64 << 30);
        assert_eq!(
            r["cpu"],
            json!({"shares": CPU_SHARES, "quota": 150_000, "period": 100_000})
        );
        assert_eq!(r["devices"], json!([{"allow": false, "access": "rwm"}]));
    }

    #[test]
    fn runs_the_bridge_with_the_image_env_and_readonly_runtime() {
        let cfg: ImageConfig = serde_json::from_value(json!({
            "config": {"Env": ["PATH=/custom/bin", "LANG=C.UTF-8"]}, "rootfs": {"diff_ids": []}
        }))
        .unwrap();
        let s = build(&ws(Network::Bridge), &cfg, None, false);
        assert_eq!(s["process"]["args"][0], "/opt/berth/bridge");
        let env: Vec<&str> = s["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(env.contains(&"PATH=/custom/bin") && env.contains(&"LANG=C.UTF-8"));
        let opt = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/opt/berth")
            .unwrap();
        assert!(opt["options"].as_array().unwrap().contains(&json!("ro")));
        assert!(s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
    }

    #[test]
    fn host_network_has_no_network_namespace() {
        let s = build(&ws(Network::Host), &ImageConfig::default(), None, false);
        assert!(!s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
    }
}

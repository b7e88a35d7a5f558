//! Outbound networking through CNI: a `bridge` network with NAT and `host-local` addresses,
//! driven by executing the plugins directly (the CNI protocol is env vars + JSON on stdin).
//!
//! Workspaces reach the internet and nothing else of the host's: each one's port on the bridge is
//! *isolated* (the kernel bridge forwards nothing between two isolated ports, so workspaces do
//! not see each other), and [`guard`] rejects every connection a workspace opens to the host
//! itself — the gateway address and any other address of the host — while replies to
//! connections the host opened still pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::RuntimeError;
use serde_json::json;

use crate::rootless::Namespaces;

/// Where Debian and upstream install the plugins.
const PLUGIN_DIRS: &[&str] = &["/usr/lib/cni", "/opt/cni/bin"];
const NETWORK: &str = "berth";
const BRIDGE: &str = "berth0";
/// A subnet that does not collide with Docker (172.17/16) or Podman (10.88/16) defaults.
const SUBNET: &str = "10.89.0.0/16";
/// Where `host-local` keeps its reservations unless the configuration names a `dataDir`.
const DEFAULT_IPAM_DIR: &str = "/var/lib/cni/networks";

/// The CNI plugins found on this host, and where they act.
#[derive(Debug, Clone)]
pub struct Cni {
    dir: PathBuf,
    /// A rootless containerd's namespaces: its network namespace is the host side of the
    /// bridge, so the plugins and the firewall run there.
    rootless: Option<Rootless>,
}

#[derive(Debug, Clone)]
struct Rootless {
    /// The daemon's socket: its namespaces are looked up through it at every use, as the
    /// daemon (and with it its namespaces) may have been restarted since the connect.
    socket: PathBuf,
    /// The address reservations (the default, `/var/lib/cni`, is root's).
    ipam_dir: PathBuf,
}

impl Cni {
    /// Finds a directory holding the plugins Berth needs; None means host networking.
    pub fn detect() -> Option<Self> {
        PLUGIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|d| {
                ["bridge", "host-local", "loopback"]
                    .iter()
                    .all(|p| d.join(p).is_file())
            })
            .map(|dir| Self {
                dir,
                rootless: None,
            })
    }

    /// The same plugins acting in the namespaces of the rootless containerd on `socket`, with
    /// their address reservations under `state_dir`.
    pub fn in_namespaces(self, socket: &Path, state_dir: &Path) -> Self {
        Self {
            rootless: Some(Rootless {
                socket: socket.to_path_buf(),
                ipam_dir: state_dir.join("cni-rootless"),
            }),
            ..self
        }
    }

    /// The rootless containerd's namespaces as they are now (`None`: containerd is the host's).
    pub fn namespaces(&self) -> Result<Option<Arc<Namespaces>>, RuntimeError> {
        match &self.rootless {
            None => Ok(None),
            Some(r) => Namespaces::current(&r.socket).map(Some),
        }
    }

    fn conf(&self) -> serde_json::Value {
        let mut conf = bridge_conf();
        if let Some(r) = &self.rootless {
            conf["ipam"]["dataDir"] = r.ipam_dir.display().to_string().into();
        }
        conf
    }

    /// How to get the plugins [`Cni::detect`] looks for.
    pub fn missing_fix() -> String {
        format!(
            "the CNI plugins bridge, host-local and loopback are not in {}; install them \
             (Debian: `apt-get install containernetworking-plugins`)",
            PLUGIN_DIRS.join(" or ")
        )
    }

    /// Attaches the task's network namespace: loopback up, then `eth0` on the NAT bridge.
    /// `container_id` must be unique across namespaces (the IPAM keys reservations by it).
    ///
    /// The host's rules (NAT and [`guard`]) cover every workspace and the plugins touch none of
    /// them, so both are set up at once; the caller reports the start only after both.
    pub async fn attach(&self, container_id: &str, pid: u32) -> Result<(), RuntimeError> {
        let ns = self.namespaces()?;
        let ns = ns.as_ref();
        // NAT and the guard are rules of their own; the plugins touch neither.
        let firewall = async {
            let (nat, guard) =
                tokio::join!(ensure_masquerade(ns), crate::network_guard::ensure(ns));
            nat.and(guard)
        };
        let (firewall, port) = tokio::join!(firewall, self.plug(container_id, pid, ns));
        firewall.and(port)
    }

    /// The plugins' part of [`Cni::attach`].
    async fn plug(
        &self,
        container_id: &str,
        pid: u32,
        ns: Option<&Arc<Namespaces>>,
    ) -> Result<(), RuntimeError> {
        let netns = format!("/proc/{pid}/ns/net");
        // A stale allocation from a task that died without a DEL would block the ADD.
        if self.may_hold_address(container_id) {
            let _ = self
                .invoke("bridge", "DEL", container_id, &netns, "eth0", &self.conf())
                .await;
        }
        let (lo_conf, bridge_conf) = (loopback_conf(), self.conf());
        let loopback = self.invoke("loopback", "ADD", container_id, &netns, "lo", &lo_conf);
        let bridge = self.invoke("bridge", "ADD", container_id, &netns, "eth0", &bridge_conf);
        let (loopback, bridge) = tokio::join!(loopback, bridge);
        loopback?;
        let result = bridge?;
        let veth = host_veth(&result).ok_or_else(|| {
            RuntimeError::internal(format!(
                "network setup: the bridge plugin named no host interface: {result}"
            ))
        })?;
        crate::network_guard::isolate_port(ns, &veth).await
    }

    /// Whether `host-local` may still hold an address for `container_id`: each reservation is a
    /// file named by the address whose first line is the container's id. Reading the few files
    /// spares a new workspace the two plugin runs of a DEL; when the folder cannot be read, the
    /// answer is yes.
    fn may_hold_address(&self, container_id: &str) -> bool {
        let dir = match &self.rootless {
            Some(r) => r.ipam_dir.join(NETWORK),
            None => Path::new(DEFAULT_IPAM_DIR).join(NETWORK),
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
        };
        entries.into_iter().any(|entry| {
            let Ok(entry) = entry else { return true };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name == "lock" || name.starts_with("last_reserved_ip") {
                return false;
            }
            match std::fs::read_to_string(entry.path()) {
                Ok(text) => text.lines().next().map(str::trim) == Some(container_id),
                Err(_) => true,
            }
        })
    }

    /// Releases the address; works when the namespace is already gone (the IPAM is keyed by id).
    pub async fn detach(&self, container_id: &str, pid: Option<u32>) -> Result<(), RuntimeError> {
        let netns = pid.map(|p| format!("/proc/{p}/ns/net")).unwrap_or_default();
        self.invoke("bridge", "DEL", container_id, &netns, "eth0", &self.conf())
            .await
            .map(drop)
    }

    async fn invoke(
        &self,
        plugin: &str,
        command: &str,
        container_id: &str,
        netns: &str,
        ifname: &str,
        conf: &serde_json::Value,
    ) -> Result<serde_json::Value, RuntimeError> {
        let mut cmd = tokio::process::Command::new(self.dir.join(plugin));
        if let Some(ns) = self.namespaces()? {
            ns.enter(&mut cmd);
        }
        cmd.env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", &self.dir)
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        let what = format!("CNI plugin {plugin}");
        let out = crate::programs::run_with_input(cmd, conf.to_string().as_bytes(), &what).await?;
        if out.status.success() {
            // A DEL prints nothing; an ADD prints its result.
            return Ok(serde_json::from_slice(&out.stdout).unwrap_or_default());
        }
        // Plugins report errors as JSON on stdout: {"code":…, "msg":…, "details":…}.
        let detail = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| {
                v["msg"]
                    .as_str()
                    .map(|m| format!("{m} {}", v["details"].as_str().unwrap_or("")))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned());
        Err(RuntimeError::internal(format!(
            "network setup ({plugin} {command}) failed: {}",
            detail.trim()
        )))
    }
}

fn bridge_conf() -> serde_json::Value {
    json!({
        "cniVersion": "0.4.0",
        "name": NETWORK,
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": true,
        // NAT is one rule of ours (ensure_masquerade): the plugin's per-container rules can only
        // be removed while the task's namespace exists, so a task that dies leaks them.
        "ipMasq": false,
        "hairpinMode": true,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": SUBNET}]], "routes": [{"dst": "0.0.0.0/0"}]}
    })
}

/// Installs, once, the rule that NATs the workspaces' traffic leaving the bridge's subnet.
async fn ensure_masquerade(ns: Option<&Arc<Namespaces>>) -> Result<(), RuntimeError> {
    let rule = [
        "POSTROUTING",
        "-s",
        SUBNET,
        "!",
        "-d",
        SUBNET,
        "-j",
        "MASQUERADE",
        "-m",
        "comment",
        "--comment",
        "berth",
    ];
    let run = |action: &'static str| {
        let mut args: Vec<&str> = vec!["-t", "nat", action];
        args.extend_from_slice(&rule);
        async move { crate::network_guard::run(ns, "iptables", &args).await }
    };
    if run("-C").await?.status.success() {
        return Ok(());
    }
    let added = run("-A").await?;
    if !added.status.success() {
        return Err(RuntimeError::internal(format!(
            "adding the NAT rule for {SUBNET}: {}",
            String::from_utf8_lossy(&added.stderr).trim()
        )));
    }
    Ok(())
}

/// The host side of the workspace's veth pair in a bridge plugin's ADD result: the interface
/// outside any sandbox that is not the bridge itself.
fn host_veth(result: &serde_json::Value) -> Option<String> {
    result["interfaces"]
        .as_array()?
        .iter()
        .filter(|i| i.get("sandbox").is_none())
        .filter_map(|i| i["name"].as_str())
        .find(|n| *n != BRIDGE)
        .map(str::to_string)
}

fn loopback_conf() -> serde_json::Value {
    json!({"cniVersion": "0.4.0", "name": "berth-lo", "type": "loopback"})
}

/// slirp4netns's DNS forwarder, the resolver of a rootless containerd's workspaces.
const SLIRP_DNS: &str = "10.0.2.3";

/// A resolv.conf for workspaces in their own network namespace: the host's loopback resolver
/// (systemd-resolved's stub, a local dnsmasq) cannot be reached from there. Behind a rootless
/// containerd, slirp4netns forwards DNS.
pub fn resolv_conf(dir: &Path, rootless: bool) -> Result<PathBuf, RuntimeError> {
    if rootless {
        return write_resolv_conf(
            dir,
            "resolv-rootless.conf",
            &format!("nameserver {SLIRP_DNS}\n"),
        );
    }
    let upstream = Path::new("/run/systemd/resolve/resolv.conf");
    if upstream.is_file() {
        return Ok(upstream.to_path_buf());
    }
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let usable: Vec<&str> = host
        .lines()
        .filter(|l| l.starts_with("nameserver") && !l.contains("127.") && !l.contains("::1"))
        .collect();
    let body = if usable.is_empty() {
        "nameserver 1.1.1.1\nnameserver 8.8.8.8\n".to_string()
    } else {
        usable.join("\n") + "\n"
    };
    write_resolv_conf(dir, "resolv.conf", &body)
}

fn write_resolv_conf(dir: &Path, name: &str, body: &str) -> Result<PathBuf, RuntimeError> {
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .map_err(|e| RuntimeError::internal(format!("{}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| RuntimeError::internal(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cni_with_reservations(dir: &Path) -> Cni {
        Cni {
            dir: PathBuf::from("/usr/lib/cni"),
            rootless: Some(Rootless {
                socket: PathBuf::from("/nonexistent"),
                ipam_dir: dir.to_path_buf(),
            }),
        }
    }

    #[test]
    fn a_reservation_is_found_by_the_first_line_of_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cni = cni_with_reservations(tmp.path());
        // No reservations folder yet: nothing to release.
        assert!(!cni.may_hold_address("ns-berth-a"));

        let dir = tmp.path().join(NETWORK);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("lock"), "").unwrap();
        std::fs::write(dir.join("last_reserved_ip.0"), "10.89.0.7").unwrap();
        std::fs::write(dir.join("10.89.0.6"), "ns-berth-b\r\neth0").unwrap();
        assert!(!cni.may_hold_address("ns-berth-a"));
        // A longer id that starts with ours is someone else's.
        std::fs::write(dir.join("10.89.0.8"), "ns-berth-ab\r\neth0").unwrap();
        assert!(!cni.may_hold_address("ns-berth-a"));

        std::fs::write(dir.join("10.89.0.7"), "ns-berth-a\r\neth0").unwrap();
        assert!(cni.may_hold_address("ns-berth-a"));
        // Older plugins wrote the id alone.
        std::fs::write(dir.join("10.89.0.7"), "ns-berth-a").unwrap();
        assert!(cni.may_hold_address("ns-berth-a"));
    }

    #[test]
    fn an_unreadable_reservation_counts_as_held() {
        let tmp = tempfile::tempdir().unwrap();
        let cni = cni_with_reservations(tmp.path());
        let dir = tmp.path().join(NETWORK);
        std::fs::create_dir_all(dir.join("10.89.0.9")).unwrap();
        assert!(cni.may_hold_address("ns-berth-a"));
    }
}

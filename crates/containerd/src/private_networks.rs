//! Keeping a workspace off private networks (the user's LAN, a VPN, a cloud's metadata service)
//! when its bot is set to "block private networks".
//!
//! The rules live in the workspace's own network namespace, in its `OUTPUT` chain, written by the
//! host with `iptables-restore` after entering that namespace. There the bot cannot change them
//! (it has no `CAP_NET_ADMIN`), they concern no other workspace, and they vanish with the
//! namespace when the task ends: nothing on the host to keep in step with workspaces or to leak.
//! Every write replaces the namespace's whole filter table, so applying is idempotent.
//!
//! The workspace's DNS servers stay reachable on port 53 (the host's resolver is often on a
//! private address), and replies to connections opened from outside (the host into the
//! workspace) still leave.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;

use berth_runtime::{ErrorKind, RuntimeError};
use containerd_client::services::v1::{Container, UpdateContainerRequest};

use crate::conn::{st, Conn};
use crate::rootless::Namespaces;
use crate::workspace;

/// Private IPv4 ranges: RFC 1918, shared address space (RFC 6598, carrier-grade NAT and
/// tailnets), and link-local (RFC 3927, which holds the clouds' 169.254.169.254).
pub const BLOCKED_V4: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
];
/// Private IPv6 ranges: unique local (RFC 4193) and link-local.
pub const BLOCKED_V6: &[&str] = &["fc00::/7", "fe80::/10"];

/// The label on a container whose bot blocks private networks.
pub const LABEL: &str = "berth.block-private";

/// Whether the container's bot blocks private networks.
pub fn wanted(container: &Container) -> bool {
    container.labels.get(LABEL).map(String::as_str) == Some("1")
}

/// Records the choice on the container and applies it to its running task, if any.
pub async fn set(
    conn: &Conn,
    id: &str,
    blocked: bool,
    rootless: Option<&Arc<Namespaces>>,
) -> Result<(), RuntimeError> {
    let mut container = workspace::get(conn, id)
        .await?
        .ok_or_else(|| RuntimeError::not_found(format!("container {id} does not exist")))?;
    if !workspace::on_bridge(&container) {
        return Err(RuntimeError::invalid(format!(
            "workspace {id} uses the host's network, which cannot be kept off private networks"
        )));
    }
    if let Some(pid) = workspace::status(conn, id).await?.pid {
        let netns = open_workspace_netns(pid)?;
        // The pid named the task when it was read; still naming it now that the namespace is
        // held open, the namespace is the task's (a task's init keeps its pid while it lives).
        if workspace::status(conn, id).await?.pid == Some(pid) {
            write(&netns, blocked, &container, rootless).await?;
        }
    }
    container
        .labels
        .insert(LABEL.into(), if blocked { "1" } else { "0" }.into());
    let update = UpdateContainerRequest {
        container: Some(container),
        update_mask: Some(prost_types::FieldMask {
            paths: vec![format!("labels.{LABEL}")],
        }),
    };
    conn.containers()
        .update(conn.req(update))
        .await
        .map_err(st("recording the workspace's network setting"))?;
    Ok(())
}

/// Writes the rules into the network namespace of a task just created, whose init is `pid`.
pub async fn apply_at_start(
    pid: u32,
    container: &Container,
    rootless: Option<&Arc<Namespaces>>,
) -> Result<(), RuntimeError> {
    write(
        &open_workspace_netns(pid)?,
        wanted(container),
        container,
        rootless,
    )
    .await
}

/// Writes the rules (`blocked`) or their absence into the network namespace `netns`. A
/// rootless containerd's workspace's namespace is entered from containerd's user namespace.
async fn write(
    netns: &File,
    blocked: bool,
    container: &Container,
    rootless: Option<&Arc<Namespaces>>,
) -> Result<(), RuntimeError> {
    let nameservers = nameservers(container);
    let v4 = ruleset(false, blocked, &nameservers);
    restore("iptables-restore", netns, &v4, rootless).await?;
    if std::path::Path::new("/proc/sys/net/ipv6").exists() {
        let v6 = ruleset(true, blocked, &nameservers);
        restore("ip6tables-restore", netns, &v6, rootless).await?;
    }
    Ok(())
}

/// The `filter` table of the workspace's namespace, in `iptables-restore` form.
pub fn ruleset(v6: bool, blocked: bool, nameservers: &[IpAddr]) -> String {
    let mut t =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    if blocked {
        t.push_str("-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n");
        for ns in nameservers.iter().filter(|a| a.is_ipv6() == v6) {
            for proto in ["udp", "tcp"] {
                t.push_str(&format!(
                    "-A OUTPUT -d {ns} -p {proto} --dport 53 -j ACCEPT\n"
                ));
            }
        }
        let (ranges, reject) = if v6 {
            (BLOCKED_V6, "icmp6-adm-prohibited")
        } else {
            (BLOCKED_V4, "icmp-admin-prohibited")
        };
        for r in ranges {
            t.push_str(&format!(
                "-A OUTPUT -d {r} -j REJECT --reject-with {reject}\n"
            ));
        }
    }
    t.push_str("COMMIT\n");
    t
}

/// Opens the task's network namespace, refusing the host's own: the rules replace a whole
/// table, so writing them anywhere else (a task that shares the host's network, or a pid reused
/// after the task ended) would wipe the host's firewall. The open descriptor keeps the namespace
/// it names, whatever happens to the pid afterwards.
fn open_workspace_netns(pid: u32) -> Result<File, RuntimeError> {
    let path = format!("/proc/{pid}/ns/net");
    let ns = File::open(&path).map_err(|e| {
        RuntimeError::internal(format!("opening the workspace's network ({path}): {e}"))
    })?;
    let theirs = ns
        .metadata()
        .map_err(|e| RuntimeError::internal(format!("{path}: {e}")))?;
    let ours = std::fs::metadata("/proc/self/ns/net")
        .map_err(|e| RuntimeError::internal(format!("/proc/self/ns/net: {e}")))?;
    if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
        return Err(RuntimeError::new(
            ErrorKind::InvalidArgument,
            "blocking private networks needs the workspace's own network; this one shares the host's",
        ));
    }
    Ok(ns)
}

async fn restore(
    tool: &str,
    netns: &File,
    table: &str,
    rootless: Option<&Arc<Namespaces>>,
) -> Result<(), RuntimeError> {
    let fd = netns.as_raw_fd();
    let mut cmd = tokio::process::Command::new(crate::programs::path(tool));
    if let Some(ns) = rootless {
        ns.enter_user_then(&mut cmd, fd);
    } else {
        // SAFETY: setns is a single system call, safe between fork and exec; `fd` stays open in
        // the parent (borrowed from `netns`) until the child has been spawned.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let out = crate::programs::run_with_input(cmd, table.as_bytes(), tool).await?;
    if !out.status.success() {
        return Err(RuntimeError::internal(format!(
            "{tool} in the workspace's network: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The DNS servers the workspace uses: the `nameserver` lines of the resolv.conf its spec mounts.
fn nameservers(container: &Container) -> Vec<IpAddr> {
    let source = container
        .spec
        .as_ref()
        .and_then(|s| serde_json::from_slice::<serde_json::Value>(&s.value).ok())
        .and_then(|spec| {
            spec["mounts"].as_array()?.iter().find_map(|m| {
                (m["destination"] == "/etc/resolv.conf")
                    .then(|| m["source"].as_str().map(str::to_string))
                    .flatten()
            })
        });
    source
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|text| parse_nameservers(&text))
        .unwrap_or_default()
}

fn parse_nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocking_table_exempts_dns_and_replies_and_rejects_every_private_range() {
        let ns =
            parse_nameservers("# x\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nsearch a\n");
        assert_eq!(
            ns,
            [
                "10.255.255.53".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        let v4 = ruleset(false, true, &ns);
        let dns = v4
            .find("-d 10.255.255.53 -p udp --dport 53 -j ACCEPT")
            .unwrap();
        let reject = v4.find("-d 10.0.0.0/8 -j REJECT").unwrap();
        assert!(dns < reject, "{v4}");
        assert!(v4.find("ESTABLISHED,RELATED").unwrap() < reject);
        for r in BLOCKED_V4 {
            assert!(
                v4.contains(&format!("-A OUTPUT -d {r} -j REJECT")),
                "{r}: {v4}"
            );
        }
        assert!(!v4.contains("fe80::1 "), "{v4}");
        let v6 = ruleset(true, true, &ns);
        assert!(
            v6.contains("-d fe80::1 -p tcp --dport 53 -j ACCEPT"),
            "{v6}"
        );
        assert!(v6.contains("-d fc00::/7 -j REJECT --reject-with icmp6-adm-prohibited"));
        assert!(v6.ends_with("COMMIT\n"));
    }

    #[test]
    fn unblocking_leaves_an_empty_table() {
        let t = ruleset(false, false, &["10.0.0.1".parse().unwrap()]);
        assert!(!t.contains("-A "), "{t}");
        assert!(t.starts_with("*filter\n") && t.ends_with("COMMIT\n"));
    }

    #[test]
    fn the_hosts_own_network_is_refused() {
        let e = open_workspace_netns(std::process::id()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    }
}

//! What keeps a workspace's network to itself: its bridge port is isolated from every other
//! workspace's, and the host's firewall rejects what workspaces open towards the host.
//!
//! The rules live in chains of Berth's own (`BERTH-INPUT`, `BERTH-FORWARD`, and behind a
//! rootless containerd `BERTH-HOST`) jumped to from `INPUT` and `FORWARD` for traffic of the
//! `berth0` bridge. They cover every workspace, without per-workspace rules that could leak when
//! a task dies. Each start rewrites Berth's chains whole in one `iptables-restore --noflush`
//! (declaring a chain there empties it: the rewrite is atomic and idempotent across Berth
//! processes and restarts) and adds a jump only when it is missing.

use std::process::Stdio;
use std::sync::Arc;

use berth_runtime::RuntimeError;

use crate::rootless::Namespaces;

/// Where the rules go: the host's network, or a rootless containerd's.
type Ns<'a> = Option<&'a Arc<Namespaces>>;

const BRIDGE: &str = "berth0";
const INPUT_CHAIN: &str = "BERTH-INPUT";
const FORWARD_CHAIN: &str = "BERTH-FORWARD";
/// Behind a rootless containerd: what workspaces may not reach of the host.
const HOST_CHAIN: &str = "BERTH-HOST";

/// The rules, for IPv4 and (where the host has IPv6, whose link-local addresses reach the host
/// over the bridge too) IPv6.
///
/// Each step is a run of an iptables program (a few ms each): the two families, and the jumps
/// of one family once its chains exist, are written side by side. iptables-nft commits each run
/// as one transaction; 120 such runs at once (restores, checks and inserts) all succeeded here.
pub async fn ensure(ns: Ns<'_>) -> Result<(), RuntimeError> {
    let v6 = async {
        if std::path::Path::new("/proc/sys/net/ipv6").exists() {
            ensure_for(ns, true).await
        } else {
            Ok(())
        }
    };
    let (v4, v6) = tokio::join!(ensure_for(ns, false), v6);
    v4.and(v6)
}

async fn ensure_for(ns: Ns<'_>, v6: bool) -> Result<(), RuntimeError> {
    let (tool, restore) = if v6 {
        ("ip6tables", "ip6tables-restore")
    } else {
        ("iptables", "iptables-restore")
    };
    let hosts = ns.map(|_| host_addresses(v6));
    write_chains(ns, restore, &chains(hosts.as_deref())).await?;
    // The jumps need the chains; their order among themselves does not matter (the two in
    // FORWARD match disjoint traffic).
    let input = ensure_jump(ns, tool, "INPUT", &["-i", BRIDGE, "-j", INPUT_CHAIN]);
    let forward = ensure_jump(
        ns,
        tool,
        "FORWARD",
        &["-i", BRIDGE, "-o", BRIDGE, "-j", FORWARD_CHAIN],
    );
    let host = async {
        match hosts {
            Some(_) => {
                let rule = ["-i", BRIDGE, "!", "-o", BRIDGE, "-j", HOST_CHAIN];
                ensure_jump(ns, tool, "FORWARD", &rule).await
            }
            None => Ok(()),
        }
    };
    let (input, forward, host) = tokio::join!(input, forward, host);
    input.and(forward).and(host)
}

/// Berth's chains in `iptables-restore --noflush` form. `hosts`: behind a rootless containerd,
/// the host's own addresses: slirp4netns opens the workspaces' connections as ordinary sockets
/// of the user's on the host, so a connection to one of them would reach the host's services
/// (its loopback is already out of reach: RootlessKit runs slirp4netns with
/// `--disable-host-loopback`).
fn chains(hosts: Option<&[std::net::IpAddr]>) -> String {
    let mut t = format!("*filter\n:{INPUT_CHAIN} - [0:0]\n:{FORWARD_CHAIN} - [0:0]\n");
    if hosts.is_some() {
        t += &format!(":{HOST_CHAIN} - [0:0]\n");
    }
    // Replies to what the host opened (e.g. a test's or a user's connection into a workspace)
    // pass; anything a workspace opens towards the host is refused at once.
    t += &format!("-A {INPUT_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN\n");
    t += &format!("-A {INPUT_CHAIN} -p tcp -j REJECT --reject-with tcp-reset\n");
    t += &format!("-A {INPUT_CHAIN} -j REJECT\n");
    // Routed from one workspace to another through the gateway (workspaces cannot change their
    // routes without CAP_NET_ADMIN; this holds even if one could).
    t += &format!("-A {FORWARD_CHAIN} -j DROP\n");
    for addr in hosts.unwrap_or_default() {
        t += &format!("-A {HOST_CHAIN} -d {addr} -p tcp -j REJECT --reject-with tcp-reset\n");
        t += &format!("-A {HOST_CHAIN} -d {addr} -j REJECT\n");
    }
    t + "COMMIT\n"
}

async fn write_chains(ns: Ns<'_>, restore: &str, table: &str) -> Result<(), RuntimeError> {
    let mut cmd = tokio::process::Command::new(crate::programs::path(restore));
    if let Some(ns) = ns {
        ns.enter(&mut cmd);
    }
    cmd.arg("--noflush");
    let out = crate::programs::run_with_input(cmd, table.as_bytes(), restore).await?;
    if !out.status.success() {
        return Err(failed(restore, "writing Berth's firewall chains", &out));
    }
    Ok(())
}

/// The addresses of this host's interfaces (as seen from Berth's own network namespace, the
/// host's), loopback excepted.
fn host_addresses(v6: bool) -> Vec<std::net::IpAddr> {
    let mut found = vec![];
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, read below and released with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return found;
    }
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let entry = unsafe { &*cur };
        cur = entry.ifa_next;
        if entry.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: the family says which sockaddr the address is.
        let addr = unsafe {
            match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET if !v6 => {
                    let a = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    std::net::IpAddr::from(u32::from_be(a.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 if v6 => {
                    let a = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    std::net::IpAddr::from(a.sin6_addr.s6_addr)
                }
                _ => continue,
            }
        };
        if !addr.is_loopback() && !found.contains(&addr) {
            found.push(addr);
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    found
}

/// Marks a workspace's port on the bridge isolated: the bridge forwards nothing between two
/// isolated ports, so workspaces neither see nor reach each other (ARP included).
pub async fn isolate_port(ns: Ns<'_>, veth: &str) -> Result<(), RuntimeError> {
    let out = run(
        ns,
        "ip",
        &[
            "link",
            "set",
            "dev",
            veth,
            "type",
            "bridge_slave",
            "isolated",
            "on",
        ],
    )
    .await?;
    if !out.status.success() {
        return Err(RuntimeError::internal(format!(
            "isolating the workspace's bridge port {veth}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Puts a jump first in a host chain unless it is there, so the host's own rules (e.g. an
/// `ACCEPT` for established traffic or a permissive policy) cannot come before it.
async fn ensure_jump(
    ns: Ns<'_>,
    tool: &str,
    chain: &str,
    rule: &[&str],
) -> Result<(), RuntimeError> {
    add_once(ns, tool, chain, rule, "-I").await
}

async fn add_once(
    ns: Ns<'_>,
    tool: &str,
    chain: &str,
    rule: &[&str],
    add: &'static str,
) -> Result<(), RuntimeError> {
    let with = |action: &'static str| {
        let mut args = vec!["-t", "filter", action, chain];
        args.extend_from_slice(rule);
        args
    };
    if run(ns, tool, &with("-C")).await?.status.success() {
        return Ok(());
    }
    let out = run(ns, tool, &with(add)).await?;
    if out.status.success() {
        return Ok(());
    }
    Err(failed(
        tool,
        &format!("adding `{}` to {chain}", rule.join(" ")),
        &out,
    ))
}

pub(crate) async fn run(
    ns: Ns<'_>,
    program: &str,
    args: &[&str],
) -> Result<std::process::Output, RuntimeError> {
    let mut cmd = tokio::process::Command::new(crate::programs::path(program));
    if let Some(ns) = ns {
        ns.enter(&mut cmd);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| RuntimeError::internal(format!("running {program}: {e}")))
}

fn failed(tool: &str, what: &str, out: &std::process::Output) -> RuntimeError {
    RuntimeError::internal(format!(
        "{tool}: {what}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hosts_addresses_are_found_without_loopback() {
        let v4 = super::host_addresses(false);
        assert!(v4.iter().all(|a| a.is_ipv4() && !a.is_loopback()), "{v4:?}");
        // Every machine that runs these tests has a network interface besides loopback.
        assert!(!v4.is_empty());
        assert!(super::host_addresses(true).iter().all(|a| a.is_ipv6()));
    }

    #[test]
    fn the_chains_are_declared_so_a_rewrite_replaces_them() {
        let rootful = super::chains(None);
        assert!(rootful.starts_with("*filter\n:BERTH-INPUT - [0:0]\n:BERTH-FORWARD - [0:0]\n"));
        assert!(!rootful.contains("BERTH-HOST"), "{rootful}");
        assert!(
            rootful.ends_with("-A BERTH-FORWARD -j DROP\nCOMMIT\n"),
            "{rootful}"
        );
        let host: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let rootless = super::chains(Some(&[host]));
        assert!(rootless.contains(":BERTH-HOST - [0:0]\n"), "{rootless}");
        assert!(rootless
            .contains("-A BERTH-HOST -d 192.0.2.2 -p tcp -j REJECT --reject-with tcp-reset\n"));
        assert!(rootless.contains("-A BERTH-HOST -d 192.0.2.2 -j REJECT\n"));
    }
}

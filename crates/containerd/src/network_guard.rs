//! What keeps a workspace's network to itself: its bridge port is isolated from every other
//! workspace's, and the host's firewall rejects what workspaces open towards the host.
//!
//! The rules live in chains of Berth's own (`BERTH-INPUT`, `BERTH-FORWARD`) jumped to from the
//! host's `INPUT` and `FORWARD` for traffic of the `berth0` bridge, so they are installed once,
//! checked before being added (idempotent across Berth processes and restarts), and cover every
//! workspace without per-workspace rules that could leak when a task dies.

use std::process::Stdio;

use berth_runtime::RuntimeError;

const BRIDGE: &str = "berth0";
const INPUT_CHAIN: &str = "BERTH-INPUT";
const FORWARD_CHAIN: &str = "BERTH-FORWARD";

/// The rules, for IPv4 and (where the host has IPv6, whose link-local addresses reach the host
/// over the bridge too) IPv6.
pub async fn ensure() -> Result<(), RuntimeError> {
    ensure_for("iptables").await?;
    if std::path::Path::new("/proc/sys/net/ipv6").exists() {
        ensure_for("ip6tables").await?;
    }
    Ok(())
}

async fn ensure_for(tool: &str) -> Result<(), RuntimeError> {
    for chain in [INPUT_CHAIN, FORWARD_CHAIN] {
        create_chain(tool, chain).await?;
    }
    // Replies to what the host opened (e.g. a test's or a user's connection into a workspace)
    // pass; anything a workspace opens towards the host is refused at once.
    ensure_rule(
        tool,
        INPUT_CHAIN,
        &[
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "RETURN",
        ],
    )
    .await?;
    ensure_rule(
        tool,
        INPUT_CHAIN,
        &["-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"],
    )
    .await?;
    ensure_rule(tool, INPUT_CHAIN, &["-j", "REJECT"]).await?;
    // Routed from one workspace to another through the gateway (workspaces cannot change their
    // routes without CAP_NET_ADMIN; this holds even if one could).
    ensure_rule(tool, FORWARD_CHAIN, &["-j", "DROP"]).await?;
    ensure_jump(tool, "INPUT", &["-i", BRIDGE, "-j", INPUT_CHAIN]).await?;
    ensure_jump(
        tool,
        "FORWARD",
        &["-i", BRIDGE, "-o", BRIDGE, "-j", FORWARD_CHAIN],
    )
    .await
}

/// Marks a workspace's port on the bridge isolated: the bridge forwards nothing between two
/// isolated ports, so workspaces neither see nor reach each other (ARP included).
pub async fn isolate_port(veth: &str) -> Result<(), RuntimeError> {
    let out = run(
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

async fn create_chain(tool: &str, chain: &str) -> Result<(), RuntimeError> {
    if run(tool, &["-t", "filter", "-S", chain])
        .await?
        .status
        .success()
    {
        return Ok(());
    }
    let out = run(tool, &["-t", "filter", "-N", chain]).await?;
    // Another Berth process may have created it in between.
    if out.status.success()
        || run(tool, &["-t", "filter", "-S", chain])
            .await?
            .status
            .success()
    {
        return Ok(());
    }
    Err(failed(tool, &format!("creating chain {chain}"), &out))
}

/// Appends `rule` to `chain` unless it is there.
async fn ensure_rule(tool: &str, chain: &str, rule: &[&str]) -> Result<(), RuntimeError> {
    add_once(tool, chain, rule, "-A").await
}

/// Puts a jump first in a host chain unless it is there, so the host's own rules (e.g. an
/// `ACCEPT` for established traffic or a permissive policy) cannot come before it.
async fn ensure_jump(tool: &str, chain: &str, rule: &[&str]) -> Result<(), RuntimeError> {
    add_once(tool, chain, rule, "-I").await
}

async fn add_once(
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
    if run(tool, &with("-C")).await?.status.success() {
        return Ok(());
    }
    let out = run(tool, &with(add)).await?;
    if out.status.success() {
        return Ok(());
    }
    Err(failed(
        tool,
        &format!("adding `{}` to {chain}", rule.join(" ")),
        &out,
    ))
}

async fn run(program: &str, args: &[&str]) -> Result<std::process::Output, RuntimeError> {
    tokio::process::Command::new(program)
        .args(args)
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

//! One argument builder per `container` subcommand: argument arrays, never shell strings, with
//! the exact lists unit-tested. Flags are those of apple/container 1.0.0–1.2.x
//! (`Sources/ContainerCommands/**`, `Sources/Services/ContainerAPIService/Client/Flags.swift`,
//! `Parser.swift`), unchanged across those releases for everything used here.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use berth_runtime::{Limits, Result, RuntimeError};

use crate::socket::CONTAINER_SOCKET;

/// Where the runtime directory (bridge + templates) appears in the container.
pub const RUNTIME_MOUNT: &str = "/opt/berth";
/// The bridge, PID 1 of the workspace.
pub const ENTRYPOINT: &str = "/opt/berth/bridge";
/// Capabilities dropped from the OCI default set Apple starts from
/// (`RuntimeService.effectiveCapabilities`), as containerd's backend does (`spec::CAPS`): raw
/// sockets, device nodes, audit writes and file capabilities.
pub const CAP_DROP: &[&str] = &["CAP_NET_RAW", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"];

fn os<I: IntoIterator<Item = S>, S: Into<OsString>>(v: I) -> Vec<OsString> {
    v.into_iter().map(Into::into).collect()
}

/// `container --version`
pub fn version() -> Vec<OsString> {
    os(["--version"])
}

/// `container system status --format json` (exit status 1 and `"status":"not running"` when the
/// service is down).
pub fn system_status() -> Vec<OsString> {
    os(["system", "status", "--format", "json"])
}

/// `container list --all --format json`
pub fn list() -> Vec<OsString> {
    os(["list", "--all", "--format", "json"])
}

/// `container inspect <id>`
pub fn inspect(id: &str) -> Vec<OsString> {
    os(["inspect", id])
}

/// `container image inspect <reference>`
pub fn image_inspect(reference: &str) -> Vec<OsString> {
    os(["image", "inspect", reference])
}

/// `container image pull --progress plain --platform <platform> <reference>`: progress as lines
/// on stderr, and only the platform the workspace will run (without `--platform` Apple fetches
/// every platform of a multi-platform image).
pub fn image_pull(reference: &str, platform: &str) -> Vec<OsString> {
    os([
        "image",
        "pull",
        "--progress",
        "plain",
        "--platform",
        platform,
        reference,
    ])
}

/// The platform of every pull and create: `CONTAINER_DEFAULT_PLATFORM` when the user set it
/// (Apple's CLI honours it too), else Linux on the Mac's architecture.
pub fn platform(from_env: Option<String>) -> String {
    from_env
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| {
            let arch = match std::env::consts::ARCH {
                "aarch64" => "arm64",
                "x86_64" => "amd64",
                other => other,
            };
            format!("linux/{arch}")
        })
}

/// `container start <id>`
pub fn start(id: &str) -> Vec<OsString> {
    os(["start", id])
}

/// `container stop -s SIGTERM -t <seconds> <id>`: SIGTERM (which the bridge forwards), not the
/// image's `STOPSIGNAL`, then SIGKILL after `grace` (rounded up to whole seconds).
pub fn stop(id: &str, grace: Duration) -> Vec<OsString> {
    let secs = grace
        .as_secs()
        .saturating_add(u64::from(grace.subsec_nanos() > 0));
    let secs = secs.min(i32::MAX as u64).to_string();
    os(["stop", "-s", "SIGTERM", "-t", &secs, id])
}

/// `container kill -s SIGKILL <id>`
pub fn kill(id: &str) -> Vec<OsString> {
    os(["kill", "-s", "SIGKILL", id])
}

/// `container delete -f <id>` (stops it first if it runs).
pub fn delete(id: &str) -> Vec<OsString> {
    os(["delete", "-f", id])
}

/// `container stats --no-stream --format json <id>` (takes two samples 2 s apart).
pub fn stats(id: &str) -> Vec<OsString> {
    os(["stats", "--no-stream", "--format", "json", id])
}

/// What `container create` needs for a workspace.
#[derive(Debug, Clone)]
pub struct Create<'a> {
    pub id: &'a str,
    /// `key=value` labels ([`crate::labels::for_workspace`]).
    pub labels: &'a [String],
    pub image: &'a str,
    /// `os/arch`, as given to `image pull` ([`platform`]).
    pub platform: &'a str,
    /// Run translated by Rosetta (an amd64 workspace on an arm64 Mac).
    pub rosetta: bool,
    pub runtime_dir: &'a Path,
    pub host_socket: &'a Path,
    pub limits: Limits,
}

/// `container create --name <id> --label … --entrypoint /opt/berth/bridge --uid 0 --gid 0
/// --env … --mount type=bind,source=<runtime dir>,target=/opt/berth,readonly
/// --publish-socket <host>:/run/berth/bridge.sock --cap-drop … [--cpus N] [--memory NM]
/// --platform <platform> <image>`
pub fn create(c: &Create<'_>) -> Result<Vec<OsString>> {
    let mut a = os(["create", "--name", c.id]);
    for l in c.labels {
        a.extend(os(["--label", l]));
    }
    // The bridge runs as root whatever the image's USER, as with containerd.
    a.extend(os(["--entrypoint", ENTRYPOINT, "--uid", "0", "--gid", "0"]));
    for env in [
        format!("BERTH_BRIDGE_SOCKET={CONTAINER_SOCKET}"),
        format!("BERTH_TEMPLATES_DIR={RUNTIME_MOUNT}/templates"),
        "HOME=/root".to_string(),
    ] {
        a.extend(os(["--env".to_string(), env]));
    }
    a.extend(os(["--mount".to_string(), mount(c.runtime_dir)?]));
    a.extend(os([
        "--publish-socket".to_string(),
        publish_socket(c.host_socket)?,
    ]));
    for cap in CAP_DROP {
        a.extend(os(["--cap-drop", cap]));
    }
    a.extend(limits(&c.limits));
    if c.rosetta {
        a.push("--rosetta".into());
    }
    a.extend(os(["--platform", c.platform]));
    a.push(c.image.into());
    Ok(a)
}

/// `--cpus` takes whole CPUs (rounded up, at least one); `--memory` whole MiB (rounded up).
/// Apple has no process-count limit: each workspace is a VM of its own, whose kernel is where a
/// fork bomb ends.
fn limits(l: &Limits) -> Vec<OsString> {
    let mut a = Vec::new();
    if let Some(millis) = l.cpu_millis {
        a.extend(os([
            "--cpus".to_string(),
            millis.div_ceil(1000).max(1).to_string(),
        ]));
    }
    if let Some(bytes) = l.memory {
        a.extend(os([
            "--memory".to_string(),
            format!("{}M", bytes.div_ceil(1 << 20)),
        ]));
    }
    a
}

/// The read-only bind of the runtime directory. `--mount` splits at `,` and `=`
/// (`Parser.mount`), so a path holding either cannot be passed.
fn mount(dir: &Path) -> Result<String> {
    let s = utf8(dir)?;
    if s.contains([',', '=']) {
        return Err(RuntimeError::invalid(format!(
            "Apple's container CLI cannot mount {s}: the path contains ',' or '='"
        )));
    }
    Ok(format!(
        "type=bind,source={s},target={RUNTIME_MOUNT},readonly"
    ))
}

/// `HOST:CONTAINER`; the CLI splits at every `:` (`Parser.publishSocket`).
fn publish_socket(host: &Path) -> Result<String> {
    let s = utf8(host)?;
    if s.contains(':') {
        return Err(RuntimeError::invalid(format!(
            "Apple's container CLI cannot publish a socket at {s}: the path contains ':'"
        )));
    }
    Ok(format!("{s}:{CONTAINER_SOCKET}"))
}

fn utf8(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| {
        RuntimeError::invalid(format!(
            "{} is not UTF-8, which the container CLI needs",
            p.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[OsString]) -> Vec<&str> {
        v.iter().map(|s| s.to_str().unwrap()).collect()
    }

    #[test]
    fn golden_queries() {
        assert_eq!(strs(&version()), ["--version"]);
        assert_eq!(
            strs(&system_status()),
            ["system", "status", "--format", "json"]
        );
        assert_eq!(strs(&list()), ["list", "--all", "--format", "json"]);
        assert_eq!(strs(&inspect("berth-a")), ["inspect", "berth-a"]);
        assert_eq!(strs(&image_inspect("r/x:1")), ["image", "inspect", "r/x:1"]);
        assert_eq!(
            strs(&image_pull("r/x:1", "linux/arm64")),
            [
                "image",
                "pull",
                "--progress",
                "plain",
                "--platform",
                "linux/arm64",
                "r/x:1"
            ]
        );
        assert_eq!(
            strs(&stats("berth-a")),
            ["stats", "--no-stream", "--format", "json", "berth-a"]
        );
    }

    #[test]
    fn the_platform_is_the_users_default_else_the_hosts() {
        assert_eq!(platform(Some("linux/amd64".into())), "linux/amd64");
        let host = platform(None);
        assert_eq!(platform(Some(" ".into())), host);
        assert!(
            host.starts_with("linux/") && !host.contains("aarch64") && !host.contains("x86_64")
        );
    }

    #[test]
    fn golden_lifecycle() {
        assert_eq!(strs(&start("berth-a")), ["start", "berth-a"]);
        assert_eq!(
            strs(&stop("berth-a", Duration::from_secs(10))),
            ["stop", "-s", "SIGTERM", "-t", "10", "berth-a"]
        );
        assert_eq!(strs(&stop("berth-a", Duration::from_millis(1500)))[4], "2");
        assert_eq!(strs(&stop("berth-a", Duration::ZERO))[4], "0");
        assert_eq!(
            strs(&stop("berth-a", Duration::MAX))[4],
            i32::MAX.to_string()
        );
        assert_eq!(strs(&kill("berth-a")), ["kill", "-s", "SIGKILL", "berth-a"]);
        assert_eq!(strs(&delete("berth-a")), ["delete", "-f", "berth-a"]);
    }

    #[test]
    #[rustfmt::skip]
    fn golden_create() {
        let labels = crate::labels::for_workspace("alice", "berth").unwrap();
        let c = Create {
            id: "berth-alice",
            labels: &labels,
            image: "127.0.0.1:5000/berth-test/busybox:1",
            platform: "linux/arm64",
            rosetta: false,
            runtime_dir: Path::new("/data/runtime"),
            host_socket: Path::new("/data/run/berth-alice/bridge.sock"),
            limits: Limits {
                memory: Some((1 << 30) + 1),
                cpu_millis: Some(1500),
                pids: Some(100),
            },
        };
        assert_eq!(
            strs(&create(&c).unwrap()),
            [
                "create", "--name", "berth-alice",
                "--label", "berth.workspace=1",
                "--label", "berth.bot=alice",
                "--label", "berth.namespace=berth",
                "--label", "berth.network=bridge",
                "--entrypoint", "/opt/berth/bridge", "--uid", "0", "--gid", "0",
                "--env", "BERTH_BRIDGE_SOCKET=/run/berth/bridge.sock",
                "--env", "BERTH_TEMPLATES_DIR=/opt/berth/templates",
                "--env", "HOME=/root",
                "--mount", "type=bind,source=/data/runtime,target=/opt/berth,readonly",
                "--publish-socket", "/data/run/berth-alice/bridge.sock:/run/berth/bridge.sock",
                "--cap-drop", "CAP_NET_RAW", "--cap-drop", "CAP_MKNOD",
                "--cap-drop", "CAP_AUDIT_WRITE", "--cap-drop", "CAP_SETFCAP",
                "--cpus", "2", "--memory", "1025M",
                "--platform", "linux/arm64",
                "127.0.0.1:5000/berth-test/busybox:1",
            ]
        );
        let defaults = Create { limits: Limits::default(), ..c.clone() };
        let a = create(&defaults).unwrap();
        assert!(!strs(&a).contains(&"--cpus") && !strs(&a).contains(&"--memory"));
        let tiny = Create {
            limits: Limits { cpu_millis: Some(1), ..Limits::default() },
            ..c.clone()
        };
        assert!(strs(&create(&tiny).unwrap()).windows(2).any(|w| w == ["--cpus", "1"]));
        let translated = Create { platform: "linux/amd64", rosetta: true, ..c.clone() };
        let a = create(&translated).unwrap();
        assert!(strs(&a).windows(3).any(|w| w == ["--rosetta", "--platform", "linux/amd64"]));
    }

    #[test]
    fn paths_the_cli_would_split_are_refused() {
        let labels = vec![];
        let base = Create {
            id: "berth-a",
            labels: &labels,
            image: "x",
            platform: "linux/arm64",
            rosetta: false,
            runtime_dir: Path::new("/a,b"),
            host_socket: Path::new("/s.sock"),
            limits: Limits::default(),
        };
        assert!(create(&base).is_err());
        let colon = Create {
            runtime_dir: Path::new("/ok"),
            host_socket: Path::new("/a:b.sock"),
            ..base
        };
        assert!(create(&colon).is_err());
    }
}

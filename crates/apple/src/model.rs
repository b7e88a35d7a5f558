//! The JSON the CLI prints, read with serde: only the fields Berth uses, every other field
//! ignored, optional ones optional, so the differences between releases do not matter.
//!
//! Swift's `JSONEncoder` writes camelCase keys, escapes `/` as `\/`, leaves `nil` optionals out
//! (synthesised `encodeIfPresent`) and, with `.iso8601`, writes dates as `2026-07-28T21:53:23Z`.
//! Sources (apple/container 1.0.0, 1.1.0, 1.2.0):
//! - `list --format json` and `inspect`: `[ManagedContainer]`
//!   (`Sources/ContainerResource/Container/ManagedContainer.swift`): `{id, configuration,
//!   status: {state, networks, startedDate?}}` (`ContainerStatus.swift`); `state` is
//!   `RuntimeStatus` (`unknown|stopped|running|stopping`); `configuration` is
//!   `ContainerConfiguration.swift` (`labels`, `image.reference`, `publishedSockets[]
//!   {containerPath, hostPath}`, `resources`); `status.networks[]` is `Attachment.swift`
//!   (`ipv4Address` a CIDR; `variant` since 1.1). 1.2 added `maskedPaths`/`readonlyPaths`.
//!   0.x (`PrintableContainer`) had `status` as a bare string: still read, for a clear refusal
//!   elsewhere rather than a parse error here.
//! - `system status --format json`: `SystemStatus.PrintableStatus`.
//! - `stats --no-stream --format json`: `[ContainerStats]` (`ContainerStats.swift`).

use std::collections::HashMap;

use berth_runtime::{Result, RuntimeError};
use serde::Deserialize;

/// One container of `list` / `inspect`.
#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    pub configuration: Configuration,
    pub status: Status,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.configuration.id
    }

    pub fn labels(&self) -> &HashMap<String, String> {
        &self.configuration.labels
    }

    pub fn state(&self) -> State {
        match &self.status {
            Status::Object { state, .. } | Status::Legacy(state) => State::parse(state),
        }
    }

    /// The first network address (without its prefix length), when it has one.
    pub fn ipv4_address(&self) -> Option<&str> {
        let Status::Object { networks, .. } = &self.status else {
            return None;
        };
        networks
            .iter()
            .find_map(|n| n.ipv4_address.as_deref())
            .map(|cidr| cidr.split('/').next().unwrap_or(cidr))
    }

    /// The host side of the socket published at `container_path`.
    pub fn published_host_path(&self, container_path: &str) -> Option<String> {
        self.configuration
            .published_sockets
            .iter()
            .find(|s| s.container_path == container_path)
            .map(|s| file_path(&s.host_path))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub id: String,
    #[serde(default)]
    pub labels: HashMap<String, String>,
    pub image: Image,
    #[serde(default)]
    pub published_sockets: Vec<PublishedSocket>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub reference: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSocket {
    pub container_path: String,
    pub host_path: String,
}

/// `status`: an object since 1.0, a bare string before.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Status {
    Object {
        state: String,
        #[serde(default)]
        networks: Vec<Attachment>,
    },
    Legacy(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// A CIDR (`192.168.64.3/24`).
    pub ipv4_address: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Stopped,
    Stopping,
    Unknown,
}

impl State {
    fn parse(s: &str) -> Self {
        match s {
            "running" => State::Running,
            "stopped" => State::Stopped,
            "stopping" => State::Stopping,
            _ => State::Unknown,
        }
    }
}

/// `PublishSocket` paths are plain since 1.0; bundles from before were `file://` URLs, which
/// its decoder still accepts (`PublishSocket.decodePath`), so this does too.
fn file_path(raw: &str) -> String {
    raw.strip_prefix("file://localhost")
        .or_else(|| raw.strip_prefix("file://"))
        .unwrap_or(raw)
        .to_string()
}

/// Reads a `list`/`inspect` array. An entry that does not parse is skipped (logged): it is most
/// likely not Berth's, and one odd container must not hide the others.
pub fn containers(json: &[u8]) -> Result<Vec<Container>> {
    let raw: Vec<serde_json::Value> = serde_json::from_slice(json)
        .map_err(|e| RuntimeError::internal(format!("unreadable container list: {e}")))?;
    Ok(raw
        .into_iter()
        .filter_map(|v| match serde_json::from_value::<Container>(v) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "skipping a container the CLI described unreadably");
                None
            }
        })
        .collect())
}

/// `system status --format json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemStatus {
    /// `running`, `not running` or `unregistered`.
    pub status: String,
    #[serde(default)]
    pub api_server_version: Option<String>,
}

pub fn system_status(json: &[u8]) -> Result<SystemStatus> {
    serde_json::from_slice(json)
        .map_err(|e| RuntimeError::internal(format!("unreadable system status: {e}")))
}

/// One entry of `stats --format json`; every measurement is optional in Apple's model.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub id: String,
    pub memory_usage_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_usage_usec: Option<u64>,
    pub num_processes: Option<u64>,
}

pub fn stats(json: &[u8]) -> Result<Vec<Stats>> {
    serde_json::from_slice(json)
        .map_err(|e| RuntimeError::internal(format!("unreadable container stats: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(version: &str, name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/{version}/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_list_of_each_release() {
        for v in ["1.0", "1.1", "1.2"] {
            let list = containers(&fixture(v, "list.json")).unwrap();
            let ids: Vec<&str> = list.iter().map(Container::id).collect();
            assert_eq!(
                ids,
                ["berth-alice", "berth-bob", "berth-carol", "postgres"],
                "{v}"
            );
            let alice = &list[0];
            assert_eq!(alice.state(), State::Running, "{v}");
            assert_eq!(alice.labels()["berth.bot"], "alice");
            assert_eq!(alice.labels()["berth.namespace"], "berth");
            assert_eq!(
                alice.configuration.image.reference,
                "127.0.0.1:5000/berth-test/busybox:1"
            );
            assert_eq!(
                alice
                    .published_host_path("/run/berth/bridge.sock")
                    .as_deref(),
                Some("/Users/me/Library/Application Support/berth/run/berth-alice/bridge.sock")
            );
            assert_eq!(alice.ipv4_address(), Some("192.168.64.3"));
            assert_eq!(list[1].state(), State::Stopped, "{v}");
        }
    }

    #[test]
    fn reads_inspect_of_each_release() {
        for v in ["1.0", "1.1", "1.2"] {
            let one = containers(&fixture(v, "inspect.json")).unwrap();
            assert_eq!(one.len(), 1);
            assert_eq!(one[0].id(), "berth-alice");
            assert_eq!(one[0].state(), State::Running);
        }
    }

    #[test]
    fn reads_system_status_and_stats() {
        for v in ["1.0", "1.1", "1.2"] {
            let up = system_status(&fixture(v, "system-status-running.json")).unwrap();
            assert_eq!(up.status, "running");
            assert!(up
                .api_server_version
                .unwrap()
                .contains(&format!("version {v}.0")));
            let down = system_status(&fixture(v, "system-status-not-running.json")).unwrap();
            assert_eq!(down.status, "not running");
            let s = stats(&fixture(v, "stats.json")).unwrap();
            assert_eq!(s[0].id, "berth-alice");
            assert_eq!(s[0].cpu_usage_usec, Some(1_873_402));
            assert_eq!(s[0].num_processes, Some(4));
        }
    }

    #[test]
    fn tolerates_legacy_status_odd_entries_and_url_paths() {
        let json = br#"[
            {"status":"running","configuration":{"id":"old","image":{"reference":"x"},
              "publishedSockets":[{"containerPath":"\/s","hostPath":"file:\/\/\/tmp\/s.sock"}]},
             "networks":[]},
            {"configuration":{"id":"broken"}},
            {"id":"new","configuration":{"id":"new","image":{"reference":"y"},"extra":1},
             "status":{"state":"weird"}}
        ]"#;
        let list = containers(json).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].state(), State::Running);
        assert_eq!(
            list[0].published_host_path("/s").as_deref(),
            Some("/tmp/s.sock")
        );
        assert_eq!(list[1].state(), State::Unknown);
        assert!(containers(b"{not json").is_err());
    }
}

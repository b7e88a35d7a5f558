//! Berth's [`Runtime`](berth_runtime::Runtime) over Apple's `container` CLI (macOS, Apple
//! silicon; releases 1.0–1.2 of github.com/apple/container).
//!
//! It only runs a program, so it builds and is tested on every platform: its contract tests
//! drive a fake `container` (`tests/fake/container`) that replays outputs reconstructed from
//! Apple's source for each release.
//!
//! How Berth's model maps onto Apple's:
//! - one workspace = one Apple container (a lightweight VM) named `berth-<bot>`, labelled
//!   `berth.workspace=1`, `berth.bot`, `berth.namespace` (Apple has no namespaces) and
//!   `berth.network=bridge`; only containers with Berth's labels and the target's namespace are
//!   listed or changed;
//! - the bridge is the entrypoint, the runtime directory is mounted read-only at `/opt/berth`,
//!   and the bridge's socket file `/run/berth/bridge.sock` is published to the host with
//!   `--publish-socket` at [`Runtime::bridge_socket`](berth_runtime::Runtime::bridge_socket)
//!   (at most 103 bytes: `socket_dir/bridge.sock`, else a short name in `/tmp/berth-<uid>`);
//! - Apple relays that socket over vsock, so there is no host pid to check: the runtime vouches
//!   for the channel (`BridgeTrust::RuntimeVouches`), and pids are reported as 0;
//! - events come from polling `container list` (`AppleOptions::poll_interval`);
//! - pulls report the whole image's progress (`PullEvent::Overall`), not layers, and fetch only
//!   the platform the workspace runs (`CONTAINER_DEFAULT_PLATFORM`, else the Mac's).
//!
//! Modules: `cli` runs the program; `args` builds each call's arguments; `model` reads its JSON;
//! `errors` maps its error messages; `progress` parses pull progress; `version` checks the
//! release; `socket` places the bridge socket; `labels` marks Berth's containers; `image`,
//! `workspace` and `poll` implement the operations; `runtime` and `connector` the traits;
//! `options` holds the poll interval and the deadlines.

mod arch;
mod args;
mod cli;
mod connector;
mod errors;
mod image;
mod labels;
mod model;
mod options;
mod poll;
mod progress;
mod runtime;
mod socket;
mod version;
mod workspace;

pub use connector::{AppleConnector, WELL_KNOWN};
pub use options::AppleOptions;
pub use runtime::AppleRuntime;
pub use socket::{CONTAINER_SOCKET, MAX_SOCKET_PATH};

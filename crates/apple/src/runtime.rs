//! [`AppleRuntime`]: Berth's [`Runtime`] over the `container` CLI. Each operation is one or two
//! CLI calls (see `workspace.rs`, `image.rs`, `poll.rs`); this file holds what they share and
//! the trait's mapping.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::{
    BridgeTrust, CancellationToken, Capabilities, ContainerStatus, ErrorKind, ImageRef, Limits,
    PullPolicy, PullSink, Result, Runtime, RuntimeError, RuntimeEvent, Usage, WorkspaceSpec,
};
use futures::stream::BoxStream;

use crate::cli::{describe, Cli, Output};
use crate::version::CliVersion;
use crate::{args, errors, image, model, poll, socket, version, workspace, AppleOptions};

/// What every operation needs: the program, the namespace label, the deadlines.
pub(crate) struct Inner {
    pub cli: Cli,
    pub namespace: String,
    pub options: AppleOptions,
    pub cli_version: CliVersion,
    /// `os/arch` of every pull and create ([`args::platform`]).
    pub platform: String,
}

impl Inner {
    /// Runs a call; a non-zero exit becomes the error its stderr describes.
    pub async fn run(&self, argv: Vec<OsString>, timeout: Duration) -> Result<Output> {
        let out = self.cli.run(&argv, timeout).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(errors::failed(&what(&argv), &out))
        }
    }

    /// Runs a query and returns its stdout.
    pub async fn query(&self, argv: Vec<OsString>) -> Result<Vec<u8>> {
        Ok(self.run(argv, self.options.query_timeout).await?.stdout)
    }
}

/// "container stop berth-alice": the subcommand and what it works on (its last argument, unless
/// that is a flag's value, as in `list --format json`), for messages.
fn what(argv: &[OsString]) -> String {
    let text = |a: &OsString| a.to_string_lossy().into_owned();
    let operand = match argv {
        [.., before, last] if !text(before).starts_with('-') && !text(last).starts_with('-') => {
            format!(" {}", text(last))
        }
        _ => String::new(),
    };
    format!("{}{operand}", describe(argv))
}

/// A connected Apple `container` backend.
pub struct AppleRuntime {
    inner: Arc<Inner>,
}

impl AppleRuntime {
    /// Checks the CLI at `program` (version 1.0 or newer) and that its system service runs,
    /// and works with the containers labelled with `namespace`.
    pub async fn connect(program: PathBuf, namespace: &str, options: AppleOptions) -> Result<Self> {
        crate::labels::check_namespace(namespace)?;
        let cli = Cli::new(program);
        let out = cli.run(&args::version(), options.query_timeout).await?;
        if !out.success() {
            return Err(errors::failed("container --version", &out));
        }
        let cli_version = version::check(&String::from_utf8_lossy(&out.stdout), cli.program())?;
        let inner = Inner {
            cli,
            namespace: namespace.to_string(),
            options,
            cli_version,
            platform: args::platform(std::env::var("CONTAINER_DEFAULT_PLATFORM").ok()),
        };
        system_running(&inner).await?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The CLI's program path.
    pub fn program(&self) -> &Path {
        self.inner.cli.program()
    }
}

/// `system status` says `running`, else `Unavailable` with the command that fixes it. It exits
/// 1 when the service is down but still prints its JSON, so stdout is read first.
async fn system_running(inner: &Inner) -> Result<model::SystemStatus> {
    let argv = args::system_status();
    let out = inner.cli.run(&argv, inner.options.query_timeout).await?;
    let status = match model::system_status(&out.stdout) {
        Ok(s) => s,
        Err(_) if !out.success() => return Err(errors::failed("container system status", &out)),
        Err(e) => return Err(e),
    };
    if status.status != "running" {
        return Err(RuntimeError::unavailable(format!(
            "{} (it reports {:?})",
            errors::NOT_RUNNING,
            status.status.chars().take(40).collect::<String>()
        )));
    }
    Ok(status)
}

#[async_trait::async_trait]
impl Runtime for AppleRuntime {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_versions: false,
            // Every workspace is a VM with its own NAT network (vmnet).
            bridge_network: true,
            private_network_block: false,
            // Each workspace is a VM: the Mac's network cannot be its own.
            host_network: false,
            resource_limits: true,
            // The host socket is Apple's vsock relay: no listener pid on the host to check.
            bridge_trust: BridgeTrust::RuntimeVouches,
            layer_progress: false,
            change_limits: false,
            live_events: false,
        }
    }

    fn notes(&self) -> Vec<String> {
        let platform = &self.inner.platform;
        if crate::arch::needs_rosetta(platform, crate::arch::host()) {
            vec![format!(
                "Workspaces run as {platform} under Rosetta (CONTAINER_DEFAULT_PLATFORM): slower \
                 than arm64; with an arm64 bridge (scripts/build-bridge.sh --arch aarch64) \
                 they can run natively"
            )]
        } else {
            vec![]
        }
    }

    fn bridge_network_fix(&self) -> String {
        "Apple's container gives every workspace its own virtual machine network; if it is \
         missing, run `container system start` (and allow local network access when macOS asks)"
            .into()
    }

    async fn version(&self) -> Result<String> {
        // Asked each time: the version doubles as the check that the system service runs.
        let status = system_running(&self.inner).await?;
        if let Some(server) = status.api_server_version {
            tracing::debug!(%server, "Apple's container API server");
        }
        // The number alone, as containerd's: the UI shows "<backend> <version>".
        Ok(self.inner.cli_version.to_string())
    }

    async fn ensure_image(
        &self,
        image: &ImageRef,
        policy: PullPolicy,
        sink: &dyn PullSink,
        cancel: &CancellationToken,
    ) -> Result<()> {
        image::ensure(&self.inner, image, policy, sink, cancel).await
    }

    async fn create(&self, spec: &WorkspaceSpec) -> Result<()> {
        workspace::create(&self.inner, spec, &self.bridge_socket(&spec.socket_dir)).await
    }

    /// There is no host pid for a VM's process: 0, which core does not check under
    /// [`BridgeTrust::RuntimeVouches`].
    async fn start(&self, id: &str) -> Result<u32> {
        workspace::start(&self.inner, id).await.map(|()| 0)
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        workspace::stop(&self.inner, id, grace).await
    }

    async fn delete(&self, id: &str) -> Result<()> {
        workspace::delete(&self.inner, id).await
    }

    async fn status(&self, id: &str) -> Result<ContainerStatus> {
        workspace::status(&self.inner, id).await
    }

    async fn list(&self) -> Result<Vec<ContainerStatus>> {
        workspace::list(&self.inner).await
    }

    fn events(&self) -> BoxStream<'static, RuntimeEvent> {
        poll::subscribe(self.inner.clone())
    }

    async fn set_limits(&self, _id: &str, _limits: &Limits) -> Result<()> {
        Err(RuntimeError::new(
            ErrorKind::Unsupported,
            "on Apple's container backend a workspace's limits are fixed when it is created; \
             recreate the workspace (change its image to the same one) to apply new limits",
        ))
    }

    async fn usage(&self, id: &str) -> Result<Usage> {
        workspace::usage(&self.inner, id).await
    }

    fn bridge_socket(&self, spec_socket_dir: &Path) -> PathBuf {
        socket::host_socket(spec_socket_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::what;
    use crate::args;
    use std::time::Duration;

    #[test]
    fn messages_name_the_call_and_its_operand() {
        assert_eq!(what(&args::list()), "container list");
        assert_eq!(what(&args::system_status()), "container system status");
        assert_eq!(what(&args::inspect("berth-a")), "container inspect berth-a");
        assert_eq!(
            what(&args::stop("berth-a", Duration::from_secs(1))),
            "container stop berth-a"
        );
        assert_eq!(what(&args::stats("berth-a")), "container stats berth-a");
        assert_eq!(
            what(&args::image_pull("r/x:1", "linux/arm64")),
            "container image pull r/x:1"
        );
    }
}

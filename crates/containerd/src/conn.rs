//! The gRPC connection to containerd: Unix-socket channel, the namespace (and lease) headers every
//! call needs, and the mapping of gRPC status codes onto Berth's error kinds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_runtime::{ErrorKind, RuntimeError};
use containerd_client::services::v1::{
    containers_client::ContainersClient, content_client::ContentClient, diff_client::DiffClient,
    events_client::EventsClient, images_client::ImagesClient, leases_client::LeasesClient,
    snapshots::snapshots_client::SnapshotsClient, tasks_client::TasksClient,
    version_client::VersionClient,
};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

/// The snapshotter every Berth workspace uses: versions are its committed layers and "changes since" reads its upper directories.
pub const SNAPSHOTTER: &str = "overlayfs";

/// A namespaced connection to one containerd.
#[derive(Clone)]
pub struct Conn {
    channel: Channel,
    namespace: String,
    socket: PathBuf,
}

impl Conn {
    /// Connects to the socket. Fails with `Unavailable` naming the socket when nothing answers.
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Self, RuntimeError> {
        validate_namespace(namespace)?;
        if let Err(e) = std::os::unix::net::UnixStream::connect(socket) {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                return Err(RuntimeError::unavailable(format!(
                    "cannot reach containerd at {}: the socket belongs to another user \
                     (root's containerd); Berth can run its own containerd as you instead",
                    socket.display()
                )));
            }
        }
        let path = socket.to_path_buf();
        let connector = tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        });
        let channel = Endpoint::from_static("http://[::]")
            .connect_timeout(Duration::from_secs(3))
            .connect_with_connector(connector)
            .await
            .map_err(|e| {
                RuntimeError::unavailable(format!(
                    "cannot reach containerd at {}: {}",
                    socket.display(),
                    root_cause(&e)
                ))
            })?;
        Ok(Self {
            channel,
            namespace: namespace.to_string(),
            socket: socket.to_path_buf(),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Wraps a message with the namespace header.
    pub fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        r.metadata_mut().insert(
            "containerd-namespace",
            self.namespace
                .parse()
                .expect("namespace validated at connect"),
        );
        r
    }

    /// Wraps a message with the namespace and lease headers: resources it creates belong to the
    /// lease until something else references them.
    pub fn leased<T>(&self, msg: T, lease: &str) -> Request<T> {
        let mut r = self.req(msg);
        r.metadata_mut().insert(
            "containerd-lease",
            lease.parse().expect("lease ids are ascii"),
        );
        r
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }
    pub fn version(&self) -> VersionClient<Channel> {
        VersionClient::new(self.channel.clone())
    }
    pub fn content(&self) -> ContentClient<Channel> {
        ContentClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }
    pub fn images(&self) -> ImagesClient<Channel> {
        ImagesClient::new(self.channel.clone())
    }
    pub fn leases(&self) -> LeasesClient<Channel> {
        LeasesClient::new(self.channel.clone())
    }
    pub fn snapshots(&self) -> SnapshotsClient<Channel> {
        SnapshotsClient::new(self.channel.clone())
    }
    pub fn diff(&self) -> DiffClient<Channel> {
        DiffClient::new(self.channel.clone())
    }
    pub fn containers(&self) -> ContainersClient<Channel> {
        ContainersClient::new(self.channel.clone())
    }
    pub fn tasks(&self) -> TasksClient<Channel> {
        TasksClient::new(self.channel.clone())
    }
    pub fn events(&self) -> EventsClient<Channel> {
        EventsClient::new(self.channel.clone())
    }
}

/// containerd namespaces are DNS-label-like; anything else would fail later in odd places.
fn validate_namespace(ns: &str) -> Result<(), RuntimeError> {
    let ok = !ns.is_empty()
        && ns.len() <= 76
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c))
        && ns.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::invalid(format!(
            "invalid containerd namespace {ns:?}: use lower-case letters, digits, '-', '.', '_'"
        )))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Maps a gRPC status to Berth's error kinds, prefixing what was being done.
pub fn map_status(what: &str, s: Status) -> RuntimeError {
    let kind = match s.code() {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidArgument,
        Code::FailedPrecondition | Code::Aborted => ErrorKind::Conflict,
        Code::Unavailable => ErrorKind::Unavailable,
        Code::Unimplemented => ErrorKind::Unsupported,
        Code::Cancelled => ErrorKind::Cancelled,
        _ => ErrorKind::Internal,
    };
    let msg = if s.code() == Code::Unavailable {
        "containerd stopped answering (is the daemon running?)".to_string()
    } else {
        s.message().to_string()
    };
    RuntimeError::new(kind, format!("{what}: {msg}"))
}

/// Shorthand: `.map_err(st("creating container"))`.
pub fn st(what: &'static str) -> impl Fn(Status) -> RuntimeError {
    move |s| map_status(what, s)
}

/// True when the status means "does not exist" (used to make deletes idempotent).
pub fn is_not_found(s: &Status) -> bool {
    s.code() == Code::NotFound
}

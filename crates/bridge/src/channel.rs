//! One connection to a bridge, shared by the clients of all its services (exec, terminal,
//! files, data): HTTP/2 multiplexes their calls over one Unix-socket connection, so a caller
//! that keeps a [`BridgeChannel`] dials once instead of once per call.
//!
//! Every connection, the first and every reconnect tonic makes after a break, is checked
//! against an [`ExpectedPeer`] before a byte is sent: the bot is root in its workspace and can
//! move the bridge's socket aside and listen in its place (see [`crate::peer`]).

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::error::BridgeError;
use crate::peer::{self, ExpectedPeer};

/// HTTP/2 flow-control windows: the 64 KiB default throttles bulk transfers to a crawl.
const STREAM_WINDOW: u32 = 8 * 1024 * 1024;
/// Several streams share the connection (a transfer next to terminals and a watch), so the
/// connection window holds a few full stream windows: one stream that is read slowly cannot
/// stall the others. Memory is only used for data actually in flight.
const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;
/// Largest block of headers accepted from the bridge (hyper's default is 16 MiB): a reply's
/// status and error message travel in headers, and the bridge is the bot's.
const MAX_HEADERS: u32 = 64 * 1024;

/// A connection to one bridge. Cheap to clone; clones share the connection. If the connection
/// breaks, the next call dials the same socket again, with the same peer check.
#[derive(Clone, Debug)]
pub struct BridgeChannel {
    channel: Channel,
}

impl BridgeChannel {
    /// Connects to the bridge listening on `socket`, provided its listener is `peer`. Fails
    /// with `Unavailable` if nothing listens and with `NotTheBridge` if someone else does.
    pub async fn connect(socket: &Path, peer: ExpectedPeer) -> Result<Self, BridgeError> {
        let path: PathBuf = socket.to_path_buf();
        // The URI is a placeholder required by tonic; the connector ignores it and dials the socket.
        let channel = Endpoint::try_from("http://[::]:50051")
            .map_err(|e| BridgeError::Internal(e.to_string()))?
            .initial_stream_window_size(Some(STREAM_WINDOW))
            .initial_connection_window_size(Some(CONNECTION_WINDOW))
            .http2_max_header_list_size(MAX_HEADERS)
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                let peer = peer.clone();
                async move {
                    let expected = peer.resolve().await?;
                    let stream = UnixStream::connect(path).await?;
                    // On the connected stream itself: a second connection could reach another
                    // listener. Refused, the stream is dropped before HTTP/2 says anything.
                    peer::check(&stream, expected)?;
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(TokioIo::new(stream))
                }
            }))
            .await?;
        Ok(BridgeChannel { channel })
    }

    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }
}

//! A hostile bridge for tests (feature `test-support`): a gRPC server speaking the bridge's
//! `Files` protocol on a Unix socket that answers from a [`Script`] — absolute names, `..`,
//! names with slashes, endless listings, archives with hostile links, absurd sizes — so the
//! real host-side clients can be run against what a bot that replaced its bridge could send.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::proto::files_server::{Files, FilesServer};
use crate::proto::{self, data_chunk, read_chunk, FileKind};
use crate::BridgeChannel;

type Out<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// What the hostile bridge answers.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// The reply to every `Stat` (`None`: not found).
    pub stat: Option<proto::FileEntry>,
    /// The pages of every `List`.
    pub list: Listing,
    /// `Read`: this entry, then these bytes.
    pub read: Option<(proto::FileEntry, Vec<u8>)>,
    /// `Archive`: these bytes (a tar.gz) in 64 KiB chunks.
    pub archive: Vec<u8>,
    /// `Watch`: these events, then the stream stays open.
    pub watch: Vec<proto::WatchEvent>,
}

/// The pages a listing sends.
#[derive(Clone, Debug, Default)]
pub enum Listing {
    /// Not found.
    #[default]
    None,
    /// These pages (the first carries `dir` when given).
    Pages {
        dir: Option<proto::FileEntry>,
        pages: Vec<Vec<proto::FileEntry>>,
    },
    /// `dir`, then pages of 1,000 well-formed entries without end, as long as they are read.
    Endless { dir: proto::FileEntry },
}

/// A running hostile bridge; stops when dropped.
pub struct HostileBridge {
    pub socket: PathBuf,
    sent: Arc<AtomicU64>,
    _stop: oneshot::Sender<()>,
}

impl HostileBridge {
    /// Serves `script` on a new socket `socket`.
    pub async fn start(socket: &Path, script: Script) -> HostileBridge {
        let listener = UnixListener::bind(socket).expect("bind the hostile bridge's socket");
        let (stop, stopped) = oneshot::channel::<()>();
        let sent = Arc::new(AtomicU64::new(0));
        let svc = Hostile {
            script: Arc::new(script),
            sent: sent.clone(),
        };
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(FilesServer::new(svc))
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                    let _ = stopped.await;
                }),
        );
        HostileBridge {
            socket: socket.to_path_buf(),
            sent,
            _stop: stop,
        }
    }

    /// A connection to it, as core's would be: peer-checked, and the hostile bridge listens in
    /// this process. (What it proves is that a listener that passes the peer check, such as
    /// the bridge itself once the bot controls it, still cannot steer the host.)
    pub async fn channel(&self) -> BridgeChannel {
        BridgeChannel::connect(&self.socket, crate::ExpectedPeer::Pid(std::process::id()))
            .await
            .expect("connect to the hostile bridge")
    }

    /// Listing entries sent so far (the endless listing stops when nobody reads).
    pub fn entries_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// An entry named after the last component of `path`.
pub fn entry(path: &[u8], kind: FileKind) -> proto::FileEntry {
    let name = match path.iter().rposition(|&b| b == b'/') {
        Some(i) if path.len() > 1 => path[i + 1..].to_vec(),
        _ => b"/".to_vec(),
    };
    named(path, &name, kind)
}

/// An entry with an explicit (possibly hostile) name.
pub fn named(path: &[u8], name: &[u8], kind: FileKind) -> proto::FileEntry {
    proto::FileEntry {
        path: path.to_vec(),
        name: name.to_vec(),
        kind: kind as i32,
        mode: 0o755,
        ..Default::default()
    }
}

/// One raw tar entry; names and targets are written as given, `..` and `/` included.
#[derive(Clone, Debug)]
pub enum TarEntry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A tar.gz of `entries` exactly as given (no path checks: that is the point).
pub fn targz(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_old();
        let (name, link, kind, data): (&str, &str, tar::EntryType, &[u8]) = match *e {
            TarEntry::Dir(n) => (n, "", tar::EntryType::Directory, b""),
            TarEntry::File(n, d) => (n, "", tar::EntryType::Regular, d),
            TarEntry::Symlink(n, t) => (n, t, tar::EntryType::Symlink, b""),
            TarEntry::HardLink(n, t) => (n, t, tar::EntryType::Link, b""),
        };
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).expect("tar entry");
    }
    b.into_inner().and_then(|gz| gz.finish()).expect("tar.gz")
}

struct Hostile {
    script: Arc<Script>,
    sent: Arc<AtomicU64>,
}

/// Sends `items` on a bounded queue (back-pressure, like the real bridge).
fn stream<T: Send + 'static>(items: impl Iterator<Item = T> + Send + 'static) -> Out<T> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        for it in items {
            if tx.send(Ok(it)).await.is_err() {
                return;
            }
        }
    });
    Box::pin(ReceiverStream::new(rx))
}

fn refused() -> Status {
    Status::unimplemented("the hostile bridge does not answer this")
}

#[tonic::async_trait]
impl Files for Hostile {
    async fn stat(
        &self,
        _: Request<proto::FilePath>,
    ) -> Result<Response<proto::FileEntry>, Status> {
        let e = self.script.stat.clone();
        e.map(Response::new)
            .ok_or_else(|| Status::not_found("no such file"))
    }

    type ListStream = Out<proto::ListPage>;
    async fn list(
        &self,
        _: Request<proto::ListRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let sent = self.sent.clone();
        match self.script.list.clone() {
            Listing::None => Err(Status::not_found("no such directory")),
            Listing::Pages { dir, pages } => {
                let mut dir = dir;
                let pages = pages.into_iter().map(move |entries| {
                    sent.fetch_add(entries.len() as u64, Ordering::SeqCst);
                    proto::ListPage {
                        dir: dir.take(),
                        entries,
                    }
                });
                Ok(Response::new(stream(pages)))
            }
            Listing::Endless { dir } => {
                let base = dir.path.clone();
                let mut first = Some(dir);
                let pages = (0u64..).map(move |p| {
                    let entries: Vec<_> = (0..1000u64)
                        .map(|i| {
                            let mut path = base.clone();
                            path.extend_from_slice(format!("/f{}", p * 1000 + i).as_bytes());
                            entry(&path, FileKind::File)
                        })
                        .collect();
                    sent.fetch_add(1000, Ordering::SeqCst);
                    proto::ListPage {
                        dir: first.take(),
                        entries,
                    }
                });
                Ok(Response::new(stream(pages)))
            }
        }
    }

    type ReadStream = Out<proto::ReadChunk>;
    async fn read(
        &self,
        _: Request<proto::ReadRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let (e, data) = self.script.read.clone().ok_or_else(refused)?;
        let chunk = |c| proto::ReadChunk { chunk: Some(c) };
        let data = data
            .chunks(64 * 1024)
            .map(|d| chunk(read_chunk::Chunk::Data(d.to_vec().into())))
            .collect::<Vec<_>>();
        let all = std::iter::once(chunk(read_chunk::Chunk::Entry(e))).chain(data);
        Ok(Response::new(stream(all)))
    }

    async fn write(
        &self,
        _: Request<Streaming<proto::WriteInput>>,
    ) -> Result<Response<proto::WriteReply>, Status> {
        Err(refused())
    }

    async fn mkdir(
        &self,
        _: Request<proto::FilePath>,
    ) -> Result<Response<proto::FileEntry>, Status> {
        Err(refused())
    }

    async fn delete(
        &self,
        _: Request<proto::DeleteRequest>,
    ) -> Result<Response<proto::DeleteReply>, Status> {
        Err(refused())
    }

    async fn rename(
        &self,
        _: Request<proto::RenameRequest>,
    ) -> Result<Response<proto::FileEntry>, Status> {
        Err(refused())
    }

    type ArchiveStream = Out<proto::DataChunk>;
    async fn archive(
        &self,
        _: Request<proto::ArchiveRequest>,
    ) -> Result<Response<Self::ArchiveStream>, Status> {
        let chunks = self
            .script
            .archive
            .chunks(64 * 1024)
            .map(|d| proto::DataChunk {
                chunk: Some(data_chunk::Chunk::Data(d.to_vec().into())),
            })
            .collect::<Vec<_>>();
        Ok(Response::new(stream(chunks.into_iter())))
    }

    async fn extract(
        &self,
        _: Request<proto::FilePath>,
    ) -> Result<Response<proto::ExtractReply>, Status> {
        Err(refused())
    }

    type WatchStream = Out<proto::WatchEvent>;
    async fn watch(
        &self,
        _: Request<proto::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let events = self.script.watch.clone();
        Ok(Response::new(stream(events.into_iter())))
    }
}

//! The `Files` gRPC service: stat, list, read, write, mkdir, delete, rename, archive,
//! extract and watch over the whole container file system. Every call that touches the disk runs
//! on a blocking thread and streams through bounded channels in fixed chunks, so memory stays
//! constant whatever the file size. The archive RPC lives in `archive.rs`.

mod archive;
mod entry;
mod path;
mod watch;
mod write;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use berth_bridge::proto::{
    files_server::Files, read_chunk, ArchiveRequest, DataChunk, DeleteReply, DeleteRequest,
    ExtractReply, FileEntry, FilePath, ListPage, ListRequest, ReadChunk, ReadRequest,
    RenameRequest, WatchEvent, WatchRequest, WriteInput, WriteReply,
};
use berth_bridge::targz;
use path::{bytes, check_writable, io_status, normalise, show};

/// Bytes per data message, both directions (gRPC's default limit is 4 MiB).
pub const CHUNK: usize = 1024 * 1024;
/// Messages queued per stream: CHUNK * QUEUE bounds a transfer's buffered bytes.
pub const QUEUE: usize = 4;

pub struct FilesService;

type Out<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("file task failed: {e}")))?
}

pub fn revision_of(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The revision of a file's current content.
pub fn hash_file(p: &Path) -> io::Result<String> {
    let mut f = File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(revision_of(h))
}

fn extract_target(archive: &Path) -> Result<(PathBuf, bool), Status> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| Status::invalid_argument("no archive name"))?;
    let lower = name.to_lowercase();
    let raw = archive.file_name().unwrap().as_encoded_bytes();
    let (cut, zip) = if lower.ends_with(".tar.gz") {
        (7, false)
    } else if lower.ends_with(".tgz") {
        (4, false)
    } else if lower.ends_with(".zip") {
        (4, true)
    } else {
        return Err(Status::invalid_argument(format!(
            "{} is not a .tar.gz, .tgz or .zip archive",
            show(archive)
        )));
    };
    let stem = &raw[..raw.len() - cut];
    if stem.is_empty() {
        return Err(Status::invalid_argument(
            "the archive has no name to extract into",
        ));
    }
    use std::os::unix::ffi::OsStrExt;
    let dir = archive
        .parent()
        .unwrap_or(Path::new("/"))
        .join(std::ffi::OsStr::from_bytes(stem));
    Ok((dir, zip))
}

#[tonic::async_trait]
impl Files for FilesService {
    async fn stat(&self, req: Request<FilePath>) -> Result<Response<FileEntry>, Status> {
        let p = normalise(&req.into_inner().path)?;
        Ok(Response::new(blocking(move || entry::lstat(&p)).await?))
    }

    type ListStream = Out<ListPage>;

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<Self::ListStream>, Status> {
        let req = req.into_inner();
        let p = normalise(&req.path)?;
        let page = if req.page_size == 0 {
            1000
        } else {
            req.page_size.min(10_000)
        } as usize;
        // Open first, so a missing directory is the call's status.
        let (dir_entry, rd) = blocking({
            let p = p.clone();
            move || {
                let m = std::fs::metadata(&p).map_err(|e| io_status("cannot list", &p, e))?;
                if !m.is_dir() {
                    return Err(Status::failed_precondition(format!(
                        "{} is not a directory",
                        show(&p)
                    )));
                }
                let rd = std::fs::read_dir(&p).map_err(|e| io_status("cannot list", &p, e))?;
                Ok((entry::lstat(&p)?, rd))
            }
        })
        .await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::task::spawn_blocking(move || {
            let mut first = Some(dir_entry);
            let mut entries = Vec::with_capacity(page);
            for de in rd {
                let de = match de {
                    Ok(de) => de,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(io_status("cannot list", &p, e)));
                        return;
                    }
                };
                let path = de.path();
                match de.metadata() {
                    Ok(m) => entries.push(entry::from_meta(&path, &m)),
                    Err(_) => continue, // vanished between readdir and lstat
                }
                if entries.len() == page {
                    let msg = ListPage {
                        dir: first.take(),
                        entries: std::mem::take(&mut entries),
                    };
                    if tx.blocking_send(Ok(msg)).is_err() {
                        return;
                    }
                }
            }
            if !entries.is_empty() || first.is_some() {
                let _ = tx.blocking_send(Ok(ListPage {
                    dir: first.take(),
                    entries,
                }));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ReadStream = Out<ReadChunk>;

    async fn read(&self, req: Request<ReadRequest>) -> Result<Response<Self::ReadStream>, Status> {
        let req = req.into_inner();
        let p = normalise(&req.path)?;
        let (file, ent) = blocking({
            let p = p.clone();
            move || {
                let f = File::open(&p).map_err(|e| io_status("cannot read", &p, e))?;
                let m = f.metadata().map_err(|e| io_status("cannot read", &p, e))?;
                if m.is_dir() {
                    return Err(Status::failed_precondition(format!(
                        "{} is a directory",
                        show(&p)
                    )));
                }
                Ok((f, entry::lstat(&p)?))
            }
        })
        .await?;
        let whole = req.offset == 0 && req.length.is_none();
        let want_rev = req.want_revision && whole;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::task::spawn_blocking(move || {
            let mut f = file;
            let send =
                |c: read_chunk::Chunk| tx.blocking_send(Ok(ReadChunk { chunk: Some(c) })).is_ok();
            if !send(read_chunk::Chunk::Entry(ent)) {
                return;
            }
            if req.offset > 0 {
                if let Err(e) = f.seek(SeekFrom::Start(req.offset)) {
                    let _ = tx.blocking_send(Err(io_status("cannot seek", &p, e)));
                    return;
                }
            }
            let mut left = req.length.unwrap_or(u64::MAX);
            let mut h = want_rev.then(Sha256::new);
            while left > 0 {
                // Filled by read_to_end on a `take`: no zeroing, one copy from the page cache.
                let want = CHUNK.min(left.min(usize::MAX as u64) as usize);
                let mut buf = Vec::with_capacity(want);
                let n = match (&mut f).take(want as u64).read_to_end(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(io_status("cannot read", &p, e)));
                        return;
                    }
                };
                left -= n as u64;
                if let Some(h) = h.as_mut() {
                    h.update(&buf);
                }
                if !send(read_chunk::Chunk::Data(buf.into())) {
                    return;
                }
            }
            if let Some(h) = h {
                send(read_chunk::Chunk::Revision(revision_of(h)));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn write(
        &self,
        req: Request<Streaming<WriteInput>>,
    ) -> Result<Response<WriteReply>, Status> {
        write::write(req.into_inner()).await.map(Response::new)
    }

    async fn mkdir(&self, req: Request<FilePath>) -> Result<Response<FileEntry>, Status> {
        let p = normalise(&req.into_inner().path)?;
        check_writable(&p)?;
        let e = blocking(move || {
            std::fs::create_dir_all(&p).map_err(|e| io_status("cannot create directory", &p, e))?;
            entry::lstat(&p)
        })
        .await?;
        Ok(Response::new(e))
    }

    async fn delete(&self, req: Request<DeleteRequest>) -> Result<Response<DeleteReply>, Status> {
        let req = req.into_inner();
        let p = normalise(&req.path)?;
        if p == Path::new("/") {
            return Err(Status::permission_denied(
                "cannot delete the root directory /",
            ));
        }
        check_writable(&p)?;
        let existed = blocking(move || {
            let m = match std::fs::symlink_metadata(&p) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io_status("cannot delete", &p, e)),
            };
            let r = if m.is_dir() {
                if req.recursive {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_dir(&p)
                }
            } else {
                std::fs::remove_file(&p) // a symlink: the link itself
            };
            r.map_err(|e| io_status("cannot delete", &p, e))?;
            Ok(true)
        })
        .await?;
        Ok(Response::new(DeleteReply { existed }))
    }

    async fn rename(&self, req: Request<RenameRequest>) -> Result<Response<FileEntry>, Status> {
        let req = req.into_inner();
        let from = normalise(&req.from)?;
        let to = normalise(&req.to)?;
        if from == Path::new("/") || to == Path::new("/") {
            return Err(Status::permission_denied(
                "cannot move the root directory /",
            ));
        }
        if to.starts_with(&from) && to != from {
            return Err(Status::invalid_argument(format!(
                "cannot move {} into itself",
                show(&from)
            )));
        }
        check_writable(&from)?;
        check_writable(&to)?;
        let e = blocking(move || {
            std::fs::symlink_metadata(&from).map_err(|e| io_status("cannot move", &from, e))?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| io_status("cannot create", parent, e))?;
            }
            if req.overwrite {
                std::fs::rename(&from, &to)
            } else {
                rename_noreplace(&from, &to)
            }
            .map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Status::already_exists(format!(
                    "{} already exists (use overwrite to replace it)",
                    show(&to)
                )),
                io::ErrorKind::CrossesDevices => Status::failed_precondition(format!(
                    "cannot move {} to {}: they are on different file systems",
                    show(&from),
                    show(&to)
                )),
                _ => io_status("cannot move to", &to, e),
            })?;
            entry::lstat(&to)
        })
        .await?;
        Ok(Response::new(e))
    }

    type ArchiveStream = Out<DataChunk>;

    async fn archive(
        &self,
        req: Request<ArchiveRequest>,
    ) -> Result<Response<Self::ArchiveStream>, Status> {
        let rx = archive::archive(req.into_inner()).await?;
        Ok(Response::new(Box::pin(rx)))
    }

    async fn extract(&self, req: Request<FilePath>) -> Result<Response<ExtractReply>, Status> {
        let archive = normalise(&req.into_inner().path)?;
        let (dest, zip) = extract_target(&archive)?;
        check_writable(&dest)?;
        let reply = blocking(move || {
            let f = File::open(&archive).map_err(|e| io_status("cannot open", &archive, e))?;
            std::fs::create_dir(&dest).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Status::already_exists(format!(
                    "{} already exists; move it away or rename the archive",
                    show(&dest)
                )),
                _ => io_status("cannot create", &dest, e),
            })?;
            let r = if zip {
                targz::extract_zip(f, &dest)
            } else {
                targz::extract_targz(io::BufReader::with_capacity(CHUNK, f), &dest, false)
            };
            match r {
                Ok(c) => Ok(ExtractReply {
                    dir: bytes(&dest),
                    files: c.files,
                    dirs: c.dirs,
                }),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dest);
                    Err(match e.kind() {
                        io::ErrorKind::InvalidData => Status::invalid_argument(format!(
                            "refused to extract {}: {e}; nothing was extracted",
                            show(&archive)
                        )),
                        _ => Status::internal(format!(
                            "cannot extract {}: {e}; nothing was extracted",
                            show(&archive)
                        )),
                    })
                }
            }
        })
        .await?;
        Ok(Response::new(reply))
    }

    type WatchStream = Out<WatchEvent>;

    async fn watch(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let paths = req
            .into_inner()
            .paths
            .iter()
            .map(|p| normalise(p))
            .collect::<Result<Vec<_>, _>>()?;
        let rx = watch::start(paths)?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// rename(2) that fails with `AlreadyExists` instead of replacing (renameat2 NOREPLACE; a
/// check-then-rename fallback where the file system does not support it).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let f = CString::new(from.as_os_str().as_bytes())?;
    let t = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated strings; AT_FDCWD with absolute paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOSYS) {
        if std::fs::symlink_metadata(to).is_ok() {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        return std::fs::rename(from, to);
    }
    Err(e)
}

//! Files (issue 3): browse, read, edit, upload, download, archive, extract and watch a running
//! workspace's file system through the bridge's `Files` service.
//!
//! Paths cross IPC as strings: a UTF-8 path as itself (always starting with `/`), any other
//! byte string as `hex:<hex>` (see [`encode_path`]), so names that are not UTF-8 round-trip
//! exactly while the UI shows a lossy `name`. Uploads and downloads stream between the host file
//! system and the bridge in fixed chunks; memory stays constant whatever the size.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use berth_bridge::{FileEntry, FileKind, FilesClient, WriteOptions};
use berth_runtime::CancellationToken;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ts_rs::TS;

use crate::model::WorkspaceState;
use crate::{Berth, Error, Result};

/// Largest file the editor opens (bigger files are downloaded instead).
pub const MAX_TEXT: u64 = 8 * 1024 * 1024;
/// Largest image the preview loads.
pub const MAX_PREVIEW: u64 = 32 * 1024 * 1024;
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum FileType {
    File,
    Dir,
    Symlink,
    Other,
}

impl From<FileKind> for FileType {
    fn from(k: FileKind) -> Self {
        match k {
            FileKind::File => FileType::File,
            FileKind::Dir => FileType::Dir,
            FileKind::Symlink => FileType::Symlink,
            FileKind::Other => FileType::Other,
        }
    }
}

/// One entry of a workspace directory (the Files list row, `berth ls --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FileInfo {
    /// Opaque path token: the UTF-8 path, or `hex:<hex>` for bytes that are not UTF-8.
    pub path: String,
    /// The name for display (invalid UTF-8 shown as U+FFFD).
    pub name: String,
    /// True when `name` is not exactly the on-disk name (it was not UTF-8).
    pub lossy: bool,
    pub kind: FileType,
    #[ts(type = "number")]
    pub size: u64,
    /// Permission bits, e.g. 0o644.
    pub mode: u32,
    /// Modified, ms since the Unix epoch.
    #[ts(type = "number")]
    pub modified_ms: i64,
    /// For symlinks: the target as stored (display form).
    pub link_target: Option<String>,
    /// For symlinks: what the target is; `None` when dangling.
    pub target_kind: Option<FileType>,
    pub uid: u32,
    pub gid: u32,
}

/// A directory and its entries (directories first, then natural name order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct DirListing {
    pub dir: FileInfo,
    pub entries: Vec<FileInfo>,
}

/// A text file opened for editing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TextFile {
    pub info: FileInfo,
    pub content: String,
    /// `sha256:<hex>` of the bytes read; pass it back when saving.
    pub revision: String,
}

/// The result of saving or creating a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SavedFile {
    pub info: FileInfo,
    pub revision: Option<String>,
}

/// What an archive extraction created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct ExtractSummary {
    pub dir: String,
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub dirs: u64,
}

/// Files changed in a watched workspace directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct FilesChanged {
    pub paths: Vec<String>,
    /// Too many to list: re-read everything.
    pub overflow: bool,
}

/// What to do when an uploaded name already exists in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum OnExists {
    #[default]
    Replace,
    Skip,
    KeepBoth,
    Fail,
}

/// The state of one file of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum TransferState {
    Queued,
    Running,
    Done,
    Skipped,
    Failed,
    Cancelled,
}

/// One file of an upload or download (the transfer list row); sent whenever it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TransferItem {
    pub id: u32,
    /// Where the bytes go (container path token on upload, host path on download).
    pub target: String,
    /// The name for display.
    pub name: String,
    pub state: TransferState,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    pub error: Option<String>,
}

/// The end of a transfer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct TransferSummary {
    pub done: u32,
    pub skipped: u32,
    pub failed: u32,
    #[ts(type = "number")]
    pub bytes: u64,
    pub cancelled: bool,
}

/// Encodes container path bytes for IPC/JSON (see the module docs).
pub fn encode_path(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.starts_with('/') => s.to_string(),
        _ => format!("hex:{}", hex::encode(b)),
    }
}

/// Decodes a path token; a plain string must be container-absolute.
pub fn decode_path(s: &str) -> Result<Vec<u8>> {
    if let Some(h) = s.strip_prefix("hex:") {
        return hex::decode(h).map_err(|_| Error::invalid(format!("bad path token {s:?}")));
    }
    if !s.starts_with('/') {
        return Err(Error::invalid(format!("{s:?} is not a container path (it must start with /)")));
    }
    Ok(s.as_bytes().to_vec())
}

/// Joins a directory and a single name (no `/`, not `.` or `..`).
pub fn join_name(dir: &[u8], name: &[u8]) -> Result<Vec<u8>> {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." || name.contains(&0) {
        return Err(Error::invalid(format!(
            "{:?} is not a valid name (no '/', not '.' or '..')",
            String::from_utf8_lossy(name)
        )));
    }
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    Ok(p)
}

fn parent_of(p: &[u8]) -> Vec<u8> {
    match Path::new(std::ffi::OsStr::from_bytes(p)).parent() {
        Some(d) => d.as_os_str().as_bytes().to_vec(),
        None => b"/".to_vec(),
    }
}

fn base_of(p: &[u8]) -> Vec<u8> {
    Path::new(std::ffi::OsStr::from_bytes(p))
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default()
}

pub fn info_of(e: &FileEntry) -> FileInfo {
    let name = String::from_utf8_lossy(&e.name).to_string();
    FileInfo {
        path: encode_path(&e.path),
        lossy: name.as_bytes() != e.name.as_slice(),
        name,
        kind: e.kind.into(),
        size: e.size,
        mode: e.mode,
        modified_ms: e.mtime_ms,
        link_target: e.link_target.as_ref().map(|t| String::from_utf8_lossy(t).to_string()),
        target_kind: e.target_kind.map(Into::into),
        uid: e.uid,
        gid: e.gid,
    }
}

/// Natural order: digit runs compare as numbers, the rest case-insensitively.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (x.peek().copied(), y.peek().copied()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let mut n1 = String::new();
                while let Some(c) = x.peek().filter(|c| c.is_ascii_digit()) {
                    n1.push(*c);
                    x.next();
                }
                let mut n2 = String::new();
                while let Some(c) = y.peek().filter(|c| c.is_ascii_digit()) {
                    n2.push(*c);
                    y.next();
                }
                let (t1, t2) = (n1.trim_start_matches('0'), n2.trim_start_matches('0'));
                let o = t1.len().cmp(&t2.len()).then_with(|| t1.cmp(t2));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(c), Some(d)) => {
                let o = c.to_lowercase().cmp(d.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                x.next();
                y.next();
            }
        }
    }
}

/// Directories (and links to them) first, then natural name order.
pub fn sort_entries(v: &mut [FileInfo]) {
    let dirlike = |e: &FileInfo| e.kind == FileType::Dir || e.target_kind == Some(FileType::Dir);
    v.sort_by(|a, b| dirlike(b).cmp(&dirlike(a)).then_with(|| natural_cmp(&a.name, &b.name)));
}

/// A "keep both" name: `report.txt` → `report (2).txt`, `dir` → `dir (2)`.
pub fn numbered_name(name: &[u8], n: u32) -> Vec<u8> {
    let s = name;
    // split the extension (not for dot-files), keeping .tar.gz together
    let split = if s.ends_with(b".tar.gz") && s.len() > 7 {
        s.len() - 7
    } else {
        match s.iter().rposition(|&c| c == b'.') {
            Some(i) if i > 0 => i,
            _ => s.len(),
        }
    };
    let mut out = s[..split].to_vec();
    out.extend_from_slice(format!(" ({n})").as_bytes());
    out.extend_from_slice(&s[split..]);
    out
}

/// Counts bytes flowing through a reader/writer, reporting (throttled) and honouring cancel.
struct Counted<T> {
    inner: T,
    n: u64,
    last: Instant,
    report: Arc<dyn Fn(u64) + Send + Sync>,
    cancel: CancellationToken,
}

impl<T> Counted<T> {
    fn new(inner: T, report: Arc<dyn Fn(u64) + Send + Sync>, cancel: CancellationToken) -> Self {
        Counted { inner, n: 0, last: Instant::now(), report, cancel }
    }
    fn tick(&mut self, k: usize) {
        self.n += k as u64;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            (self.report)(self.n);
        }
    }
}

fn cancelled_io() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "cancelled")
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(cancelled_io()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let k = buf.filled().len() - before;
            self.tick(k);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        if self.cancel.is_cancelled() {
            return Poll::Ready(Err(cancelled_io()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, b);
        if let Poll::Ready(Ok(k)) = r {
            self.tick(k);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One host file or directory to upload, found by walking the sources.
#[derive(Debug, Clone)]
struct UploadItem {
    host: PathBuf,
    /// Container path.
    dest: Vec<u8>,
    dir: bool,
    size: u64,
}

/// Walks `src` (following a top-level symlink, not descending into linked directories).
fn walk_host(src: &Path, dest: Vec<u8>, out: &mut Vec<UploadItem>, skipped: &mut Vec<(PathBuf, String)>) -> io::Result<()> {
    let m = std::fs::metadata(src)?;
    if m.is_dir() {
        out.push(UploadItem { host: src.to_path_buf(), dest: dest.clone(), dir: true, size: 0 });
        let mut stack = vec![(src.to_path_buf(), dest)];
        while let Some((dir, cdest)) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<io::Result<Vec<_>>>()?;
            names.sort_by_key(|e| e.file_name());
            for de in names {
                let host = de.path();
                let child = join_name(&cdest, de.file_name().as_bytes()).map_err(|e| io::Error::other(e.message))?;
                let lm = std::fs::symlink_metadata(&host)?;
                if lm.file_type().is_symlink() {
                    match std::fs::metadata(&host) {
                        Ok(t) if t.is_file() => out.push(UploadItem { host, dest: child, dir: false, size: t.len() }),
                        _ => skipped.push((host, "symbolic link to a directory or nothing: skipped".into())),
                    }
                } else if lm.is_dir() {
                    out.push(UploadItem { host: host.clone(), dest: child.clone(), dir: true, size: 0 });
                    stack.push((host, child));
                } else if lm.is_file() {
                    out.push(UploadItem { host, dest: child, dir: false, size: lm.len() });
                } else {
                    skipped.push((host, "not a regular file: skipped".into()));
                }
            }
        }
    } else if m.is_file() {
        out.push(UploadItem { host: src.to_path_buf(), dest, dir: false, size: m.len() });
    } else {
        skipped.push((src.to_path_buf(), "not a regular file: skipped".into()));
    }
    Ok(())
}

impl Berth {
    /// A Files client for the bot's running workspace.
    pub async fn files_client(&self, bot: &str) -> Result<FilesClient> {
        let info = self.info(bot).await?;
        if info.state != WorkspaceState::Running {
            return Err(Error::conflict(format!("{bot}'s workspace is not running; start it first")));
        }
        let id = info.container_id.unwrap_or_default();
        Ok(FilesClient::connect(&self.inner.paths.bridge_socket(&id)).await?)
    }

    /// The entry of one path (symlinks reported as links).
    pub async fn file_stat(&self, bot: &str, path: &str) -> Result<FileInfo> {
        let c = self.files_client(bot).await?;
        Ok(info_of(&c.stat(&decode_path(path)?).await?))
    }

    /// A directory's entries, directories first then natural order.
    pub async fn file_list(&self, bot: &str, path: &str) -> Result<DirListing> {
        let c = self.files_client(bot).await?;
        let (dir, entries) = c.list_all(&decode_path(path)?).await?;
        let mut entries: Vec<FileInfo> = entries.iter().map(info_of).collect();
        sort_entries(&mut entries);
        Ok(DirListing { dir: info_of(&dir), entries })
    }

    /// Opens a text file for the editor (UTF-8, at most [`MAX_TEXT`]).
    pub async fn file_read_text(&self, bot: &str, path: &str) -> Result<TextFile> {
        let c = self.files_client(bot).await?;
        let p = decode_path(path)?;
        let mut buf = Vec::new();
        let r = c.read(&p, 0, None, true, LimitedVec { v: &mut buf, max: MAX_TEXT as usize }).await.map_err(|e| {
            let e: Error = e.into();
            if e.message.contains("too large") {
                Error::new(crate::model::ErrorCode::Unsupported, format!("the file is larger than {} MiB; download it instead", MAX_TEXT >> 20))
            } else {
                e
            }
        })?;
        let content = String::from_utf8(buf)
            .map_err(|_| Error::new(crate::model::ErrorCode::Unsupported, "the file is not UTF-8 text; download it instead"))?;
        Ok(TextFile { info: info_of(&r.entry), content, revision: r.revision.unwrap_or_default() })
    }

    /// Raw bytes of a small file (image preview), at most [`MAX_PREVIEW`].
    pub async fn file_read_bytes(&self, bot: &str, path: &str) -> Result<Vec<u8>> {
        let c = self.files_client(bot).await?;
        let mut buf = Vec::new();
        c.read(&decode_path(path)?, 0, None, false, LimitedVec { v: &mut buf, max: MAX_PREVIEW as usize }).await?;
        Ok(buf)
    }

    /// Saves text; with `expected_revision`, fails with `conflict` if the file changed on disk.
    pub async fn file_save_text(&self, bot: &str, path: &str, content: String, expected_revision: Option<String>) -> Result<SavedFile> {
        let c = self.files_client(bot).await?;
        let opts = WriteOptions { expected_revision, want_revision: true, ..Default::default() };
        let r = c.write(&decode_path(path)?, opts, io::Cursor::new(content.into_bytes())).await?;
        Ok(SavedFile { info: info_of(&r.entry), revision: r.revision })
    }

    /// Creates an empty file `name` in `dir` (fails if it exists).
    pub async fn file_create(&self, bot: &str, dir: &str, name: &str) -> Result<SavedFile> {
        let c = self.files_client(bot).await?;
        let p = join_name(&decode_path(dir)?, name.as_bytes())?;
        let opts = WriteOptions { must_not_exist: true, want_revision: true, ..Default::default() };
        let r = c.write(&p, opts, tokio::io::empty()).await?;
        Ok(SavedFile { info: info_of(&r.entry), revision: r.revision })
    }

    /// Creates directory `name` in `dir` (fails if it exists).
    pub async fn file_mkdir(&self, bot: &str, dir: &str, name: &str) -> Result<FileInfo> {
        let c = self.files_client(bot).await?;
        let p = join_name(&decode_path(dir)?, name.as_bytes())?;
        if c.stat(&p).await.is_ok() {
            return Err(Error::new(crate::model::ErrorCode::AlreadyExists, format!("{name} already exists")));
        }
        Ok(info_of(&c.mkdir(&p).await?))
    }

    /// mkdir -p of a whole path.
    pub async fn file_mkdir_all(&self, bot: &str, path: &str) -> Result<FileInfo> {
        let c = self.files_client(bot).await?;
        Ok(info_of(&c.mkdir(&decode_path(path)?).await?))
    }

    /// Renames within the same directory.
    pub async fn file_rename(&self, bot: &str, path: &str, new_name: &str, overwrite: bool) -> Result<FileInfo> {
        let c = self.files_client(bot).await?;
        let from = decode_path(path)?;
        let to = join_name(&parent_of(&from), new_name.as_bytes())?;
        Ok(info_of(&c.rename(&from, &to, overwrite).await?))
    }

    /// Moves a path to an explicit new path.
    pub async fn file_move(&self, bot: &str, from: &str, to: &str, overwrite: bool) -> Result<FileInfo> {
        let c = self.files_client(bot).await?;
        Ok(info_of(&c.rename(&decode_path(from)?, &decode_path(to)?, overwrite).await?))
    }

    /// Deletes paths (directories only with `recursive`). `/` is refused.
    pub async fn file_delete(&self, bot: &str, paths: &[String], recursive: bool) -> Result<()> {
        let c = self.files_client(bot).await?;
        for p in paths {
            c.delete(&decode_path(p)?, recursive).await?;
        }
        Ok(())
    }

    /// Extracts an archive into a new sibling directory.
    pub async fn file_extract(&self, bot: &str, path: &str) -> Result<ExtractSummary> {
        let c = self.files_client(bot).await?;
        let r = c.extract(&decode_path(path)?).await?;
        Ok(ExtractSummary { dir: encode_path(&r.dir), files: r.files, dirs: r.dirs })
    }

    /// Which of `names` already exist in `dir` (for the name-exists choice before an upload).
    pub async fn file_existing_names(&self, bot: &str, dir: &str, names: &[String]) -> Result<Vec<String>> {
        let c = self.files_client(bot).await?;
        let d = decode_path(dir)?;
        let mut out = Vec::new();
        for n in names {
            if c.stat(&join_name(&d, n.as_bytes())?).await.is_ok() {
                out.push(n.clone());
            }
        }
        Ok(out)
    }

    /// Watches directories/files until `cancel` (or `emit` returns false: nobody listens any
    /// more), calling `emit` with coalesced changes.
    pub async fn file_watch(&self, bot: &str, paths: &[String], cancel: CancellationToken, emit: impl Fn(FilesChanged) -> bool + Send) -> Result<()> {
        let c = self.files_client(bot).await?;
        let raw = paths.iter().map(|p| decode_path(p)).collect::<Result<Vec<_>>>()?;
        let mut s = c.watch(&raw).await?;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                ev = s.next() => match ev? {
                    Some(ev) => {
                        if !emit(FilesChanged { paths: ev.paths.iter().map(|p| encode_path(p)).collect(), overflow: ev.overflow }) {
                            return Ok(());
                        }
                    }
                    None => return Ok(()),
                }
            }
        }
    }

    /// Uploads host files and folders (walked here, streamed from disk) into `dest_dir`.
    /// `on_exists` applies to the top-level names; `emit` gets every item's changes.
    pub async fn upload(
        &self,
        bot: &str,
        sources: &[PathBuf],
        dest_dir: &str,
        on_exists: OnExists,
        cancel: &CancellationToken,
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let dest = decode_path(dest_dir)?;
        match c.stat(&dest).await {
            Ok(e) if e.is_dir_like() => {}
            Ok(_) => return Err(Error::invalid(format!("{} is not a directory", String::from_utf8_lossy(&dest)))),
            Err(e) => return Err(Error::from(e).context("upload destination")),
        }
        self.upload_to(&c, sources, &dest, true, on_exists, cancel, emit).await
    }

    /// Uploads to explicit targets: with `into_dir` each source goes to `dest/<its name>`,
    /// otherwise the single source becomes `dest` (the CLI's `cp SRC BOT:/new-name`).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_to(
        &self,
        c: &FilesClient,
        sources: &[PathBuf],
        dest: &[u8],
        into_dir: bool,
        on_exists: OnExists,
        cancel: &CancellationToken,
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
    ) -> Result<TransferSummary> {
        let mut sum = TransferSummary::default();
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        for src in sources {
            let target = if into_dir {
                let name = src.file_name().ok_or_else(|| Error::invalid(format!("{} has no name", src.display())))?;
                match resolve_target(c, dest, name.as_bytes(), on_exists).await? {
                    Some(t) => t,
                    None => {
                        skipped.push((src.clone(), "already exists: skipped".to_string()));
                        continue;
                    }
                }
            } else {
                dest.to_vec()
            };
            let src2 = src.clone();
            let (found, skip) = tokio::task::spawn_blocking(move || {
                let mut v = Vec::new();
                let mut s = Vec::new();
                walk_host(&src2, target, &mut v, &mut s).map(|_| (v, s))
            })
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", src.display())))?;
            items.extend(found);
            skipped.extend(skip);
        }
        let mut id = 0u32;
        for (host, why) in skipped {
            id += 1;
            sum.skipped += 1;
            emit(TransferItem { id, target: host.display().to_string(), name: name_of(&host), state: TransferState::Skipped, done: 0, total: 0, error: Some(why) });
        }
        let first = id + 1;
        for (i, it) in items.iter().enumerate().filter(|(_, it)| !it.dir) {
            emit(TransferItem { id: first + i as u32, target: encode_path(&it.dest), name: name_of(&it.host), state: TransferState::Queued, done: 0, total: it.size, error: None });
        }
        for (i, it) in items.iter().enumerate() {
            let id = first + i as u32;
            if cancel.is_cancelled() {
                if !it.dir {
                    emit(TransferItem { id, target: encode_path(&it.dest), name: name_of(&it.host), state: TransferState::Cancelled, done: 0, total: it.size, error: None });
                }
                sum.cancelled = true;
                continue;
            }
            if it.dir {
                if let Err(e) = c.mkdir(&it.dest).await {
                    sum.failed += 1;
                    emit(TransferItem { id, target: encode_path(&it.dest), name: name_of(&it.host), state: TransferState::Failed, done: 0, total: 0, error: Some(Error::from(e).message) });
                }
                continue;
            }
            let row = |state, done, error| TransferItem { id, target: encode_path(&it.dest), name: name_of(&it.host), state, done, total: it.size, error };
            emit(row(TransferState::Running, 0, None));
            let r = async {
                let f = std::fs::File::open(&it.host).map_err(|e| Error::invalid(format!("cannot open {}: {e}", it.host.display())))?;
                let em = emit.clone();
                let (dest, host, total) = (encode_path(&it.dest), name_of(&it.host), it.size);
                let progress = throttled(move |n| em(TransferItem { id, target: dest.clone(), name: host.clone(), state: TransferState::Running, done: n, total, error: None }));
                let opts = WriteOptions { create_parents: true, ..Default::default() };
                tokio::select! {
                    w = c.write_from_file(&it.dest, opts, f, progress) => Ok::<_, Error>(w?.written),
                    _ = cancel.cancelled() => Err(Error::cancelled()),
                }
            }
            .await;
            match r {
                Ok(n) => {
                    sum.done += 1;
                    sum.bytes += n;
                    emit(row(TransferState::Done, n, None));
                }
                Err(e) if e.code == crate::model::ErrorCode::Cancelled => {
                    sum.cancelled = true;
                    emit(row(TransferState::Cancelled, 0, None));
                }
                Err(e) => {
                    sum.failed += 1;
                    emit(row(TransferState::Failed, 0, Some(e.message)));
                }
            }
        }
        Ok(sum)
    }

    /// Downloads paths to the host: one file → `host_dest` as is; a directory or several paths →
    /// `host_dest` as a tar.gz. Written to a temp file and renamed, so a cancelled or failed
    /// download leaves nothing.
    pub async fn download(
        &self,
        bot: &str,
        paths: &[String],
        host_dest: &Path,
        cancel: &CancellationToken,
        emit: Arc<dyn Fn(TransferItem) + Send + Sync>,
    ) -> Result<TransferSummary> {
        let c = self.files_client(bot).await?;
        let raw = paths.iter().map(|p| decode_path(p)).collect::<Result<Vec<_>>>()?;
        if raw.is_empty() {
            return Err(Error::invalid("nothing to download"));
        }
        let single = if raw.len() == 1 {
            let e = c.stat(&raw[0]).await?;
            (e.kind == FileKind::File || (e.kind == FileKind::Symlink && e.target_kind == Some(FileKind::File))).then_some(e)
        } else {
            None
        };
        let total = single.as_ref().map(|e| e.size).unwrap_or(0);
        let name = name_of(host_dest);
        let target = host_dest.display().to_string();
        let row = |state, done, error| TransferItem { id: 1, target: target.clone(), name: name.clone(), state, done, total, error };
        emit(row(TransferState::Running, 0, None));
        let tmp = temp_beside(host_dest);
        let r = async {
            let f = tokio::fs::File::create(&tmp).await.map_err(|e| Error::invalid(format!("cannot create {}: {e}", tmp.display())))?;
            let em = emit.clone();
            let (t2, n2) = (target.clone(), name.clone());
            let report: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| em(TransferItem { id: 1, target: t2.clone(), name: n2.clone(), state: TransferState::Running, done: n, total, error: None }));
            let mut out = Counted::new(f, report, cancel.clone());
            let n = if single.is_some() {
                let f = std::fs::File::create(&tmp).map_err(|e| Error::invalid(format!("cannot create {}: {e}", tmp.display())))?;
                let (em, t3, n3) = (emit.clone(), target.clone(), name.clone());
                let progress = throttled(move |n| em(TransferItem { id: 1, target: t3.clone(), name: n3.clone(), state: TransferState::Running, done: n, total, error: None }));
                tokio::select! {
                    r = c.read_to_file(&raw[0], f, progress) => r.map(|r| r.bytes),
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                }
            } else {
                c.archive(&raw, &mut out).await
            };
            if cancel.is_cancelled() {
                return Err(Error::cancelled());
            }
            let n = n?;
            // Flushed (not fsync'd, like cp): the rename below only happens after every byte arrived.
            tokio::io::AsyncWriteExt::flush(&mut out.inner).await.map_err(|e| Error::internal(format!("writing {}: {e}", tmp.display())))?;
            tokio::fs::rename(&tmp, host_dest).await.map_err(|e| Error::invalid(format!("cannot write {}: {e}", host_dest.display())))?;
            Ok::<_, Error>(n)
        }
        .await;
        let mut sum = TransferSummary::default();
        match r {
            Ok(n) => {
                sum.done = 1;
                sum.bytes = n;
                emit(row(TransferState::Done, n, None));
                Ok(sum)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                if e.code == crate::model::ErrorCode::Cancelled {
                    sum.cancelled = true;
                    emit(row(TransferState::Cancelled, 0, None));
                    Ok(sum)
                } else {
                    emit(row(TransferState::Failed, 0, Some(e.message.clone())));
                    Err(e)
                }
            }
        }
    }

    /// Copies a workspace directory into a new host directory `host_dir` (tar.gz stream from the
    /// bridge, extracted here with the hostile-archive rules). `host_dir` must not exist.
    pub async fn download_dir(&self, bot: &str, path: &str, host_dir: &Path) -> Result<u64> {
        let c = self.files_client(bot).await?;
        let p = decode_path(path)?;
        let name = base_of(&p);
        std::fs::create_dir(host_dir).map_err(|e| Error::invalid(format!("cannot create {}: {e}", host_dir.display())))?;
        let (w, r) = tokio::io::duplex(256 * 1024);
        let dir = host_dir.to_path_buf();
        let consumer = tokio::task::spawn_blocking(move || {
            let rd = tokio_util::io::SyncIoBridge::new(r);
            // The archive holds one top-level entry named like the source: strip it.
            let tmp = dir.join(format!(".berth-extract-{}", std::process::id()));
            std::fs::create_dir(&tmp)?;
            let res = berth_bridge::targz::extract_targz(rd, &tmp, false);
            let res = res.and_then(|c| {
                let inner = tmp.join(OsString::from_vec(name));
                for de in std::fs::read_dir(&inner)? {
                    let de = de?;
                    std::fs::rename(de.path(), dir.join(de.file_name()))?;
                }
                Ok(c)
            });
            let _ = std::fs::remove_dir_all(&tmp);
            res
        });
        let produced = c.archive(&[p], w).await;
        let consumed = consumer.await.map_err(Error::internal)?;
        match (produced, consumed) {
            (Ok(n), Ok(_)) => Ok(n),
            (Err(e), _) => {
                let _ = std::fs::remove_dir_all(host_dir);
                Err(e.into())
            }
            (_, Err(e)) => {
                let _ = std::fs::remove_dir_all(host_dir);
                Err(Error::internal(format!("extracting into {}: {e}", host_dir.display())))
            }
        }
    }
}

/// Where `name` goes in `dir` given the name-exists choice; `None` means skip.
async fn resolve_target(c: &FilesClient, dir: &[u8], name: &[u8], on_exists: OnExists) -> Result<Option<Vec<u8>>> {
    let t = join_name(dir, name)?;
    if c.stat(&t).await.is_err() {
        return Ok(Some(t));
    }
    match on_exists {
        OnExists::Replace => Ok(Some(t)),
        OnExists::Skip => Ok(None),
        OnExists::Fail => Err(Error::new(
            crate::model::ErrorCode::AlreadyExists,
            format!("{} already exists", String::from_utf8_lossy(&t)),
        )),
        OnExists::KeepBoth => {
            let mut n = 2;
            loop {
                let cand = join_name(dir, &numbered_name(name, n))?;
                if c.stat(&cand).await.is_err() {
                    return Ok(Some(cand));
                }
                n += 1;
            }
        }
    }
}

/// An upload fed chunk by chunk (the web view's file input): bytes written here stream to the
/// bridge through a small pipe; [`UploadPipe::finish`] commits, dropping it leaves nothing.
pub struct UploadPipe {
    writer: Option<tokio::io::DuplexStream>,
    task: tokio::task::JoinHandle<Result<SavedFile>>,
    /// The path token the file is written to (after the name-exists choice).
    pub target: String,
}

impl UploadPipe {
    pub async fn write(&mut self, b: &[u8]) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let w = self.writer.as_mut().ok_or_else(|| Error::invalid("the upload is finished"))?;
        if w.write_all(b).await.is_err() {
            // The writer side failed: its error is the real one.
            self.writer = None;
            return Err(Error::internal("the upload stream closed"));
        }
        Ok(())
    }
    pub async fn finish(mut self) -> Result<SavedFile> {
        use tokio::io::AsyncWriteExt;
        if let Some(mut w) = self.writer.take() {
            let _ = w.shutdown().await;
        }
        (&mut self.task).await.map_err(Error::internal)?
    }
}

impl Drop for UploadPipe {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.task.abort();
        }
    }
}

impl Berth {
    /// Starts an upload of `name` into `dir` fed through [`UploadPipe::write`]; `None` when the
    /// name exists and `on_exists` is `Skip`.
    pub async fn upload_pipe(&self, bot: &str, dir: &str, name: &str, on_exists: OnExists) -> Result<Option<UploadPipe>> {
        let c = self.files_client(bot).await?;
        let Some(target) = resolve_target(&c, &decode_path(dir)?, name.as_bytes(), on_exists).await? else {
            return Ok(None);
        };
        let (w, r) = tokio::io::duplex(256 * 1024);
        let t2 = target.clone();
        let task = tokio::spawn(async move {
            let opts = WriteOptions { create_parents: true, want_revision: true, ..Default::default() };
            let res = c.write(&t2, opts, r).await?;
            Ok(SavedFile { info: info_of(&res.entry), revision: res.revision })
        });
        Ok(Some(UploadPipe { writer: Some(w), task, target: encode_path(&target) }))
    }
}

/// A progress callback that passes at most ten updates a second.
fn throttled(f: impl Fn(u64) + Send + Sync + 'static) -> impl Fn(u64) + Send + 'static {
    let last = std::sync::Mutex::new(Instant::now());
    move |n| {
        let mut l = last.lock().unwrap();
        if l.elapsed() >= PROGRESS_EVERY {
            *l = Instant::now();
            f(n);
        }
    }
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| p.display().to_string())
}

fn temp_beside(p: &Path) -> PathBuf {
    let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    p.with_file_name(format!(".{name}.berth-part-{}", std::process::id()))
}

/// An `AsyncWrite` into a Vec that fails past `max` bytes.
struct LimitedVec<'a> {
    v: &'a mut Vec<u8>,
    max: usize,
}

impl AsyncWrite for LimitedVec<'_> {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        if self.v.len() + b.len() > self.max {
            return Poll::Ready(Err(io::Error::other("file too large")));
        }
        self.v.extend_from_slice(b);
        Poll::Ready(Ok(b.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tokens_round_trip() {
        for p in [&b"/data/a b"[..], b"/data/new\nline", b"/data/\xff\xfe", "/data/日本".as_bytes()] {
            assert_eq!(decode_path(&encode_path(p)).unwrap(), p);
        }
        assert!(encode_path(b"/data/\xff").starts_with("hex:"));
        assert!(decode_path("relative").is_err());
    }

    #[test]
    fn natural_order_dirs_first() {
        let mk = |name: &str, kind| FileInfo {
            path: format!("/d/{name}"), name: name.into(), lossy: false, kind, size: 0, mode: 0, modified_ms: 0,
            link_target: None, target_kind: None, uid: 0, gid: 0,
        };
        let mut v = vec![mk("file10", FileType::File), mk("file2", FileType::File), mk("zdir", FileType::Dir), mk("B", FileType::File), mk("a", FileType::File)];
        sort_entries(&mut v);
        let names: Vec<_> = v.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["zdir", "a", "B", "file2", "file10"]);
    }

    #[test]
    fn keep_both_names() {
        assert_eq!(numbered_name(b"report.txt", 2), b"report (2).txt");
        assert_eq!(numbered_name(b"dir", 3), b"dir (3)");
        assert_eq!(numbered_name(b".env", 2), b".env (2)");
        assert_eq!(numbered_name(b"a.tar.gz", 2), b"a (2).tar.gz");
        assert!(join_name(b"/data", b"..").is_err());
        assert!(join_name(b"/data", b"a/b").is_err());
        assert_eq!(join_name(b"/", b"x").unwrap(), b"/x");
    }
}

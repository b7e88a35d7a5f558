//! Data in and out (issue 6): export `/data` as a standard .tar.gz to a host file, import one
//! all-or-nothing, and keep a workspace's data across delete and create
//! (`<data dir>/backups/<bot>.tar.gz`).
//!
//! Export streams the bridge's archive RPC (the children of `/data`, each under its own name,
//! with the workspace's other processes stopped for the duration)
//! into `<file>.berth-part-<pid>` next to the target, fsyncs and renames it, so a kill leaves
//! either nothing or the complete archive. Import validates the whole archive on the host
//! ([`validate`]) before `/data` changes, uploads it next to `/data`, lets the bridge extract it
//! into a staging directory (`/.berth-import-…`), then swaps: replace renames `/data` aside and
//! the staging directory into place; merge plans every move first (refusing a staged entry that
//! would go through a symlink or replace a directory in `/data`) and only then renames.

pub mod model;
pub mod validate;

pub use model::{ArchivePreview, ImportReport, KeptDataInfo};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_bridge::{FileKind, FilesClient, WriteOptions};
use berth_runtime::CancellationToken;
use tokio::io::AsyncWriteExt;

use crate::{Berth, Error, Result};

const DATA: &[u8] = b"/data";

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Replace `/data` with the archive's contents (default: merge; files not in the archive stay).
    pub replace: bool,
    /// Refuse archives that expand to more than this many bytes.
    pub max_expanded: u64,
}

impl From<ImportResult> for ImportReport {
    fn from(r: ImportResult) -> Self {
        ImportReport { files: r.files, dirs: r.dirs, links: r.links, bytes: r.bytes, replaced: r.replaced }
    }
}

impl From<&KeptData> for KeptDataInfo {
    fn from(k: &KeptData) -> Self {
        KeptDataInfo { size: k.size, modified_ms: k.modified_ms }
    }
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { replace: false, max_expanded: validate::DEFAULT_MAX_EXPANDED }
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportResult {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    pub replaced: bool,
}

/// A kept archive of a deleted workspace's `/data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptData {
    pub path: PathBuf,
    pub size: u64,
    /// Milliseconds since the epoch.
    pub modified_ms: u64,
}

fn now_nonce() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{}-{ms}", std::process::id())
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

fn show(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// A temporary sibling of `dest` (same directory, so the final rename is atomic).
fn part_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    dest.with_file_name(format!(".{name}.berth-part-{}", now_nonce()))
}

impl Berth {
    /// Where the kept data of `bot` lives.
    pub fn kept_data_path(&self, bot: &str) -> PathBuf {
        self.inner.paths.database().with_file_name("backups").join(format!("{bot}.tar.gz"))
    }

    /// The kept archive of `bot`, if any (only a complete, renamed archive counts).
    pub fn kept_data(&self, bot: &str) -> Option<KeptData> {
        let path = self.kept_data_path(bot);
        let m = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
        let modified_ms = m.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
        Some(KeptData { path, size: m.len(), modified_ms })
    }

    /// Deletes the kept archive of `bot`; Ok(false) when there was none.
    pub fn delete_kept_data(&self, bot: &str) -> Result<bool> {
        match std::fs::remove_file(self.kept_data_path(bot)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::internal(format!("deleting the kept data: {e}"))),
        }
    }

    /// Writes `/data` of the running workspace as a .tar.gz to `dest` (temp file, fsync,
    /// rename). `progress` gets the archive bytes written so far. Returns the archive's size.
    ///
    /// Consistency: the workspace's processes are stopped (SIGSTOP from the bridge, PID 1)
    /// while the archive is written and continued afterwards; terminals survive.
    pub async fn export_data(
        &self,
        bot: &str,
        dest: &Path,
        progress: &(dyn Fn(u64) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<u64> {
        let c = self.files_client(bot).await?;
        let (_, children) = c.list_all(DATA).await?;
        let paths: Vec<Vec<u8>> = children.iter().map(|e| e.path.clone()).collect();
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::invalid(format!("cannot create {}: {e}", dir.display())))?;
        }
        let part = part_path(dest);
        let result = async {
            let file = tokio::fs::File::create(&part)
                .await
                .map_err(|e| Error::invalid(format!("cannot write {}: {e}", part.display())))?;
            let mut out = Counting { inner: file, n: 0, progress };
            if paths.is_empty() {
                let empty = berth_bridge::targz::write_targz(Vec::new(), &[], 6)
                    .map_err(|e| Error::internal(format!("empty archive: {e}")))?;
                out.write_all(&empty).await.map_err(|e| Error::internal(format!("writing: {e}")))?;
            } else {
                tokio::select! {
                    _ = cancel.cancelled() => return Err(Error::cancelled()),
                    r = c.archive_paused(&paths, true, &mut out) => { r?; }
                }
            }
            let n = out.n;
            let f = out.inner;
            f.sync_all().await.map_err(|e| Error::internal(format!("fsync: {e}")))?;
            drop(f);
            tokio::fs::rename(&part, dest)
                .await
                .map_err(|e| Error::internal(format!("renaming into {}: {e}", dest.display())))?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                if let Ok(d) = std::fs::File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }

    /// How many of `paths` (relative to `/data`) already exist there: one listing per parent
    /// folder, at most 2,000 folders looked at.
    pub async fn data_conflicts(&self, bot: &str, paths: &[PathBuf]) -> Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = self.files_client(bot).await?;
        let mut by_dir: std::collections::BTreeMap<Vec<u8>, Vec<Vec<u8>>> = Default::default();
        for p in paths {
            let parent = p.parent().map(|d| d.as_os_str().as_bytes().to_vec()).unwrap_or_default();
            let name = p.file_name().map(|n| n.as_bytes().to_vec()).unwrap_or_default();
            by_dir.entry(parent).or_default().push(name);
        }
        let mut n = 0u64;
        for (dir, names) in by_dir.into_iter().take(2000) {
            let full = if dir.is_empty() { DATA.to_vec() } else { join(DATA, &dir) };
            let Ok((_, entries)) = c.list_all(&full).await else { continue };
            let have: std::collections::HashSet<Vec<u8>> = entries.into_iter().map(|e| e.name).collect();
            n += names.iter().filter(|x| have.contains(*x)).count() as u64;
        }
        Ok(n)
    }

    /// Validates a host .tar.gz without importing it.
    pub async fn inspect_archive(&self, src: &Path, max_expanded: u64) -> Result<validate::Summary> {
        let src = src.to_path_buf();
        let cancel = CancellationToken::new();
        check_file(src, max_expanded, cancel).await
    }

    /// Imports a host .tar.gz into `/data`, all-or-nothing. `progress` gets the uploaded bytes.
    pub async fn import_data(
        &self,
        bot: &str,
        src: &Path,
        opts: &ImportOptions,
        progress: &(dyn Fn(u64) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<ImportResult> {
        let summary = check_file(src.to_path_buf(), opts.max_expanded, cancel.clone()).await?;
        let c = self.files_client(bot).await?;
        let r = import_with(&c, src, opts, summary, progress, cancel).await?;
        self.event(bot, "imported", format!("imported {} file(s) from {}", r.files, src.display()));
        Ok(r)
    }

    /// Restores the kept archive into the just-created workspace `id` (before the store knows
    /// it is running); removes the archive only after success.
    pub(crate) async fn restore_into(&self, bot: &str, id: &str) -> Result<bool> {
        let Some(kept) = self.kept_data(bot) else { return Ok(false) };
        let opts = ImportOptions { replace: true, ..Default::default() };
        let cancel = CancellationToken::new();
        let summary = check_file(kept.path.clone(), opts.max_expanded, cancel.clone()).await?;
        let c = FilesClient::connect(&self.inner.paths.bridge_socket(id)).await?;
        import_with(&c, &kept.path, &opts, summary, &|_| {}, &cancel)
            .await
            .map_err(|e| e.context("restoring the kept data"))?;
        std::fs::remove_file(&kept.path).map_err(|e| Error::internal(format!("removing the restored archive: {e}")))?;
        self.event(bot, "restored", "kept data restored");
        Ok(true)
    }
}

async fn import_with(
    c: &FilesClient,
    src: &Path,
    opts: &ImportOptions,
    summary: validate::Summary,
    progress: &(dyn Fn(u64) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<ImportResult> {
    {
        let t0 = std::time::Instant::now();
        cleanup_leftovers(c).await;
        let nonce = now_nonce();
        let upload = format!("/.berth-import-{nonce}.tar.gz").into_bytes();
        let file = std::fs::File::open(src).map_err(|e| Error::invalid(format!("cannot open {}: {e}", src.display())))?;
        let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let opts_w = WriteOptions { must_not_exist: true, mode: Some(0o600), ..Default::default() };
        let up = c.write_from_file(&upload, opts_w, file, move |n| {
            let _ = ptx.send(n);
        });
        tokio::pin!(up);
        let uploaded = loop {
            tokio::select! {
                _ = cancel.cancelled() => {
                    let _ = c.delete(&upload, false).await;
                    return Err(Error::cancelled());
                }
                Some(n) = prx.recv() => progress(n),
                r = &mut up => break r,
            }
        };
        if let Err(e) = uploaded {
            let _ = c.delete(&upload, false).await;
            return Err(Error::from(e).context("uploading the archive"));
        }
        tracing::debug!(elapsed = ?t0.elapsed(), "import: uploaded");
        let extracted = c.extract(&upload).await;
        tracing::debug!(elapsed = ?t0.elapsed(), "import: extracted");
        let _ = c.delete(&upload, false).await;
        let staged = extracted.map_err(|e| Error::from(e).context("extracting the archive"))?.dir;
        let swapped = if cancel.is_cancelled() {
            Err(Error::cancelled())
        } else if opts.replace {
            replace(c, &staged, &nonce).await
        } else {
            merge(c, &staged).await
        };
        tracing::debug!(elapsed = ?t0.elapsed(), "import: swapped");
        let _ = c.delete(&staged, true).await;
        tracing::debug!(elapsed = ?t0.elapsed(), "import: done");
        swapped?;
        Ok(ImportResult {
            files: summary.files,
            dirs: summary.dirs,
            links: summary.links,
            bytes: summary.bytes,
            replaced: opts.replace,
        })
    }
}

impl Berth {

    /// Writes `/data` of the running workspace to the kept-data archive (atomically).
    pub async fn preserve_data(&self, bot: &str, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<KeptData> {
        let path = self.kept_data_path(bot);
        self.export_data(bot, &path, progress, &CancellationToken::new()).await?;
        self.event(bot, "preserved", format!("data kept in {}", path.display()));
        self.kept_data(bot).ok_or_else(|| Error::internal("the kept archive vanished"))
    }

    /// Replaces `/data` of the running workspace with the kept archive, then deletes it.
    /// Ok(false) when there is no kept data.
    pub async fn restore_kept_data(&self, bot: &str, progress: &(dyn Fn(u64) + Send + Sync)) -> Result<bool> {
        let Some(kept) = self.kept_data(bot) else { return Ok(false) };
        let opts = ImportOptions { replace: true, ..Default::default() };
        self.import_data(bot, &kept.path, &opts, progress, &CancellationToken::new())
            .await
            .map_err(|e| e.context("restoring the kept data"))?;
        std::fs::remove_file(&kept.path).map_err(|e| Error::internal(format!("removing the restored archive: {e}")))?;
        self.event(bot, "restored", "kept data restored");
        Ok(true)
    }

    /// Deletes the workspace; with `keep_data` first writes its `/data` to the kept archive
    /// (starting a stopped workspace for it). The workspace is not deleted if preserving fails.
    pub async fn delete_workspace_keeping(
        &self,
        bot: &str,
        keep_data: bool,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Option<KeptData>> {
        let mut kept = None;
        if keep_data {
            let info = self.info(bot).await?;
            match info.state {
                crate::model::WorkspaceState::Running => {}
                crate::model::WorkspaceState::Absent => {
                    return Err(Error::not_found(format!("{bot} has no workspace to keep data from")))
                }
                _ => {
                    self.start(bot).await.map_err(|e| e.context("starting the workspace to preserve its data"))?;
                }
            }
            kept = Some(self.preserve_data(bot, progress).await?);
        }
        self.delete_workspace(bot).await?;
        Ok(kept)
    }
}

/// Runs the validation on a blocking thread.
async fn check_file(src: PathBuf, max: u64, cancel: CancellationToken) -> Result<validate::Summary> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&src).map_err(|e| Error::invalid(format!("cannot open {}: {e}", src.display())))?;
        let r = std::io::BufReader::with_capacity(1 << 20, f);
        validate::check(r, max, &|| cancel.is_cancelled()).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => Error::cancelled(),
            std::io::ErrorKind::InvalidData => Error::invalid(format!("refused {}: {e}; /data is unchanged", src.display())),
            _ => Error::invalid(format!("{} is not a readable .tar.gz: {e}; /data is unchanged", src.display())),
        })
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
}

/// Repairs what a killed import left behind in `/`: a replace killed between its two renames
/// left `/data` missing and the old tree aside, which is moved back first; then staging
/// directories, uploads and old trees are removed.
async fn cleanup_leftovers(c: &FilesClient) {
    let Ok((_, entries)) = c.list_all(b"/").await else { return };
    let has_data = entries.iter().any(|e| e.name == b"data");
    let mut olds: Vec<&berth_bridge::FileEntry> = entries.iter().filter(|e| e.name.starts_with(b".berth-data-old-")).collect();
    olds.sort_by_key(|e| e.mtime_ms);
    if !has_data {
        if let Some(last) = olds.pop() {
            if c.rename(&last.path, DATA, false).await.is_err() {
                return; // leave everything as it is rather than lose the old tree
            }
        }
    }
    for e in entries.iter().filter(|e| e.name.starts_with(b".berth-import-")).chain(olds) {
        let _ = c.delete(&e.path, true).await;
    }
}

/// Replace: `/data` aside, staging into place, the old tree removed.
async fn replace(c: &FilesClient, staged: &[u8], nonce: &str) -> Result<()> {
    let old = format!("/.berth-data-old-{nonce}").into_bytes();
    c.rename(DATA, &old, false).await.map_err(|e| Error::from(e).context("moving /data aside"))?;
    if let Err(e) = c.rename(staged, DATA, false).await {
        let _ = c.rename(&old, DATA, false).await;
        return Err(Error::from(e).context("moving the imported data into place"));
    }
    let _ = c.delete(&old, true).await;
    Ok(())
}

/// Merge: plan every move from the staging tree into `/data`, refuse conflicts that would go
/// through a symlink or replace a directory, then rename.
async fn merge(c: &FilesClient, staged: &[u8]) -> Result<()> {
    let mut moves: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
    let mut stack = vec![(staged.to_vec(), DATA.to_vec())];
    while let Some((from_dir, to_dir)) = stack.pop() {
        let (_, staged_entries) = c.list_all(&from_dir).await?;
        let (_, existing) = c.list_all(&to_dir).await?;
        let existing: HashMap<Vec<u8>, FileKind> = existing.into_iter().map(|e| (e.name, e.kind)).collect();
        for e in staged_entries {
            let to = join(&to_dir, &e.name);
            let rel = show(&to);
            match (e.kind == FileKind::Dir, existing.get(&e.name)) {
                (_, None) => moves.push((e.path, to, false)),
                (true, Some(FileKind::Dir)) => stack.push((e.path, to)),
                (true, Some(FileKind::Symlink)) => {
                    return Err(Error::invalid(format!("refused: archive entry {rel} would go through a symlink in /data; /data is unchanged")))
                }
                (true, Some(_)) => {
                    return Err(Error::invalid(format!("refused: archive directory {rel} would replace a file in /data; /data is unchanged")))
                }
                (false, Some(FileKind::Dir)) => {
                    return Err(Error::invalid(format!("refused: archive entry {rel} would replace a directory in /data; /data is unchanged")))
                }
                (false, Some(_)) => moves.push((e.path, to, true)),
            }
        }
    }
    for (from, to, overwrite) in moves {
        c.rename(&from, &to, overwrite).await.map_err(|e| Error::from(e).context(format!("moving {} into place", show(&to))))?;
    }
    Ok(())
}

/// An async writer that counts bytes and reports them.
struct Counting<'a, W> {
    inner: W,
    n: u64,
    progress: &'a (dyn Fn(u64) + Send + Sync),
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counting<'_, W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &r {
            self.n += *n as u64;
            (self.progress)(self.n);
        }
        r
    }
    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

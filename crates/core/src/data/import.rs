//! Import: a host .tar.gz validated whole ([`super::validate`]) before `/data` changes, then
//! uploaded, extracted into a staging directory by the bridge and swapped into `/data`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_bridge::{FileKind, FilesClient, WriteOptions};
use berth_runtime::CancellationToken;

use super::{join, now_nonce, show, validate, DataProgress, ProgressFn, DATA};
use crate::{Berth, Error, Result};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Replace `/data` with the archive's contents (default: merge; files not in the archive stay).
    pub replace: bool,
    /// Refuse archives that expand to more than this many bytes.
    pub max_expanded: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            replace: false,
            max_expanded: validate::DEFAULT_MAX_EXPANDED,
        }
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

impl Berth {
    /// How many of `paths` (relative to `/data`) already exist there: one listing per parent
    /// folder, at most 2,000 folders looked at.
    pub async fn data_conflicts(&self, bot: &str, paths: &[PathBuf]) -> Result<u64> {
        use std::os::unix::ffi::OsStrExt;
        let c = self.files_client(bot).await?;
        let mut by_dir: std::collections::BTreeMap<Vec<u8>, Vec<Vec<u8>>> = Default::default();
        for p in paths {
            let parent = p
                .parent()
                .map(|d| d.as_os_str().as_bytes().to_vec())
                .unwrap_or_default();
            let name = p
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            by_dir.entry(parent).or_default().push(name);
        }
        let mut n = 0u64;
        for (dir, names) in by_dir.into_iter().take(2000) {
            let full = if dir.is_empty() {
                DATA.to_vec()
            } else {
                join(DATA, &dir)
            };
            let Ok((_, entries)) = c.list_all(&full).await else {
                continue;
            };
            let have: std::collections::HashSet<Vec<u8>> =
                entries.into_iter().map(|e| e.name).collect();
            n += names.iter().filter(|x| have.contains(*x)).count() as u64;
        }
        Ok(n)
    }

    /// Validates a host .tar.gz without importing it.
    pub async fn inspect_archive(
        &self,
        src: &Path,
        max_expanded: u64,
    ) -> Result<validate::Summary> {
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
        progress: ProgressFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<ImportResult> {
        let c = self.files_client(bot).await?;
        let r = import_file(&c, src, opts, progress, cancel).await?;
        self.event(
            bot,
            "imported",
            format!("imported {} file(s) from {}", r.files, src.display()),
        );
        Ok(r)
    }
}

/// Validates `src` on the host and imports it into `/data` through `c`, all-or-nothing.
/// The one entry point for import, restore and restore-at-create.
pub(super) async fn import_file(
    c: &FilesClient,
    src: &Path,
    opts: &ImportOptions,
    progress: ProgressFn<'_>,
    cancel: &CancellationToken,
) -> Result<ImportResult> {
    let summary = check_file(src.to_path_buf(), opts.max_expanded, cancel.clone()).await?;
    import_with(c, src, opts, summary, progress, cancel).await
}

async fn import_with(
    c: &FilesClient,
    src: &Path,
    opts: &ImportOptions,
    summary: validate::Summary,
    progress: ProgressFn<'_>,
    cancel: &CancellationToken,
) -> Result<ImportResult> {
    {
        let t0 = std::time::Instant::now();
        cleanup_leftovers(c).await;
        let nonce = now_nonce();
        let upload = format!("/.berth-import-{nonce}.tar.gz").into_bytes();
        let file = std::fs::File::open(src)
            .map_err(|e| Error::invalid(format!("cannot open {}: {e}", src.display())))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (ptx, mut prx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let opts_w = WriteOptions {
            must_not_exist: true,
            mode: Some(0o600),
            ..Default::default()
        };
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
                Some(n) = prx.recv() => progress(DataProgress { archive: n, done: n, total }),
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
        let staged = extracted
            .map_err(|e| Error::from(e).context("extracting the archive"))?
            .dir;
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

/// Runs the validation on a blocking thread.
async fn check_file(
    src: PathBuf,
    max: u64,
    cancel: CancellationToken,
) -> Result<validate::Summary> {
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::open(&src)
            .map_err(|e| Error::invalid(format!("cannot open {}: {e}", src.display())))?;
        let r = std::io::BufReader::with_capacity(1 << 20, f);
        validate::check(r, max, &|| cancel.is_cancelled()).map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => Error::cancelled(),
            std::io::ErrorKind::InvalidData => Error::invalid(format!(
                "refused {}: {e}; /data is unchanged",
                src.display()
            )),
            _ => Error::invalid(format!(
                "{} is not a readable .tar.gz: {e}; /data is unchanged",
                src.display()
            )),
        })
    })
    .await
    .map_err(|e| Error::internal(e.to_string()))?
}

/// Repairs what a killed import left behind in `/`: a replace killed between its two renames
/// left `/data` missing and the old tree aside, which is moved back first; then staging
/// directories, uploads and old trees are removed.
async fn cleanup_leftovers(c: &FilesClient) {
    let Ok((_, entries)) = c.list_all(b"/").await else {
        return;
    };
    let has_data = entries.iter().any(|e| e.name == b"data");
    let mut olds: Vec<&berth_bridge::FileEntry> = entries
        .iter()
        .filter(|e| e.name.starts_with(b".berth-data-old-"))
        .collect();
    olds.sort_by_key(|e| e.mtime_ms);
    if !has_data {
        if let Some(last) = olds.pop() {
            if c.rename(&last.path, DATA, false).await.is_err() {
                return; // leave everything as it is rather than lose the old tree
            }
        }
    }
    for e in entries
        .iter()
        .filter(|e| e.name.starts_with(b".berth-import-"))
        .chain(olds)
    {
        let _ = c.delete(&e.path, true).await;
    }
}

/// Replace: `/data` aside, staging into place, the old tree removed.
async fn replace(c: &FilesClient, staged: &[u8], nonce: &str) -> Result<()> {
    let old = format!("/.berth-data-old-{nonce}").into_bytes();
    c.rename(DATA, &old, false)
        .await
        .map_err(|e| Error::from(e).context("moving /data aside"))?;
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
        let existing: HashMap<Vec<u8>, FileKind> =
            existing.into_iter().map(|e| (e.name, e.kind)).collect();
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
        c.rename(&from, &to, overwrite)
            .await
            .map_err(|e| Error::from(e).context(format!("moving {} into place", show(&to))))?;
    }
    Ok(())
}

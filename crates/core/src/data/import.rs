//! Import: a host .tar.gz streamed into the workspace's staging directory while the host
//! validates it ([`super::validate`]); the bridge's `Data` service applies it to `/data`
//! all-or-nothing (replace: one atomic exchange; merge: a journal a crash rolls back or
//! finishes) only when both sides accepted it.

use std::path::{Path, PathBuf};

use berth_bridge::{DataClient, FilesClient, ImportRequest, ImportSummary, Verdict};
use berth_runtime::CancellationToken;

use super::{join, validate, DataProgress, ProgressFn, DATA};
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
///
/// The archive streams to the bridge, which extracts it into a staging directory while the
/// host validates the same file in parallel (two readers of one file, on the two cores);
/// the bridge applies the staged tree (after repairing any interrupted earlier import) only
/// when the host accepted it and everything was sent. A refusal by either side, a cancel
/// before that point or an error leaves `/data` untouched and the staging directory removed.
pub(super) async fn import_file(
    c: &FilesClient,
    src: &Path,
    opts: &ImportOptions,
    progress: ProgressFn<'_>,
    cancel: &CancellationToken,
) -> Result<ImportResult> {
    let file = std::fs::File::open(src)
        .map_err(|e| Error::invalid(format!("cannot open {}: {e}", src.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stop_check = cancel.child_token();
    // Returning early (the bridge refused first) stops the validation too.
    let _stop_check = stop_check.clone().drop_guard();
    let mut check = tokio::spawn(check_file(src.to_path_buf(), opts.max_expanded, stop_check));
    let (verdict_tx, verdict_rx) = tokio::sync::watch::channel(Verdict::Pending);
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let req = ImportRequest {
        replace: opts.replace,
        max_expanded: opts.max_expanded,
    };
    let data = DataClient::new(c);
    let call = data.import(
        req,
        file,
        move |n| {
            let _ = sent_tx.send(n);
        },
        verdict_rx,
    );
    tokio::pin!(call);
    let mut d = Decision::new(verdict_tx);
    let reply = loop {
        tokio::select! {
            r = &mut call => break r,
            Some(n) = sent_rx.recv() => progress(DataProgress { archive: n, done: n, total }),
            r = &mut check, if !d.checked() => d.validated(r),
            _ = cancel.cancelled(), if d.refused.is_none() => d.refuse(Error::cancelled()),
        }
    };
    d.outcome(reply, src, opts.replace)
}

/// The host's side of an import's decision, which the bridge's client reads once the whole
/// archive was sent: a cancel during the upload still refuses an archive the validation
/// accepted.
struct Decision {
    tx: tokio::sync::watch::Sender<Verdict>,
    summary: Option<validate::Summary>,
    refused: Option<Error>,
}

impl Decision {
    fn new(tx: tokio::sync::watch::Sender<Verdict>) -> Self {
        Decision {
            tx,
            summary: None,
            refused: None,
        }
    }

    fn checked(&self) -> bool {
        self.summary.is_some() || self.refused.is_some()
    }

    fn refuse(&mut self, e: Error) {
        if self.refused.is_none() {
            self.refused = Some(e);
        }
        self.tx.send_replace(Verdict::Refuse);
    }

    fn validated(
        &mut self,
        r: std::result::Result<Result<validate::Summary>, tokio::task::JoinError>,
    ) {
        match r {
            Ok(Ok(s)) => {
                self.summary = Some(s);
                if self.refused.is_none() {
                    self.tx.send_replace(Verdict::Accept);
                }
            }
            Ok(Err(e)) => self.refuse(e),
            Err(e) => self.refuse(Error::internal(format!("validation failed: {e}"))),
        }
    }

    /// An applied import is reported as such (even if a cancel came after the commit);
    /// otherwise the host's refusal or cancel wins over the bridge's "not committed", and a
    /// bridge refusal that came first is reported as it is.
    fn outcome(
        self,
        reply: std::result::Result<ImportSummary, berth_bridge::BridgeError>,
        src: &Path,
        replace: bool,
    ) -> Result<ImportResult> {
        let r = match (reply, self.refused) {
            (Ok(r), _) => r,
            (Err(_), Some(e)) => return Err(e),
            (Err(berth_bridge::BridgeError::InvalidArgument(m)), None) => {
                let why = m.strip_prefix("refused: ").unwrap_or(&m);
                return Err(Error::invalid(format!("refused {}: {why}", src.display())));
            }
            (Err(e), None) => return Err(Error::from(e).context("importing the archive")),
        };
        let s = self.summary.ok_or_else(|| {
            Error::internal("the workspace applied an import the host had not validated")
        })?;
        tracing::debug!(received = r.received, files = r.files, "import applied");
        Ok(ImportResult {
            files: s.files,
            dirs: s.dirs,
            links: s.links,
            bytes: s.bytes,
            replaced: replace,
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

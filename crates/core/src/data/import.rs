//! Import: a host .tar.gz streamed into the workspace's staging directory while the host
//! validates it ([`super::validate`]); the bridge's `Data` service applies it to `/data`
//! all-or-nothing (replace: one atomic exchange; merge: a journal a crash rolls back or
//! finishes) only when both sides accepted it.

use std::path::{Path, PathBuf};

use berth_bridge::{DataClient, FilesClient, ImportRequest, ImportSummary};
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
/// when the host's verdict is yes and everything was sent. A refusal by either side, a cancel
/// or an error leaves `/data` untouched and the staging directory removed.
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
    let (verdict_tx, verdict_rx) = tokio::sync::oneshot::channel::<bool>();
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
        async move { verdict_rx.await.unwrap_or(false) },
    );
    tokio::pin!(call);
    let mut v = Verdict::new(verdict_tx, total);
    let reply = loop {
        tokio::select! {
            r = &mut call => break r,
            Some(n) = sent_rx.recv() => {
                v.sent = n;
                progress(DataProgress { archive: n, done: n, total });
            }
            r = &mut check, if !v.checked() => v.validated(r),
            _ = cancel.cancelled(), if v.open() => v.refuse(Error::cancelled()),
        }
        v.commit_when_ready();
    };
    v.outcome(reply, src, opts.replace)
}

/// The host's side of an import's decision: yes only once the validation accepted the archive
/// and every byte was sent (so a cancel cannot come between a yes and the bridge's commit).
struct Verdict {
    tx: Option<tokio::sync::oneshot::Sender<bool>>,
    total: u64,
    sent: u64,
    summary: Option<validate::Summary>,
    refused: Option<Error>,
}

impl Verdict {
    fn new(tx: tokio::sync::oneshot::Sender<bool>, total: u64) -> Self {
        Verdict {
            tx: Some(tx),
            total,
            sent: 0,
            summary: None,
            refused: None,
        }
    }

    /// Not yet decided: a cancel still stops the import.
    fn open(&self) -> bool {
        self.tx.is_some()
    }

    fn checked(&self) -> bool {
        self.summary.is_some() || self.refused.is_some()
    }

    fn decide(&mut self, yes: bool) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(yes);
        }
    }

    fn refuse(&mut self, e: Error) {
        if self.refused.is_none() {
            self.refused = Some(e);
        }
        self.decide(false);
    }

    fn validated(
        &mut self,
        r: std::result::Result<Result<validate::Summary>, tokio::task::JoinError>,
    ) {
        match r {
            Ok(Ok(s)) => self.summary = Some(s),
            Ok(Err(e)) => self.refuse(e),
            Err(e) => self.refuse(Error::internal(format!("validation failed: {e}"))),
        }
    }

    fn commit_when_ready(&mut self) {
        if self.summary.is_some() && self.sent >= self.total {
            self.decide(true);
        }
    }

    /// The host's refusal (or cancel) wins over the bridge's "not committed"; a bridge refusal
    /// that came first is reported as it is.
    fn outcome(
        self,
        reply: std::result::Result<ImportSummary, berth_bridge::BridgeError>,
        src: &Path,
        replace: bool,
    ) -> Result<ImportResult> {
        if let Some(e) = self.refused {
            return Err(e);
        }
        let r = reply.map_err(|e| match e {
            berth_bridge::BridgeError::InvalidArgument(m) => {
                let why = m.strip_prefix("refused: ").unwrap_or(&m);
                Error::invalid(format!("refused {}: {why}", src.display()))
            }
            e => Error::from(e).context("importing the archive"),
        })?;
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

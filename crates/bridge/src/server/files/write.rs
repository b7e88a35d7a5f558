//! Streamed, atomic writes: a temp file next to the target, written on a blocking thread from a
//! bounded queue, then renamed over the target once the client says `commit` (and the expected
//! revision still matches). An existing file keeps its mode and owner.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};
use tonic::{Status, Streaming};

use super::path::{check_writable, io_status, normalise, show};
use super::{entry, hash_file, revision_of, QUEUE};
use berth_bridge::proto::{write_input, WriteInput, WriteReply, WriteStart};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes the temp file unless disarmed. It is made on the blocking thread that creates the
/// file and returned from it, so that a call cancelled while that thread runs (the client gone,
/// the handler's future dropped) still removes the file: tokio drops the output of a task whose
/// handle is gone.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

pub async fn write(mut inbound: Streaming<WriteInput>) -> Result<WriteReply, Status> {
    let start: WriteStart = match inbound.message().await? {
        Some(WriteInput {
            input: Some(write_input::Input::Start(s)),
        }) => s,
        _ => {
            return Err(Status::invalid_argument(
                "the first write message must be `start`",
            ))
        }
    };
    if let Some(r) = &start.expected_revision {
        if !r.starts_with("sha256:") {
            return Err(Status::invalid_argument(
                "expected_revision must be \"sha256:<hex>\"",
            ));
        }
    }
    let requested = normalise(&start.path)?;
    check_writable(&requested)?;
    let (target, mut guard, existing) = tokio::task::spawn_blocking({
        let requested = requested.clone();
        let start = start.clone();
        move || prepare(&requested, &start)
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))??;
    let tmp = guard.0.clone().expect("armed");

    // The writer thread: bounded queue, fixed chunks.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(QUEUE);
    let want_rev = start.want_revision;
    let writer = tokio::task::spawn_blocking({
        let tmp = tmp.clone();
        move || -> io::Result<(u64, Option<String>)> {
            let mut f = OpenOptions::new().append(true).open(&tmp)?;
            let mut h = want_rev.then(Sha256::new);
            let mut n = 0u64;
            while let Some(chunk) = rx.blocking_recv() {
                f.write_all(&chunk)?;
                if let Some(h) = h.as_mut() {
                    h.update(&chunk);
                }
                n += chunk.len() as u64;
            }
            f.flush()?;
            Ok((n, h.map(revision_of)))
        }
    });
    let mut committed = false;
    let mut failed: Option<Status> = None;
    loop {
        match inbound.message().await {
            Ok(Some(WriteInput {
                input: Some(write_input::Input::Data(d)),
            })) => {
                if tx.send(d).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
            }
            Ok(Some(WriteInput {
                input: Some(write_input::Input::Commit(true)),
            })) => {
                committed = true;
                break;
            }
            Ok(Some(_)) => {
                failed = Some(Status::invalid_argument(
                    "unexpected message in a write stream",
                ));
                break;
            }
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let written = writer.await.map_err(|e| Status::internal(e.to_string()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    let (written, revision) = written.map_err(|e| io_status("cannot write", &target, e))?;
    if !committed {
        return Err(Status::cancelled(
            "the upload ended before it was committed; nothing was changed",
        ));
    }
    let reply = tokio::task::spawn_blocking(move || -> Result<WriteReply, Status> {
        if let Some(expected) = &start.expected_revision {
            let current = match hash_file(&target) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::NotFound => "deleted".to_string(),
                Err(e) => return Err(io_status("cannot read", &target, e)),
            };
            if &current != expected {
                return Err(Status::aborted(format!(
                    "{} changed on disk since it was read (expected {expected}, found {current})",
                    show(&target)
                )));
            }
        }
        match &existing {
            Some(m) => {
                fs::set_permissions(&tmp, fs::Permissions::from_mode(m.mode() & 0o7777))
                    .map_err(|e| io_status("cannot set mode of", &tmp, e))?;
                let _ = std::os::unix::fs::chown(&tmp, Some(m.uid()), Some(m.gid()));
            }
            None => {
                let mode = start.mode.unwrap_or(0o644) & 0o7777;
                fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
                    .map_err(|e| io_status("cannot set mode of", &tmp, e))?;
            }
        }
        if start.must_not_exist && fs::symlink_metadata(&target).is_ok() {
            return Err(Status::already_exists(format!(
                "{} already exists",
                show(&target)
            )));
        }
        fs::rename(&tmp, &target).map_err(|e| io_status("cannot replace", &target, e))?;
        // Described under the path the client asked for (a write through a symlink replaces
        // the link's target): its name is that path's last component, as every entry's is.
        let mut e = entry::lstat(&target)?;
        e.path = super::path::bytes(&requested);
        e.name = requested.file_name().map_or_else(
            || b"/".to_vec(),
            |n| super::path::bytes(std::path::Path::new(n)),
        );
        Ok(WriteReply {
            entry: Some(e),
            revision: revision.unwrap_or_default(),
            written,
        })
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))??;
    guard.0 = None;
    Ok(reply)
}

/// Resolves the real target (writes follow symlinks), checks it, and creates the temp file.
fn prepare(
    requested: &Path,
    start: &WriteStart,
) -> Result<(PathBuf, TempGuard, Option<fs::Metadata>), Status> {
    let target = match fs::symlink_metadata(requested) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(requested) {
            Ok(real) => real,
            // A dangling link: write where it points (relative to its directory).
            Err(_) => {
                let t = fs::read_link(requested)
                    .map_err(|e| io_status("cannot read link", requested, e))?;
                requested.parent().unwrap_or(Path::new("/")).join(t)
            }
        },
        _ => requested.to_path_buf(),
    };
    check_writable(&target)?;
    let existing = match fs::metadata(&target) {
        Ok(m) if m.is_dir() => {
            return Err(Status::failed_precondition(format!(
                "{} is a directory",
                show(&target)
            )))
        }
        Ok(m) => {
            if start.must_not_exist {
                return Err(Status::already_exists(format!(
                    "{} already exists",
                    show(requested)
                )));
            }
            Some(m)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if start.expected_revision.is_some() {
                return Err(Status::aborted(format!(
                    "{} was deleted since it was read",
                    show(&target)
                )));
            }
            None
        }
        Err(e) => return Err(io_status("cannot write", &target, e)),
    };
    let parent = target.parent().unwrap_or(Path::new("/")).to_path_buf();
    if start.create_parents {
        fs::create_dir_all(&parent).map_err(|e| io_status("cannot create", &parent, e))?;
    } else if !parent.is_dir() {
        return Err(Status::not_found(format!(
            "the directory {} does not exist",
            show(&parent)
        )));
    }
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().chars().take(40).collect::<String>())
        .unwrap_or_default();
    let tmp = parent.join(format!(
        ".{name}.berth-{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_status("cannot create a temporary file in", &parent, e))?;
    Ok((target, TempGuard(Some(tmp)), existing))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The temp file of a write whose call is cancelled while `prepare` runs on its blocking
    /// thread (the handler's future dropped with it) is removed once that thread ends — a
    /// cancelled upload left `.x.berth-*.tmp` in /data when the guard was made after the await.
    #[test]
    fn a_write_cancelled_while_preparing_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.bin");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let start = WriteStart {
                path: target.as_os_str().as_encoded_bytes().to_vec(),
                ..Default::default()
            };
            let job = tokio::task::spawn_blocking(move || prepare(&target, &start));
            drop(job); // the call is gone before the file exists or right after
        });
        drop(rt); // waits for the blocking thread, which drops its output
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}

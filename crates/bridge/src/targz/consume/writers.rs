//! Small files written by helper threads while the extracting thread reads on.
//!
//! Measured on an import of 20,000 files of 4 KiB into a workspace: the extracting thread spent
//! 0.83 s of a 1.0 s import in the kernel creating files on overlayfs, inflating took 65 ms.
//! Creating files is the work to spread over the cores; the archive can only be read in order.
//! Each folder's files go to one writer (folders taken in turn): creating a file locks its
//! folder, and two writers in one folder spent their time waiting for each other.
//!
//! What keeps it as safe as the sequential writer: every job is an entry the archive rules
//! already accepted, with its ancestors created (`SafeDest::place`), so no two jobs and no
//! later entry name the same path; each file is still created `O_CREAT | O_EXCL | O_NOFOLLOW`.
//! What needs a file to exist already (a hard link to it, the directories' final modes) waits
//! for [`Writers::stop`]. Dropping the writers stops them too, so nothing writes into a
//! destination after the extraction returned (its caller removes it on failure).

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::{write_file, Meta};

/// Files up to this size go to the writers, read whole into memory; larger ones are streamed by
/// the extracting thread itself (memory stays bounded: at most [`QUEUED`] such files wait for
/// each writer, 8 MiB).
pub const SMALL_FILE: u64 = 64 * 1024;
/// Jobs waiting for each writer: enough for the other writer's folder to be reached while one
/// writer still works through a long one.
const QUEUED: usize = 128;

/// One small file to create.
pub struct Job {
    pub path: PathBuf,
    pub data: Vec<u8>,
    pub meta: Meta,
    pub preserve_owner: bool,
}

pub struct Writers {
    /// One queue per writer; empty once stopped.
    txs: Vec<SyncSender<Job>>,
    /// The writer of each folder, and the next folder's.
    writer_of: HashMap<PathBuf, usize>,
    next: usize,
    threads: Vec<JoinHandle<io::Result<()>>>,
    /// Set at the first failure (or when dropped): the writers skip what is still queued.
    stopping: Arc<AtomicBool>,
}

impl Writers {
    pub fn start(n: usize) -> io::Result<Writers> {
        let mut w = Writers {
            txs: Vec::with_capacity(n),
            writer_of: HashMap::new(),
            next: 0,
            threads: Vec::with_capacity(n),
            stopping: Arc::new(AtomicBool::new(false)),
        };
        for i in 0..n {
            let (tx, rx) = mpsc::sync_channel(QUEUED);
            let stopping = w.stopping.clone();
            let t = std::thread::Builder::new()
                .name(format!("extract-{i}"))
                .spawn(move || work(rx, &stopping))?;
            w.txs.push(tx);
            w.threads.push(t);
        }
        Ok(w)
    }

    /// Queues a file for its folder's writer; the error of a writer that already failed comes
    /// back here.
    pub fn send(&mut self, job: Job) -> io::Result<()> {
        let n = self.txs.len();
        let sent = match (n, self.stopping.load(Ordering::Relaxed)) {
            (1.., false) => {
                let folder = job.path.parent().map(PathBuf::from).unwrap_or_default();
                let next = &mut self.next;
                let i = *self.writer_of.entry(folder).or_insert_with(|| {
                    *next += 1;
                    (*next - 1) % n
                });
                self.txs[i].send(job).is_ok()
            }
            _ => false,
        };
        match sent {
            true => Ok(()),
            false => self
                .stop()
                .and(Err(io::Error::other("the file writers stopped"))),
        }
    }

    /// Waits until every queued file is written; the first writer's error, if any.
    pub fn stop(&mut self) -> io::Result<()> {
        self.txs.clear();
        let mut first = Ok(());
        for t in self.threads.drain(..) {
            let r = t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a file writer panicked")));
            first = first.and(r);
        }
        first
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.stop();
    }
}

fn work(rx: Receiver<Job>, stopping: &AtomicBool) -> io::Result<()> {
    // The loop ends when the sender is gone and all queued work is done.
    for job in rx {
        if stopping.load(Ordering::Relaxed) {
            continue;
        }
        let written = write_file(&job.path, &mut &job.data[..], job.meta, job.preserve_owner);
        if let Err(e) = written {
            stopping.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                e.kind(),
                format!("cannot write {}: {e}", job.path.display()),
            ));
        }
    }
    Ok(())
}

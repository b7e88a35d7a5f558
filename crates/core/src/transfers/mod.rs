//! The app's transfers registry: what the web view refers to by id while Rust keeps the real
//! thing — paths dropped on the window, archives picked for import, uploads fed chunk by chunk,
//! and the cancel tokens of running transfers and watches.
//!
//! Nothing in it grows without bound. A cancel token lives exactly as long as its transfer (a
//! guard removes it when the transfer ends, however it ends). Parked values — drops, picked
//! archives, upload pipes — expire: a drop or archive nobody used after [`DROP_TTL`] /
//! [`ARCHIVE_TTL`], a pipe that got no chunk for [`PIPE_IDLE`] (dropping it abandons the upload
//! and leaves nothing in the workspace); at most [`MAX_PARKED`] of each kind are kept, the
//! oldest going first. Expired entries are swept on every call and by
//! [`Transfers::expire_periodically`]. The clock is injectable, so expiry is tested without
//! waiting.

mod data;
mod files;
mod parked;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use berth_runtime::CancellationToken;

use crate::files::UploadPipe;
use parked::Parked;

/// How long dropped paths wait for an upload or import that uses them.
pub const DROP_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a previewed archive waits for its import (the user reads the preview first).
pub const ARCHIVE_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a chunked upload may go without a chunk before it is abandoned.
pub const PIPE_IDLE: Duration = Duration::from_secs(2 * 60);
/// At most this many parked values of each kind.
pub const MAX_PARKED: usize = 64;
/// How often [`Transfers::expire_periodically`] sweeps.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// A chunked upload, shared between the registry and the chunk being written (the pipe is
/// `None` once finished or abandoned).
type SharedPipe = Arc<tokio::sync::Mutex<Option<UploadPipe>>>;

/// The time source; tests pass one they move by hand.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Registry {
    next: u64,
    /// Running transfers and watches: id → (registration number, token).
    cancels: HashMap<String, (u64, CancellationToken)>,
    drops: Parked<Vec<PathBuf>>,
    archives: Parked<PathBuf>,
    pipes: Parked<SharedPipe>,
}

impl Registry {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    fn expire(&mut self, now: Instant) {
        self.drops.expire(now, |_| false);
        self.archives.expire(now, |_| false);
        // A pipe in the middle of a chunk is busy, not idle.
        self.pipes.expire(now, |p| p.try_lock().is_err());
    }
}

/// The registry. Cheap to clone; clones share the entries.
#[derive(Clone)]
pub struct Transfers {
    inner: Arc<Mutex<Registry>>,
    clock: Clock,
}

impl Default for Transfers {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps a transfer's cancel token registered; dropping it (the transfer ended) removes it.
pub struct Running {
    id: String,
    number: u64,
    token: CancellationToken,
    registry: Weak<Mutex<Registry>>,
}

impl Running {
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(reg) = self.registry.upgrade() else {
            return;
        };
        let mut reg = reg.lock().unwrap();
        // A newer transfer may have reused the id (ids of transfers come from the web view).
        if reg
            .cancels
            .get(&self.id)
            .is_some_and(|(n, _)| *n == self.number)
        {
            reg.cancels.remove(&self.id);
        }
    }
}

impl Transfers {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(Instant::now))
    }

    pub fn with_clock(clock: Clock) -> Self {
        Transfers {
            inner: Arc::new(Mutex::new(Registry {
                next: 0,
                cancels: HashMap::new(),
                drops: Parked::new(DROP_TTL, MAX_PARKED),
                archives: Parked::new(ARCHIVE_TTL, MAX_PARKED),
                pipes: Parked::new(PIPE_IDLE, MAX_PARKED),
            })),
            clock,
        }
    }

    /// The registry after sweeping what expired, with the time of the sweep.
    fn registry(&self) -> (std::sync::MutexGuard<'_, Registry>, Instant) {
        let now = (self.clock)();
        let mut reg = self.inner.lock().unwrap();
        reg.expire(now);
        (reg, now)
    }

    /// Sweeps expired entries now.
    pub fn expire(&self) {
        drop(self.registry());
    }

    /// Sweeps every 30 seconds while the registry exists, so an abandoned upload releases its
    /// bridge stream even when no other call comes. Spawn it once on the app's runtime.
    pub async fn expire_periodically(self) {
        let weak = Arc::downgrade(&self.inner);
        let clock = self.clock.clone();
        drop(self);
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            Transfers {
                inner,
                clock: clock.clone(),
            }
            .expire();
        }
    }

    /// Registers a cancel token under `id` for as long as the returned guard lives.
    pub fn start(&self, id: &str) -> Running {
        let (mut reg, _) = self.registry();
        reg.next += 1;
        let number = reg.next;
        let token = CancellationToken::new();
        reg.cancels.insert(id.to_string(), (number, token.clone()));
        Running {
            id: id.to_string(),
            number,
            token,
            registry: Arc::downgrade(&self.inner),
        }
    }

    /// Cancels the running transfer or watch `id`; false when none runs under that id.
    pub fn cancel(&self, id: &str) -> bool {
        let (reg, _) = self.registry();
        match reg.cancels.get(id) {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// How many entries of each kind the registry holds (running, drops, archives, pipes).
    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize, usize) {
        let (reg, _) = self.registry();
        (
            reg.cancels.len(),
            reg.drops.len(),
            reg.archives.len(),
            reg.pipes.len(),
        )
    }
}

#[cfg(test)]
mod tests;

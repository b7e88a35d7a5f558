//! Transfers between the host file system and a workspace, streamed in fixed chunks with
//! per-item progress, cancel and the name-exists choice (replace / skip / keep both).
//!
//! [`plan`] decides what goes where (the host walk, target names), [`upload`] and [`download`]
//! move the bytes; what they share (throttled progress, display names) lives here.

mod download;
mod plan;
mod upload;

pub use download::{download_dir_from, download_from};
pub use upload::UploadPipe;

use std::path::Path;
use std::time::Instant;

use super::PROGRESS_EVERY;

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

/// What a progress row shows for a host path: its last component.
fn name_of(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

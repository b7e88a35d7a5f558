//! Seeds the data directory from the templates directory without overwriting anything.
//!
//! A bot's files are its own: a template only fills in what is missing. Files are created with
//! `create_new`, so even a concurrent writer racing with us never gets its file replaced.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What seeding did, for the startup log line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub copied: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Creates `data` (0755) if missing, then copies `templates` into it recursively. A missing
/// templates directory is normal (images without templates). Individual failures are logged
/// and counted rather than aborting: a partially seeded workspace is better than no bridge.
pub fn seed(data: &Path, templates: &Path) -> io::Result<SeedReport> {
    DirBuilder::new().recursive(true).mode(0o755).create(data)?;
    let mut report = SeedReport::default();
    if templates.is_dir() {
        copy_dir(templates, data, &mut report);
    }
    Ok(report)
}

fn copy_dir(src: &Path, dst: &Path, report: &mut SeedReport) {
    let entries = match fs::read_dir(src) {
        Ok(e) => e,
        Err(e) => return fail(report, src, &e),
    };
    for entry in entries.flatten() {
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue;
        };
        let result = if meta.is_dir() {
            match DirBuilder::new()
                .mode(meta.permissions().mode() & 0o7777)
                .create(&to)
            {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
                // Descend into an existing directory too: it may lack some template files.
                _ => {
                    copy_dir(&from, &to, report);
                    continue;
                }
            }
        } else if meta.file_type().is_symlink() {
            fs::read_link(&from).and_then(|target| std::os::unix::fs::symlink(target, &to))
        } else if meta.is_file() {
            copy_file(&from, &to, meta.permissions().mode() & 0o7777)
        } else {
            continue; // sockets, fifos, devices have no place in templates
        };
        match result {
            Ok(()) => report.copied += 1,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => report.skipped += 1,
            Err(e) => fail(report, &from, &e),
        }
    }
}

fn copy_file(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let mut src = File::open(from)?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)?;
    // The file is ours (create_new succeeded), so a failed copy may remove it: no half file stays.
    if let Err(e) = io::copy(&mut src, &mut dst).and_then(|_| dst.sync_all()) {
        let _ = fs::remove_file(to);
        return Err(e);
    }
    Ok(())
}

fn fail(report: &mut SeedReport, path: &Path, err: &io::Error) {
    report.failed += 1;
    log_line!("berth-bridge: seeding: {}: {err}", path.display());
}

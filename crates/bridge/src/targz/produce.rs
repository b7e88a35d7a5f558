//! The tar.gz producer: a gzip'd tar of several paths, each under its own name (the Files
//! service's archive, the Data issue's export of `/data`). Synchronous over `Write`, so callers
//! stream it through a bounded channel from a blocking thread and memory stays constant.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Names for `sources` inside one archive: de-duplicated, children of an included parent dropped,
/// base names made unique (`a`, `a (2)`, …).
pub fn plan(sources: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut uniq: Vec<PathBuf> = Vec::new();
    for s in sources {
        if !uniq.contains(s) {
            uniq.push(s.clone());
        }
    }
    let kept: Vec<PathBuf> = uniq
        .iter()
        .filter(|p| !uniq.iter().any(|q| q != *p && p.starts_with(q)))
        .cloned()
        .collect();
    let mut used = HashSet::new();
    let mut out = Vec::new();
    for p in kept {
        let base: OsString = p
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "root".into());
        let mut name = base.clone();
        let mut i = 2;
        while !used.insert(name.clone()) {
            let mut n = base.clone();
            n.push(format!(" ({i})"));
            name = n;
            i += 1;
        }
        out.push((p, PathBuf::from(name)));
    }
    out
}

/// Writes a gzip'd tar of `(source, name in archive)` pairs into `out`. Symlinks are stored as
/// links, directories recursively; sockets are skipped.
pub fn write_targz<W: Write>(out: W, items: &[(PathBuf, PathBuf)], level: u32) -> io::Result<W> {
    let gz = GzEncoder::new(out, Compression::new(level));
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    for (src, name) in items {
        let meta = fs::symlink_metadata(src)?;
        if meta.is_dir() {
            tar.append_dir_all(name, src)?;
        } else {
            tar.append_path_with_name(src, name)?;
        }
    }
    let gz = tar.into_inner()?;
    gz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_dedupes_and_uniquifies() {
        let p = plan(&[
            "/data/a".into(),
            "/data/a/b".into(),
            "/tmp/a".into(),
            "/data/a".into(),
            "/x/c".into(),
        ]);
        let names: Vec<_> = p.iter().map(|(_, n)| n.display().to_string()).collect();
        assert_eq!(names, ["a", "a (2)", "c"]);
    }
}

//! Planning an upload: which host files and folders go to which container paths (the host walk)
//! and where a top-level name lands given the name-exists choice.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_bridge::FilesClient;

use crate::files::{join_name, numbered_name, OnExists};
use crate::{Error, Result};

/// One host file or directory to upload, found by walking the sources.
#[derive(Debug, Clone)]
pub(super) struct UploadItem {
    pub host: PathBuf,
    /// Container path.
    pub dest: Vec<u8>,
    pub dir: bool,
    pub size: u64,
}

/// What a walk found: items in upload order (a folder before its entries) and what it skipped
/// with why.
#[derive(Debug, Default)]
pub(super) struct Walk {
    pub items: Vec<UploadItem>,
    pub skipped: Vec<(PathBuf, String)>,
}

impl Walk {
    fn file(&mut self, host: PathBuf, dest: Vec<u8>, size: u64) {
        self.items.push(UploadItem {
            host,
            dest,
            dir: false,
            size,
        });
    }
    fn dir(&mut self, host: PathBuf, dest: Vec<u8>) {
        self.items.push(UploadItem {
            host,
            dest,
            dir: true,
            size: 0,
        });
    }
    fn skip(&mut self, host: PathBuf, why: &str) {
        self.skipped.push((host, why.to_string()));
    }
}

/// Walks `src` to `dest` (following a top-level symlink, not descending into linked
/// directories). Runs blocking file-system calls: call it on a blocking thread.
pub(super) fn walk_host(src: &Path, dest: Vec<u8>, out: &mut Walk) -> io::Result<()> {
    let m = std::fs::metadata(src)?;
    if m.is_file() {
        out.file(src.to_path_buf(), dest, m.len());
        return Ok(());
    }
    if !m.is_dir() {
        out.skip(src.to_path_buf(), "not a regular file: skipped");
        return Ok(());
    }
    out.dir(src.to_path_buf(), dest.clone());
    let mut stack = vec![(src.to_path_buf(), dest)];
    while let Some((dir, cdest)) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<io::Result<Vec<_>>>()?;
        names.sort_by_key(|e| e.file_name());
        for de in names {
            let host = de.path();
            let child = join_name(&cdest, de.file_name().as_bytes())
                .map_err(|e| io::Error::other(e.message))?;
            let lm = std::fs::symlink_metadata(&host)?;
            if lm.file_type().is_symlink() {
                match std::fs::metadata(&host) {
                    Ok(t) if t.is_file() => out.file(host, child, t.len()),
                    _ => out.skip(host, "symbolic link to a directory or nothing: skipped"),
                }
            } else if lm.is_dir() {
                out.dir(host.clone(), child.clone());
                stack.push((host, child));
            } else if lm.is_file() {
                out.file(host, child, lm.len());
            } else {
                out.skip(host, "not a regular file: skipped");
            }
        }
    }
    Ok(())
}

/// Where `name` goes in `dir` given the name-exists choice; `None` means skip.
pub(crate) async fn resolve_target(
    c: &FilesClient,
    dir: &[u8],
    name: &[u8],
    on_exists: OnExists,
) -> Result<Option<Vec<u8>>> {
    let t = join_name(dir, name)?;
    if c.stat(&t).await.is_err() {
        return Ok(Some(t));
    }
    match on_exists {
        OnExists::Replace => Ok(Some(t)),
        OnExists::Skip => Ok(None),
        OnExists::Fail => Err(Error::new(
            crate::model::ErrorCode::AlreadyExists,
            format!("{} already exists", String::from_utf8_lossy(&t)),
        )),
        OnExists::KeepBoth => {
            let mut n = 2;
            loop {
                let cand = join_name(dir, &numbered_name(name, n))?;
                if c.stat(&cand).await.is_err() {
                    return Ok(Some(cand));
                }
                n += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder walks to itself first, then its entries sorted, nested paths joined; a link to a
    /// file is uploaded as the file, a dangling link is skipped with why.
    #[test]
    fn walk_lists_folders_before_entries_and_skips_dangling_links() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::write(top.join("b.txt"), b"bb").unwrap();
        std::fs::write(top.join("sub/a.txt"), b"a").unwrap();
        std::os::unix::fs::symlink(top.join("b.txt"), top.join("link")).unwrap();
        std::os::unix::fs::symlink(top.join("nowhere"), top.join("dangling")).unwrap();
        let mut w = Walk::default();
        walk_host(&top, b"/data/top".to_vec(), &mut w).unwrap();
        let dests: Vec<_> = w
            .items
            .iter()
            .map(|i| (String::from_utf8_lossy(&i.dest).to_string(), i.dir, i.size))
            .collect();
        assert_eq!(
            dests,
            [
                ("/data/top".to_string(), true, 0),
                ("/data/top/b.txt".to_string(), false, 2),
                ("/data/top/link".to_string(), false, 2),
                ("/data/top/sub".to_string(), true, 0),
                ("/data/top/sub/a.txt".to_string(), false, 1),
            ]
        );
        assert_eq!(w.skipped.len(), 1);
        assert!(w.skipped[0].0.ends_with("dangling"));
    }
}

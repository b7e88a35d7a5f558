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
    /// The host path as found (shown in the transfer list).
    pub host: PathBuf,
    /// What is opened: `host` itself, or for a symlink the file it resolved to inside the
    /// chosen folder. Opened with `O_NOFOLLOW`, so a link swapped in after the walk is refused.
    pub source: PathBuf,
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
        self.linked(host.clone(), host, dest, size)
    }
    fn linked(&mut self, host: PathBuf, source: PathBuf, dest: Vec<u8>, size: u64) {
        self.items.push(UploadItem {
            host,
            source,
            dest,
            dir: false,
            size,
        });
    }
    fn dir(&mut self, host: PathBuf, dest: Vec<u8>) {
        self.items.push(UploadItem {
            source: host.clone(),
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

/// Walks `src` to `dest` (following a top-level symlink, the user's choice, but not descending
/// into linked directories). A symlink inside the folder is uploaded as the file it points to
/// only when that file is inside the chosen folder too: a folder can hold links to anything
/// (`k -> ~/.ssh/id_ed25519`, perhaps from an archive), and uploading it must not copy what is
/// outside into the workspace. Runs blocking file-system calls: call it on a blocking thread.
pub(super) fn walk_host(src: &Path, dest: Vec<u8>, out: &mut Walk) -> io::Result<()> {
    let m = std::fs::metadata(src)?;
    if m.is_file() {
        // Opened without following links later: a top-level link is resolved here.
        out.linked(
            src.to_path_buf(),
            std::fs::canonicalize(src)?,
            dest,
            m.len(),
        );
        return Ok(());
    }
    if !m.is_dir() {
        out.skip(src.to_path_buf(), "not a regular file: skipped");
        return Ok(());
    }
    out.dir(src.to_path_buf(), dest.clone());
    let root = std::fs::canonicalize(src)?;
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
                match std::fs::canonicalize(&host) {
                    Ok(t) if !t.starts_with(&root) => {
                        out.skip(host, "symbolic link leading outside the folder: skipped")
                    }
                    Ok(t) => match std::fs::metadata(&t) {
                        Ok(m) if m.is_file() => out.linked(host, t, child, m.len()),
                        _ => out.skip(host, "symbolic link to a directory or nothing: skipped"),
                    },
                    Err(_) => out.skip(host, "symbolic link to a directory or nothing: skipped"),
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
    use super::super::name_of;
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
        std::os::unix::fs::symlink("b.txt", top.join("link")).unwrap();
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

    /// Links that lead out of the chosen folder (absolute, `..`, through a linked directory)
    /// are skipped with why: nothing outside the folder is uploaded.
    #[test]
    fn walk_never_follows_a_link_out_of_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("top");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::write(d.path().join("secret"), b"key").unwrap();
        std::fs::write(top.join("sub/in.txt"), b"in").unwrap();
        let link = |t: &str, at: &str| std::os::unix::fs::symlink(t, top.join(at)).unwrap();
        link(d.path().join("secret").to_str().unwrap(), "abs");
        link("../secret", "up");
        link("sub/../../secret", "zigzag");
        link(".", "self");
        link("self/self/../secret", "chain");
        link("sub/in.txt", "inside");
        let mut w = Walk::default();
        walk_host(&top, b"/data/top".to_vec(), &mut w).unwrap();
        let root = std::fs::canonicalize(&top).unwrap();
        for it in &w.items {
            assert!(
                it.source.starts_with(&root),
                "{} uploads {}",
                it.host.display(),
                it.source.display()
            );
        }
        let up: Vec<_> = w.items.iter().map(|i| name_of(&i.host)).collect();
        assert_eq!(up, ["top", "inside", "sub", "in.txt"]);
        let mut skipped: Vec<_> = w.skipped.iter().map(|s| name_of(&s.0)).collect();
        skipped.sort();
        assert_eq!(skipped, ["abs", "chain", "self", "up", "zigzag"]);
    }
}

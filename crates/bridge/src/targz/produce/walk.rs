//! The producer's tree walk: depth first, names sorted bytewise (a stable archive order whatever
//! readdir returns), symlinks never followed, entries that vanish meanwhile passed over. An
//! explicit stack instead of recursion, so a deep tree cannot overflow a thread's stack; it
//! holds only the names still to visit, never file data.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Called for every entry with its source path, its name in the archive and its `lstat`.
pub type Visit<'a> = dyn FnMut(&Path, &Path, &Metadata) -> io::Result<()> + 'a;

/// A directory being walked: the children not visited yet.
struct Frame {
    src: PathBuf,
    name: PathBuf,
    children: std::vec::IntoIter<OsString>,
}

/// Visits `(source, name)` items and, for directories, everything below them.
pub fn walk(items: &[(PathBuf, PathBuf)], visit: &mut Visit<'_>) -> io::Result<()> {
    for (src, name) in items {
        walk_one(src, name, visit)?;
    }
    Ok(())
}

fn walk_one(src: &Path, name: &Path, visit: &mut Visit<'_>) -> io::Result<()> {
    let mut stack: Vec<Frame> = Vec::new();
    stack.extend(enter(src.to_path_buf(), name.to_path_buf(), visit)?);
    while let Some(top) = stack.last_mut() {
        match top.children.next() {
            Some(child) => {
                let (s, n) = (top.src.join(&child), top.name.join(&child));
                stack.extend(enter(s, n, visit)?);
            }
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Visits one entry; a directory becomes a frame to descend into.
fn enter(src: PathBuf, name: PathBuf, visit: &mut Visit<'_>) -> io::Result<Option<Frame>> {
    let meta = match fs::symlink_metadata(&src) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", src.display()))),
    };
    visit(&src, &name, &meta)?;
    if !meta.is_dir() {
        return Ok(None);
    }
    let children = match sorted_children(&src) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", src.display()))),
    };
    Ok(Some(Frame {
        src,
        name,
        children: children.into_iter(),
    }))
}

fn sorted_children(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

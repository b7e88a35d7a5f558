//! The file-system primitives the import's apply and recovery are built from: atomic renames
//! (`renameat2` NOREPLACE and EXCHANGE), durable small files, and tolerant removal.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let (f, t) = (cstr(from)?, cstr(to)?);
    // SAFETY: both are valid NUL-terminated strings; AT_FDCWD resolves them like rename(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// rename(2) that fails with `AlreadyExists` instead of replacing `to`: a move in or out of
/// `/data` must never clobber something the plan did not account for.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, libc::RENAME_NOREPLACE)
}

/// Swaps two existing paths in one atomic step (`RENAME_EXCHANGE`): there is no moment at which
/// either name is missing.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

/// Whether anything (a dangling symlink included) exists at `p`.
pub fn exists(p: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes a file, link or whole tree; a missing path is not an error (removal is repeated by
/// recovery after a crash, so it must be idempotent).
pub fn remove_tree(p: &Path) -> io::Result<()> {
    let r = match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) => Err(e),
    };
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// [`remove_tree`] for big trees (a replaced `/data`, a refused staging directory) on two
/// threads: deleting is mostly waiting for the file system's metadata updates, and those
/// proceed in parallel in different directories (about a third faster for 16,000 files).
pub fn remove_tree_parallel(p: &Path) -> io::Result<()> {
    let mut units = Vec::new();
    split(p, 2, &mut units)?;
    let queue = std::sync::Mutex::new(units);
    let work = || -> io::Result<()> {
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match next {
                Some(u) => remove_tree(&u)?,
                None => return Ok(()),
            }
        }
    };
    std::thread::scope(|s| {
        let other = s.spawn(work);
        let mine = work();
        let theirs = other
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a removal thread panicked")));
        mine.and(theirs)
    })?;
    // What is left are the (now empty) directories above the units.
    remove_tree(p)
}

/// The entries `depth` levels below `p` (shallower ones when the tree is shallower): units of
/// removal work.
fn split(p: &Path, depth: u32, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    let is_dir = match fs::symlink_metadata(p) {
        Ok(m) => m.is_dir(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if depth == 0 || !is_dir {
        out.push(p.to_path_buf());
        return Ok(());
    }
    for e in fs::read_dir(p)? {
        split(&e?.path(), depth - 1, out)?;
    }
    Ok(())
}

/// fsync of a directory, so the entries created or renamed in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `name` in `dir` durably: a temporary file fsynced and renamed, then the directory
/// fsynced. After a crash the file either does not exist or is complete.
pub fn write_durable(dir: &Path, name: &str, content: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    f.write_all(content)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_removal_removes_everything_and_tolerates_a_missing_tree() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("tree");
        for d in ["a/x/y", "b", "c/z"] {
            fs::create_dir_all(root.join(d)).unwrap();
            for i in 0..20 {
                fs::write(root.join(d).join(format!("f{i}")), b"x").unwrap();
            }
        }
        fs::create_dir(t.path().join("outside")).unwrap();
        fs::write(t.path().join("outside/keep"), b"k").unwrap();
        std::os::unix::fs::symlink(t.path().join("outside"), root.join("a/link")).unwrap();
        fs::write(root.join("top"), b"x").unwrap();
        remove_tree_parallel(&root).unwrap();
        assert!(!exists(&root).unwrap());
        assert!(
            exists(&t.path().join("outside/keep")).unwrap(),
            "links are removed, not followed"
        );
        remove_tree_parallel(&root).unwrap();
    }
}

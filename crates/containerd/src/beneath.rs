//! Reading a directory tree that a hostile process controls — a workspace's overlayfs layer on
//! the host, which the bot can change while Berth reads it — without ever leaving it.
//!
//! Every access starts at a descriptor of the layer's root and resolves the relative path with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: the kernel refuses
//! `..` out of the root and any symbolic link on the way, at the moment of the open, so a
//! directory swapped for a link to `/` between two calls cannot lead Berth into the host's
//! files. Only regular files are ever opened for reading (`O_NONBLOCK`, then `fstat` before the
//! first byte), so a FIFO or a device planted in the layer cannot block Berth or wake a driver.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The root of a tree to read.
pub struct Beneath {
    root: OwnedFd,
}

/// What `lstat` says of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `st_mode` (type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub rdev: u64,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
    pub fn is_symlink(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFLNK
    }
    /// overlayfs' whiteout: a character device 0/0.
    pub fn is_whiteout(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFCHR && self.rdev == 0
    }
}

impl Beneath {
    pub fn open(root: &Path) -> io::Result<Self> {
        let c = cstring(root.as_os_str().as_bytes())?;
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            root: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// The entry at `rel` itself (a link is reported, never followed); `None` when absent or
    /// when reaching it would cross a link.
    pub fn lstat(&self, rel: &Path) -> Option<Entry> {
        let fd = self.resolve(rel, libc::O_PATH | libc::O_NOFOLLOW).ok()?;
        stat(&fd).ok()
    }

    /// The names in directory `rel` with their entries.
    pub fn read_dir(&self, rel: &Path) -> io::Result<Vec<(OsString, Entry)>> {
        let dir = self.resolve(rel, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)?;
        let mut out = vec![];
        // The directory is read through its descriptor (/proc/self/fd names the open file, not
        // a path to resolve again), and each entry is stat'ed relative to it without following.
        for e in std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
            let name = e?.file_name();
            let n = cstring(name.as_bytes())?;
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let r = unsafe {
                libc::fstatat(
                    dir.as_raw_fd(),
                    n.as_ptr(),
                    &mut st,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if r == 0 {
                out.push((name, entry(&st)));
            }
        }
        Ok(out)
    }

    /// Whether directory `rel` is marked opaque by overlayfs (`trusted.` or `user.` namespace).
    pub fn is_opaque(&self, rel: &Path) -> bool {
        let Ok(dir) = self.resolve(rel, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)
        else {
            return false;
        };
        let mut buf = [0u8; 4];
        [
            &b"trusted.overlay.opaque\0"[..],
            &b"user.overlay.opaque\0"[..],
        ]
        .iter()
        .any(|name| {
            let n = unsafe {
                libc::fgetxattr(
                    dir.as_raw_fd(),
                    name.as_ptr().cast(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            n >= 1 && buf[0] == b'y'
        })
    }

    /// The target of the link at `rel`.
    pub fn read_link(&self, rel: &Path) -> io::Result<OsString> {
        let fd = self.resolve(rel, libc::O_PATH | libc::O_NOFOLLOW)?;
        let mut buf = vec![0u8; libc::PATH_MAX as usize];
        let empty = cstring(b"")?;
        let n = unsafe {
            libc::readlinkat(
                fd.as_raw_fd(),
                empty.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(OsString::from(std::ffi::OsStr::from_bytes(&buf)))
    }

    /// The regular file at `rel`, opened for reading; anything else is refused unopened.
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        // O_PATH first: opening a FIFO or a device for reading could block or act on a driver.
        let probe = self.resolve(rel, libc::O_PATH | libc::O_NOFOLLOW)?;
        if !entry(&stat_raw(&probe)?).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let fd = self.resolve(rel, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK)?;
        // It may have been swapped between the two opens: check what was opened.
        if !entry(&stat_raw(&fd)?).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(File::from(fd))
    }

    fn resolve(&self, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
        let path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let c = cstring(path.as_os_str().as_bytes())?;
        let how = OpenHow {
            flags: (flags | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS,
        };
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

/// `struct open_how` of openat2(2) (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn stat(fd: &OwnedFd) -> io::Result<Entry> {
    stat_raw(fd).map(|s| entry(&s))
}

fn stat_raw(fd: &OwnedFd) -> io::Result<libc::stat> {
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn entry(st: &libc::stat) -> Entry {
    Entry {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        size: st.st_size.max(0) as u64,
        rdev: st.st_rdev,
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn never_follows_a_link_and_opens_only_regular_files() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"inside").unwrap();
        symlink("/etc", root.join("up")).unwrap();
        symlink("/etc/hostname", root.join("file-link")).unwrap();
        symlink("..", root.join("d/parent")).unwrap();
        let fifo = CString::new(root.join("fifo").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let b = Beneath::open(root).unwrap();

        // Links are reported as links and never crossed, wherever they are in the path.
        assert!(b.lstat(Path::new("up")).unwrap().is_symlink());
        assert_eq!(b.lstat(Path::new("up/hostname")), None);
        assert_eq!(b.lstat(Path::new("d/parent/d/f")), None);
        assert_eq!(b.lstat(Path::new("../etc/hostname")), None);
        assert!(b.read_dir(Path::new("up")).is_err());
        assert!(b.open_file(Path::new("file-link")).is_err());
        assert!(b.open_file(Path::new("up/hostname")).is_err());
        assert_eq!(b.read_link(Path::new("up")).unwrap(), "/etc");
        // A FIFO is refused without being opened (opening it for reading would block).
        assert!(b.open_file(Path::new("fifo")).is_err());
        // What is inside works.
        let mut s = String::new();
        std::io::Read::read_to_string(&mut b.open_file(Path::new("d/f")).unwrap(), &mut s).unwrap();
        assert_eq!(s, "inside");
        let mut names: Vec<_> = b
            .read_dir(Path::new(""))
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        names.sort();
        assert_eq!(names, ["d", "fifo", "file-link", "up"]);
    }

    /// "Changes since" over layers holding links out and a FIFO: it reports the links as
    /// entries, lists nothing of the host's and does not block on the FIFO.
    #[test]
    fn changes_never_leave_the_layers() {
        let t = tempfile::tempdir().unwrap();
        let (then, now) = (t.path().join("then"), t.path().join("now"));
        std::fs::create_dir_all(then.join("etc")).unwrap();
        std::fs::write(then.join("etc/conf"), b"a").unwrap();
        std::fs::write(then.join("pipe"), b"was a file").unwrap();
        std::fs::create_dir_all(&now).unwrap();
        symlink("/etc", now.join("etc")).unwrap();
        symlink("/", now.join("root")).unwrap();
        let fifo = CString::new(now.join("pipe").as_os_str().as_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let changes = crate::changes::diff(&[then], &[now]).unwrap();
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/etc", "/etc/conf", "/pipe", "/root"],
            "{changes:?}"
        );
    }
}

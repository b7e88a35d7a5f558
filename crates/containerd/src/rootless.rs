//! A rootless containerd (Berth's own, or any other run in RootlessKit by the user): it lives
//! in a user namespace where the user is root, with a mount and a network namespace of its own.
//! Berth talks to its socket from outside, but what acts on the workspaces' network (CNI,
//! iptables) must run in those namespaces, and a workspace's network namespace can only be
//! entered from its user namespace.
//!
//! Recognised by who serves the socket: containerd's pid (`SO_PEERCRED`) in another user
//! namespace than Berth's. Its namespaces are opened at every use (a restarted daemon has new
//! ones), and held open while used, so a reuse of the pid cannot redirect Berth elsewhere.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

/// containerd's user, mount and network namespaces, held open.
#[derive(Debug)]
pub struct Namespaces {
    user: File,
    mount: File,
    net: File,
}

impl Namespaces {
    /// The namespaces of the containerd serving `socket` when it runs in another user namespace
    /// than this process; `None` for a containerd of the host's (rootful).
    pub fn detect(socket: &Path) -> Option<Arc<Namespaces>> {
        let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
        let pid = peer_pid(&stream)?;
        let open = |ns: &str| File::open(format!("/proc/{pid}/ns/{ns}")).ok();
        let user = open("user")?;
        let theirs = user.metadata().ok()?;
        let ours = std::fs::metadata("/proc/self/ns/user").ok()?;
        if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
            return None;
        }
        Some(Arc::new(Namespaces {
            user,
            mount: open("mnt")?,
            net: open("net")?,
        }))
    }

    /// The namespaces of the rootless containerd on `socket` now; `Unavailable` when it does not
    /// answer or is not rootless any more.
    pub fn current(socket: &Path) -> Result<Arc<Namespaces>, berth_runtime::RuntimeError> {
        Self::detect(socket).ok_or_else(|| {
            berth_runtime::RuntimeError::unavailable(format!(
                "the rootless containerd on {} does not answer",
                socket.display()
            ))
        })
    }

    /// The raw descriptors, for a child about to enter them.
    fn fds(&self) -> [RawFd; 3] {
        [
            self.user.as_raw_fd(),
            self.mount.as_raw_fd(),
            self.net.as_raw_fd(),
        ]
    }

    /// Makes `cmd` run in containerd's namespaces (as `nsenter -U --preserve-credentials -m -n`).
    pub fn enter(self: &Arc<Self>, cmd: &mut tokio::process::Command) {
        let [user, mount, net] = self.fds();
        let keep = self.clone();
        // SAFETY: only setns system calls run between fork and exec; the descriptors stay open
        // in the parent (`keep` holds them) until the child has been spawned.
        unsafe {
            cmd.pre_exec(move || {
                let _ = &keep;
                // The user namespace first: it is what gives the right to enter the others.
                setns(user, libc::CLONE_NEWUSER)?;
                setns(mount, libc::CLONE_NEWNS)?;
                setns(net, libc::CLONE_NEWNET)
            });
        }
    }

    /// Makes `cmd` run in containerd's user namespace and then in the network namespace
    /// `netns` (a workspace's, which belongs to that user namespace).
    pub fn enter_user_then(self: &Arc<Self>, cmd: &mut tokio::process::Command, netns: RawFd) {
        let user = self.user.as_raw_fd();
        let keep = self.clone();
        // SAFETY: as in `enter`; the caller keeps `netns` open until the child is spawned.
        unsafe {
            cmd.pre_exec(move || {
                let _ = &keep;
                setns(user, libc::CLONE_NEWUSER)?;
                setns(netns, libc::CLONE_NEWNET)
            });
        }
    }
}

fn setns(fd: RawFd, kind: libc::c_int) -> std::io::Result<()> {
    // SAFETY: setns takes a descriptor and a flag; it changes only the calling process.
    if unsafe { libc::setns(fd, kind) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The pid of the process serving the other end of a Unix stream.
fn peer_pid(stream: &std::os::unix::net::UnixStream) -> Option<i32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0 && cred.pid > 0).then_some(cred.pid)
}

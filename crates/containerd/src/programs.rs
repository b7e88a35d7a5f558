//! Finding the host programs Berth runs (containerd, RootlessKit, iptables, ip): on `PATH`, then
//! in the standard directories, `sbin` included — a normal user's `PATH` on Debian has no
//! `/usr/sbin`, where iptables lives.

use std::path::PathBuf;

/// The program's path, when it is installed.
pub fn find(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| p.into_string().ok())
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .chain([
            "/usr/local/sbin",
            "/usr/local/bin",
            "/usr/sbin",
            "/usr/bin",
            "/sbin",
            "/bin",
        ])
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

/// The program's path, or its bare name (the error of running it then names it).
pub fn path(name: &str) -> PathBuf {
    find(name).unwrap_or_else(|| PathBuf::from(name))
}

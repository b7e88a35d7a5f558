//! Where Berth keeps its files under its data directory, and how it finds and installs the
//! bridge binary that every workspace mounts read-only at `/opt/berth`.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Berth's directory layout.
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
        }
    }
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("berth.db")
    }
    /// Mounted read-only at `/opt/berth`: the bridge binary and `/data` templates.
    pub fn runtime_dir(&self) -> PathBuf {
        self.data_dir.join("runtime")
    }
    /// Mounted at `/run/berth`: the bridge's socket.
    pub fn socket_dir(&self, container_id: &str) -> PathBuf {
        self.data_dir.join("run").join(container_id)
    }
    pub fn bridge_socket(&self, container_id: &str) -> PathBuf {
        self.socket_dir(container_id).join("bridge.sock")
    }
    pub fn log_file(&self, container_id: &str) -> PathBuf {
        self.data_dir
            .join("logs")
            .join(format!("{container_id}.log"))
    }
    /// Files Berth generates for containers (resolv.conf).
    pub fn net_dir(&self) -> PathBuf {
        self.data_dir.join("net")
    }
    pub fn managed_containerd_dir(&self) -> PathBuf {
        self.data_dir.join("containerd")
    }
    /// The container backend chosen in the settings: a file rather than a database row, so
    /// the app and the CLI read it before they open Berth with that backend.
    pub fn backend_choice(&self) -> PathBuf {
        self.data_dir.join("backend")
    }
}

/// The backend saved in the settings of the data directory `data_dir`, if one was chosen.
pub fn saved_backend(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(Paths::new(data_dir).backend_choice()).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// Creates Berth's data directory (and its parents) and makes it private to its owner (0700),
/// also when it existed with wider permissions: it holds the database, the bots' kept data and
/// the bridge sockets, and `run/` is writable from inside the workspaces.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Writes a small private file (0600) whole or not at all: a temp sibling, fsync, rename.
pub fn write_private_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The default data directory: `$XDG_DATA_HOME/berth` or `~/.local/share/berth`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("berth");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".local/share/berth")
}

/// Finds the static bridge binary: `BERTH_BRIDGE_BINARY`, next to the running executable, in
/// `../lib/berth/` from it (where the package installs it: `/usr/lib/berth/berth-bridge`), or
/// the build output of `scripts/build-bridge.sh` in this source tree.
pub fn find_bridge_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
    if let Some(p) = std::env::var_os("BERTH_BRIDGE_BINARY") {
        candidates.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join("berth-bridge"));
            candidates.push(dir.join("../lib/berth/berth-bridge"));
        }
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bridge/berth-bridge"));
    // A dynamically linked build (e.g. `target/debug/berth-bridge` from `cargo test`) cannot run
    // in an image without the host's loader, so only static binaries qualify.
    candidates
        .into_iter()
        .find(|p| p.is_file() && is_static_elf(p))
}

/// True for an ELF executable without a program interpreter (statically linked).
fn is_static_elf(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut header = [0u8; 64];
    if f.read_exact(&mut header).is_err() || &header[..4] != b"\x7fELF" || header[4] != 2 {
        return false; // not a 64-bit ELF
    }
    let u16_at = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]) as u64;
    let phoff = u64::from_le_bytes(header[32..40].try_into().unwrap());
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    for i in 0..phnum {
        let mut kind = [0u8; 4];
        if f.seek(SeekFrom::Start(phoff + i * phentsize)).is_err()
            || f.read_exact(&mut kind).is_err()
        {
            return false;
        }
        if u32::from_le_bytes(kind) == 3 {
            return false; // PT_INTERP: needs a dynamic loader
        }
    }
    true
}

/// Copies the bridge into the runtime directory when the source changed (temp file + rename, so
/// a workspace starting meanwhile never sees half a binary). A stamp of the source's size and
/// mtime makes the common case (nothing changed) two `stat`s instead of reading both binaries.
pub fn install_bridge(paths: &Paths, source: &Path) -> Result<()> {
    let dir = paths.runtime_dir();
    std::fs::create_dir_all(dir.join("templates")).map_err(io("creating the runtime directory"))?;
    let target = dir.join("bridge");
    let stamp_file = dir.join(".bridge-source");
    let meta = std::fs::metadata(source).map_err(io("reading the bridge binary"))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    let stamp = format!(
        "{}\n{}\n{}\n",
        source.display(),
        meta.len(),
        mtime.as_nanos()
    );
    if target.is_file()
        && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        return Ok(());
    }
    let tmp = dir.join(".bridge.tmp");
    std::fs::copy(source, &tmp).map_err(io("copying the bridge binary"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(io("chmod bridge"))?;
    std::fs::rename(&tmp, &target).map_err(io("installing the bridge binary"))?;
    std::fs::write(&stamp_file, stamp).map_err(io("writing the bridge stamp"))?;
    Ok(())
}

pub(crate) fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::internal(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn installs_the_bridge_once_and_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let paths = super::Paths::new(dir.path());
        let source = dir.path().join("berth-bridge");
        std::fs::write(&source, b"one").unwrap();
        super::install_bridge(&paths, &source).unwrap();
        let target = paths.runtime_dir().join("bridge");
        assert_eq!(std::fs::read(&target).unwrap(), b"one");
        std::fs::write(&source, b"two!").unwrap();
        super::install_bridge(&paths, &source).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"two!");
        std::fs::remove_file(&target).unwrap();
        super::install_bridge(&paths, &source).unwrap();
        assert!(target.is_file(), "a removed bridge is installed again");
    }

    #[test]
    fn tells_static_from_dynamic_binaries() {
        assert!(
            !super::is_static_elf(std::path::Path::new("/bin/sh")),
            "/bin/sh is dynamic"
        );
        let busybox = std::path::Path::new("/bin/busybox");
        if busybox.exists() {
            assert!(super::is_static_elf(busybox), "busybox-static is static");
        }
    }
}

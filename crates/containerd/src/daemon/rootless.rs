//! containerd run as the user, in RootlessKit's user, mount and network namespaces: there the
//! user is root over the subordinate ids of `/etc/subuid`, and workspaces reach the outside
//! through slirp4netns (a process of the user's). An escape from a workspace lands as the user,
//! not as root.
//!
//! The socket, containerd's state and the workspaces' files are on the host's filesystem, so
//! Berth talks to it from outside; what must happen inside the namespaces (CNI, iptables, reading
//! files owned by subordinate ids) enters them through containerd's pid (see `rootless.rs` at the
//! crate's root).

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::{OwnDaemon, Result};

use super::{
    find_binary, io, socket_to_start, spawn_detached, stop_all, stop_shims, wait_answering,
    write_config,
};

/// What must be installed for it: the programs and the Debian packages that hold them.
const PROGRAMS: &[(&str, &str)] = &[
    ("containerd", "containerd"),
    ("runc", "runc"),
    ("rootlesskit", "rootlesskit"),
    ("slirp4netns", "slirp4netns"),
    ("newuidmap", "uidmap"),
    ("newgidmap", "uidmap"),
];

/// containerd in RootlessKit, run by a normal user for Berth.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootlessContainerd;

/// The one privileged step that gives a user all of it.
pub fn setup_command() -> String {
    format!("sudo scripts/setup.sh --for-user {}", user_name())
}

fn user_name() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| unsafe { libc::getuid() }.to_string())
}

/// Whether `/etc/subuid` (or `subgid`) gives the user subordinate ids.
fn has_subordinate_ids(file: &str) -> bool {
    let uid = unsafe { libc::getuid() }.to_string();
    let name = user_name();
    std::fs::read_to_string(file).is_ok_and(|text| {
        text.lines().any(|l| {
            let owner = l.split(':').next().unwrap_or("");
            owner == name || owner == uid
        })
    })
}

#[async_trait::async_trait]
impl OwnDaemon for RootlessContainerd {
    fn rootless(&self) -> bool {
        true
    }

    fn missing(&self) -> Option<String> {
        let mut lacks: Vec<String> = PROGRAMS
            .iter()
            .filter(|(program, _)| find_binary(program).is_none())
            .map(|(program, package)| format!("{program} (package {package})"))
            .collect();
        for file in ["/etc/subuid", "/etc/subgid"] {
            if !has_subordinate_ids(file) {
                lacks.push(format!("subordinate ids for {} in {file}", user_name()));
            }
        }
        // slirp4netns makes a TAP device in the namespace; some machines leave it root-only.
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .is_err()
        {
            lacks.push("access to /dev/net/tun".into());
        }
        (!lacks.is_empty()).then(|| {
            format!(
                "missing {}; run once: {}",
                lacks.join(", "),
                setup_command()
            )
        })
    }

    fn endpoint(&self, dir: &Path) -> PathBuf {
        dir.join("containerd.sock")
    }

    async fn start(&self, dir: &Path) -> Result<()> {
        let Some(socket) = socket_to_start(self, dir)? else {
            return Ok(());
        };
        // Workspaces of an instance that died: their network went with its namespaces, and a
        // new containerd would adopt them as they are. They are ended; they start again cleanly.
        stop_shims(&socket).await?;
        // Its lock and child pid would stop the new one.
        let state = dir.join("rootlesskit");
        let _ = std::fs::remove_dir_all(&state);
        let run = dir.join("run");
        std::fs::create_dir_all(&run).map_err(io("creating containerd's run directory"))?;
        let config = write_config(dir, &socket, "oom_score = 0\n")?;
        spawn_detached(rootlesskit(&state, &run, &config), dir)?;
        wait_answering(&socket, dir).await
    }

    async fn stop(&self, dir: &Path) -> Result<bool> {
        stop_all(&dir.join("config.toml"), &self.endpoint(dir)).await
    }
}

/// RootlessKit as nerdctl's `containerd-rootless.sh` runs it: slirp4netns without access to the
/// host's loopback (the host's local services stay out of reach), private copies of `/etc` and
/// `/run`, and no pid namespace (task pids stay the host's, which the bridge's peer check and
/// the CNI setup use). Inside, `/run/containerd` is a directory of Berth's: containerd 1.6 puts
/// its shims' sockets there, and the host's belongs to root.
fn rootlesskit(state: &Path, run: &Path, config: &Path) -> Command {
    let mut cmd = Command::new(find_binary("rootlesskit").expect("checked by missing()"));
    cmd.arg(format!("--state-dir={}", state.display()))
        .args([
            "--net=slirp4netns",
            "--mtu=65520",
            "--slirp4netns-sandbox=auto",
            "--slirp4netns-seccomp=auto",
            "--disable-host-loopback",
            "--copy-up=/etc",
            "--copy-up=/run",
            "--propagation=rslave",
            "sh",
            "-c",
            "rm -f /run/containerd /run/xtables.lock /run/runc && mkdir -p /run/containerd \
             && mount --bind \"$1\" /run/containerd && exec containerd --config \"$2\"",
            "sh",
        ])
        .arg(run)
        .arg(config)
        // containerd finds runc, and RootlessKit slirp4netns, on PATH; a user's PATH may lack
        // the sbin directories (Debian's runc is /usr/sbin/runc).
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    // The daemon's umask reaches every process of every workspace through the shim and runc.
    use std::os::unix::process::CommandExt;
    // SAFETY: umask is a single system call, safe between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    cmd
}

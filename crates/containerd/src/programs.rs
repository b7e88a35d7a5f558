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

/// Runs `cmd` with `input` on its standard input and its output collected (the way CNI plugins
/// and `iptables-restore` take their work); `what` names it in errors.
pub async fn run_with_input(
    mut cmd: tokio::process::Command,
    input: &[u8],
    what: &str,
) -> Result<std::process::Output, berth_runtime::RuntimeError> {
    use std::process::Stdio;
    use tokio::io::AsyncWriteExt;
    let internal =
        |e: std::io::Error| berth_runtime::RuntimeError::internal(format!("{what}: {e}"));
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(internal)?;
    let mut stdin = child.stdin.take().expect("piped");
    // A program that exits without reading everything reports why on its own.
    stdin.write_all(input).await.ok();
    drop(stdin);
    child.wait_with_output().await.map_err(internal)
}

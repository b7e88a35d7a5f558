//! [`AppleConnector`]: finds the `container` program and connects an [`AppleRuntime`] on every
//! (re)connect, after the preflight (version 1.0 or newer, system service running).

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::{Connector, Result, Runtime, RuntimeError, Target};

use crate::{AppleOptions, AppleRuntime};

/// Where Apple's installer and Homebrew put the program, looked at before `PATH`: an app
/// started from the Dock gets a `PATH` without `/usr/local/bin`.
pub const WELL_KNOWN: &[&str] = &["/usr/local/bin/container", "/opt/homebrew/bin/container"];

/// Connects to Apple's `container` system service through its CLI.
#[derive(Debug, Clone)]
pub struct AppleConnector {
    program: Option<PathBuf>,
    options: AppleOptions,
}

impl AppleConnector {
    /// `program`: the CLI given explicitly (`--container-bin` / `BERTH_CONTAINER_BIN`, resolved
    /// by the caller); `None` looks in [`WELL_KNOWN`], then `PATH`.
    pub fn new(program: Option<PathBuf>) -> Self {
        Self::with_options(program, AppleOptions::default())
    }

    pub fn with_options(program: Option<PathBuf>, options: AppleOptions) -> Self {
        Self { program, options }
    }

    /// The program this connector runs, or `Unavailable` with how to install it.
    pub fn locate(&self) -> Result<PathBuf> {
        let fixed: Vec<&Path> = WELL_KNOWN.iter().map(Path::new).collect();
        locate(self.program.as_deref(), &fixed, std::env::var_os("PATH"))
    }
}

#[async_trait::async_trait]
impl Connector for AppleConnector {
    fn name(&self) -> &'static str {
        "Apple Container"
    }

    /// `target.namespace` becomes the `berth.namespace` label; `target.endpoint` and
    /// `target.state_dir` have no use here (the CLI finds its service through launchd/XPC).
    async fn connect(&self, target: &Target) -> Result<Arc<dyn Runtime>> {
        let program = self.locate()?;
        let rt = AppleRuntime::connect(program, &target.namespace, self.options).await?;
        Ok(Arc::new(rt))
    }
}

fn locate(explicit: Option<&Path>, fixed: &[&Path], path_env: Option<OsString>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if executable(p) {
            Ok(p.to_path_buf())
        } else {
            Err(RuntimeError::unavailable(format!(
                "there is no executable container CLI at {} (given by --container-bin or \
                 BERTH_CONTAINER_BIN)",
                p.display()
            )))
        };
    }
    let on_path = path_env
        .iter()
        .flat_map(std::env::split_paths)
        .filter(|d| d.is_absolute())
        .map(|d| d.join("container"));
    fixed
        .iter()
        .map(|p| p.to_path_buf())
        .chain(on_path)
        .find(|p| executable(p))
        .ok_or_else(|| {
            RuntimeError::unavailable(format!(
                "Apple's container CLI was not found ({}, PATH): install it from \
                 https://github.com/apple/container/releases (a Mac with Apple silicon), or give \
                 its path with --container-bin or BERTH_CONTAINER_BIN",
                fixed
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe(dir: &Path, name: &str) -> PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[test]
    fn explicit_then_well_known_then_path() {
        let t = tempfile::tempdir().unwrap();
        let local = t.path().join("usr-local/container");
        let brew = exe(&t.path().join("homebrew"), "container");
        let on_path = exe(&t.path().join("bin"), "container");
        let path_env = Some(OsString::from(format!(
            "relative:{}",
            t.path().join("bin").display()
        )));
        let fixed = [local.as_path(), brew.as_path()];

        assert_eq!(locate(None, &fixed, path_env.clone()).unwrap(), brew);
        exe(local.parent().unwrap(), "container");
        assert_eq!(locate(None, &fixed, path_env.clone()).unwrap(), local);
        assert_eq!(locate(Some(&on_path), &fixed, None).unwrap(), on_path);
        assert_eq!(locate(None, &[], path_env).unwrap(), on_path);
    }

    #[test]
    fn missing_is_unavailable_with_an_install_hint() {
        let t = tempfile::tempdir().unwrap();
        let err = locate(
            None,
            &[Path::new("/nonexistent/container")],
            Some("/nonexistent".into()),
        )
        .unwrap_err();
        assert_eq!(err.kind, berth_runtime::ErrorKind::Unavailable);
        assert!(
            err.message.contains("github.com/apple/container/releases"),
            "{err}"
        );
        let not_exe = t.path().join("container");
        std::fs::write(&not_exe, "").unwrap();
        let err = locate(Some(&not_exe), &[], None).unwrap_err();
        assert!(err.message.contains("BERTH_CONTAINER_BIN"), "{err}");
    }
}

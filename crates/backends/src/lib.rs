//! Which container backend Berth uses, and its [`Connector`]. The composition roots (the CLI,
//! the app, the tests) choose here, so each agrees with the others and core stays free of
//! backend names.
//!
//! The choice, first found wins: the CLI's `--backend` or `BERTH_BACKEND`; the Settings
//! (`<data dir>/backend`, written by core's settings); the platform's default — Apple
//! Container on macOS, containerd elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_runtime::Connector;

/// A container backend Berth can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Containerd,
    Apple,
}

/// The names users type, in the order the help lists them.
pub const NAMES: [&str; 2] = ["apple", "containerd"];

impl Backend {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name.trim() {
            "containerd" => Ok(Self::Containerd),
            "apple" => Ok(Self::Apple),
            other => Err(format!(
                "unknown container backend {other:?}: use {}",
                NAMES.join(" or ")
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Containerd => "containerd",
            Self::Apple => "apple",
        }
    }

    /// Apple Container on macOS (the only runtime there), containerd elsewhere.
    pub fn platform_default() -> Self {
        if cfg!(target_os = "macos") {
            Self::Apple
        } else {
            Self::Containerd
        }
    }

    /// The backend to use: `explicit` (flag or environment), else the one saved in
    /// `data_dir`'s settings, else the platform's default. A bad saved name is an error that
    /// names the file, not a silent fallback.
    pub fn choose(explicit: Option<&str>, data_dir: &Path) -> Result<Self, String> {
        if let Some(name) = explicit.filter(|n| !n.trim().is_empty()) {
            return Self::parse(name);
        }
        match berth_core::saved_backend(data_dir) {
            Some(name) => Self::parse(&name)
                .map_err(|e| format!("{e} (saved in {})", data_dir.join("backend").display())),
            None => Ok(Self::platform_default()),
        }
    }

    /// The backend's connector. `container_bin`: Apple's `container` program when given
    /// (`--container-bin`, `BERTH_CONTAINER_BIN`); otherwise it is looked up by absolute path.
    pub fn connector(self, container_bin: Option<PathBuf>) -> Arc<dyn Connector> {
        match self {
            Self::Containerd => Arc::new(berth_containerd::ContainerdConnector),
            Self::Apple => Arc::new(berth_apple::AppleConnector::new(container_bin)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_beats_saved_beats_default_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Backend::choose(None, dir.path()),
            Ok(Backend::platform_default())
        );
        std::fs::write(dir.path().join("backend"), "apple\n").unwrap();
        assert_eq!(Backend::choose(None, dir.path()), Ok(Backend::Apple));
        assert_eq!(
            Backend::choose(Some("containerd"), dir.path()),
            Ok(Backend::Containerd)
        );
        assert_eq!(Backend::choose(Some(" "), dir.path()), Ok(Backend::Apple));
        let e = Backend::choose(Some("docker"), dir.path()).unwrap_err();
        assert!(e.contains("use apple or containerd"), "{e}");
        std::fs::write(dir.path().join("backend"), "podman").unwrap();
        let e = Backend::choose(None, dir.path()).unwrap_err();
        assert!(e.contains("podman") && e.contains("saved in"), "{e}");
    }
}

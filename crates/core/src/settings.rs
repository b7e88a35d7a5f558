//! User settings: defaults, validation, persistence in the store.

use berth_runtime::ImageRef;

use crate::model::{PullPolicy, Settings};
use crate::{Berth, Error, Result};

pub const DEFAULT_SOCKET: &str = "/run/containerd/containerd.sock";
pub const DEFAULT_NAMESPACE: &str = "berth";
pub const DEFAULT_IMAGE: &str = "debian:bookworm-slim";

pub fn defaults() -> Settings {
    Settings {
        containerd_socket: DEFAULT_SOCKET.into(),
        namespace: DEFAULT_NAMESPACE.into(),
        default_image: DEFAULT_IMAGE.into(),
        pull_policy: PullPolicy::IfNotPresent,
        managed_containerd: false,
        archive_versions: false,
        backend: None,
    }
}

/// The saved settings over the defaults, `default_socket` among them.
pub fn load(store: &berth_store::Store, default_socket: &str) -> Result<Settings> {
    let mut s = defaults();
    s.containerd_socket = default_socket.to_string();
    for (k, v) in store.all_settings()? {
        match k.as_str() {
            "containerd_socket" => s.containerd_socket = v,
            "namespace" => s.namespace = v,
            "default_image" => s.default_image = v,
            "pull_policy" => s.pull_policy = serde_json::from_value(v.into()).unwrap_or_default(),
            "managed_containerd" => s.managed_containerd = v == "true",
            "archive_versions" => s.archive_versions = v == "true",
            _ => {}
        }
    }
    Ok(s)
}

fn validate(s: &Settings) -> Result<()> {
    if !s.containerd_socket.starts_with('/') {
        return Err(Error::invalid(
            "the containerd socket must be an absolute path",
        ));
    }
    let ns_ok = !s.namespace.is_empty()
        && s.namespace
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._".contains(c));
    if !ns_ok {
        return Err(Error::invalid(
            "the namespace must be lower-case letters, digits, '-', '.', '_'",
        ));
    }
    ImageRef::parse(&s.default_image).map_err(|e| Error::invalid(format!("default image: {e}")))?;
    // Which names exist is the composition root's business (core names no backend); a name is
    // a short lower-case word, so nothing else reaches the file.
    if let Some(b) = &s.backend {
        if b.is_empty() || b.len() > 32 || !b.bytes().all(|c| c.is_ascii_lowercase()) {
            return Err(Error::invalid(format!(
                "unknown container backend {b:?}: use apple or containerd"
            )));
        }
    }
    Ok(())
}

impl Berth {
    /// Validates and saves settings; reconnects when the connection settings changed.
    pub async fn set_settings(&self, new: Settings) -> Result<Settings> {
        validate(&new)?;
        let old = self.settings()?;
        let store = &self.inner.store;
        store.set_setting("containerd_socket", &new.containerd_socket)?;
        store.set_setting("namespace", &new.namespace)?;
        store.set_setting("default_image", &new.default_image)?;
        let policy = serde_json::to_value(new.pull_policy).map_err(Error::internal)?;
        store.set_setting("pull_policy", policy.as_str().unwrap_or("if-not-present"))?;
        let flag = |b: bool| if b { "true" } else { "false" };
        store.set_setting("managed_containerd", flag(new.managed_containerd))?;
        store.set_setting("archive_versions", flag(new.archive_versions))?;
        let choice = self.inner.paths.backend_choice();
        match &new.backend {
            Some(b) => crate::paths::write_private_atomically(&choice, b.as_bytes()),
            None => std::fs::remove_file(&choice).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            }),
        }
        .map_err(|e| Error::internal(format!("saving the backend choice: {e}")))?;
        if old.containerd_socket != new.containerd_socket || old.namespace != new.namespace {
            self.connect().await;
        }
        self.settings()
    }
}

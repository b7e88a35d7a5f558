//! Berth's labels on a workspace container. Apple's CLI has no namespaces: container names are
//! global to the user, so `Target.namespace` is stored as a label and only containers carrying
//! Berth's labels and that namespace are listed, adopted or touched.
//!
//! The names are containerd's (`berth-containerd` `workspace.rs`) plus the namespace.

use std::collections::HashMap;

use berth_runtime::{Result, RuntimeError};

/// The bot the workspace belongs to.
pub const BOT: &str = "berth.bot";
/// `1` on every workspace container.
pub const WORKSPACE: &str = "berth.workspace";
/// How the workspace reaches the network (`bridge`: Apple's per-VM network).
pub const NETWORK: &str = "berth.network";
/// The Berth namespace (`Target.namespace`) the workspace belongs to.
pub const NAMESPACE: &str = "berth.namespace";

/// Whether a container is one of Berth's workspaces in `namespace`.
pub fn is_ours(labels: &HashMap<String, String>, namespace: &str) -> bool {
    labels.get(WORKSPACE).map(String::as_str) == Some("1")
        && labels.get(NAMESPACE).map(String::as_str) == Some(namespace)
}

/// The `--label key=value` arguments of a workspace, in a fixed order.
pub fn for_workspace(bot: &str, namespace: &str) -> Result<Vec<String>> {
    [
        (WORKSPACE, "1"),
        (BOT, bot),
        (NAMESPACE, namespace),
        (NETWORK, "bridge"),
    ]
    .into_iter()
    .map(|(k, v)| label(k, v))
    .collect()
}

/// Refuses a namespace the CLI could not carry in a label.
pub fn check_namespace(namespace: &str) -> Result<()> {
    label(NAMESPACE, namespace).map(drop)
}

/// `key=value`, refusing what the CLI would split differently: it splits a label at `=` into at
/// most three parts and refuses three (`Parser.labels`), so a value must not contain `=`.
fn label(key: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.contains('=') || value.chars().any(char::is_control) {
        return Err(RuntimeError::invalid(format!(
            "the label {key}={value:?} cannot be passed to Apple's container CLI \
             (empty, or contains '=' or a control character)"
        )));
    }
    Ok(format!("{key}={value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_needs_the_workspace_label_and_the_namespace() {
        let mut l: HashMap<String, String> = for_workspace("alice", "berth")
            .unwrap()
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(is_ours(&l, "berth"));
        assert!(!is_ours(&l, "berth-test"));
        l.remove(WORKSPACE);
        assert!(!is_ours(&l, "berth"));
    }

    #[test]
    fn values_the_cli_would_misread_are_refused() {
        assert!(for_workspace("a=b", "berth").is_err());
        assert!(for_workspace("alice", "").is_err());
        assert!(for_workspace("al\nice", "berth").is_err());
    }
}

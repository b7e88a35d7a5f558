//! A running create or change of image, registered by bot so that cancel (and delete, which
//! cancels first) reaches it; unregistered however it ends.

use berth_runtime::CancellationToken;

use crate::{Berth, Error, Result};

/// Where a change of image registers until its old workspace is deleted: the bot does not count
/// as creating yet (its workspace runs, and is read for the kept archive), but cancel and other
/// operations see it. Bot names cannot contain ':', so this never collides with one.
fn pending_key(bot: &str) -> String {
    format!("change-image:{bot}")
}

pub(super) struct Operation<'a> {
    berth: &'a Berth,
    key: String,
    pub cancel: CancellationToken,
}

impl<'a> Operation<'a> {
    /// Registers a create (the bot counts as creating at once).
    pub fn create(berth: &'a Berth, bot: &str) -> Result<Self> {
        Self::begin(berth, bot, bot.to_string())
    }

    /// Registers a change of image (the bot counts as creating after [`Operation::promote`]).
    pub fn change_image(berth: &'a Berth, bot: &str) -> Result<Self> {
        Self::begin(berth, bot, pending_key(bot))
    }

    fn begin(berth: &'a Berth, bot: &str, key: String) -> Result<Self> {
        let cancel = CancellationToken::new();
        let mut ops = berth.inner.operations.lock().unwrap();
        if ops.contains_key(bot) {
            return Err(Error::conflict(format!(
                "a workspace for {bot} is already being created"
            )));
        }
        if ops.contains_key(&pending_key(bot)) {
            return Err(Error::conflict(format!(
                "{bot}'s workspace is already changing its image"
            )));
        }
        ops.insert(key.clone(), cancel.clone());
        drop(ops);
        Ok(Self { berth, key, cancel })
    }

    /// From now on the bot counts as creating: its old workspace is being replaced.
    pub fn promote(&mut self, bot: &str) {
        let mut ops = self.berth.inner.operations.lock().unwrap();
        ops.remove(&self.key);
        ops.insert(bot.to_string(), self.cancel.clone());
        self.key = bot.to_string();
    }
}

impl Drop for Operation<'_> {
    fn drop(&mut self) {
        self.berth
            .inner
            .operations
            .lock()
            .unwrap()
            .remove(&self.key);
    }
}

/// Cancels the bot's running create or change of image; false when none runs.
pub(super) fn cancel(berth: &Berth, bot: &str) -> bool {
    let ops = berth.inner.operations.lock().unwrap();
    let mut any = false;
    for key in [bot.to_string(), pending_key(bot)] {
        if let Some(token) = ops.get(&key) {
            token.cancel();
            any = true;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that never answers: these tests need no runtime.
    struct Unreachable;

    #[async_trait::async_trait]
    impl crate::Connector for Unreachable {
        fn name(&self) -> &'static str {
            "unreachable"
        }
        async fn connect(
            &self,
            _: &berth_runtime::Target,
        ) -> berth_runtime::Result<std::sync::Arc<dyn berth_runtime::Runtime>> {
            Err(berth_runtime::RuntimeError::unavailable(
                "no backend in unit tests",
            ))
        }
    }

    async fn berth(dir: &std::path::Path) -> Berth {
        let options = crate::Options {
            data_dir: Some(dir.to_path_buf()),
            containerd_socket: Some(dir.join("no-such.sock")),
            namespace: Some("unit".into()),
            bridge_binary: None,
            agent_env: vec![],
        };
        Berth::open(options, std::sync::Arc::new(Unreachable))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_change_of_image_counts_as_creating_only_once_promoted() {
        let dir = tempfile::tempdir().unwrap();
        let berth = berth(dir.path()).await;
        let mut op = Operation::change_image(&berth, "b").unwrap();
        assert!(!berth.is_creating("b"), "the old workspace still runs");
        let e = Operation::create(&berth, "b")
            .err()
            .expect("a create meanwhile conflicts");
        assert!(e.message.contains("changing its image"), "{e:?}");
        assert!(cancel(&berth, "b") && op.cancel.is_cancelled());
        op.promote("b");
        assert!(berth.is_creating("b"));
        assert!(Operation::change_image(&berth, "b").is_err());
        drop(op);
        assert!(
            !berth.is_creating("b") && !cancel(&berth, "b"),
            "unregistered when it ends"
        );
        assert!(Operation::create(&berth, "b").is_ok());
    }
}

//! Running a command in a workspace through its bridge (pipe mode).

use berth_bridge::{BridgeClient, ExecRequest, ExitStatus};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::{Berth, Error, Result};

impl Berth {
    /// Runs `req` in the bot's running workspace, streaming its output; returns how it ended.
    pub async fn exec(
        &self,
        bot: &str,
        req: ExecRequest,
        stdin: Option<impl AsyncRead + Unpin + Send + 'static>,
        stdout: impl AsyncWrite + Unpin + Send,
        stderr: impl AsyncWrite + Unpin + Send,
    ) -> Result<ExitStatus> {
        if req.argv.is_empty() {
            return Err(Error::invalid("no command given"));
        }
        // Not retried on a lost connection: stdin may already be partly consumed.
        let client = BridgeClient::new(&self.bridge(bot).await?.channel);
        Ok(client.exec(req, stdin, stdout, stderr).await?)
    }
}

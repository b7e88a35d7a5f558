//! The `Data` gRPC service: imports into `/data` that are all-or-nothing and survive
//! crashes. The archive streams from the client straight into a staging directory next to
//! `/data` (`stage`), and only when the host has sent `commit` is the staged tree applied, with
//! the workspace's other processes stopped: replace swaps it in atomically (`replace`), merge
//! moves entries through a journal (`merge`, `journal`). `recover` repairs whatever an
//! interrupted import left, at bridge start and before every import.
//!
//! Each import runs entirely on one blocking thread (`import`) that the handler only feeds: a
//! client that disconnects cannot stop an apply (or its rollback) half-way.

mod fsops;
mod import;
mod journal;
mod layout;
mod merge;
mod recover;
mod replace;
mod stage;
#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

use berth_bridge::proto::{
    data_server::Data, import_input, ImportInput, ImportReply, RecoverReply, RecoverRequest,
};
use import::{exclusive, recover_logged, run_import};
use layout::Layout;
use stage::Msg;

/// Runs before every change an apply makes; tests return an error to simulate a crash there.
pub type Hook<'a> = &'a mut dyn FnMut() -> io::Result<()>;

/// Archive messages queued towards the extracting thread (1 MiB each from Berth's client).
const QUEUE: usize = 4;

pub struct DataService {
    pub layout: Layout,
}

impl DataService {
    pub fn new(data_dir: &Path) -> Self {
        DataService {
            layout: Layout::new(data_dir),
        }
    }
}

/// Recovery at bridge start; logs what it repaired.
pub fn recover_at_start(data_dir: &Path) -> io::Result<()> {
    recover_logged(&Layout::new(data_dir))
}

#[tonic::async_trait]
impl Data for DataService {
    async fn import(
        &self,
        req: Request<Streaming<ImportInput>>,
    ) -> Result<Response<ImportReply>, Status> {
        let mut input = req.into_inner();
        let start = match input.message().await?.and_then(|m| m.input) {
            Some(import_input::Input::Start(s)) => s,
            _ => {
                return Err(Status::invalid_argument(
                    "the first message must be `start`",
                ))
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let l = self.layout.clone();
        let job = tokio::task::spawn_blocking(move || run_import(&l, start, rx));
        let received = forward(&mut input, tx).await;
        let counts = job
            .await
            .map_err(|e| Status::internal(format!("import task failed: {e}")))??;
        Ok(Response::new(ImportReply {
            files: counts.files,
            dirs: counts.dirs,
            links: counts.links,
            received,
        }))
    }

    async fn recover(
        &self,
        _req: Request<RecoverRequest>,
    ) -> Result<Response<RecoverReply>, Status> {
        let l = self.layout.clone();
        let actions = tokio::task::spawn_blocking(move || {
            let _one = exclusive();
            recover::recover(&l).map_err(|e| Status::internal(format!("recovery failed: {e}")))
        })
        .await
        .map_err(|e| Status::internal(format!("recovery task failed: {e}")))??;
        Ok(Response::new(RecoverReply { actions }))
    }
}

/// Forwards the client's messages to the import thread until `commit`, the end of the stream,
/// or the thread no longer listening (it failed; its result says why). Returns the bytes seen.
async fn forward(input: &mut Streaming<ImportInput>, tx: mpsc::Sender<Msg>) -> u64 {
    let mut received = 0u64;
    while let Ok(Some(m)) = input.message().await {
        let msg = match m.input {
            Some(import_input::Input::Data(d)) => {
                received += d.len() as u64;
                Msg::Data(d)
            }
            Some(import_input::Input::Commit(true)) => Msg::Commit,
            // A second `start` or an empty message: a broken client; ending here abandons.
            _ => break,
        };
        let commit = matches!(msg, Msg::Commit);
        if tx.send(msg).await.is_err() || commit {
            break;
        }
    }
    received
}

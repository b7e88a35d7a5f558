//! The gRPC service: `Health` and `Exec` on top of the reaper and exec sessions.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::exec::{self, OUTPUT_QUEUE};
use super::process::serve;
use super::reaper::Reaper;
use berth_bridge::proto::{
    bridge_server::Bridge, exec_input, ExecInput, ExecOutput, HealthReply, HealthRequest,
};

pub struct Service {
    pub started: Instant,
    pub data_dir: PathBuf,
    pub reaper: Reaper,
}

type ExecStream = Pin<Box<dyn Stream<Item = Result<ExecOutput, Status>> + Send>>;

#[tonic::async_trait]
impl Bridge for Service {
    async fn health(&self, _: Request<HealthRequest>) -> Result<Response<HealthReply>, Status> {
        Ok(Response::new(HealthReply {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_ms: self.started.elapsed().as_millis() as u64,
        }))
    }

    type ExecStream = ExecStream;

    async fn exec(
        &self,
        request: Request<Streaming<ExecInput>>,
    ) -> Result<Response<ExecStream>, Status> {
        let mut inbound = request.into_inner();
        let start = match inbound.message().await? {
            Some(ExecInput {
                input: Some(exec_input::Input::Start(start)),
            }) => start,
            _ => {
                return Err(Status::invalid_argument(
                    "the first exec message must be `start`",
                ))
            }
        };
        // Spawn before answering, so "not found" is the call's status rather than a stream item.
        let session = exec::spawn(start, &self.data_dir, &self.reaper)?;
        let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
        serve(session.run(inbound, tx.clone()), tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

//! A process in a workspace that appends to `/data/grow` the whole time, for tests of what
//! happens to a file written during an export. It says when it started and answers a ping, so
//! tests wait on what it did, not on a guessed time.

use std::time::Duration;

use berth_core::Berth;

use crate::sh;

/// A process in the workspace appending to `/data/grow` in a loop, answering a ping (a file
/// it looks for between appends) after one more append, and ending when asked.
pub struct Appender {
    said: tokio::io::Lines<tokio::io::BufReader<tokio::io::DuplexStream>>,
    run: tokio::task::JoinHandle<berth_core::Result<berth_core::ExitStatus>>,
}

impl Appender {
    const SCRIPT: &str =
        "mkdir -p /tmp/w; rm -f /tmp/w/*; echo 0123456789 >> /data/grow; echo started
        while [ ! -e /tmp/w/stop ]; do
          echo 0123456789 >> /data/grow
          if [ -e /tmp/w/ping ]; then rm /tmp/w/ping; echo 0123456789 >> /data/grow; echo pong; fi
        done";

    pub async fn start(berth: &Berth, bot: &str) -> Appender {
        use tokio::io::AsyncBufReadExt;
        let (out, said) = tokio::io::duplex(4096);
        let (berth, bot) = (berth.clone(), bot.to_string());
        let run = tokio::spawn(async move {
            let req = berth_core::ExecRequest::new(["sh", "-c", Self::SCRIPT]);
            berth
                .exec(&bot, req, None::<tokio::io::Empty>, out, tokio::io::sink())
                .await
        });
        let mut w = Appender {
            said: tokio::io::BufReader::new(said).lines(),
            run,
        };
        w.expect("started").await;
        w
    }

    async fn expect(&mut self, line: &str) {
        let got = tokio::time::timeout(Duration::from_secs(20), self.said.next_line()).await;
        let got = got.unwrap_or_else(|_| panic!("the writer did not say {line:?} in time"));
        assert_eq!(got.expect("the writer's output").as_deref(), Some(line));
    }

    pub async fn ping(&mut self, berth: &Berth, bot: &str) {
        sh(berth, bot, "touch /tmp/w/ping").await;
        self.expect("pong").await;
    }

    pub async fn stop(self, berth: &Berth, bot: &str) {
        sh(berth, bot, "touch /tmp/w/stop").await;
        let ended = tokio::time::timeout(Duration::from_secs(20), self.run)
            .await
            .expect("the writer stops");
        assert_eq!(ended.unwrap().expect("the writer's exec").code, Some(0));
    }
}

//! The archive as it arrives: a `Read` over the messages the gRPC handler forwards, so the
//! hostile-archive-safe consumer extracts straight from the client's stream into the staging
//! directory (no upload file, no second pass over the data).

use std::io::{self, Read};

use bytes::Bytes;
use tokio::sync::mpsc;

/// What the handler forwards to the import's blocking thread.
pub enum Msg {
    Data(Bytes),
    /// The host validated the archive too: apply it.
    Commit,
}

/// How the client's stream ended, as far as it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Open,
    Committed,
    /// Ended (or the client went away) without `commit`.
    Abandoned,
}

/// `Read` over the forwarded messages; `commit` or the end of the stream is end-of-file.
pub struct StreamReader {
    rx: mpsc::Receiver<Msg>,
    chunk: Bytes,
    pub end: End,
}

impl StreamReader {
    pub fn new(rx: mpsc::Receiver<Msg>) -> Self {
        StreamReader {
            rx,
            chunk: Bytes::new(),
            end: End::Open,
        }
    }

    fn next(&mut self) -> Option<Bytes> {
        match self.rx.blocking_recv() {
            Some(Msg::Data(b)) => Some(b),
            Some(Msg::Commit) => {
                self.end = End::Committed;
                None
            }
            None => {
                self.end = End::Abandoned;
                None
            }
        }
    }

    /// Reads (and drops) whatever follows the archive's end marker until the stream's verdict:
    /// the host sends `commit` only after all data.
    pub fn wait_end(&mut self) -> End {
        while self.end == End::Open {
            self.next();
        }
        self.end
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            if self.end != End::Open {
                return Ok(0);
            }
            match self.next() {
                Some(b) => self.chunk = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_chunks_and_reports_the_end() {
        let (tx, rx) = mpsc::channel(8);
        tx.blocking_send(Msg::Data(Bytes::from_static(b"hel")))
            .unwrap();
        tx.blocking_send(Msg::Data(Bytes::from_static(b"lo")))
            .unwrap();
        tx.blocking_send(Msg::Commit).unwrap();
        let mut r = StreamReader::new(rx);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!((s.as_str(), r.end), ("hello", End::Committed));

        let (tx, rx) = mpsc::channel(8);
        tx.blocking_send(Msg::Data(Bytes::from_static(b"x")))
            .unwrap();
        drop(tx);
        let mut r = StreamReader::new(rx);
        assert_eq!(r.wait_end(), End::Abandoned);
    }
}

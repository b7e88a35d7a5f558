//! The archive as it arrives: a `Read` over the messages the gRPC handler forwards, so the
//! hostile-archive-safe consumer extracts straight from the client's stream into the staging
//! directory (no upload file, no second pass over the data).

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;
use flate2::read::GzDecoder;
use tokio::sync::mpsc;

/// Bytes per inflated piece handed from the inflating thread to the extracting one.
const PIECE: usize = 1024 * 1024;

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

/// Inflates the gzip stream from `input` into `tx` in pieces, so inflating runs on one core
/// while the extracting thread writes files on the other (like `gzip -d | tar -x`). Stops at
/// the end of the gzip stream, at an error (sent on) or when the extractor stops listening.
pub fn inflate(input: &mut StreamReader, tx: SyncSender<io::Result<Vec<u8>>>) {
    let mut gz = GzDecoder::new(input);
    loop {
        let mut piece = Vec::with_capacity(PIECE);
        let sent = match (&mut gz).take(PIECE as u64).read_to_end(&mut piece) {
            Ok(0) => return,
            Ok(_) => tx.send(Ok(piece)),
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// `Read` over the pieces [`inflate`] sends; its error comes back as a read error.
pub struct Pieces {
    rx: Receiver<io::Result<Vec<u8>>>,
    piece: Vec<u8>,
    at: usize,
}

impl Pieces {
    pub fn new(rx: Receiver<io::Result<Vec<u8>>>) -> Self {
        Pieces {
            rx,
            piece: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.piece.len() {
            match self.rx.recv() {
                Ok(Ok(p)) => (self.piece, self.at) = (p, 0),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
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

//! A bounded capture of a command's output: the first and last bytes kept, the middle counted,
//! so a command that prints gigabytes costs a fixed amount of memory and the agent still sees how
//! its output began and ended.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// Keeps `head` bytes from the start and `tail` bytes from the end.
pub struct HeadTail {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    head_max: usize,
    tail_max: usize,
    seen: u64,
    /// Bytes seen so far, shared with whoever reports progress.
    counter: Arc<AtomicU64>,
}

impl HeadTail {
    pub fn new(head_max: usize, tail_max: usize, counter: Arc<AtomicU64>) -> Self {
        Self {
            head: Vec::new(),
            tail: Default::default(),
            head_max,
            tail_max,
            seen: 0,
            counter,
        }
    }

    fn push(&mut self, mut buf: &[u8]) {
        self.seen += buf.len() as u64;
        self.counter.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let room = self.head_max - self.head.len();
        let take = room.min(buf.len());
        self.head.extend_from_slice(&buf[..take]);
        buf = &buf[take..];
        if buf.len() >= self.tail_max {
            self.tail.clear();
            self.tail.extend(&buf[buf.len() - self.tail_max..]);
        } else {
            let over = (self.tail.len() + buf.len()).saturating_sub(self.tail_max);
            self.tail.drain(..over);
            self.tail.extend(buf);
        }
    }

    /// The text kept (lossy UTF-8) and whether bytes were left out between head and tail.
    pub fn finish(self) -> (String, bool) {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let omitted = self.seen - kept;
        let mut bytes = self.head;
        if omitted > 0 {
            bytes.extend_from_slice(format!("\n… [{omitted} bytes left out] …\n").as_bytes());
        }
        bytes.extend(self.tail);
        (String::from_utf8_lossy(&bytes).into_owned(), omitted > 0)
    }
}

impl AsyncWrite for HeadTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(chunks: &[&[u8]], head: usize, tail: usize) -> (String, bool) {
        let mut c = HeadTail::new(head, tail, Default::default());
        for ch in chunks {
            c.push(ch);
        }
        c.finish()
    }

    #[test]
    fn short_output_is_kept_whole() {
        assert_eq!(capture(&[b"ab", b"cd"], 4, 4), ("abcd".into(), false));
        assert_eq!(capture(&[b"abcdefgh"], 4, 4), ("abcdefgh".into(), false));
    }

    #[test]
    fn long_output_keeps_head_and_tail() {
        let (s, t) = capture(&[b"0123", b"456789", b"ab"], 3, 3);
        assert!(t);
        assert_eq!(s, "012\n… [6 bytes left out] …\n9ab");
        let (s, _) = capture(&[&[b'x'; 1000], b"END"], 2, 3);
        assert!(s.starts_with("xx\n") && s.ends_with("END"), "{s}");
    }

    #[test]
    fn counts_every_byte() {
        let n = Arc::new(AtomicU64::new(0));
        let mut c = HeadTail::new(1, 1, n.clone());
        c.push(&[0; 500]);
        assert_eq!(n.load(Ordering::Relaxed), 500);
    }
}

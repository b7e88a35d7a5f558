//! The bridge's log: its stderr, which containerd writes to a file on the host. The bot can make
//! the bridge log (every exec that ends early, every failed import, ...) as often as it likes, so
//! the log is capped: past [`CAP`] bytes one last line says so and later lines are dropped,
//! which keeps the host's disk safe. Every line the bridge logs goes through [`log_line!`].

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most bytes one run of the bridge writes to its log.
pub const CAP: u64 = 8 * 1024 * 1024;

static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Writes one line to the log, unless the cap was reached.
pub fn line(args: std::fmt::Arguments<'_>) {
    if let Some(text) = admit(&WRITTEN, CAP, format!("{args}\n")) {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// What to write for `text` given the bytes `written` so far: the text while it fits, one note
/// for the line that crosses `cap`, then nothing.
fn admit(written: &AtomicU64, cap: u64, text: String) -> Option<String> {
    let len = text.len() as u64;
    let before = written.fetch_add(len, Ordering::Relaxed);
    if before.saturating_add(len) <= cap {
        Some(text)
    } else if before <= cap {
        Some(format!(
            "berth-bridge: the log reached its cap of {cap} bytes; later lines are dropped\n"
        ))
    } else {
        None
    }
}

/// `eprintln!` for the bridge: formats a line and hands it to [`line`].
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_cap_are_dropped_after_one_note() {
        let written = AtomicU64::new(0);
        let take = |s: &str| admit(&written, 10, s.to_string());
        assert_eq!(take("12345\n").as_deref(), Some("12345\n"));
        assert_eq!(
            take("abc\n").as_deref(),
            Some("abc\n"),
            "exactly at the cap"
        );
        let note = take("x\n").expect("the crossing line becomes a note");
        assert!(note.contains("reached its cap of 10 bytes"), "{note}");
        for _ in 0..1000 {
            assert_eq!(take("more\n"), None);
        }
    }
}

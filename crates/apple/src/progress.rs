//! `container image pull --progress plain` on stderr, turned into [`PullEvent`]s.
//!
//! In plain mode the CLI's `ProgressBar` (apple/container 1.0–1.2,
//! `Sources/TerminalProgress/ProgressBar.swift` `draw(state:detail:)`, `ProgressBar+State.swift`,
//! `Int64+Formatted.swift`) prints at most one line a second, `\n`-terminated, of the form
//!
//! ```text
//! [1/2] Fetching image 45% (2 of 3 blobs, 13.0/28.9 MB, 11.9 MB/s) [2s]
//! ```
//!
//! `[task/tasks]`, a description, the percentage (only when a total is known and, with
//! `ignoreSmallSize`, above 1 MiB), in parentheses the items, the size (`done/total unit`, or
//! `done unit/total unit` when the units differ) and the speed, then the elapsed time. Sizes
//! come from `ByteCountFormatter` with `.binary` (1 KB = 1024 bytes; `Zero KB`; `512 bytes`;
//! the decimal separator follows the user's locale). There is no ETA: it is computed here from
//! the speed. `ImagePull.swift` runs two tasks, `[1/2] Fetching image` and `[2/2] Unpacking
//! image`; the second reports the unpacked size, so its lines only say that unpacking began.

use berth_runtime::{OverallProgress, PullEvent};

/// One parsed progress line; `None` fields were not printed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    pub task: Option<(u32, u32)>,
    pub description: String,
    pub percent: Option<f32>,
    pub done: Option<u64>,
    pub total: Option<u64>,
    pub bytes_per_second: Option<u64>,
}

/// Parses a line; `None` for what is not a progress line (an error message, a log line).
pub fn parse(raw: &str) -> Option<Line> {
    let mut rest = raw.trim();
    let mut line = Line::default();
    if let Some(after) = rest.strip_prefix('[') {
        let (inside, tail) = after.split_once(']')?;
        let (a, b) = inside.split_once('/')?;
        line.task = Some((a.trim().parse().ok()?, b.trim().parse().ok()?));
        rest = tail.trim_start();
    } else {
        return None;
    }
    // The elapsed time, `[2s]` / `[1m 5s]`, ends the line.
    if rest.ends_with("s]") {
        if let Some(i) = rest.rfind('[') {
            rest = rest[..i].trim_end();
        }
    }
    if rest.ends_with(')') {
        if let Some(i) = rest.rfind('(') {
            details(&rest[i + 1..rest.len() - 1], &mut line);
            rest = rest[..i].trim_end();
        }
    }
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    if let Some(p) = words.last().and_then(|w| w.strip_suffix('%')) {
        line.percent = p.parse().ok();
        words.pop();
    }
    line.description = words.join(" ");
    Some(line)
}

/// The parenthesised part: items, size and speed, separated by ", ".
fn details(inside: &str, line: &mut Line) {
    for part in inside.split(", ").map(str::trim) {
        if let Some(speed) = part.strip_suffix("/s") {
            line.bytes_per_second = bytes(speed);
        } else if let Some((done, total)) = size_pair(part) {
            line.done = Some(done);
            line.total = total;
        }
        // Anything else is the item count ("2 of 3 blobs"), which says nothing about bytes.
    }
}

/// `13.0/28.9 MB`, `512 KB/28.9 MB`, `28.9 MB` (a finished task shows only the total).
fn size_pair(part: &str) -> Option<(u64, Option<u64>)> {
    match part.split_once('/') {
        Some((done, total)) => {
            let total_bytes = bytes(total)?;
            let done_bytes = bytes(done).or_else(|| {
                // Same unit: it is printed once, after the total.
                let unit = total.trim().split_once(' ')?.1;
                bytes(&format!("{} {unit}", done.trim()))
            })?;
            Some((done_bytes, Some(total_bytes)))
        }
        None => bytes(part).map(|b| (b, None)),
    }
}

/// `ByteCountFormatter` text (binary) to bytes: `Zero KB`, `512 bytes`, `1.5 MB`, `1,5 MB`.
pub fn bytes(text: &str) -> Option<u64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let exp = match unit.trim().to_ascii_lowercase().as_str() {
        "byte" | "bytes" | "b" => 0,
        "kb" | "kib" => 1,
        "mb" | "mib" => 2,
        "gb" | "gib" => 3,
        "tb" | "tib" => 4,
        "pb" | "pib" => 5,
        "eb" | "eib" => 6,
        _ => return None,
    };
    if number.eq_ignore_ascii_case("zero") {
        return Some(0);
    }
    let value = if exp == 0 {
        // Whole bytes, maybe with grouping separators ("1,023 bytes").
        number
            .replace([',', '.', '\u{a0}', '\u{202f}'], "")
            .parse::<f64>()
            .ok()?
    } else {
        decimal(number)?
    };
    (value.is_finite() && value >= 0.0).then(|| (value * 1024f64.powi(exp)).round() as u64)
}

/// A locale's decimal number: the last `.` or `,` is the decimal separator, earlier ones group.
fn decimal(number: &str) -> Option<f64> {
    let cleaned: String = number
        .chars()
        .filter(|c| !matches!(c, '\u{a0}' | '\u{202f}' | '\''))
        .collect();
    match cleaned.rfind(['.', ',']) {
        Some(i) => {
            let int: String = cleaned[..i].chars().filter(char::is_ascii_digit).collect();
            format!("{int}.{}", &cleaned[i + 1..]).parse().ok()
        }
        None => cleaned.parse().ok(),
    }
}

/// Turns a pull's lines into events: [`PullEvent::Overall`] while fetching (with `done` never
/// going back), one [`PullEvent::Unpacking`] when unpacking begins, nothing after it.
#[derive(Debug, Default)]
pub struct Tracker {
    fetch_task: Option<u32>,
    done: Option<u64>,
    unpacking: bool,
}

impl Tracker {
    pub fn feed(&mut self, raw: &str) -> Option<PullEvent> {
        if self.unpacking {
            return None;
        }
        let line = parse(raw)?;
        if self.is_unpacking(&line) {
            self.unpacking = true;
            return Some(PullEvent::Unpacking {
                layer: 1,
                layers: 1,
            });
        }
        if line.percent.is_none() && line.done.is_none() {
            return None;
        }
        let done = line
            .done
            .map(|d| d.max(self.done.unwrap_or(0)))
            .or(self.done);
        self.done = done;
        let eta_seconds = match (done, line.total, line.bytes_per_second) {
            (Some(d), Some(t), Some(s)) if s > 0 => Some(t.saturating_sub(d).div_ceil(s)),
            _ => None,
        };
        Some(PullEvent::Overall(OverallProgress {
            done,
            total: line.total,
            percent: line.percent,
            bytes_per_second: line.bytes_per_second,
            eta_seconds,
        }))
    }

    /// The first task that describes itself is the fetch; a later task (or one that says
    /// so) is the unpacking.
    fn is_unpacking(&mut self, line: &Line) -> bool {
        if line.description.to_ascii_lowercase().contains("unpacking") {
            return true;
        }
        let Some((task, _)) = line.task else {
            return false;
        };
        if line.description.is_empty() {
            return false;
        }
        match self.fetch_task {
            None => {
                self.fetch_task = Some(task);
                false
            }
            Some(fetch) => task > fetch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_plain_line_forms() {
        let l =
            parse("[1/2] Fetching image 45% (2 of 3 blobs, 13.0/28.9 MB, 11.9 MB/s) [2s]").unwrap();
        assert_eq!(l.task, Some((1, 2)));
        assert_eq!(l.description, "Fetching image");
        assert_eq!(l.percent, Some(45.0));
        assert_eq!(l.done, Some((13.0 * 1048576.0f64).round() as u64));
        assert_eq!(l.total, Some((28.9 * 1048576.0f64).round() as u64));
        assert_eq!(
            l.bytes_per_second,
            Some((11.9 * 1048576.0f64).round() as u64)
        );

        let l = parse("[1/2] Fetching image 2% (1 of 3 blobs, 512 KB/28.9 MB, Zero KB/s) [1m 5s]")
            .unwrap();
        assert_eq!((l.done, l.bytes_per_second), (Some(512 * 1024), Some(0)));
        let l = parse("[2/2] Unpacking image 100% (8,000 entries, 80.4 MB) [5s]").unwrap();
        assert_eq!(
            (l.done, l.total),
            (Some((80.4 * 1048576.0f64).round() as u64), None)
        );
        let l = parse("[0/2] [0s]").unwrap();
        assert_eq!(
            (l.task, l.description.as_str(), l.percent),
            (Some((0, 2)), "", None)
        );
        let l =
            parse("[1/2] Fetching image 3% (1 of 3 blobs, 1,5/28,9 MB, 1,1 MB/s) [1s]").unwrap();
        assert_eq!(l.done, Some((1.5 * 1048576.0f64).round() as u64));
        assert!(parse("Error: image not found").is_none());
        assert!(parse("[oops").is_none());
    }

    #[test]
    fn byte_texts() {
        assert_eq!(bytes("Zero KB"), Some(0));
        assert_eq!(bytes("1,023 bytes"), Some(1023));
        assert_eq!(bytes("1 byte"), Some(1));
        assert_eq!(bytes("2 GB"), Some(2 << 30));
        assert_eq!(
            bytes("1.234,5 KB"),
            Some((1234.5f64 * 1024.0).round() as u64)
        );
        assert_eq!(bytes("12 parsecs"), None);
        assert_eq!(bytes("-1 MB"), None);
    }

    #[test]
    fn tracker_keeps_done_monotonic_computes_eta_and_stops_at_unpacking() {
        let mut t = Tracker::default();
        assert_eq!(t.feed("[0/2] [0s]"), None);
        assert_eq!(t.feed("[1/2] Fetching image [0s]"), None);
        let Some(PullEvent::Overall(a)) =
            t.feed("[1/2] Fetching image 50% (1 of 2 blobs, 2.0/4.0 MB, 1.0 MB/s) [1s]")
        else {
            panic!()
        };
        assert_eq!(a.eta_seconds, Some(2));
        // The total grew (a manifest listed more layers): percent goes back, done does not.
        let Some(PullEvent::Overall(b)) =
            t.feed("[1/2] Fetching image 20% (1 of 3 blobs, 1.9/10.0 MB, 1.0 MB/s) [2s]")
        else {
            panic!()
        };
        assert_eq!(b.done, Some(2 << 20));
        assert_eq!(b.percent, Some(20.0));
        assert_eq!(
            t.feed("[2/2] Unpacking image [3s]"),
            Some(PullEvent::Unpacking {
                layer: 1,
                layers: 1
            })
        );
        assert_eq!(
            t.feed("[2/2] Unpacking image 10% (100 of 1,000 entries, 1.0/10.0 MB) [3s]"),
            None
        );
    }

    #[test]
    fn a_second_task_is_unpacking_whatever_it_is_called() {
        let mut t = Tracker::default();
        t.feed("[1/2] Holen 10% (1.0/10.0 MB) [1s]").unwrap();
        assert_eq!(
            t.feed("[2/2] Auspacken [2s]"),
            Some(PullEvent::Unpacking {
                layer: 1,
                layers: 1
            })
        );
    }

    #[test]
    fn the_recorded_pulls_of_each_release() {
        for v in ["1.0", "1.1", "1.2"] {
            let path = format!(
                "{}/tests/fixtures/{v}/pull-progress.txt",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap();
            let mut t = Tracker::default();
            let events: Vec<PullEvent> = text.lines().filter_map(|l| t.feed(l)).collect();
            let overall: Vec<OverallProgress> = events
                .iter()
                .filter_map(|e| match e {
                    PullEvent::Overall(o) => Some(*o),
                    _ => None,
                })
                .collect();
            assert!(overall.len() >= 3, "{v}: {events:?}");
            assert!(overall.windows(2).all(|w| w[0].done <= w[1].done), "{v}");
            assert_eq!(overall.last().unwrap().percent, Some(100.0), "{v}");
            assert_eq!(
                events.last(),
                Some(&PullEvent::Unpacking {
                    layer: 1,
                    layers: 1
                }),
                "{v}"
            );
        }
    }
}

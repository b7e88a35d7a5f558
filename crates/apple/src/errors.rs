//! What a failed `container` call printed, mapped to an [`ErrorKind`].
//!
//! The CLI ends with `Error: <text>` on stderr and exit status 1 (swift-argument-parser 1.7/1.8,
//! `MessageInfo` + `_errorPrefix`). `<text>` has one of two shapes (apple/container 1.0.0–1.2.x):
//! - a single `ContainerizationError` is a `LocalizedError`, so only its message is printed:
//!   `Error: container not found: berth-a` (`inspect`), `Error: container already exists:
//!   berth-a` (`create`), `Error: get failed: container berth-a not found` (`start`);
//! - `stop`, `kill` and `delete` gather their errors in an `AggregateError`, printed with each
//!   error's `description`, which carries the code: `Error: notFound: "container with ID
//!   berth-a not found"`;
//! - when the system service does not answer, `Application.main` rewrites the XPC error to
//!   `Error: interrupted: "XPC connection error: Connection invalid"` followed by the line
//!   ``Ensure container system service has been started with `container system start`.``
//!
//! The text is untrusted: control characters are replaced and its length is capped.

use berth_runtime::{ErrorKind, RuntimeError};

use crate::cli::Output;

/// What the user is told when the system service does not answer.
pub const NOT_RUNNING: &str =
    "Apple's container system service is not running: run `container system start`";
/// Longest message taken from the CLI.
const MAX_MESSAGE: usize = 2000;

/// The error of a call (`what`, e.g. "container stop berth-a") that exited unsuccessfully.
pub fn failed(what: &str, out: &Output) -> RuntimeError {
    let (kind, message) = classify(&out.stderr);
    let message = if message.is_empty() {
        format!("exited with {}", out.status)
    } else {
        message
    };
    match kind {
        ErrorKind::Unavailable if message == NOT_RUNNING => RuntimeError::new(kind, message),
        _ => RuntimeError::new(kind, format!("`{what}`: {message}")),
    }
}

/// The kind and the human message of what a failed call printed on stderr.
pub fn classify(stderr: &str) -> (ErrorKind, String) {
    let text = sanitize(error_text(stderr));
    if service_down(&text) {
        return (ErrorKind::Unavailable, NOT_RUNNING.into());
    }
    if let Some((code, message)) = coded(&text) {
        return (kind_of_code(code, &message), message);
    }
    (kind_of_text(&text), text)
}

/// From the last `Error:` line to the end (a message may span lines), without the prefix; the
/// last lines of stderr when there is no such line.
fn error_text(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(i) = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("Error:"))
    {
        let mut text = lines[i..].join("\n");
        if let Some(rest) = text.trim_start().strip_prefix("Error:") {
            text = rest.trim().to_string();
        }
        return text;
    }
    let nonempty: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
    nonempty[nonempty.len().saturating_sub(3)..]
        .join("\n")
        .trim()
        .to_string()
}

fn service_down(text: &str) -> bool {
    text.contains("XPC connection error")
        || text.contains("container system start")
        || text.contains("apiserver is not running")
}

/// `notFound: "container with ID x not found"` → ("notFound", "container with ID x not found").
fn coded(text: &str) -> Option<(&str, String)> {
    let first = text.lines().next()?;
    let (code, rest) = first.split_once(": ")?;
    if !code.chars().all(|c| c.is_ascii_alphabetic()) || !known_code(code) {
        return None;
    }
    let rest = rest.trim();
    let message = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    Some((code, message.replace("\\\"", "\"")))
}

/// `ContainerizationError.Code` names (apple/containerization `ContainerizationError.swift`).
fn known_code(code: &str) -> bool {
    matches!(
        code,
        "unknown"
            | "invalidArgument"
            | "internalError"
            | "exists"
            | "notFound"
            | "cancelled"
            | "invalidState"
            | "empty"
            | "timeout"
            | "unsupported"
            | "interrupted"
    )
}

fn kind_of_code(code: &str, message: &str) -> ErrorKind {
    match code {
        "notFound" => ErrorKind::NotFound,
        "exists" => ErrorKind::AlreadyExists,
        // Stays InvalidArgument unless its words say more precisely what is wrong.
        "invalidArgument" => match kind_of_text(message) {
            ErrorKind::Internal => ErrorKind::InvalidArgument,
            k => k,
        },
        "invalidState" => ErrorKind::Conflict,
        "unsupported" => ErrorKind::Unsupported,
        "cancelled" => ErrorKind::Cancelled,
        "interrupted" | "timeout" => ErrorKind::Unavailable,
        _ => kind_of_text(message),
    }
}

/// The kind from the words of a message without a code.
fn kind_of_text(text: &str) -> ErrorKind {
    let t = text.to_ascii_lowercase();
    if t.contains("host socket") && t.contains("in use") {
        // `--publish-socket` onto a live socket (Parser.publishSocket): another workspace's.
        ErrorKind::Conflict
    } else if t.contains("not found") || t.contains("no such container") {
        ErrorKind::NotFound
    } else if t.contains("already exists") {
        ErrorKind::AlreadyExists
    } else if t.contains("can not be deleted")
        || t.contains("is not running")
        || t.contains("is running")
        || t.contains("container is stopped")
    {
        ErrorKind::Conflict
    } else if t.contains("invalid")
        || t.contains("not a valid")
        || t.contains("unknown option")
        || t.contains("usage:")
    {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Internal
    }
}

/// Control characters (terminal escapes) become U+FFFD; the text is capped.
fn sanitize(text: String) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    if out.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error outputs reconstructed from apple/container's source, per version.
    const VERSIONS: &[&str] = &["1.0", "1.1", "1.2"];

    fn fixture(version: &str, name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/{version}/errors/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn maps_each_recorded_error_to_its_kind() {
        let cases = [
            (
                "inspect-not-found.txt",
                ErrorKind::NotFound,
                "container not found: berth-ghost",
            ),
            (
                "start-not-found.txt",
                ErrorKind::NotFound,
                "get failed: container berth-ghost not found",
            ),
            (
                "stop-not-found.txt",
                ErrorKind::NotFound,
                "container with ID berth-ghost not found",
            ),
            (
                "delete-not-found.txt",
                ErrorKind::NotFound,
                "container with ID berth-ghost not found",
            ),
            (
                "stats-not-found.txt",
                ErrorKind::NotFound,
                "no such container: berth-ghost",
            ),
            (
                "create-exists.txt",
                ErrorKind::AlreadyExists,
                "container already exists: berth-alice",
            ),
            (
                "image-not-found.txt",
                ErrorKind::NotFound,
                "image not found: 127.0.0.1:5000/berth-test/nothing:1",
            ),
            (
                "system-not-running.txt",
                ErrorKind::Unavailable,
                NOT_RUNNING,
            ),
            (
                "delete-running.txt",
                ErrorKind::Conflict,
                "container berth-alice is running and can not be deleted",
            ),
        ];
        for v in VERSIONS {
            for (file, kind, message) in cases {
                let (k, m) = classify(&fixture(v, file));
                assert_eq!((k, m.as_str()), (kind, message), "{v}/{file}");
            }
            let (k, m) = classify(&fixture(v, "host-socket-in-use.txt"));
            assert_eq!(k, ErrorKind::Conflict, "{v}: {m}");
            let (k, m) = classify(&fixture(v, "invalid-name.txt"));
            assert_eq!(k, ErrorKind::InvalidArgument, "{v}: {m}");
        }
    }

    #[test]
    fn unknown_text_is_internal_and_sanitised() {
        let (k, m) = classify("something\nError: boom \u{1b}[31mred\n");
        assert_eq!(k, ErrorKind::Internal);
        assert_eq!(m, "boom \u{FFFD}[31mred");
        let (k, m) = classify("no prefix at all\n");
        assert_eq!((k, m.as_str()), (ErrorKind::Internal, "no prefix at all"));
        let (_, m) = classify(&format!("Error: {}", "x".repeat(10_000)));
        assert!(m.len() <= MAX_MESSAGE + '…'.len_utf8());
    }

    #[test]
    fn codes_without_quotes_and_unknown_prefixes() {
        assert_eq!(
            classify("Error: exists: volume v").0,
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            classify("Error: invalidState: \"container x is not running\"").0,
            ErrorKind::Conflict
        );
        // A colon in a plain message is not a code.
        assert_eq!(
            classify("Error: path '/a: b' does not exist").0,
            ErrorKind::Internal
        );
    }
}

//! The CLI's version, from `container --version`: swift-argument-parser prints the command's
//! `version`, `ReleaseVersion.singleLine(appName: "container CLI")` (apple/container
//! `Sources/ContainerVersion/ReleaseVersion.swift`, unchanged from 0.12 to 1.2):
//! `container CLI version 1.2.0 (build: release, commit: 6e65319)`.
//!
//! Berth needs 1.0 or newer: 0.x printed `status` as a bare string and kept the networks beside
//! it (`PrintableContainer`), and its flags and outputs were not stable.

use std::fmt;

use berth_runtime::{ErrorKind, Result, RuntimeError};

/// The oldest release whose outputs this backend reads.
pub const MINIMUM: CliVersion = CliVersion {
    major: 1,
    minor: 0,
    patch: 0,
};
/// The newest release its contract tests were written against.
pub const NEWEST_TESTED: CliVersion = CliVersion {
    major: 1,
    minor: 2,
    patch: 2,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CliVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl fmt::Display for CliVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The version in `--version`'s output: the word after "version", else the first word that
/// starts like one (`1.2.0`, `1.2.0-rc.1`).
pub fn parse(output: &str) -> Option<CliVersion> {
    let words: Vec<&str> = output.split_whitespace().collect();
    let after = words
        .iter()
        .position(|w| *w == "version")
        .and_then(|i| words.get(i + 1));
    after
        .and_then(|w| parse_word(w))
        .or_else(|| words.iter().find_map(|w| parse_word(w)))
}

fn parse_word(word: &str) -> Option<CliVersion> {
    let word = word.trim_start_matches('v');
    let core = word.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some(CliVersion {
        major,
        minor,
        patch,
    })
}

/// Refuses a CLI older than [`MINIMUM`] (`Unsupported`, naming both versions) or one whose
/// version cannot be read.
pub fn check(output: &str, program: &std::path::Path) -> Result<CliVersion> {
    let Some(v) = parse(output) else {
        return Err(RuntimeError::new(
            ErrorKind::Unsupported,
            format!(
                "cannot read the version of Apple's container CLI at {} (it printed {:?}); \
                 Berth needs {MINIMUM} or newer",
                program.display(),
                output.trim().chars().take(200).collect::<String>()
            ),
        ));
    };
    if v < MINIMUM {
        return Err(RuntimeError::new(
            ErrorKind::Unsupported,
            format!(
                "Apple's container CLI at {} is version {v}; Berth needs {MINIMUM} or newer \
                 (install the latest release from https://github.com/apple/container/releases)",
                program.display()
            ),
        ));
    }
    if v > NEWEST_TESTED {
        tracing::info!(
            version = %v,
            tested = %NEWEST_TESTED,
            "Apple's container CLI is newer than Berth was tested with"
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(version: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/{version}/version.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn reads_each_release_line() {
        for (dir, want) in [
            ("1.0", "1.0.0"),
            ("1.1", "1.1.0"),
            ("1.2", "1.2.0"),
            ("0.12", "0.12.3"),
        ] {
            let v = parse(&fixture(dir)).unwrap();
            assert_eq!(v.to_string(), want);
        }
        assert_eq!(
            parse("container CLI version 1.3.0-rc.1 (build: debug)")
                .unwrap()
                .to_string(),
            "1.3.0"
        );
        assert_eq!(parse("2.0").unwrap().to_string(), "2.0.0");
        assert!(parse("container CLI version unknown").is_none());
    }

    #[test]
    fn accepts_1_x_and_refuses_0_x_naming_both_versions() {
        let p = Path::new("/usr/local/bin/container");
        for dir in ["1.0", "1.1", "1.2"] {
            check(&fixture(dir), p).unwrap();
        }
        let err = check(&fixture("0.12"), p).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(err.message.contains("version 0.12.3"), "{err}");
        assert!(err.message.contains("needs 1.0.0 or newer"), "{err}");
        let err = check("garbage", p).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }
}

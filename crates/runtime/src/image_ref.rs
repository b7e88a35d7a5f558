//! Image references: parsing, validation and Docker Hub normalisation
//! (`debian:bookworm-slim` → `docker.io/library/debian:bookworm-slim`).

use std::fmt;

use crate::{Result, RuntimeError};

/// A validated, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host as written (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path (`library/debian`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `sha256:…` digest, when pinned.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses and normalises a reference. Rejects empty input, upper-case repositories, bad tags
    /// and digests with a message that names the problem.
    pub fn parse(input: &str) -> Result<Self> {
        let s = input.trim();
        if s.is_empty() {
            return Err(RuntimeError::invalid("image reference is empty"));
        }
        let bad =
            |why: &str| RuntimeError::invalid(format!("invalid image reference {s:?}: {why}"));
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains whitespace"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(parse_digest(d).ok_or_else(|| bad("bad digest"))?)),
            None => (s, None),
        };
        // A tag is after the last ':' that comes after the last '/' (a port is before it).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                &rest[..last_slash + i],
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(bad("bad tag"));
            }
        }
        let (registry, repository) = split_registry(name);
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository.to_string()
        };
        if repository.is_empty() || !repository.split('/').all(valid_path_component) {
            return Err(bad(
                "repository must be lower-case letters, digits and . _ - separators",
            ));
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".into())
        } else {
            tag
        };
        Ok(Self {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The reference the registry API is asked for: the digest when pinned, else the tag.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }

    /// Plain HTTP is used only for registries on this machine (tests, local mirrors).
    pub fn is_local_registry(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, _)| h);
        host == "localhost" || host == "127.0.0.1" || host == "[::1]"
    }

    /// Strips Docker Hub prefixes for display (`docker.io/library/x` → `x`).
    pub fn short(&self) -> String {
        let full = self.to_string();
        full.strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"))
            .map_or(full.clone(), str::to_string)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The first component is a registry host when it has a '.' or ':' or is `localhost`.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("docker.io", name),
    }
}

fn valid_path_component(c: &str) -> bool {
    !c.is_empty()
        && c.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
        && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
}

fn parse_digest(d: &str) -> Option<String> {
    let hex = d.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
    .then(|| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_docker_hub_short_names() {
        assert_eq!(
            norm("debian:bookworm-slim"),
            "docker.io/library/debian:bookworm-slim"
        );
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("user/app:1"), "docker.io/user/app:1");
        assert_eq!(
            norm("docker.io/library/alpine:3"),
            "docker.io/library/alpine:3"
        );
    }

    #[test]
    fn keeps_registry_hosts_ports_and_digests() {
        assert_eq!(
            norm("127.0.0.1:5000/berth-test/busybox:1"),
            "127.0.0.1:5000/berth-test/busybox:1"
        );
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("ghcr.io/o/r@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.reference(), d);
        assert!(ImageRef::parse("127.0.0.1:5000/x")
            .unwrap()
            .is_local_registry());
        assert!(!ImageRef::parse("ghcr.io/x").unwrap().is_local_registry());
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "",
            "  ",
            "UPPER/case",
            "a b",
            "x:",
            "x@sha256:123",
            "x:-bad",
            "/x",
            "x//y",
            "a:b:c",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(
                err.kind,
                crate::ErrorKind::InvalidArgument,
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn shortens_for_display() {
        assert_eq!(ImageRef::parse("debian:12").unwrap().short(), "debian:12");
        assert_eq!(ImageRef::parse("u/app").unwrap().short(), "u/app:latest");
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/a:1").unwrap().short(),
            "127.0.0.1:5000/a:1"
        );
    }
}

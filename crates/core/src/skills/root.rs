//! Where a bot's workspace keeps its skills: `/data/.skills` unless the bot's setting says
//! otherwise (`berth skills root`, the Skills tab). A root is an absolute, normalised path
//! outside Berth's own mounts and the kernel's file systems.

use crate::{Berth, Error, Result};

/// The reference system's place, the default.
pub const DEFAULT_SKILLS_ROOT: &str = "/data/.skills";

/// Checks a skills root and returns it without a trailing `/`.
pub fn check_root(root: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid(format!("the skills folder {root:?} {why}"));
    if !root.starts_with('/') {
        return Err(bad("must be an absolute path"));
    }
    if root.len() > 1024 || root.contains('\0') {
        return Err(bad("is not a usable path"));
    }
    let trimmed = root.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(bad("may not be /"));
    }
    if trimmed[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("must be a normal path (no empty, . or .. components)"));
    }
    for reserved in ["/opt/berth", "/run/berth", "/proc", "/sys", "/dev"] {
        if trimmed == reserved || trimmed.starts_with(&format!("{reserved}/")) {
            return Err(bad(&format!(
                "is under {reserved}, which skills cannot live in"
            )));
        }
    }
    Ok(trimmed.to_string())
}

impl Berth {
    /// Where the bot's workspace keeps its skills.
    pub fn skills_root(&self, bot: &str) -> Result<String> {
        Ok(self
            .require_bot(bot)?
            .skills_root
            .unwrap_or_else(|| DEFAULT_SKILLS_ROOT.to_string()))
    }

    /// Sets where the bot's workspace keeps its skills (`None`: the default); returns it. The
    /// skills already there are not moved.
    pub fn set_skills_root(&self, bot: &str, root: Option<&str>) -> Result<String> {
        self.require_bot(bot)?;
        let root = root.map(check_root).transpose()?;
        let stored = root.as_deref().filter(|r| *r != DEFAULT_SKILLS_ROOT);
        self.inner.store.set_skills_root(bot, stored)?;
        Ok(root.unwrap_or_else(|| DEFAULT_SKILLS_ROOT.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots() {
        assert_eq!(check_root("/data/skills/").unwrap(), "/data/skills");
        assert_eq!(
            check_root("/home/bot/.claude/skills").unwrap(),
            "/home/bot/.claude/skills"
        );
        for bad in [
            "data/skills",
            "/",
            "//",
            "/data//x",
            "/data/../etc",
            "/data/./x",
            "/opt/berth",
            "/run/berth/x",
            "/proc/1",
            "/dev",
        ] {
            assert!(check_root(bad).is_err(), "{bad:?}");
        }
        assert!(check_root("/opt/bertha").is_ok());
    }
}

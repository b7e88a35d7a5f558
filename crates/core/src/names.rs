//! Bot names: they become container ids (`berth-<bot>`), hostnames and directory names.

use crate::{Error, Result};

/// 1–63 characters of lower-case letters, digits and '-', starting and ending alphanumeric.
pub fn validate_bot_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid bot name {name:?}: use 1–63 lower-case letters, digits and '-', \
             starting and ending with a letter or digit"
        )))
    }
}

/// A bot name that passed [`validate_bot_name`]. IPC commands take it instead of a `String`, so
/// a name that is not a bot name is refused while the arguments are read, before any command
/// code runs, and no command can forget the check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct BotName(String);

impl TryFrom<String> for BotName {
    type Error = crate::Error;

    fn try_from(name: String) -> Result<Self> {
        validate_bot_name(&name)?;
        Ok(Self(name))
    }
}

impl std::ops::Deref for BotName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BotName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn container_id(bot: &str) -> String {
    format!("berth-{bot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels_only() {
        for ok in ["my-bot", "a", "b0t", &"x".repeat(63)] {
            validate_bot_name(ok).unwrap();
        }
        for bad in [
            "",
            "-a",
            "a-",
            "My",
            "a_b",
            "a/b",
            "../x",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(validate_bot_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// What an IPC command receives: the JSON argument is checked while it is read.
    #[test]
    fn bot_name_is_checked_when_deserialized() {
        let ok: BotName = serde_json::from_str("\"my-bot\"").unwrap();
        assert_eq!(&*ok, "my-bot");
        for bad in ["\"../etc\"", "\"\"", "\"a/b\"", "\"Bot\""] {
            let err = serde_json::from_str::<BotName>(bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("invalid bot name"), "{bad}: {err}");
        }
    }
}

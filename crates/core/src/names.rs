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
}

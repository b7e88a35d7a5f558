//! Strings a workspace controls (file names, link targets, changed paths, error messages that
//! quote them) are printed escaped: a control character in a name could otherwise move the
//! cursor, rewrite what the terminal shows or set its title. Like `ls -b`: `\n`, `\t`, `\\`
//! and `\xNN` for every other control character (C0, DEL and C1).

/// `s` with every control character (and the backslash) escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "a\x1b]0;owned\x07b\u{9b}2Jc\r\n\td\\e\u{7f}";
        let shown = escape(hostile);
        assert_eq!(shown, "a\\x1b]0;owned\\x07b\\x9b2Jc\\x0d\\n\\td\\\\e\\x7f");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }
}

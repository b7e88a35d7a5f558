//! Text rules of the file tools: paging a file by lines, and an edit that replaces exactly one
//! match while keeping the file's line endings and byte-order mark.

const BOM: char = '\u{feff}';

/// A page of a text file's lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The lines of the page, joined as they are in the file (line endings kept).
    pub text: String,
    /// The first line of the page, counted from 1.
    pub first: usize,
    /// How many lines the page holds.
    pub lines: usize,
    /// How many lines the file holds.
    pub total: usize,
}

/// Lines `offset..offset+limit` (1-based `offset`) of `text`. An offset past the end gives an
/// empty page (the total says why); a final line without a newline counts as a line.
pub fn page(text: &str, offset: usize, limit: usize) -> Page {
    let first = offset.max(1);
    let total = text.split_inclusive('\n').count();
    let mut out = String::new();
    let mut n = 0;
    for line in text.split_inclusive('\n').skip(first - 1).take(limit) {
        out.push_str(line);
        n += 1;
    }
    Page {
        text: out,
        first,
        lines: n,
        total,
    }
}

/// Whether bytes look like a binary file rather than text: not UTF-8, or holding a NUL.
pub fn is_binary(text: &str) -> bool {
    text.contains('\0')
}

/// Replaces the one occurrence of `old` in `text` by `new`. When the file's lines end in CRLF,
/// LF line ends in `old` and `new` are read as CRLF, so an agent's `\n` matches and the file
/// stays CRLF; a leading byte-order mark is neither matched nor lost.
pub fn replace_one(text: &str, old: &str, new: &str) -> Result<String, String> {
    if old.is_empty() {
        return Err("old_text is empty; give the exact text to replace".into());
    }
    let (bom, body) = match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let crlf = body.contains("\r\n");
    let (old, new) = if crlf {
        (to_crlf(old), to_crlf(new))
    } else {
        (old.to_string(), new.to_string())
    };
    let mut found = body.match_indices(&old);
    let Some((at, _)) = found.next() else {
        return Err(
            "old_text was not found; read the file again and copy the text exactly (spaces and line breaks included)".into(),
        );
    };
    let more = found.count();
    if more > 0 {
        return Err(format!(
            "old_text occurs {} times; include more of the surrounding text so that it matches exactly once",
            more + 1
        ));
    }
    let mut out = String::with_capacity(body.len() + new.len());
    if bom {
        out.push(BOM);
    }
    out.push_str(&body[..at]);
    out.push_str(&new);
    out.push_str(&body[at + old.len()..]);
    Ok(out)
}

/// `\n` not preceded by `\r` becomes `\r\n`.
fn to_crlf(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 16);
    let mut prev = '\0';
    for c in s.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let t = "a\nb\nc";
        assert_eq!(
            page(t, 1, 2),
            Page {
                text: "a\nb\n".into(),
                first: 1,
                lines: 2,
                total: 3
            }
        );
        assert_eq!(page(t, 3, 10).text, "c");
        assert_eq!(page(t, 0, 1).first, 1);
        let past = page(t, 9, 5);
        assert_eq!((past.lines, past.total, past.text.as_str()), (0, 3, ""));
        assert_eq!(page("", 1, 5).total, 0);
        assert_eq!(page("x\r\ny\r\n", 2, 1).text, "y\r\n");
    }

    #[test]
    fn replaces_exactly_one_match() {
        assert_eq!(replace_one("a b c", "b", "B").unwrap(), "a B c");
        let none = replace_one("a b c", "x", "y").unwrap_err();
        assert!(none.contains("not found"), "{none}");
        let two = replace_one("b b", "b", "c").unwrap_err();
        assert!(two.contains("2 times"), "{two}");
        assert!(replace_one("abc", "", "x").is_err());
        // the new text may contain the old one
        assert_eq!(replace_one("x", "x", "xx").unwrap(), "xx");
    }

    #[test]
    fn keeps_crlf_and_the_bom() {
        let t = "\u{feff}one\r\ntwo\r\nthree\r\n";
        let r = replace_one(t, "one\ntwo", "1\n2\n2.5").unwrap();
        assert_eq!(r, "\u{feff}1\r\n2\r\n2.5\r\nthree\r\n");
        // text already in CRLF is not doubled
        let r = replace_one(t, "two\r\n", "deux\r\n").unwrap();
        assert_eq!(r, "\u{feff}one\r\ndeux\r\nthree\r\n");
        // a BOM in old_text is not needed to match the first line
        assert!(replace_one(t, "one", "uno")
            .unwrap()
            .starts_with("\u{feff}uno"));
        // LF files stay LF
        assert_eq!(replace_one("a\nb\n", "a\nb", "c\nd").unwrap(), "c\nd\n");
    }

    #[test]
    fn binary() {
        assert!(is_binary("a\0b"));
        assert!(!is_binary("plain ✓"));
    }
}

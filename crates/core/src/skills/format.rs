//! The Agent Skills format: a folder `<name>/` holding `SKILL.md`, whose YAML front-matter
//! names the skill and says when to use it. Pure functions: the rules are checked here, on text,
//! before anything is written to a workspace.

use yaml_serde::{Mapping, Value};

/// The file every skill folder holds.
pub const SKILL_FILE: &str = "SKILL.md";
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 1024;
const MAX_COMPATIBILITY: usize = 500;
/// Largest `SKILL.md` read (the format asks for under 500 lines; this is far above).
pub const MAX_SKILL_FILE: u64 = 1024 * 1024;

/// What the front-matter of a valid `SKILL.md` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillMeta {
    pub name: String,
    pub description: String,
    pub license: Option<String>,
    pub compatibility: Option<String>,
    pub allowed_tools: Option<String>,
}

/// Checks a skill's name: 1–64 of `a-z0-9-`, no leading, trailing or double hyphen. Also the
/// rule for a skill's folder, so `.`, `..` and names with `/` never reach a path.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "the name must be 1 to {MAX_NAME} characters (got {})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "the name {name:?} may hold only a-z, 0-9 and '-' (found {c:?})"
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("the name {name:?} may not start or end with '-'"));
    }
    if name.contains("--") {
        return Err(format!("the name {name:?} may not hold \"--\""));
    }
    Ok(())
}

/// Parses and checks `SKILL.md` of the folder `folder`: its front-matter must hold a `name`
/// equal to the folder's and a `description`; the optional fields must have their types.
pub fn parse(folder: &str, text: &str) -> Result<SkillMeta, String> {
    let meta = parse_alone(text)?;
    if meta.name != folder {
        return Err(format!(
            "the name {:?} differs from its folder's name {folder:?}",
            meta.name
        ));
    }
    Ok(meta)
}

/// [`parse`] without the folder: for a lone `SKILL.md`, whose name names the folder to make.
pub fn parse_alone(text: &str) -> Result<SkillMeta, String> {
    let yaml = front_matter(text)?;
    let map: Mapping = match yaml_serde::from_str::<Value>(yaml) {
        Ok(Value::Mapping(m)) => m,
        Ok(Value::Null) => return Err("the front-matter is empty".into()),
        Ok(_) => return Err("the front-matter is not a mapping of fields".into()),
        Err(e) => return Err(format!("the front-matter is not valid YAML: {e}")),
    };
    let name = string_field(&map, "name")?.ok_or("the front-matter has no `name`")?;
    check_name(&name)?;
    let description =
        string_field(&map, "description")?.ok_or("the front-matter has no `description`")?;
    if description.trim().is_empty() {
        return Err("the description is empty".into());
    }
    let n = description.chars().count();
    if n > MAX_DESCRIPTION {
        return Err(format!(
            "the description has {n} characters; at most {MAX_DESCRIPTION} are allowed"
        ));
    }
    let compatibility = string_field(&map, "compatibility")?;
    if let Some(c) = &compatibility {
        let n = c.chars().count();
        if n == 0 || n > MAX_COMPATIBILITY {
            return Err(format!(
                "`compatibility` must be 1 to {MAX_COMPATIBILITY} characters (got {n})"
            ));
        }
    }
    if let Some(m) = map.get("metadata") {
        let Value::Mapping(m) = m else {
            return Err("`metadata` must be a mapping of strings".into());
        };
        if m.iter().any(|(k, v)| !k.is_string() || !v.is_string()) {
            return Err("`metadata` must map strings to strings".into());
        }
    }
    Ok(SkillMeta {
        name,
        description,
        license: string_field(&map, "license")?,
        compatibility,
        allowed_tools: string_field(&map, "allowed-tools")?,
    })
}

/// The YAML between the opening `---` line (the file's first, after an optional BOM) and the
/// next line that is exactly `---`. Line endings may be LF or CRLF.
fn front_matter(text: &str) -> Result<&str, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
        .ok_or("SKILL.md must start with a `---` line opening its YAML front-matter")?;
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == "---" {
            return Ok(&rest[..at]);
        }
        at += line.len();
    }
    Err("the front-matter is not closed by a `---` line".into())
}

fn string_field(map: &Mapping, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// The text of a new skill, valid as it stands, for the editor's "new" and `berth skills new`.
pub fn template(name: &str) -> String {
    format!(
        "---\nname: {name}\ndescription: What this skill does and when to use it.\n---\n\n# {name}\n\nSteps the agent follows.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(front: &str) -> String {
        format!("---\n{front}\n---\nbody\n")
    }

    #[test]
    fn names() {
        for ok in ["a", "pdf-tools", "x1", &"a".repeat(64)] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "-a",
            "a-",
            "a--b",
            "A",
            "a_b",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_valid_skill_parses_with_its_optional_fields() {
        let text = skill(
            "name: pdf\ndescription: Fill PDF forms.\nlicense: MIT\ncompatibility: needs python3\nallowed-tools: Bash(python3:*) Read\nmetadata:\n  author: me\n  version: \"1.0\"",
        );
        let m = parse("pdf", &text).unwrap();
        assert_eq!(m.name, "pdf");
        assert_eq!(m.description, "Fill PDF forms.");
        assert_eq!(m.license.as_deref(), Some("MIT"));
        assert_eq!(m.compatibility.as_deref(), Some("needs python3"));
        assert_eq!(m.allowed_tools.as_deref(), Some("Bash(python3:*) Read"));
    }

    #[test]
    fn crlf_bom_and_block_scalars_parse() {
        let text = "\u{feff}---\r\nname: x\r\ndescription: >\r\n  two\r\n  lines\r\n---\r\nbody";
        assert_eq!(parse("x", text).unwrap().description, "two lines\n");
    }

    #[test]
    fn each_broken_rule_says_what_is_wrong() {
        let cases = [
            ("no front matter\n".to_string(), "must start with"),
            ("---\nname: x\n".to_string(), "not closed"),
            ("---\n---\n".to_string(), "empty"),
            (skill("- a\n- b"), "not a mapping"),
            (skill("name: [x"), "not valid YAML"),
            (skill("description: d"), "no `name`"),
            (skill("name: y\ndescription: d"), "differs from its folder"),
            (skill("name: x"), "no `description`"),
            (skill("name: x\ndescription: \"  \""), "empty"),
            (
                skill(&format!("name: x\ndescription: {}", "d".repeat(1025))),
                "1025 characters",
            ),
            (skill("name: x\ndescription: 5"), "must be a string"),
            (skill("name: X\ndescription: d"), "may hold only"),
            (skill("name: x\ndescription: d\nmetadata: 3"), "metadata"),
            (
                skill("name: x\ndescription: d\nmetadata:\n  a: [1]"),
                "strings to strings",
            ),
            (
                skill(&format!(
                    "name: x\ndescription: d\ncompatibility: {}",
                    "c".repeat(501)
                )),
                "compatibility",
            ),
        ];
        for (text, want) in cases {
            let e = parse("x", &text).expect_err(&text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_description_of_exactly_1024_characters_is_allowed() {
        let text = skill(&format!("name: x\ndescription: {}", "é".repeat(1024)));
        assert!(parse("x", &text).is_ok());
    }

    #[test]
    fn a_closing_line_inside_the_body_does_not_end_the_front_matter_early() {
        let text = "---\nname: x\ndescription: d\n---\n---\nmore\n";
        assert_eq!(parse("x", text).unwrap().name, "x");
        // `---` followed by text is not a closing line
        let text = "---\nname: x\ndescription: d\n--- \n---\n";
        assert!(parse("x", text).is_err());
    }

    #[test]
    fn the_template_is_valid() {
        assert!(parse("new-skill", &template("new-skill")).is_ok());
    }
}

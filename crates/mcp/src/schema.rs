//! The built-in tools as an agent sees them: names, descriptions, JSON schemas, hints.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{json, Value};

/// Lines `read_file` returns when the agent gives no `limit`.
pub const DEFAULT_LINES: usize = 2000;
/// The most lines one `read_file` returns.
pub const MAX_LINES: usize = 20_000;
/// `exec`'s default and largest timeout, in seconds.
pub const DEFAULT_TIMEOUT_S: u64 = 45;
pub const MAX_TIMEOUT_S: u64 = 600;

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => unreachable!("schemas are objects"),
    }
}

fn tool(
    name: &'static str,
    title: &str,
    description: &'static str,
    schema: Value,
    read_only: bool,
) -> Tool {
    let hints = ToolAnnotations::with_title(title)
        .read_only(read_only)
        .destructive(!read_only)
        .open_world(false);
    Tool::new(name, description, object(schema)).annotate(hints)
}

/// Every built-in tool; with `read_only`, only those that change nothing.
pub fn builtin(read_only: bool) -> Vec<Tool> {
    let all = vec![
        tool(
            "read_file",
            "Read a file",
            "Read a text file of the bot's workspace by lines. Relative paths are under /data. Returns the lines of the page as they are in the file, and which lines they are of how many; page with `offset` (first line, from 1) and `limit` (lines, default 2000). Binary files are refused.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The file; relative to /data unless absolute."},
                    "offset": {"type": "integer", "minimum": 1, "description": "The first line to return, from 1 (default 1)."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LINES, "description": "How many lines (default 2000)."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
            true,
        ),
        tool(
            "list_dir",
            "List a folder",
            "List a folder of the bot's workspace: one entry per line, folders ending in '/', links as 'name -> target', files with their size in bytes. Relative paths are under /data (the default).",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The folder (default /data)."},
                    "recursive": {"type": "boolean", "description": "Include every subfolder's entries, as paths relative to `path` (at most 5000 entries)."}
                },
                "additionalProperties": false
            }),
            true,
        ),
        tool(
            "list_skills",
            "List skills",
            "List the bot's skills (folders holding a SKILL.md, in /data/.skills unless the bot's setting says otherwise): name, description, and for an invalid skill what is wrong with it.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            true,
        ),
        tool(
            "get_skill",
            "Read a skill",
            "The full text of a skill's SKILL.md: its front-matter and instructions. Files it mentions are in its folder (the path list_skills gives; read them with read_file).",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string", "description": "The skill's name, as list_skills gives it."}},
                "required": ["name"],
                "additionalProperties": false
            }),
            true,
        ),
        tool(
            "write_file",
            "Write a file",
            "Write a whole text file in the bot's workspace, atomically (a temporary file renamed into place), creating missing folders. Relative paths are under /data. With `expected_revision` (the revision read_file returned) the write is refused when the file changed since. /opt/berth and /run/berth are read-only.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "content": {"type": "string", "description": "The file's whole new text."},
                    "expected_revision": {"type": "string", "description": "sha256:<hex> from read_file; refuse the write if the file changed."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
            false,
        ),
        tool(
            "edit_file",
            "Edit a file",
            "Replace exactly one occurrence of `old_text` by `new_text` in a text file of the bot's workspace (an error when it occurs zero or several times: then give more context). The file keeps its line endings (CRLF files stay CRLF) and byte-order mark; the write is atomic and refused if the file changed meanwhile.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string"},
                    "old_text": {"type": "string", "description": "The exact text to replace, once in the file."},
                    "new_text": {"type": "string"}
                },
                "required": ["path", "old_text", "new_text"],
                "additionalProperties": false
            }),
            false,
        ),
        tool(
            "exec",
            "Run a command",
            "Run a command in the bot's workspace with /bin/sh -c, in /data unless `cwd` says otherwise. Returns exit_code (or signal), stdout, stderr and `truncated` (long output keeps its beginning and end). At `timeout_s` (default 45, at most 600) the command and every process it started are killed.",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "A shell command line."},
                    "cwd": {"type": "string", "description": "Working directory (default /data)."},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Extra environment variables."},
                    "timeout_s": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_S}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
            false,
        ),
    ];
    all.into_iter()
        .filter(|t| {
            !read_only || t.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_hints() {
        let names: Vec<_> = builtin(false).iter().map(|t| t.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "read_file",
                "list_dir",
                "list_skills",
                "get_skill",
                "write_file",
                "edit_file",
                "exec"
            ]
        );
        let read: Vec<_> = builtin(true).iter().map(|t| t.name.to_string()).collect();
        assert_eq!(read, ["read_file", "list_dir", "list_skills", "get_skill"]);
        for t in builtin(false) {
            let a = t.annotations.unwrap();
            assert_eq!(
                a.read_only_hint,
                Some(read.contains(&t.name.to_string())),
                "{}",
                t.name
            );
            assert_eq!(
                a.destructive_hint,
                Some(!read.contains(&t.name.to_string()))
            );
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
        }
    }
}

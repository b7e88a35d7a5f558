//! The MCP servers a bot runs inside its workspace: a per-bot list of `{name, command, args,
//! env, cwd}` kept in the store. `berth mcp serve` starts each through the bridge's exec —
//! argv and environment passed as such, never as a shell line — and proxies its tools.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::{Berth, Error, Result};

/// One in-workspace MCP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct McpServer {
    /// 1–32 of `a-z0-9_-`, no `__`: its tools are offered as `<name>__<tool>`.
    pub name: String,
    /// The program, looked up in the workspace's PATH (`npx`, `uvx`, `/data/bin/server`).
    pub command: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory in the workspace (default `/data`).
    #[serde(default)]
    pub cwd: Option<String>,
}

/// Checks a server's fields; the message says which is wrong.
pub fn check(s: &McpServer) -> Result<()> {
    let n = &s.name;
    let name_ok = !n.is_empty()
        && n.len() <= 32
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !n.contains("__")
        && !n.starts_with(['-', '_']);
    if !name_ok {
        return Err(Error::invalid(format!(
            "the MCP server name {n:?} must be 1 to 32 of a-z, 0-9, '-' and '_', not starting with '-' or '_' and without \"__\""
        )));
    }
    if s.command.trim().is_empty() {
        return Err(Error::invalid(format!("the MCP server {n} has no command")));
    }
    if s.command.contains('\0') || s.args.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid(format!(
            "the command of the MCP server {n} holds a NUL byte"
        )));
    }
    for (k, v) in &s.env {
        if !is_env_name(k) || v.contains('\0') {
            return Err(Error::invalid(format!(
                "the MCP server {n} has an invalid environment variable {k:?} (letters, digits and '_', not starting with a digit)"
            )));
        }
    }
    if let Some(cwd) = &s.cwd {
        if !cwd.starts_with('/') || cwd.contains('\0') {
            return Err(Error::invalid(format!(
                "the working directory of the MCP server {n} must be an absolute path"
            )));
        }
    }
    Ok(())
}

/// Whether `k` is a usable environment variable name.
pub fn is_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Reads a Claude-Desktop-style configuration: `{"mcpServers": {NAME: {command, args, env,
/// cwd}}}`, or the inner object alone. Every server is checked; one bad entry refuses all.
pub fn parse_config(json: &str) -> Result<Vec<McpServer>> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("the configuration is not valid JSON: {e}")))?;
    let servers = match v.get("mcpServers") {
        Some(s) => s,
        None => &v,
    };
    let Value::Object(map) = servers else {
        return Err(Error::invalid(
            "the configuration must be an object with \"mcpServers\": {NAME: {\"command\": ...}}",
        ));
    };
    if map.is_empty() {
        return Err(Error::invalid("the configuration names no MCP server"));
    }
    let mut out = Vec::new();
    for (name, entry) in map {
        let Value::Object(e) = entry else {
            return Err(Error::invalid(format!(
                "the entry of {name:?} is not an object"
            )));
        };
        if e.contains_key("url") || e.get("type").is_some_and(|t| t != "stdio") {
            return Err(Error::invalid(format!(
                "{name:?} is a remote (HTTP) server; only stdio servers run inside the workspace — add it to your agent directly"
            )));
        }
        let field = |k: &str| e.get(k).cloned().unwrap_or(Value::Null);
        let s = McpServer {
            name: name.clone(),
            command: serde_json::from_value(field("command"))
                .map_err(|_| Error::invalid(format!("{name:?} has no \"command\" string")))?,
            args: from_optional(field("args"), name, "args", "an array of strings")?,
            env: from_optional(field("env"), name, "env", "an object of strings")?,
            cwd: from_optional(field("cwd"), name, "cwd", "a string")?,
        };
        check(&s)?;
        out.push(s);
    }
    Ok(out)
}

fn from_optional<T: serde::de::DeserializeOwned + Default>(
    v: Value,
    name: &str,
    key: &str,
    what: &str,
) -> Result<T> {
    if v.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(v)
        .map_err(|_| Error::invalid(format!("\"{key}\" of {name:?} must be {what}")))
}

fn to_row(bot: &str, s: &McpServer) -> berth_store::McpServerRow {
    berth_store::McpServerRow {
        bot: bot.to_string(),
        name: s.name.clone(),
        command: s.command.clone(),
        args: serde_json::to_string(&s.args).expect("strings"),
        env: serde_json::to_string(&s.env).expect("strings"),
        cwd: s.cwd.clone(),
    }
}

fn from_row(r: berth_store::McpServerRow) -> Result<McpServer> {
    let bad = |_| Error::internal(format!("the stored MCP server {:?} is damaged", r.name));
    Ok(McpServer {
        args: serde_json::from_str(&r.args).map_err(bad)?,
        env: serde_json::from_str(&r.env).map_err(bad)?,
        name: r.name,
        command: r.command,
        cwd: r.cwd,
    })
}

impl Berth {
    /// The bot's in-workspace MCP servers, by name.
    pub fn mcp_servers(&self, bot: &str) -> Result<Vec<McpServer>> {
        self.require_bot(bot)?;
        self.inner
            .store
            .list_mcp_servers(bot)?
            .into_iter()
            .map(from_row)
            .collect()
    }

    /// Adds servers (all or none); with `replace`, servers of the same names are replaced.
    pub fn mcp_servers_add(&self, bot: &str, servers: &[McpServer], replace: bool) -> Result<()> {
        self.require_bot(bot)?;
        for s in servers {
            check(s)?;
        }
        let rows: Vec<_> = servers.iter().map(|s| to_row(bot, s)).collect();
        self.inner.store.put_mcp_servers(&rows, replace)?;
        Ok(())
    }

    /// Removes a server.
    pub fn mcp_server_remove(&self, bot: &str, name: &str) -> Result<()> {
        self.require_bot(bot)?;
        Ok(self.inner.store.delete_mcp_server(bot, name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> McpServer {
        McpServer {
            name: name.into(),
            command: "npx".into(),
            args: vec![],
            env: BTreeMap::new(),
            cwd: None,
        }
    }

    #[test]
    fn names() {
        for ok in ["fs", "git-2", "my_server", &"a".repeat(32)] {
            assert!(check(&server(ok)).is_ok(), "{ok}");
        }
        for bad in ["", "a__b", "-a", "_a", "A", "a.b", "a/b", &"a".repeat(33)] {
            assert!(check(&server(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fields() {
        let mut s = server("x");
        s.env.insert("1A".into(), "v".into());
        assert!(check(&s).is_err());
        let mut s = server("x");
        s.args.push("a\0b".into());
        assert!(check(&s).is_err());
        let mut s = server("x");
        s.cwd = Some("data".into());
        assert!(check(&s).is_err());
        let mut s = server("x");
        s.command = " ".into();
        assert!(check(&s).is_err());
    }

    #[test]
    fn claude_desktop_configuration() {
        let json = r#"{"mcpServers": {
            "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/data"], "env": {"DEBUG": "1"}},
            "time": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]}
        }}"#;
        let s = parse_config(json).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "fs");
        assert_eq!(s[0].args[1], "@modelcontextprotocol/server-filesystem");
        assert_eq!(s[0].env["DEBUG"], "1");
        assert_eq!(s[1].command, "uvx");
        // the inner object alone
        assert_eq!(
            parse_config(r#"{"a": {"command": "x"}}"#).unwrap()[0].name,
            "a"
        );
    }

    #[test]
    fn bad_configurations_say_why() {
        let cases = [
            ("nope", "not valid JSON"),
            ("[]", "must be an object"),
            (r#"{"mcpServers": {}}"#, "names no"),
            (r#"{"a": 1}"#, "not an object"),
            (r#"{"a": {"url": "https://x"}}"#, "remote"),
            (r#"{"a": {"type": "http", "command": "x"}}"#, "remote"),
            (r#"{"a": {"args": []}}"#, "no \"command\""),
            (
                r#"{"a": {"command": "x", "args": "-y"}}"#,
                "array of strings",
            ),
            (
                r#"{"a": {"command": "x", "env": {"K": 1}}}"#,
                "object of strings",
            ),
            (r#"{"A": {"command": "x"}}"#, "must be 1 to 32"),
        ];
        for (json, want) in cases {
            let e = parse_config(json).unwrap_err();
            assert!(e.message.contains(want), "{json}: {}", e.message);
        }
    }
}

/// What trying an in-workspace server found: whether it started and answered, its tools, and
/// the last lines of its stderr.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct McpProbe {
    pub name: String,
    pub ok: bool,
    pub error: Option<String>,
    pub tools: Vec<McpToolInfo>,
    pub stderr: Vec<String>,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
}

/// A tool an in-workspace server offers (the agent sees it as `<server>__<name>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct McpToolInfo {
    pub name: String,
    pub description: String,
    pub read_only: bool,
}

/// The ready-to-paste configuration a local agent needs to reach a bot's workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct AgentConfig {
    /// The absolute path of the `berth` command agents launch.
    pub berth: String,
    /// Whether that file exists (a development build may lack an installed `berth`).
    pub installed: bool,
    /// `mcpServers` JSON for Claude Desktop (`claude_desktop_config.json`) and Cursor
    /// (`~/.cursor/mcp.json`).
    pub json: String,
    /// The `claude mcp add` command line for Claude Code.
    pub claude_code: String,
}

/// The configuration for agents of `bot`, launching `berth` at `berth_path`.
pub fn agent_config(
    bot: &str,
    berth_path: &std::path::Path,
    extra_env: &[(&str, String)],
) -> AgentConfig {
    let berth = berth_path.display().to_string();
    let key = format!("berth-{bot}");
    let mut entry = serde_json::json!({
        "command": berth,
        "args": ["mcp", "serve", bot],
    });
    if !extra_env.is_empty() {
        let env: serde_json::Map<String, Value> = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
            .collect();
        entry["env"] = Value::Object(env);
    }
    let json =
        serde_json::to_string_pretty(&serde_json::json!({"mcpServers": {key.clone(): entry}}))
            .expect("json");
    let env_flags: String = extra_env
        .iter()
        .map(|(k, v)| format!(" -e {k}={}", shell_word(v)))
        .collect();
    AgentConfig {
        installed: berth_path.is_file(),
        claude_code: format!(
            "claude mcp add {key}{env_flags} -- {} mcp serve {bot}",
            shell_word(&berth)
        ),
        berth,
        json,
    }
}

/// `s` quoted for a POSIX shell when it needs it.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:@+,".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn agent_configuration() {
        let c = agent_config("my-bot", std::path::Path::new("/usr/bin/berth"), &[]);
        let v: Value = serde_json::from_str(&c.json).unwrap();
        assert_eq!(v["mcpServers"]["berth-my-bot"]["command"], "/usr/bin/berth");
        assert_eq!(
            v["mcpServers"]["berth-my-bot"]["args"],
            serde_json::json!(["mcp", "serve", "my-bot"])
        );
        assert_eq!(
            c.claude_code,
            "claude mcp add berth-my-bot -- /usr/bin/berth mcp serve my-bot"
        );
        let c = agent_config(
            "b",
            std::path::Path::new("/home/a b/berth"),
            &[("BERTH_DATA_DIR", "/x y".into())],
        );
        assert_eq!(
            c.claude_code,
            "claude mcp add berth-b -e BERTH_DATA_DIR='/x y' -- '/home/a b/berth' mcp serve b"
        );
        let v: Value = serde_json::from_str(&c.json).unwrap();
        assert_eq!(v["mcpServers"]["berth-b"]["env"]["BERTH_DATA_DIR"], "/x y");
    }
}

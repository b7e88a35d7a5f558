//! The built-in tools, run on the bot's workspace through `berth-core`. Every failure is a
//! tool result with `isError` and a message an agent can act on, never a protocol error: the
//! session stays usable whatever a call does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_core::files::FileType;
use berth_core::{Berth, Error, ExecRequest};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::capture::HeadTail;
use crate::schema::{DEFAULT_LINES, DEFAULT_TIMEOUT_S, MAX_LINES, MAX_TIMEOUT_S};
use crate::text;

/// Output kept of each stream of an `exec`: this much of its start and of its end.
const KEEP_HEAD: usize = 24 * 1024;
const KEEP_TAIL: usize = 24 * 1024;
/// Entries a recursive `list_dir` returns at most.
const MAX_LISTED: usize = 5000;

/// Reports progress of a long call: `(elapsed seconds, message)`.
pub type Progress = Box<dyn Fn(f64, String) + Send + Sync>;

/// A failure shown to the agent.
pub struct ToolError(pub String);

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        ToolError(e.message)
    }
}

pub type ToolResult = Result<CallToolResult, ToolError>;

pub fn args<T: DeserializeOwned>(a: Option<JsonObject>) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(a.unwrap_or_default()))
        .map_err(|e| ToolError(format!("invalid arguments: {e}")))
}

/// A path an agent gave: absolute as is, relative under /data.
pub fn resolve(path: &str) -> Result<String, ToolError> {
    let p = path.trim_end_matches('/');
    if path.is_empty() {
        return Err(ToolError("the path is empty".into()));
    }
    if path.contains('\0') {
        return Err(ToolError("the path holds a NUL byte".into()));
    }
    Ok(match path.strip_prefix('/') {
        Some(_) if p.is_empty() => "/".into(),
        Some(_) => p.to_string(),
        None => format!("/data/{p}"),
    })
}

fn done(text: String, structured: Value) -> ToolResult {
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(structured);
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    offset: Option<usize>,
    limit: Option<usize>,
}

pub async fn read_file(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let a: ReadArgs = args(a)?;
    let path = resolve(&a.path)?;
    let limit = a.limit.unwrap_or(DEFAULT_LINES);
    if limit == 0 || limit > MAX_LINES {
        return Err(ToolError(format!("limit must be 1 to {MAX_LINES} lines")));
    }
    let file = berth.file_read_text(bot, &path).await.map_err(|e| {
        if e.message.contains("not UTF-8") {
            ToolError(format!(
                "{path} is a binary file (not UTF-8 text); it cannot be read as lines"
            ))
        } else {
            ToolError(e.message)
        }
    })?;
    if text::is_binary(&file.content) {
        return Err(ToolError(format!(
            "{path} is a binary file (it holds NUL bytes); it cannot be read as lines"
        )));
    }
    let page = text::page(&file.content, a.offset.unwrap_or(1), limit);
    let last = page.first + page.lines.saturating_sub(1);
    let next = (last < page.total).then_some(last + 1);
    let structured = json!({
        "path": path,
        "offset": page.first,
        "lines": page.lines,
        "total_lines": page.total,
        "next_offset": next,
        "revision": file.revision,
    });
    let mut r = CallToolResult::success(vec![ContentBlock::text(page.text)]);
    let about = match next {
        _ if page.lines == 0 => format!(
            "no lines from line {} ({} lines in all)",
            page.first, page.total
        ),
        Some(n) => format!(
            "lines {}-{last} of {}; continue with offset {n}",
            page.first, page.total
        ),
        None => format!("lines {}-{last} of {} (the end)", page.first, page.total),
    };
    r.content.push(ContentBlock::text(format!(
        "[{about}; revision {}]",
        file.revision
    )));
    r.structured_content = Some(structured);
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
    expected_revision: Option<String>,
}

pub async fn write_file(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let a: WriteArgs = args(a)?;
    let path = resolve(&a.path)?;
    if a.expected_revision.is_none() {
        if let Some((parent, _)) = path.rsplit_once('/').filter(|(p, _)| !p.is_empty()) {
            berth.file_mkdir_all(bot, parent).await?;
        }
    }
    let bytes = a.content.len();
    let saved = berth
        .file_save_text(bot, &path, a.content, a.expected_revision)
        .await?;
    let rev = saved.revision.unwrap_or_default();
    done(
        format!("wrote {bytes} bytes to {path} (revision {rev})"),
        json!({"path": path, "bytes": bytes, "revision": rev}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
}

pub async fn edit_file(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let a: EditArgs = args(a)?;
    let path = resolve(&a.path)?;
    let file = berth.file_read_text(bot, &path).await?;
    let edited = text::replace_one(&file.content, &a.old_text, &a.new_text)
        .map_err(|e| ToolError(format!("{path}: {e}")))?;
    let saved = berth
        .file_save_text(bot, &path, edited, Some(file.revision))
        .await
        .map_err(|e| {
            if e.code == berth_core::model::ErrorCode::Conflict {
                ToolError(format!(
                    "{path} changed while it was being edited; read it again and retry"
                ))
            } else {
                ToolError(e.message)
            }
        })?;
    let rev = saved.revision.unwrap_or_default();
    done(
        format!("edited {path} (revision {rev})"),
        json!({"path": path, "revision": rev}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
}

pub async fn list_dir(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let a: ListArgs = args(a)?;
    let root = resolve(a.path.as_deref().unwrap_or("/data"))?;
    let mut lines = Vec::new();
    let mut entries = Vec::new();
    let mut queue = std::collections::VecDeque::from([(root.clone(), String::new())]);
    let mut truncated = false;
    while let Some((dir, rel)) = queue.pop_front() {
        let listing = berth.file_list(bot, &dir).await?;
        for e in listing.entries {
            if entries.len() >= MAX_LISTED {
                truncated = true;
                break;
            }
            let name = format!("{rel}{}", e.name);
            let (line, kind) = match e.kind {
                FileType::Dir => {
                    if a.recursive {
                        queue.push_back((e.path.clone(), format!("{name}/")));
                    }
                    (format!("{name}/"), "dir")
                }
                FileType::Symlink => (
                    format!("{name} -> {}", e.link_target.clone().unwrap_or_default()),
                    "link",
                ),
                FileType::File => (format!("{name}  {}", e.size), "file"),
                _ => (name.clone(), "other"),
            };
            lines.push(line);
            entries.push(json!({"name": name, "type": kind, "size": e.size}));
        }
        if truncated {
            break;
        }
    }
    let mut text = lines.join("\n");
    if truncated {
        text.push_str(&format!(
            "\n[stopped at {MAX_LISTED} entries; list a subfolder]"
        ));
    } else if lines.is_empty() {
        text = format!("{root} is empty");
    }
    done(
        text,
        json!({"path": root, "entries": entries, "truncated": truncated}),
    )
}

pub async fn list_skills(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let _: BTreeMap<String, Value> = args(a)?;
    let skills = berth.skills_list(bot).await?;
    let text = if skills.is_empty() {
        format!("no skills in {}", berth.skills_root(bot)?)
    } else {
        skills
            .iter()
            .map(|s| match &s.problem {
                None => format!("{}: {}", s.name, s.description),
                Some(p) => format!("{} (invalid: {p})", s.name),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    done(text, json!({"skills": skills}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SkillArgs {
    name: String,
}

pub async fn get_skill(berth: &Berth, bot: &str, a: Option<JsonObject>) -> ToolResult {
    let a: SkillArgs = args(a)?;
    let t = berth.skill_text(bot, &a.name).await?;
    Ok(CallToolResult::success(vec![ContentBlock::text(t.content)]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecArgs {
    command: String,
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    timeout_s: Option<u64>,
}

pub async fn exec(
    berth: &Berth,
    bot: &str,
    a: Option<JsonObject>,
    progress: Option<Progress>,
) -> ToolResult {
    let a: ExecArgs = args(a)?;
    let timeout = a.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S);
    if timeout == 0 || timeout > MAX_TIMEOUT_S {
        return Err(ToolError(format!("timeout_s must be 1 to {MAX_TIMEOUT_S}")));
    }
    let mut env = Vec::new();
    for (k, v) in &a.env {
        let ok = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok || v.contains('\0') {
            return Err(ToolError(format!(
                "invalid environment variable name {k:?} (letters, digits and '_')"
            )));
        }
        env.push(format!("{k}={v}"));
    }
    let req = ExecRequest {
        argv: vec![b"/bin/sh".to_vec(), b"-c".to_vec(), a.command.into_bytes()],
        env,
        cwd: a.cwd.as_deref().map(resolve).transpose()?,
    };
    let seen = Arc::new(AtomicU64::new(0));
    let mut out = HeadTail::new(KEEP_HEAD, KEEP_TAIL, seen.clone());
    let mut err = HeadTail::new(KEEP_HEAD, KEEP_TAIL, seen.clone());
    let started = Instant::now();
    // Dropping `run` at the timeout ends the bridge's session, which kills the command's
    // process group; the connection is kept for the next call.
    let status = {
        let run = berth.exec(bot, req, None::<tokio::io::Empty>, &mut out, &mut err);
        let limit = tokio::time::sleep(Duration::from_secs(timeout));
        tokio::pin!(run, limit);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tokio::select! {
                r = &mut run => break Some(r?),
                _ = &mut limit => break None,
                _ = tick.tick() => if let Some(p) = &progress {
                    let secs = started.elapsed().as_secs_f64();
                    p(secs, format!("running for {secs:.0} s, {} bytes of output", seen.load(Ordering::Relaxed)));
                },
            }
        }
    };
    let (stdout, t1) = out.finish();
    let (stderr, t2) = err.finish();
    let timed_out = status.is_none();
    let (code, signal) = status.map_or((None, None), |s| (s.code, s.signal));
    let structured = json!({
        "exit_code": code,
        "signal": signal,
        "stdout": stdout,
        "stderr": stderr,
        "truncated": t1 || t2,
        "timed_out": timed_out,
        "duration_ms": started.elapsed().as_millis() as u64,
    });
    let mut text = match (timed_out, code, signal) {
        (true, _, _) => {
            format!("timed out after {timeout} s; the command and its processes were killed")
        }
        (_, Some(c), _) => format!("exit code {c}"),
        (_, _, Some(s)) => format!("killed by signal {s}"),
        _ => "ended".to_string(),
    };
    if !stdout.is_empty() {
        text.push_str(&format!("\n--- stdout ---\n{stdout}"));
    }
    if !stderr.is_empty() {
        text.push_str(&format!("\n--- stderr ---\n{stderr}"));
    }
    let mut r = if timed_out {
        CallToolResult::error(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    r.structured_content = Some(structured);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_under_data() {
        let ok = |p: &str| resolve(p).ok().unwrap();
        assert_eq!(ok("a/b.txt"), "/data/a/b.txt");
        assert_eq!(ok("/etc/os-release"), "/etc/os-release");
        assert_eq!(ok("/"), "/");
        assert_eq!(ok("dir/"), "/data/dir");
        assert!(resolve("").is_err());
        assert!(resolve("a\0b").is_err());
    }

    #[test]
    fn unknown_arguments_are_refused() {
        let a = json!({"path": "x", "nope": 1}).as_object().cloned();
        let e = args::<ReadArgs>(a).err().unwrap();
        assert!(e.0.contains("unknown field"), "{}", e.0);
        let e = args::<ReadArgs>(None).err().unwrap();
        assert!(e.0.contains("missing field `path`"), "{}", e.0);
    }
}

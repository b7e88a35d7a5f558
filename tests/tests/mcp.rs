//! `berth mcp serve` driven by real MCP clients over a child process, against a real
//! workspace: rmcp's client here, the official TypeScript SDK (tests/mcp-client) below. Every
//! built-in tool is called; failures are `isError` results and the session goes on; a timed-out
//! exec kills its processes and the next exec works; an in-workspace MCP server (a fixture in
//! plain sh) is started through the bridge, proxied as `fx__*`, its `tools/list_changed`
//! forwarded, and its process killed when the session ends; `--read-only` and a stopped
//! workspace (with and without `--allow-start`). The skills CLI is in skills.rs.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use berth_tests::{berth_binary, create, eventually, sh, TestEnv, BUSYBOX};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Clone, Default)]
struct Agent {
    tools_changed: Arc<Notify>,
}

impl ClientHandler for Agent {
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.tools_changed.notify_one();
    }
}

async fn serve(env: &TestEnv, bot: &str, flags: &[&str]) -> RunningService<RoleClient, Agent> {
    let mut cmd = tokio::process::Command::new(berth_binary());
    cmd.args(["mcp", "serve", bot])
        .args(flags)
        .env("BERTH_CONTAINERD_SOCKET", &env.socket)
        .env("BERTH_NAMESPACE", &env.ns)
        .env("BERTH_DATA_DIR", env.data_dir());
    let transport = TokioChildProcess::new(cmd).expect("spawning berth mcp serve");
    Agent::default().serve(transport).await.expect("initialize")
}

async fn call(c: &RunningService<RoleClient, Agent>, tool: &str, args: Value) -> CallToolResult {
    let mut p = CallToolRequestParams::new(tool.to_string());
    p.arguments = args.as_object().cloned();
    c.peer()
        .call_tool(p)
        .await
        .unwrap_or_else(|e| panic!("{tool}: the session broke: {e}"))
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn succeeded(r: &CallToolResult) -> &CallToolResult {
    assert_eq!(r.is_error, Some(false), "{}", text(r));
    r
}

/// Calls a tool that must succeed.
async fn works(c: &RunningService<RoleClient, Agent>, tool: &str, args: Value) -> CallToolResult {
    let r = call(c, tool, args).await;
    succeeded(&r);
    r
}

/// Calls a tool that must fail with a message holding `want`, as a result, not a broken session.
async fn fails_with(c: &RunningService<RoleClient, Agent>, tool: &str, args: Value, want: &str) {
    failed(&call(c, tool, args).await, want);
}

#[track_caller]
fn failed(r: &CallToolResult, want: &str) {
    assert_eq!(r.is_error, Some(true), "{}", text(r));
    assert!(text(r).contains(want), "{:?} lacks {want:?}", text(r));
}

async fn tool_names(c: &RunningService<RoleClient, Agent>) -> Vec<String> {
    let mut v: Vec<String> = c
        .peer()
        .list_all_tools()
        .await
        .expect("tools/list")
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    v.sort();
    v
}

const HELLO: &str = "---\nname: hello\ndescription: Says hello.\n---\nSay hello.\n";

#[tokio::test(flavor = "multi_thread")]
async fn mcp_serve_with_rmcp_and_the_typescript_sdk() {
    let Some(env) = TestEnv::new("mcp-serve") else {
        return;
    };
    let berth = env.berth().await;
    let bot = "agentic";
    create(&berth, bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(
        &berth,
        bot,
        &format!("mkdir -p /data/.skills/hello /data/.skills/bad && printf '%s' '{HELLO}' > /data/.skills/hello/SKILL.md && echo x > /data/.skills/bad/SKILL.md && printf 'one\\r\\ntwo\\r\\n' > /data/crlf.txt && printf 'a\\0b' > /data/bin.dat"),
    )
    .await;

    // the official TypeScript SDK, before the in-workspace server exists
    let node = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp-client/sdk-client.mjs"))
        .arg(berth_binary())
        .arg(bot)
        .env("BERTH_CONTAINERD_SOCKET", &env.socket)
        .env("BERTH_NAMESPACE", &env.ns)
        .env("BERTH_DATA_DIR", env.data_dir())
        .output()
        .expect("node (scripts/setup.sh installs it and tests/mcp-client's packages)");
    assert!(
        node.status.success(),
        "the TypeScript SDK client failed:\n{}\n{}",
        String::from_utf8_lossy(&node.stdout),
        String::from_utf8_lossy(&node.stderr)
    );

    // the in-workspace server fixture
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp-fixture.sh");
    env.cli_ok(&[
        "cp",
        fixture.to_str().unwrap(),
        &format!("{bot}:/data/fixture.sh"),
    ]);
    env.cli_ok(&[
        "mcp",
        "add",
        bot,
        "fx",
        "--env",
        "GREETING=hola",
        "--env",
        "FIXTURE_LOG=/data/fx.log",
        "--",
        "sh",
        "/data/fixture.sh",
        "it's \"quoted\" $HOME",
    ]);
    env.cli_ok(&[
        "mcp",
        "add",
        bot,
        "nonode",
        "--",
        "npx",
        "-y",
        "@modelcontextprotocol/server-everything",
    ]);
    let probe: Value =
        serde_json::from_str(&env.cli_ok(&["mcp", "probe", bot, "fx", "--json"])).unwrap();
    assert_eq!(probe["ok"], true, "{probe}");
    assert_eq!(probe["tools"].as_array().unwrap().len(), 3);
    assert!(
        probe["stderr"][0]
            .as_str()
            .unwrap()
            .contains("with args: it's \"quoted\" $HOME"),
        "{probe}"
    );

    let c = serve(&env, bot, &[]).await;
    let names = tool_names(&c).await;
    assert_eq!(
        names,
        [
            "edit_file",
            "exec",
            "fx__crash",
            "fx__echo",
            "fx__grow",
            "get_skill",
            "list_dir",
            "list_skills",
            "read_file",
            "write_file"
        ]
    );
    // built-in tools
    works(
        &c,
        "write_file",
        json!({"path": "notes/a.txt", "content": "alpha\nbeta\n"}),
    )
    .await;
    let r = call(&c, "read_file", json!({"path": "/data/notes/a.txt"})).await;
    assert_eq!(text(succeeded(&r)).lines().next(), Some("alpha"));
    let rev = r.structured_content.as_ref().unwrap()["revision"]
        .as_str()
        .unwrap()
        .to_string();
    works(
        &c,
        "edit_file",
        json!({"path": "crlf.txt", "old_text": "one\ntwo", "new_text": "1\n2"}),
    )
    .await;
    assert_eq!(
        sh(&berth, bot, "od -c /data/crlf.txt | head -1")
            .await
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>(),
        ["1", "\\r", "\\n", "2", "\\r", "\\n"]
    );
    fails_with(
        &c,
        "write_file",
        json!({"path": "notes/a.txt", "content": "x", "expected_revision": "sha256:00"}),
        "changed",
    )
    .await;
    works(
        &c,
        "write_file",
        json!({"path": "notes/a.txt", "content": "gamma\n", "expected_revision": rev}),
    )
    .await;
    fails_with(&c, "read_file", json!({"path": "bin.dat"}), "binary").await;
    fails_with(
        &c,
        "edit_file",
        json!({"path": "notes/a.txt", "old_text": "zzz", "new_text": ""}),
        "not found",
    )
    .await;
    fails_with(
        &c,
        "write_file",
        json!({"path": "/run/berth/x", "content": ""}),
        "read-only",
    )
    .await;
    fails_with(
        &c,
        "read_file",
        json!({"path": "x", "bogus": 1}),
        "unknown field",
    )
    .await;
    fails_with(&c, "no_such_tool", json!({}), "no tool").await;
    let r = call(&c, "list_dir", json!({"recursive": true})).await;
    assert!(
        text(succeeded(&r)).contains("notes/a.txt  6"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains(".skills/hello/SKILL.md"), "{}", text(&r));
    let r = call(&c, "list_skills", json!({})).await;
    assert!(
        text(succeeded(&r)).contains("hello: Says hello."),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("bad (invalid:"), "{}", text(&r));
    assert_eq!(
        text(succeeded(
            &call(&c, "get_skill", json!({"name": "hello"})).await
        )),
        HELLO
    );
    fails_with(&c, "get_skill", json!({"name": "."}), "may hold only").await;

    // a timed-out exec kills what it started; the session and the next exec work
    let r = call(
        &c,
        "exec",
        json!({"command": "echo begun; sleep 300 & sleep 300", "timeout_s": 1}),
    )
    .await;
    failed(&r, "timed out");
    assert_eq!(r.structured_content.as_ref().unwrap()["stdout"], "begun\n");
    let r = call(
        &c,
        "exec",
        json!({"command": "ps | grep -c '[s]leep 300'; exit 7", "cwd": "notes"}),
    )
    .await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!(
        (s["exit_code"].clone(), s["stdout"].clone()),
        (json!(7), json!("0\n")),
        "{s}"
    );
    let r = call(
        &c,
        "exec",
        json!({"command": "head -c 200000 /dev/zero | tr '\\0' x"}),
    )
    .await;
    let s = r.structured_content.clone().unwrap();
    assert_eq!(s["truncated"], true);
    assert!(s["stdout"].as_str().unwrap().len() < 60_000);

    // the proxied server: argv and env as given, list_changed forwarded
    let r = call(&c, "fx__echo", json!({"text": "hi"})).await;
    assert_eq!(text(succeeded(&r)), "echo: hi [hola]");
    let changed = c.service().tools_changed.clone();
    works(&c, "fx__grow", json!({})).await;
    tokio::time::timeout(Duration::from_secs(10), changed.notified())
        .await
        .expect("tools/list_changed forwarded");
    assert!(tool_names(&c).await.contains(&"fx__extra".to_string()));
    fails_with(&c, "nonode__anything", json!({}), "has no `npx`").await;
    // a crashed server is reported, and started again on the next call
    let _ = call(&c, "fx__crash", json!({})).await;
    fails_with(&c, "fx__echo", json!({"text": "x"}), "stopped").await;
    assert_eq!(
        text(succeeded(
            &call(&c, "fx__echo", json!({"text": "again"})).await
        )),
        "echo: again [hola]"
    );
    assert!(
        sh(&berth, bot, "grep -c started /data/fx.log")
            .await
            .trim()
            .parse::<u32>()
            .unwrap()
            >= 3
    );

    // prompts: valid skills only
    let prompts = c.peer().list_all_prompts().await.unwrap();
    assert_eq!(
        prompts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["hello"]
    );

    // the session ends: the server's process goes with it
    c.cancel().await.expect("close");
    let gone = eventually(Duration::from_secs(10), async || {
        let n = sh(&berth, bot, "ps | grep -c '[f]ixture.sh' || true").await;
        (n.trim() == "0").then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the in-workspace server outlived the session"
    );

    // read-only
    let c = serve(&env, bot, &["--read-only"]).await;
    assert_eq!(
        tool_names(&c).await,
        [
            "fx__echo",
            "get_skill",
            "list_dir",
            "list_skills",
            "read_file"
        ]
    );
    fails_with(
        &c,
        "write_file",
        json!({"path": "x", "content": ""}),
        "read-only",
    )
    .await;
    fails_with(&c, "fx__grow", json!({}), "read-only").await;
    c.cancel().await.expect("close");

    // a stopped workspace: a clear error, or started with --allow-start
    berth.stop(bot).await.expect("stop");
    let c = serve(&env, bot, &[]).await;
    fails_with(
        &c,
        "read_file",
        json!({"path": "notes/a.txt"}),
        &format!("berth start {bot}"),
    )
    .await;
    c.cancel().await.expect("close");
    let c = serve(&env, bot, &["--allow-start"]).await;
    assert_eq!(
        text(succeeded(
            &call(&c, "read_file", json!({"path": "notes/a.txt"})).await
        ))
        .lines()
        .next(),
        Some("gamma")
    );
    c.cancel().await.expect("close");
    berth.delete_bot(bot).await.expect("delete");
}

/// Without containerd, an agent still gets an answer to `initialize` and the tool list; a call
/// says containerd cannot be reached, as a tool result, and the session goes on. A bot name that
/// is not one is refused before anything starts.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_serve_without_containerd_answers_and_says_why() {
    let Some(env) = TestEnv::new("mcp-nocontainerd") else {
        return;
    };
    let berth = env.berth().await;
    create(&berth, "idle", &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let mut cmd = tokio::process::Command::new(berth_binary());
    cmd.args(["mcp", "serve", "idle"])
        .env("BERTH_CONTAINERD_SOCKET", env.data_dir().join("no.sock"))
        .env("BERTH_NAMESPACE", &env.ns)
        .env("BERTH_DATA_DIR", env.data_dir());
    let transport = TokioChildProcess::new(cmd).expect("spawning berth mcp serve");
    let c = Agent::default().serve(transport).await.expect("initialize");
    assert!(tool_names(&c).await.contains(&"read_file".to_string()));
    fails_with(
        &c,
        "exec",
        json!({"command": "true"}),
        "containerd is not connected",
    )
    .await;
    fails_with(
        &c,
        "read_file",
        json!({"path": "x"}),
        "containerd is not connected",
    )
    .await;
    c.cancel().await.expect("close");

    let out = std::process::Command::new(berth_binary())
        .args(["mcp", "serve", "../etc"])
        .env("BERTH_DATA_DIR", env.data_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on the MCP stream");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bot name"),
        "{out:?}"
    );
}

//! `berth mcp serve` driven by real MCP clients over a child process, against a real
//! workspace: rmcp's client here, the official TypeScript SDK (tests/mcp-client) below. Every
//! built-in tool is called; failures are `isError` results and the session goes on; a timed-out
//! exec kills its processes and the next exec works; an in-workspace MCP server (a fixture in
//! plain sh) is started through the bridge, proxied as `fx__*`, its `tools/list_changed`
//! forwarded, and its process killed when the session ends; `--read-only` and a stopped
//! workspace (with and without `--allow-start`). Skills through the CLI: add, refuse, show,
//! list, rename, export, remove.

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

fn cli_ok(env: &TestEnv, args: &[&str]) -> String {
    let out = env.cli(args, None);
    assert!(
        out.status.success(),
        "berth {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_fails(env: &TestEnv, args: &[&str], want: &str) {
    let out = env.cli(args, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "berth {} succeeded", args.join(" "));
    assert!(
        err.contains(want),
        "berth {}: {err:?} lacks {want:?}",
        args.join(" ")
    );
}

fn skill_folder(root: &Path, folder: &str, text: &str) -> std::path::PathBuf {
    let dir = root.join(folder);
    std::fs::create_dir_all(dir.join("scripts")).unwrap();
    std::fs::write(dir.join("SKILL.md"), text).unwrap();
    std::fs::write(dir.join("scripts/run.sh"), "echo run\n").unwrap();
    dir
}

const HELLO: &str = "---\nname: hello\ndescription: Says hello.\n---\nSay hello.\n";

#[tokio::test(flavor = "multi_thread")]
async fn skills_through_the_cli() {
    let Some(env) = TestEnv::new("mcp-skills") else {
        return;
    };
    let berth = env.berth().await;
    let bot = "skilled";
    create(&berth, bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    let hello = skill_folder(host.path(), "hello", HELLO);
    let skills = |env: &TestEnv| -> Value {
        serde_json::from_str(&cli_ok(env, &["skills", "ls", bot, "--json"])).unwrap()
    };
    assert_eq!(skills(&env), json!([]));

    cli_ok(&env, &["skills", "add", bot, hello.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/hello/scripts/run.sh").await,
        "echo run\n"
    );
    assert_eq!(cli_ok(&env, &["skills", "show", bot, "hello"]), HELLO);
    cli_fails(
        &env,
        &["skills", "add", bot, hello.to_str().unwrap()],
        "exists",
    );

    // refused: nothing is written, not even a hidden folder
    let before = sh(&berth, bot, "ls -A /data/.skills").await;
    let wrong = skill_folder(host.path(), "other", HELLO);
    cli_fails(
        &env,
        &["skills", "add", bot, wrong.to_str().unwrap()],
        "differs from its folder",
    );
    let nodesc = skill_folder(host.path(), "nodesc", "---\nname: nodesc\n---\n");
    cli_fails(
        &env,
        &["skills", "add", bot, nodesc.to_str().unwrap()],
        "no `description`",
    );
    cli_fails(&env, &["skills", "add", bot, "/nonexistent"], "cannot read");
    assert_eq!(sh(&berth, bot, "ls -A /data/.skills").await, before);
    for bad in [".", "..", "a/b", "../x"] {
        cli_fails(&env, &["skills", "rm", bot, bad], "may hold only");
        cli_fails(&env, &["skills", "show", bot, bad], "name");
    }

    // a lone SKILL.md names its folder; an invalid skill made by the bot is listed as such
    let lone = host.path().join("SKILL.md");
    std::fs::write(&lone, HELLO.replace("hello", "lone-one")).unwrap();
    cli_ok(&env, &["skills", "add", bot, lone.to_str().unwrap()]);
    sh(
        &berth,
        bot,
        "mkdir -p /data/.skills/broken && echo nope > /data/.skills/broken/SKILL.md",
    )
    .await;
    let list = skills(&env);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["broken", "hello", "lone-one"]);
    assert_eq!(list[0]["valid"], false);
    assert!(list[0]["problem"]
        .as_str()
        .unwrap()
        .contains("must start with"));
    assert_eq!(list[1]["description"], "Says hello.");
    let table = cli_ok(&env, &["skills", "ls", bot]);
    assert!(
        table.contains("broken") && table.contains("invalid:"),
        "{table}"
    );

    // archives: a folder in a .tar.gz, a SKILL.md at the root of a .zip
    let tarred = skill_folder(host.path(), "tarred", &HELLO.replace("hello", "tarred"));
    let tgz = host.path().join("tarred.tar.gz");
    let made = Command::new("tar")
        .arg("-C")
        .arg(host.path())
        .arg("-czf")
        .arg(&tgz)
        .arg("tarred")
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_dir_all(&tarred).unwrap();
    cli_ok(&env, &["skills", "add", bot, tgz.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/tarred/scripts/run.sh").await,
        "echo run\n"
    );
    let zip = host.path().join("zipped.zip");
    let script = format!(
        "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.writestr('SKILL.md', {:?}); z.writestr('assets/a.txt','a'); z.close()",
        HELLO.replace("hello", "zipped")
    );
    assert!(Command::new("python3")
        .args(["-c", &script])
        .arg(&zip)
        .status()
        .unwrap()
        .success());
    cli_ok(&env, &["skills", "add", bot, zip.to_str().unwrap()]);
    assert_eq!(
        sh(&berth, bot, "cat /data/.skills/zipped/assets/a.txt").await,
        "a"
    );
    let two = host.path().join("two.zip");
    let script = format!("import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); z.writestr('x/SKILL.md', {:?}); z.close()", HELLO);
    assert!(Command::new("python3")
        .args(["-c", &script])
        .arg(&two)
        .status()
        .unwrap()
        .success());
    let before = sh(&berth, bot, "ls -A /data/.skills").await;
    cli_fails(
        &env,
        &["skills", "add", bot, two.to_str().unwrap()],
        "differs from its folder",
    );
    assert_eq!(sh(&berth, bot, "ls -A /data/.skills").await, before);
    cli_ok(&env, &["skills", "rm", bot, "tarred"]);
    cli_ok(&env, &["skills", "rm", bot, "zipped"]);

    cli_ok(&env, &["skills", "rename", bot, "lone-one", "renamed"]);
    assert_eq!(
        cli_ok(&env, &["skills", "show", bot, "renamed"]),
        "---\nname: renamed\ndescription: Says lone-one.\n---\nSay lone-one.\n"
    );
    let archive = host.path().join("hello.tar.gz");
    cli_ok(
        &env,
        &["skills", "export", bot, "hello", archive.to_str().unwrap()],
    );
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("hello/SKILL.md") && listing.contains("hello/scripts/run.sh"),
        "{listing}"
    );
    cli_ok(&env, &["skills", "rm", bot, "hello"]);
    cli_fails(&env, &["skills", "rm", bot, "hello"], "no skill");
    // another skills folder: set, used, refused when not a normal absolute path, back to default
    assert_eq!(cli_ok(&env, &["skills", "root", bot]), "/data/.skills\n");
    assert_eq!(
        cli_ok(&env, &["skills", "root", bot, "/data/agent/skills/"]),
        "/data/agent/skills\n"
    );
    cli_ok(&env, &["skills", "new", bot, "elsewhere"]);
    assert!(sh(&berth, bot, "cat /data/agent/skills/elsewhere/SKILL.md")
        .await
        .contains("name: elsewhere"));
    assert_eq!(
        skills(&env)[0]["path"],
        "/data/agent/skills/elsewhere/SKILL.md"
    );
    for bad in ["relative", "/data/../etc", "/run/berth/x", "/"] {
        cli_fails(&env, &["skills", "root", bot, bad], "skills folder");
    }
    assert_eq!(
        cli_ok(&env, &["skills", "root", bot, "--default"]),
        "/data/.skills\n"
    );
    cli_ok(&env, &["skills", "new", bot, "fresh"]);
    let list = skills(&env);
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["broken", "fresh", "renamed"]);
    assert_eq!(list[1]["valid"], true);
    berth.delete_bot(bot).await.expect("delete");
}

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
    cli_ok(
        &env,
        &[
            "cp",
            fixture.to_str().unwrap(),
            &format!("{bot}:/data/fixture.sh"),
        ],
    );
    cli_ok(
        &env,
        &[
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
        ],
    );
    cli_ok(
        &env,
        &[
            "mcp",
            "add",
            bot,
            "nonode",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-everything",
        ],
    );
    let probe: Value =
        serde_json::from_str(&cli_ok(&env, &["mcp", "probe", bot, "fx", "--json"])).unwrap();
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
    succeeded(
        &call(
            &c,
            "write_file",
            json!({"path": "notes/a.txt", "content": "alpha\nbeta\n"}),
        )
        .await,
    );
    let r = call(&c, "read_file", json!({"path": "/data/notes/a.txt"})).await;
    assert_eq!(text(succeeded(&r)).lines().next(), Some("alpha"));
    let rev = r.structured_content.as_ref().unwrap()["revision"]
        .as_str()
        .unwrap()
        .to_string();
    succeeded(
        &call(
            &c,
            "edit_file",
            json!({"path": "crlf.txt", "old_text": "one\ntwo", "new_text": "1\n2"}),
        )
        .await,
    );
    assert_eq!(
        sh(&berth, bot, "od -c /data/crlf.txt | head -1")
            .await
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>(),
        ["1", "\\r", "\\n", "2", "\\r", "\\n"]
    );
    failed(
        &call(
            &c,
            "write_file",
            json!({"path": "notes/a.txt", "content": "x", "expected_revision": "sha256:00"}),
        )
        .await,
        "changed",
    );
    succeeded(
        &call(
            &c,
            "write_file",
            json!({"path": "notes/a.txt", "content": "gamma\n", "expected_revision": rev}),
        )
        .await,
    );
    failed(
        &call(&c, "read_file", json!({"path": "bin.dat"})).await,
        "binary",
    );
    failed(
        &call(
            &c,
            "edit_file",
            json!({"path": "notes/a.txt", "old_text": "zzz", "new_text": ""}),
        )
        .await,
        "not found",
    );
    failed(
        &call(
            &c,
            "write_file",
            json!({"path": "/run/berth/x", "content": ""}),
        )
        .await,
        "read-only",
    );
    failed(
        &call(&c, "read_file", json!({"path": "x", "bogus": 1})).await,
        "unknown field",
    );
    failed(&call(&c, "no_such_tool", json!({})).await, "no tool");
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
    failed(
        &call(&c, "get_skill", json!({"name": "."})).await,
        "may hold only",
    );

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
    succeeded(&call(&c, "fx__grow", json!({})).await);
    tokio::time::timeout(Duration::from_secs(10), changed.notified())
        .await
        .expect("tools/list_changed forwarded");
    assert!(tool_names(&c).await.contains(&"fx__extra".to_string()));
    failed(
        &call(&c, "nonode__anything", json!({})).await,
        "has no `npx`",
    );
    // a crashed server is reported, and started again on the next call
    let _ = call(&c, "fx__crash", json!({})).await;
    failed(&call(&c, "fx__echo", json!({"text": "x"})).await, "stopped");
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
    failed(
        &call(&c, "write_file", json!({"path": "x", "content": ""})).await,
        "read-only",
    );
    failed(&call(&c, "fx__grow", json!({})).await, "read-only");
    c.cancel().await.expect("close");

    // a stopped workspace: a clear error, or started with --allow-start
    berth.stop(bot).await.expect("stop");
    let c = serve(&env, bot, &[]).await;
    failed(
        &call(&c, "read_file", json!({"path": "notes/a.txt"})).await,
        &format!("berth start {bot}"),
    );
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

//! The `berth` binary end to end: exit codes, JSON output, stdio of exec, errors on stderr.

use std::process::Output;

use berth_tests::{TestEnv, BUSYBOX};
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(env: &TestEnv, args: &[&str]) -> Value {
    let out = env.cli(args, None);
    serde_json::from_str(&ok(&out, &args.join(" ")))
        .unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
}

/// A failure: non-zero exit, nothing on stdout, one `berth: …` message on stderr naming `what`.
fn fails(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got {}",
        text(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout on failure: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(
        err.starts_with("berth: "),
        "stderr is not a berth error: {err:?}"
    );
    assert!(
        err.contains(what),
        "error does not mention {what:?}: {err:?}"
    );
    err
}

#[test]
fn cli_lifecycle() {
    let Some(env) = TestEnv::new("cli") else {
        return;
    };
    let bot = format!("cli-{}", berth_tests::suffix());
    let image = env.image(BUSYBOX);

    let out = env.cli(
        &[
            "create",
            &bot,
            "--image",
            &image,
            "--pull",
            "if-not-present",
        ],
        None,
    );
    let stdout = ok(&out, "create");
    assert!(stdout.contains(&format!("{bot} is running")), "{stdout}");

    let info = json(&env, &["info", &bot, "--json"]);
    assert_eq!(info["bot"], bot.as_str());
    assert_eq!(info["state"], "running");
    assert_eq!(info["image"], image.as_str());

    let ls = json(&env, &["ls", "--json"]);
    let row = ls
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == bot.as_str())
        .expect("bot listed");
    assert_eq!(row["state"], "running");
    assert_eq!(row["image"], image.as_str());

    let out = env.cli(
        &["exec", &bot, "--", "sh", "-c", "cat; echo err >&2; exit 5"],
        Some(b"piped input\n"),
    );
    assert_eq!(out.status.code(), Some(5), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "piped input\n");
    assert_eq!(text(&out.stderr), "err\n");
    let out = env.cli(
        &[
            "exec",
            &bot,
            "-w",
            "/etc",
            "-e",
            "GREETING=hi",
            "--",
            "sh",
            "-c",
            "echo $GREETING $(pwd)",
        ],
        None,
    );
    assert_eq!(ok(&out, "exec -w -e"), "hi /etc\n");

    ok(&env.cli(&["stop", &bot], None), "stop");
    assert_eq!(json(&env, &["info", &bot, "--json"])["state"], "stopped");
    fails(&env.cli(&["exec", &bot, "--", "true"], None), "not running");

    ok(&env.cli(&["start", &bot], None), "start");
    assert_eq!(json(&env, &["info", &bot, "--json"])["state"], "running");
    assert_eq!(
        ok(
            &env.cli(&["exec", &bot, "--", "echo", "back"], None),
            "exec"
        ),
        "back\n"
    );

    ok(&env.cli(&["rm", &bot], None), "rm");
    let ls = json(&env, &["ls", "--json"]);
    assert!(
        ls.as_array()
            .unwrap()
            .iter()
            .all(|b| b["name"] != bot.as_str()),
        "{ls}"
    );
    env.assert_no_workspace(&bot, "after berth rm");

    // Errors: stderr, non-zero exit.
    for args in [
        &["info", "ghost"][..],
        &["stop", "ghost"],
        &["start", "ghost"],
        &["rm", "ghost"],
        &["exec", "ghost", "--", "true"],
    ] {
        fails(&env.cli(args, None), "ghost");
    }
    let out = env.cli(&["create", "bad", "--image", "Not A Ref"], None);
    fails(&out, "Not A Ref");
    let out = env.cli(&["create", "Bad_Name", "--image", &image], None);
    fails(&out, "invalid bot name");
}

/// `berth info --json` must carry `container_id` (the field name).
#[test]
fn cli_info_json_has_container_id() {
    let Some(env) = TestEnv::new("cli-info") else {
        return;
    };
    let bot = format!("ci-{}", berth_tests::suffix());
    ok(
        &env.cli(&["create", &bot, "--image", &env.image(BUSYBOX)], None),
        "create",
    );
    let info = json(&env, &["info", &bot, "--json"]);
    let rm = env.cli(&["rm", &bot], None);
    assert_eq!(
        info["container_id"],
        format!("berth-{bot}").as_str(),
        "no container_id in {info}"
    );
    ok(&rm, "rm");
}

/// Names from the workspace reach the terminal escaped: a file name carrying an OSC sequence
/// (which would set the terminal's title) is shown as `\x1b]0;…\x07` by `berth ls` and
/// `berth versions changes`, never as the raw bytes.
#[test]
fn cli_escapes_what_the_workspace_names() {
    let Some(env) = TestEnv::new("cli-escape") else {
        return;
    };
    let bot = format!("ce-{}", berth_tests::suffix());
    ok(
        &env.cli(&["create", &bot, "--image", &env.image(BUSYBOX)], None),
        "create",
    );
    ok(&env.cli(&["snapshot", &bot], None), "snapshot");
    let plant = "printf x > \"/data/evil$(printf '\\033]0;owned\\007')\"";
    ok(
        &env.cli(&["exec", &bot, "--", "sh", "-c", plant], None),
        "exec",
    );
    let shown = "/data/evil\\x1b]0;owned\\x07";
    let changes = ok(
        &env.cli(&["versions", "changes", &bot, "1"], None),
        "changes",
    );
    let listing = ok(&env.cli(&["ls", &format!("{bot}:/data")], None), "ls");
    ok(&env.cli(&["rm", &bot], None), "rm");
    assert!(changes.contains(&format!("A {shown}")), "{changes:?}");
    assert!(listing.contains("evil\\x1b]0;owned\\x07"), "{listing:?}");
    for out in [&changes, &listing] {
        assert!(
            !out.contains(['\x1b', '\x07']),
            "raw control bytes: {out:?}"
        );
    }
}

/// Ctrl-C during `berth create` cancels the pull: exit 130, nothing left behind.
#[test]
fn cli_ctrl_c_cancels_create() {
    let Some(env) = TestEnv::new("cli-ctrlc") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // 4 MB/s: the 45 MB image takes >10 s, so the signal lands mid-download.
    let (port, sent) = rt.block_on(berth_tests::slow_proxy(&env.registry, 4 << 20));
    // A copy containerd has never seen: blobs another namespace holds are linked, not fetched.
    let fresh = env.fresh_image(berth_tests::LAYERED);
    let image = format!(
        "127.0.0.1:{port}/{}",
        fresh.strip_prefix(&format!("{}/", env.registry)).unwrap()
    );
    let bot = format!("cc-{}", berth_tests::suffix());
    let child = std::process::Command::new(berth_tests::berth_binary())
        .args(["create", &bot, "--image", &image])
        .env("BERTH_CONTAINERD_SOCKET", &env.socket)
        .env("BERTH_NAMESPACE", &env.ns)
        .env("BERTH_DATA_DIR", env.data_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while sent.load(std::sync::atomic::Ordering::Relaxed) < 2 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pull never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "stderr: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("cancelled"),
        "{}",
        text(&out.stderr)
    );
    env.assert_namespace_empty("after Ctrl-C during create");
    let ls = json(&env, &["info", &bot, "--json"]);
    assert_eq!(ls["state"], "absent");
}

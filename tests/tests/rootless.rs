//! Berth as a normal user: the `berth` CLI run as `BERTH_ROOTLESS_USER` (scripts/test.sh makes
//! `berth-ci` and gives it subordinate ids) starts its own rootless containerd, creates a
//! confined workspace on the isolated bridge behind slirp4netns, works in it (exec, files,
//! versions, data), refuses what needs cgroups with a clear message, and stops everything it
//! ran. Fails under CI when the user or the rootless packages are missing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct User {
    name: String,
    uid: u32,
    gid: u32,
}

fn rootless_user() -> Option<User> {
    let name = std::env::var("BERTH_ROOTLESS_USER").unwrap_or_else(|_| "berth-ci".into());
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, &name]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    let user = id("-u").zip(id("-g")).map(|(uid, gid)| User {
        name: name.clone(),
        uid,
        gid,
    });
    if user.is_none() {
        berth_tests::unavailable(
            "rootless",
            &format!("no user {name} (scripts/test.sh creates it)"),
        );
    }
    user
}

/// The CLI as the user, on `data_dir`, with nothing of root's environment about containerd.
fn cli(user: &User, data_dir: &Path, args: &[&str]) -> Output {
    as_user(user, data_dir, args)
        .stdin(Stdio::null())
        .output()
        .expect("running berth as the user")
}

/// The command running `berth ARGS` as the user.
fn as_user(user: &User, data_dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        &format!("--reuid={}", user.uid),
        &format!("--regid={}", user.gid),
        "--init-groups",
        "--",
        "env",
        "-i",
        // Debian's PATH for a normal user: no sbin directories.
        "PATH=/usr/local/bin:/usr/bin:/bin",
        &format!("USER={}", user.name),
        &format!("HOME=/home/{}", user.name),
        &format!("BERTH_DATA_DIR={}", data_dir.display()),
    ])
    .arg(berth_tests::berth_binary())
    .args(args);
    c
}

/// An agent of the user's: `berth mcp serve` driven by rmcp's client, with an in-workspace
/// MCP server proxied through the rootless workspace's bridge.
fn agent_works(user: &User, data_dir: &Path, bot: &str) {
    use rmcp::model::CallToolRequestParams;
    use rmcp::ServiceExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cmd = tokio::process::Command::from(as_user(user, data_dir, &["mcp", "serve", bot]));
        let transport = rmcp::transport::TokioChildProcess::new(cmd).expect("berth mcp serve");
        let client = ().serve(transport).await.expect("initialize");
        let names: Vec<String> = client
            .peer()
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert!(
            names.contains(&"exec".into()) && names.contains(&"fx__echo".into()),
            "{names:?}"
        );
        let mut p = CallToolRequestParams::new("exec");
        p.arguments = serde_json::json!({"command": "id -u; cat /data/note.txt"})
            .as_object()
            .cloned();
        let r = client.peer().call_tool(p).await.unwrap();
        assert_eq!(
            r.structured_content.as_ref().unwrap()["stdout"],
            "0\nfrom the host\n",
            "{r:?}"
        );
        let mut p = CallToolRequestParams::new("fx__echo");
        p.arguments = serde_json::json!({"text": "rootless"}).as_object().cloned();
        let r = client.peer().call_tool(p).await.unwrap();
        let text = r.content[0].as_text().map(|t| t.text.clone());
        assert_eq!(text.as_deref(), Some("echo: rootless []"), "{r:?}");
        client.cancel().await.unwrap();
    });
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The user's processes that still run (zombies wait for their parent, not for anything).
fn running_processes(uid: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            p.file_name().to_str()?.parse::<u32>().ok()?;
            let status = std::fs::read_to_string(p.path().join("status")).ok()?;
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().to_string())
            };
            let real_uid = field("Uid:")?
                .split_whitespace()
                .next()?
                .parse::<u32>()
                .ok()?;
            let zombie = field("State:")?.starts_with('Z');
            (real_uid == uid && !zombie).then(|| {
                String::from_utf8_lossy(
                    &std::fs::read(p.path().join("cmdline")).unwrap_or_default(),
                )
                .replace('\0', " ")
            })
        })
        .collect()
}

/// The user's workspace bridge (PID 1 of the one running workspace).
fn bridge_pid(uid: u32) -> u32 {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|p| {
            let pid = p.file_name().to_str()?.parse::<u32>().ok()?;
            use std::os::unix::fs::MetadataExt;
            let mine = p.metadata().ok()?.uid() == uid;
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            (mine && cmdline.starts_with(b"/opt/berth/bridge\0")).then_some(pid)
        })
        .expect("the workspace's bridge runs as the user")
}

/// The host's first IPv4 address that is not loopback.
fn host_address() -> String {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter(|l| !l.contains("berth0"))
        .find_map(|l| {
            let cidr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
            Some(cidr.split('/').next()?.to_string())
        })
        .expect("a global IPv4 address")
}

#[test]
fn a_normal_user_runs_workspaces_on_a_rootless_containerd() {
    let Some(services) = berth_tests::services("rootless") else {
        return;
    };
    let Some(user) = rootless_user() else {
        return;
    };
    let home = tempfile::Builder::new()
        .prefix("berth-rl")
        .tempdir_in("/tmp")
        .unwrap();
    std::os::unix::fs::chown(home.path(), Some(user.uid), Some(user.gid)).unwrap();
    let data: PathBuf = home.path().join("data");
    let run = |args: &[&str]| cli(&user, &data, args);
    // A failing assertion must not leave the daemon running (with its directory gone).
    struct StopOnDrop<'a>(&'a dyn Fn(&[&str]) -> Output);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = (self.0)(&["system", "stop"]);
            }
        }
    }
    let _stop = StopOnDrop(&run);

    // Nothing runs yet: the user's default is Berth's own daemon, which can run here.
    let status: Value =
        serde_json::from_str(&ok(&run(&["system", "status", "--json"]), "status")).unwrap();
    assert_eq!(status["connected"], false, "{status}");
    assert_eq!(status["can_manage"], true, "{status}");
    assert_eq!(status["missing"], Value::Null, "{status}");
    let out = run(&["ls"]);
    assert!(!out.status.success(), "ls without a daemon must fail");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach containerd"),
        "{out:?}"
    );

    let status: Value =
        serde_json::from_str(&ok(&run(&["system", "start", "--json"]), "start")).unwrap();
    assert_eq!(status["connected"], true, "{status}");
    assert_eq!(status["rootless"], true, "{status}");
    assert_eq!(status["managed"], true, "{status}");
    assert_eq!(
        status["resource_limits"], false,
        "cgroup v1, nothing delegated: {status}"
    );

    // A workspace, confined as a rootful one is.
    let image = format!("{}/{}", services.registry, berth_tests::BUSYBOX);
    ok(&run(&["create", "rl", "--image", &image]), "create");
    let inside = ok(
        &run(&[
            "exec",
            "rl",
            "--",
            "sh",
            "-c",
            "id -u; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; \
             ip -4 -o addr show dev eth0; cat /etc/resolv.conf",
        ]),
        "exec",
    );
    assert!(inside.starts_with("0\n"), "{inside}");
    assert!(inside.contains("Seccomp:\t2"), "{inside}");
    assert!(inside.contains("NoNewPrivs:\t1"), "{inside}");
    assert!(inside.contains("CapEff:\t00000000000405fb"), "{inside}");
    assert!(
        inside.contains("inet 10.89."),
        "on the isolated bridge: {inside}"
    );
    assert!(
        inside.contains("nameserver 10.0.2.3"),
        "slirp4netns's DNS: {inside}"
    );

    // The host's services are out of reach: on its loopback and on its own addresses.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    for addr in ["10.0.2.2".to_string(), host_address()] {
        let out = run(&[
            "exec",
            "rl",
            "--",
            "sh",
            "-c",
            &format!("echo hi | nc -w 2 {addr} {port}"),
        ]);
        assert!(!out.status.success(), "reached the host at {addr}: {out:?}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the host's listener saw a connection"
    );

    // Files, versions and data.
    let file = home.path().join("note.txt");
    std::fs::write(&file, "from the host\n").unwrap();
    std::os::unix::fs::chown(&file, Some(user.uid), Some(user.gid)).unwrap();
    ok(
        &run(&["cp", &file.display().to_string(), "rl:/data/"]),
        "cp in",
    );
    assert_eq!(
        ok(&run(&["exec", "rl", "--", "cat", "/data/note.txt"]), "cat"),
        "from the host\n"
    );
    ok(&run(&["snapshot", "rl"]), "snapshot");
    ok(
        &run(&[
            "exec",
            "rl",
            "--",
            "sh",
            "-c",
            "echo changed > /data/note.txt",
        ]),
        "write",
    );
    let changes = ok(&run(&["versions", "changes", "rl", "1"]), "changes");
    assert!(changes.contains("/data/note.txt"), "{changes}");
    ok(&run(&["rollback", "rl", "1", "--no-save"]), "rollback");
    assert_eq!(
        ok(&run(&["exec", "rl", "--", "cat", "/data/note.txt"]), "cat"),
        "from the host\n"
    );
    let archive = home.path().join("data.tar.gz");
    ok(
        &run(&["export", "rl", &archive.display().to_string()]),
        "export",
    );
    ok(
        &run(&["import", "rl", &archive.display().to_string()]),
        "import",
    );
    // A replace after a version was saved (`/data` is then in a lower overlay layer).
    ok(
        &run(&["import", "rl", &archive.display().to_string(), "--replace"]),
        "import --replace",
    );

    // Kept off private networks: slirp4netns's DNS (10.0.2.3, itself a private address) still
    // answers, and the rules are in the workspace's namespace, entered from the user's.
    let out = ok(&run(&["network", "rl", "--block-private"]), "block private");
    assert!(out.contains("private networks:  blocked"), "{out}");
    let out = run(&[
        "exec",
        "rl",
        "--",
        "sh",
        "-c",
        "echo | nc -w 2 192.168.1.1 80",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No route to host"),
        "refused by the rule, at once: {out:?}"
    );
    let bridge = bridge_pid(user.uid);
    let out = Command::new("nsenter")
        .args([
            &format!("--net=/proc/{bridge}/ns/net"),
            "iptables",
            "-S",
            "OUTPUT",
        ])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&out.stdout);
    assert!(
        rules.contains("-d 10.0.2.3/32 -p udp -m udp --dport 53 -j ACCEPT"),
        "slirp4netns's DNS is excepted: {rules}"
    );

    // A local agent of the user's reaches the workspace and a server inside it.
    // (the fixture copied where the user can read it: the checkout may be root's)
    let fixture = home.path().join("mcp-fixture.sh");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp-fixture.sh"),
        &fixture,
    )
    .unwrap();
    let dest = "rl:/data/fixture.sh";
    ok(&run(&["cp", fixture.to_str().unwrap(), dest]), "cp fixture");
    ok(
        &run(&["mcp", "add", "rl", "fx", "--", "sh", "/data/fixture.sh"]),
        "mcp add",
    );
    agent_works(&user, &data, "rl");

    // Keep data across delete and create, and change the image keeping /data.
    ok(&run(&["rm", "rl", "--keep-data"]), "rm --keep-data");
    ok(
        &run(&["create", "rl", "--image", &image]),
        "create restoring",
    );
    assert_eq!(
        ok(&run(&["exec", "rl", "--", "cat", "/data/note.txt"]), "cat"),
        "from the host\n"
    );
    let other = format!("{}/berth-test/layered:1", services.registry);
    ok(&run(&["change-image", "rl", &other]), "change-image");
    assert_eq!(
        ok(&run(&["exec", "rl", "--", "cat", "/data/note.txt"]), "cat"),
        "from the host\n"
    );

    // What needs cgroups says so.
    let out = run(&["stats", "rl"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rootless containerd"),
        "{out:?}"
    );

    // Stopping the daemon stops the workspace and leaves nothing of the user running.
    ok(&run(&["system", "stop"]), "system stop");
    assert_eq!(running_processes(user.uid), Vec::<String>::new());
    let status: Value =
        serde_json::from_str(&ok(&run(&["system", "status", "--json"]), "status")).unwrap();
    assert_eq!(status["connected"], false, "{status}");

    // Started again, the workspace is there, stopped, and goes with its daemon.
    ok(&run(&["system", "start"]), "start again");
    let info: Value = serde_json::from_str(&ok(&run(&["info", "rl", "--json"]), "info")).unwrap();
    assert_eq!(info["state"], "stopped", "{info}");
    ok(&run(&["rm", "rl"]), "rm");
    ok(&run(&["system", "stop"]), "final stop");
    assert_eq!(running_processes(user.uid), Vec::<String>::new());
    // The workspace's files, owned by the user's subordinate ids, are not left for root to
    // clean: containerd removed its snapshots.
    let _ = Command::new("rm").arg("-rf").arg(home.path()).status();
}

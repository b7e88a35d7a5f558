//! Berth's own containerd: started on request when none answers, found again by a new process
//! (the CLI, the app after a restart) and started again at open while it is wanted, shown by
//! `berth system status`, and stopped by `berth system stop` with its workspaces, leaving no
//! process behind. Needs root and the `containerd` binary; fails (not skips) under CI without
//! them.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use berth_core::model::WorkspaceState;
use berth_core::{Berth, Options};
use berth_tests::BUSYBOX;

fn prerequisites() -> bool {
    let ok =
        unsafe { libc::geteuid() } == 0 && std::path::Path::new("/usr/bin/containerd").exists();
    if !ok && std::env::var_os("CI").is_some() {
        panic!("CI: this test needs root and /usr/bin/containerd (scripts/setup.sh installs it)");
    }
    if !ok {
        eprintln!("skipped: needs root and /usr/bin/containerd");
    }
    ok
}

/// Every process whose command line names `needle` (the daemon's directory): containerd, its
/// shims and nothing else of anyone's.
fn processes_naming(needle: &Path) -> Vec<String> {
    let want = needle.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| {
            p.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(p.path().join("cmdline")).ok()?;
            cmdline
                .windows(want.len())
                .any(|w| w == want)
                .then(|| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        })
        .collect()
}

/// The CLI on this data directory, with no socket given: it uses the saved settings.
fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(berth_tests::berth_binary())
        .args(args)
        .env("BERTH_DATA_DIR", data_dir)
        .env_remove("BERTH_CONTAINERD_SOCKET")
        .env_remove("BERTH_NAMESPACE")
        .env_remove("BERTH_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("running berth")
}

fn status_json(data_dir: &Path) -> serde_json::Value {
    let out = cli(data_dir, &["system", "status", "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[tokio::test]
async fn berth_runs_its_own_containerd_and_stops_it_with_everything_it_ran() {
    if !prerequisites() {
        return;
    }
    let Some(services) = berth_tests::services("managed") else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("berth-m")
        .tempdir_in("/tmp")
        .unwrap();
    let daemon_dir = dir.path().join("containerd");
    let options = Options {
        data_dir: Some(dir.path().to_path_buf()),
        namespace: Some(format!("t-managed-{}", berth_tests::suffix())),
        ..Default::default()
    };
    let berth = Berth::open(options.clone(), berth_tests::connector())
        .await
        .unwrap();
    let mut settings = berth.settings().unwrap();
    settings.containerd_socket = dir.path().join("nothing-here.sock").display().to_string();
    berth.set_settings(settings).await.unwrap();
    let before = berth.status().await;
    assert!(!before.connected);
    assert!(before.can_manage && before.missing.is_none(), "{before:?}");
    assert!(before.error.unwrap().contains("nothing-here.sock"));
    let said = String::from_utf8_lossy(&cli(dir.path(), &["system", "status"]).stdout).to_string();
    assert!(
        said.contains("not reachable") && said.contains("berth system start"),
        "{said}"
    );

    let after = berth.start_managed_containerd().await.unwrap();
    assert!(after.connected, "{after:?}");
    assert!(after.managed && !after.rootless, "{after:?}");
    assert!(after.version.is_some());
    assert_eq!(after.socket, berth.managed_socket().display().to_string());

    // A new process of Berth (the CLI, the app after a restart) finds it running.
    let shown = status_json(dir.path());
    assert_eq!(shown["connected"], true, "{shown}");
    assert_eq!(shown["managed"], true, "{shown}");
    assert_eq!(shown["rootless"], false, "{shown}");
    assert_eq!(shown["socket"], after.socket.as_str(), "{shown}");

    // A workspace on it: its shim and bridge are processes the stop must end.
    let bot = "managed-ws";
    berth_tests::create(&berth, bot, &format!("{}/{BUSYBOX}", services.registry))
        .await
        .0
        .expect("create on Berth's containerd");
    let running = processes_naming(&daemon_dir);
    assert!(
        running.iter().any(|p| p.contains("containerd-shim")),
        "no shim for the workspace: {running:?}"
    );

    let tasks = Command::new("ctr")
        .args([
            "--address",
            &after.socket,
            "-n",
            &after.namespace,
            "tasks",
            "ls",
        ])
        .output()
        .unwrap();
    let bridge_pid: i32 = String::from_utf8_lossy(&tasks.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .expect("the workspace's task");

    let out = cli(dir.path(), &["system", "stop"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"));
    assert_eq!(
        processes_naming(&daemon_dir),
        Vec::<String>::new(),
        "processes left after `berth system stop`"
    );
    assert!(
        !Path::new(&format!("/proc/{bridge_pid}")).exists(),
        "the workspace's bridge outlived `berth system stop`"
    );
    let shown = status_json(dir.path());
    assert_eq!(
        shown["connected"], false,
        "stopped means not started again: {shown}"
    );

    // Started again, the workspace was stopped cleanly and starts.
    let again = Berth::open(options, berth_tests::connector())
        .await
        .unwrap();
    again.start_managed_containerd().await.unwrap();
    assert_eq!(
        again.info(bot).await.unwrap().state,
        WorkspaceState::Stopped
    );
    again.start(bot).await.unwrap();
    again.delete_bot(bot).await.unwrap();
    assert!(again.stop_managed_containerd().await.unwrap());
    assert_eq!(processes_naming(&daemon_dir), Vec::<String>::new());
    assert!(
        !again.stop_managed_containerd().await.unwrap(),
        "stopped twice"
    );
}

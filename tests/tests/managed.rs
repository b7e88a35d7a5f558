//! Berth's own containerd: started when none answers, found again at the next open, stopped on
//! request. Needs root and the `containerd` binary; fails (not skips) under CI without them.

use std::time::{Duration, Instant};

use berth_core::{Berth, Options};

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

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn berth_runs_its_own_containerd_when_none_answers() {
    if !prerequisites() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-m")
        .tempdir_in("/tmp")
        .unwrap();
    let options = Options {
        data_dir: Some(dir.path().to_path_buf()),
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
    assert!(before.can_manage);
    assert!(before.error.unwrap().contains("nothing-here.sock"));

    let after = berth.start_managed_containerd().await.unwrap();
    assert!(after.connected, "{after:?}");
    assert!(after.managed);
    assert!(after.version.is_some());
    assert_eq!(after.socket, berth.managed_socket().display().to_string());
    let pid_file = dir.path().join("containerd/containerd.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    // A new process of Berth (the CLI, the app after a restart) finds it running.
    let again = Berth::open(options.clone(), berth_tests::connector())
        .await
        .unwrap();
    assert!(again.status().await.connected);

    // Stopped, it is started again at the next open because the setting is on.
    assert!(berth.stop_managed_containerd().unwrap());
    wait_gone(pid);
    let reopened = Berth::open(options, berth_tests::connector())
        .await
        .unwrap();
    let status = reopened.status().await;
    assert!(status.connected && status.managed, "{status:?}");
    let new_pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, pid);
    assert!(reopened.stop_managed_containerd().unwrap());
    wait_gone(new_pid);
}

//! A workspace is confined at least as tightly as a Docker container: capabilities without
//! NET_RAW, MKNOD, AUDIT_WRITE and SETFCAP; a seccomp filter that refuses namespaces and mounts;
//! no new privileges; masked `/proc` paths; its own cgroup namespace; and limits that contain a
//! fork bomb while the bridge keeps answering.

use berth_tests::{create, exec, sh, TestEnv, BUSYBOX};

/// CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE,
/// SYS_CHROOT (bits 0, 1, 3, 4, 5, 6, 7, 8, 10, 18).
const CAP_EFF: &str = "00000000000405fb";

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in {status}"))
}

/// Runs `script` and says whether it failed (with its output, for the message).
async fn fails(berth: &berth_core::Berth, bot: &str, script: &str) -> (bool, String) {
    let ran = exec(berth, bot, &["sh", "-c", script], None)
        .await
        .expect("exec");
    (ran.status.code != Some(0), format!("{ran:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_is_confined_and_the_bridge_keeps_working() {
    let Some(env) = TestEnv::new("confinement") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("cf-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");

    // The bridge (PID 1) and a command it runs: the same capabilities, filter and flag.
    for who in ["1", "self"] {
        let status = sh(&berth, &bot, &format!("cat /proc/{who}/status")).await;
        assert_eq!(
            status_field(&status, "CapEff:"),
            CAP_EFF,
            "/proc/{who}: {status}"
        );
        assert_eq!(
            status_field(&status, "CapBnd:"),
            CAP_EFF,
            "/proc/{who}: {status}"
        );
        assert_eq!(
            status_field(&status, "Seccomp:"),
            "2",
            "/proc/{who}: no seccomp filter"
        );
        assert_eq!(status_field(&status, "NoNewPrivs:"), "1", "/proc/{who}");
    }

    // What the filter and the missing capabilities refuse, even to root.
    for script in [
        "unshare -U true",
        "unshare -m true",
        "unshare -n true",
        "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t",
        "mknod /tmp/null c 1 3",
        "ping -c 1 -W 1 127.0.0.1",
        "nsenter -t 1 -m true",
    ] {
        let (failed, out) = fails(&berth, &bot, script).await;
        assert!(failed, "`{script}` must fail in a workspace: {out}");
    }
    // The bridge is not dumpable: its descriptors, memory and environment are out of reach.
    for script in [
        "echo flood > /proc/1/fd/1",
        "cat /proc/1/environ",
        "cat /proc/1/maps",
    ] {
        let (failed, out) = fails(&berth, &bot, script).await;
        assert!(failed, "`{script}` must fail in a workspace: {out}");
    }
    // Masked: the kernel's memory image and keyring list read as empty.
    assert_eq!(
        sh(&berth, &bot, "cat /proc/kcore /proc/keys | wc -c")
            .await
            .trim(),
        "0"
    );

    // Its own cgroup namespace: the workspace sees its cgroup as the root.
    let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
    let ns = sh(&berth, &bot, "readlink /proc/self/ns/cgroup").await;
    assert_ne!(ns.trim(), host_ns.to_string_lossy(), "no cgroup namespace");
    assert!(sh(&berth, &bot, "cat /proc/1/cgroup")
        .await
        .lines()
        .all(|l| l.ends_with(":/")));

    // Limits: processes, memory and CPU weight (cgroup v1 or v2 files).
    let limit = |v1: &str, v2: &str| {
        format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}")
    };
    assert_eq!(
        sh(&berth, &bot, &limit("pids/pids.max", "pids.max"))
            .await
            .trim(),
        "4096"
    );
    let memory: u64 = sh(
        &berth,
        &bot,
        &limit("memory/memory.limit_in_bytes", "memory.max"),
    )
    .await
    .trim()
    .parse()
    .expect("a memory limit");
    assert!(
        (1 << 30..u64::MAX / 2).contains(&memory),
        "memory limit {memory}"
    );

    // A fork bomb hits the pids limit, and the bridge keeps answering (through calls that
    // need no new process: listing /proc and reading a file).
    let _ = exec(
        &berth,
        &bot,
        &["sh", "-c", "i=0; while [ $i -lt 5000 ]; do sleep 600 </dev/null >/dev/null 2>&1 & i=$((i+1)); done 2>/tmp/forks"],
        None,
    )
    .await;
    let procs = berth
        .file_list(&bot, "/proc")
        .await
        .expect("the bridge answers after a fork bomb");
    let running = procs
        .entries
        .iter()
        .filter(|e| e.name.bytes().all(|b| b.is_ascii_digit()))
        .count();
    assert!(
        (3000..=4096).contains(&running),
        "{running} processes: the limit did not hold"
    );
    let forks = berth
        .file_read_text(&bot, "/tmp/forks")
        .await
        .expect("the bridge reads a file");
    assert!(
        forks.content.to_lowercase().contains("fork"),
        "no fork failed: {forks:?}"
    );
    berth.stop(&bot).await.expect("stop after a fork bomb");
    berth.delete_bot(&bot).await.unwrap();
}

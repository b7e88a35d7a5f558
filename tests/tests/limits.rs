//! A bot's own limits on a real workspace: chosen with `berth create --memory --cpus --pids`,
//! visible in the workspace's cgroup, a memory balloon killed inside its workspace while the
//! bridge keeps answering, and a change to an existing workspace applied at its next start.

use berth_tests::{exec, sh, TestEnv, BUSYBOX};

/// A cgroup file, v1 or v2, as the workspace sees it.
async fn cgroup(berth: &berth_core::Berth, bot: &str, v1: &str, v2: &str) -> String {
    let script = format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}");
    sh(berth, bot, &script).await.trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_chosen_for_a_bot_hold_and_change_at_the_next_start() {
    let Some(env) = TestEnv::new("limits") else {
        return;
    };
    let bot = format!("lim-{}", berth_tests::suffix());
    let image = env.image(BUSYBOX);
    let out = env.cli(
        &[
            "create", &bot, "--image", &image, "--memory", "96m", "--cpus", "0.5", "--pids", "200",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let berth = env.berth().await;

    assert_eq!(
        cgroup(&berth, &bot, "pids/pids.max", "pids.max").await,
        "200"
    );
    assert_eq!(
        cgroup(&berth, &bot, "memory/memory.limit_in_bytes", "memory.max").await,
        (96u64 << 20).to_string()
    );
    let quota = cgroup(&berth, &bot, "cpu/cpu.cfs_quota_us", "cpu.max").await;
    assert!(
        quota == "50000" || quota == "50000 100000",
        "cpu quota {quota}"
    );

    // A balloon bigger than the limit is killed inside the workspace; the bridge answers on.
    let balloon = exec(
        &berth,
        &bot,
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
        None,
    )
    .await
    .expect("exec");
    assert!(
        balloon.status.signal == Some(9) || balloon.status.code == Some(137),
        "the balloon was not killed: {balloon:?}"
    );
    assert_eq!(sh(&berth, &bot, "echo alive").await.trim(), "alive");

    // A change on the running workspace says a restart is needed, and applies after one.
    let out = env.cli(&["limits", &bot, "--pids", "300"], None);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("until it is restarted"), "{said}");
    assert_eq!(
        cgroup(&berth, &bot, "pids/pids.max", "pids.max").await,
        "200"
    );
    berth.stop(&bot).await.expect("stop");
    berth.start(&bot).await.expect("start");
    assert_eq!(
        cgroup(&berth, &bot, "pids/pids.max", "pids.max").await,
        "300"
    );
    let out = env.cli(&["limits", &bot, "--json"], None);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["pids"], 300);
    assert_eq!(shown["memory"], 96u64 << 20);

    // Bad values are refused and change nothing.
    let out = env.cli(&["limits", &bot, "--memory", "1m"], None);
    assert!(!out.status.success(), "{out:?}");
    let out = env.cli(&["limits", &bot, "--cpus", "lots"], None);
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        berth.info(&bot).await.unwrap().limits.memory,
        Some(96 << 20)
    );
    berth.delete_bot(&bot).await.unwrap();
}

//! State stays right across a containerd restart and changes made behind Berth's back: reconcile
//! at open, and the event stream (including its reconnect after the daemon restarts).
//!
//! The restart tests use a private containerd (the shared one must keep running for the tests
//! in parallel). They are plain `#[test]`s with their own tokio runtimes, so that a Berth can be
//! shut down completely ("not looking") and another opened later.

use std::time::Duration;

use berth_core::model::{WorkspaceChanged, WorkspaceState};
use berth_core::Berth;
use berth_tests::daemon::PrivateContainerd;
use berth_tests::{create, sh, TestEnv, BUSYBOX};
use tokio::runtime::Runtime;
use tokio::sync::broadcast;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn store_state(berth: &Berth, bot: &str) -> WorkspaceState {
    berth
        .bots()
        .unwrap()
        .into_iter()
        .find(|b| b.name == bot)
        .expect("bot listed")
        .state
}

/// Waits for a `workspace://changed` notification of `bot` with `state`.
async fn notified(
    rx: &mut broadcast::Receiver<WorkspaceChanged>,
    bot: &str,
    state: WorkspaceState,
) -> bool {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Ok(c) if c.bot == bot && c.state == state => return true,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// The host pid of a workspace's task, as containerd lists it.
fn task_pid(env: &TestEnv, bot: &str) -> i32 {
    let row = format!("berth-{bot} ");
    let tasks = env.ctr(&["tasks", "ls"]);
    let line = tasks
        .lines()
        .find(|l| l.starts_with(&row))
        .unwrap_or_else(|| panic!("no task for {bot}: {tasks}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn kill_task(env: &TestEnv, bot: &str) {
    let id = format!("berth-{bot}");
    env.ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
}

/// A Berth following events sees a task killed behind its back: store, info and a notification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_exit_is_seen_through_events() {
    let Some(env) = TestEnv::new("events") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("ev-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let mut rx = berth.subscribe();
    kill_task(&env, &bot);
    assert!(
        notified(&mut rx, &bot, WorkspaceState::Stopped).await,
        "no stopped notification"
    );
    assert_eq!(store_state(&berth, &bot), WorkspaceState::Stopped);
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Stopped
    );
    let activity = berth.activity(&bot).unwrap();
    assert!(
        activity.iter().any(|a| a.kind == "exited"),
        "no exited activity: {activity:?}"
    );
    // A task that dies keeps its address reserved: the next start must release it first.
    let leftovers = berth_tests::network_leftovers(&env.ns, &berth_core::container_id(&bot));
    assert!(
        leftovers.iter().any(|l| l.starts_with("address ")),
        "the killed task's address reservation is gone: {leftovers:?}"
    );
    // It starts again from there.
    assert_eq!(
        berth.start(&bot).await.expect("start after exit").state,
        WorkspaceState::Running
    );
    assert_eq!(sh(&berth, &bot, "echo up").await, "up\n");
    assert!(notified(&mut rx, &bot, WorkspaceState::Running).await);

    // Removed behind Berth's back: the row goes, the bot stays.
    let id = format!("berth-{bot}");
    env.ctr(&["tasks", "rm", "-f", &id]);
    env.ctr(&["containers", "rm", &id]);
    assert!(
        notified(&mut rx, &bot, WorkspaceState::Absent).await,
        "no absent notification"
    );
    assert_eq!(store_state(&berth, &bot), WorkspaceState::Absent);
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Absent
    );
    berth.delete_bot(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
}

#[test]
fn state_survives_containerd_restart() {
    let Some(services) = berth_tests::services("state_survives_containerd_restart") else {
        return;
    };
    let Some(mut daemon) = PrivateContainerd::start("state_survives_containerd_restart") else {
        return;
    };
    // Declared after the daemon: dropped (and purged) while the daemon still runs.
    let env = TestEnv::on(services, &daemon.socket(), "restart");
    let (a, b) = (
        format!("ra-{}", berth_tests::suffix()),
        format!("rb-{}", berth_tests::suffix()),
    );

    // Berth creates two workspaces, then goes away completely.
    let pids = {
        let rt = runtime();
        let pids = rt.block_on(async {
            let berth = env.berth().await;
            let mut pids = vec![];
            for bot in [&a, &b] {
                create(&berth, bot, &env.image(BUSYBOX))
                    .await
                    .0
                    .expect("create");
                sh(&berth, bot, "echo mine > /data/file").await;
                pids.push(task_pid(&env, bot));
            }
            pids
        });
        rt.shutdown_timeout(Duration::from_secs(5));
        pids
    };

    // containerd restarts; the shims keep the workspaces running meanwhile.
    daemon.stop_daemon();
    for pid in &pids {
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "workspace pid {pid} died with containerd"
        );
    }
    daemon.restart();
    // One workspace stops while no Berth is looking.
    kill_task(&env, &b);
    // No Berth is subscribed on purpose, and `ctr` cannot wait for a task: containerd's view of
    // the task is re-read until it shows the stop (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while env
        .tasks()
        .iter()
        .any(|(t, s)| *t == format!("berth-{b}") && s == "RUNNING")
    {
        assert!(std::time::Instant::now() < deadline, "task did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }

    let rt = runtime();
    rt.block_on(async {
        let berth = env.berth().await;
        // Reconcile at open: the store agrees with containerd.
        assert_eq!(store_state(&berth, &a), WorkspaceState::Running);
        assert_eq!(
            store_state(&berth, &b),
            WorkspaceState::Stopped,
            "reconcile missed the stop"
        );
        let info = berth.info(&a).await.unwrap();
        assert_eq!(info.state, WorkspaceState::Running);
        assert!(
            info.bridge_version.is_some(),
            "bridge gone after the restart: {info:?}"
        );
        assert_eq!(sh(&berth, &a, "cat /data/file").await, "mine\n");
        assert_eq!(berth.info(&b).await.unwrap().state, WorkspaceState::Stopped);
        assert_eq!(
            berth.start(&b).await.expect("start after restart").state,
            WorkspaceState::Running
        );
        assert_eq!(sh(&berth, &b, "cat /data/file").await, "mine\n");

        // The event stream survives a restart of the daemon under a connected Berth. While the
        // daemon is down, b's workspace process dies: Berth can learn that only through the
        // resubscribed stream (the exit event, or the re-read after a resubscription), so its
        // notification shows the stream is back before a's exit is tested.
        let mut rx = berth.subscribe();
        let b_pid = task_pid(&env, &b);
        tokio::task::block_in_place(|| {
            daemon.stop_daemon();
            // SAFETY: killing the workspace process this test created.
            assert_eq!(unsafe { libc::kill(b_pid, libc::SIGKILL) }, 0);
            daemon.restart();
        });
        assert!(
            notified(&mut rx, &b, WorkspaceState::Stopped).await,
            "the event stream did not come back after the restart"
        );
        kill_task(&env, &a);
        assert!(
            notified(&mut rx, &a, WorkspaceState::Stopped).await,
            "exit after a daemon restart not seen"
        );
        assert_eq!(store_state(&berth, &a), WorkspaceState::Stopped);

        for bot in [&a, &b] {
            berth.delete_bot(bot).await.unwrap();
            env.assert_no_workspace(bot, "after delete");
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// A task that dies on its own (crash, OOM, `ctr t kill`) must not leave its network behind:
/// after start and delete, no NAT rule names the container any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_is_released_after_a_task_dies_on_its_own() {
    let Some(env) = TestEnv::new("net-leak") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("nl-{}", berth_tests::suffix());
    let id = format!("berth-{bot}");
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let mut rx = berth.subscribe();
    kill_task(&env, &bot);
    assert!(notified(&mut rx, &bot, WorkspaceState::Stopped).await);
    berth.start(&bot).await.expect("start");
    berth.delete_workspace(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
    assert_eq!(
        berth_tests::network_leftovers(&env.ns, &id),
        Vec::<String>::new(),
        "network of a dead task leaked"
    );
}

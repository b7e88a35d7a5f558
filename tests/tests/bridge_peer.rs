//! The host talks only to the real bridge. Inside a running workspace the bot (root there)
//! moves `/run/berth/bridge.sock` aside and starts a second copy of the bridge at the same path:
//! an impostor that answers every call just as the bridge would, with whatever it likes. A
//! `berth` command run afterwards (a new process, so a new dial) refuses it with a clear error
//! and is not answered by it; the connection core kept from before the swap still reaches the
//! real bridge.

use berth_bridge::ExecRequest;
use berth_runtime::Runtime;
use berth_tests::{create, sh, TestEnv, BUSYBOX};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Moves the socket aside and runs the impostor in the foreground; it prints where it listens.
const IMPOSTOR: &str = "mv /run/berth/bridge.sock /run/berth/real.sock && \
    BERTH_BRIDGE_SOCKET=/run/berth/bridge.sock BERTH_DATA_DIR=/tmp/impostor \
    exec /opt/berth/bridge";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_is_not_the_bridge_is_refused() {
    let Some(env) = TestEnv::new("bridge-peer") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("peer-{}", berth_tests::suffix());
    let info = create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let id = info.container_id.expect("a container id");
    let task_pid = env.runtime().await.status(&id).await.unwrap().pid.unwrap();
    // Through the real bridge (PID 1 of the workspace), a command's parent is PID 1.
    let parent = ["exec", &bot, "--", "sh", "-c", "echo $PPID"];
    let out = env.cli(&parent, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");

    // The bot starts the impostor, through core's kept connection to the real bridge.
    let (err_w, err_r) = tokio::io::duplex(4096);
    let impostor = {
        let (berth, bot) = (berth.clone(), bot.clone());
        tokio::spawn(async move {
            let req = ExecRequest::new(["sh", "-c", IMPOSTOR]);
            let none = None::<tokio::io::Empty>;
            berth.exec(&bot, req, none, tokio::io::sink(), err_w).await
        })
    };
    let mut lines = BufReader::new(err_r).lines();
    let listening = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("the impostor ended");
        if line.contains("listening on /run/berth/bridge.sock") {
            break line;
        }
    };

    // A new `berth` process dials the socket: refused, with the listener's pid and the task's.
    let out = env.cli(&parent, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "answered through the impostor ({listening}): {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        stderr.contains("the workspace's bridge socket is not served by its bridge (pid ")
            && stderr.contains(&format!(", expected {task_pid}): refusing to talk to it")),
        "{stderr}"
    );
    let out = env.cli(&["ls", &format!("{bot}:/")], None);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not served by its bridge"),
        "{out:?}"
    );

    // The connection kept from before the swap is to the real bridge: it still answers, and
    // ends the impostor.
    assert_eq!(sh(&berth, &bot, "echo $PPID").await, "1\n");
    let pid = listening
        .rsplit_once("(pid ")
        .and_then(|(_, p)| p.strip_suffix(')'))
        .expect("the impostor says its pid");
    sh(&berth, &bot, &format!("kill {pid}")).await;
    impostor.await.unwrap().expect("the impostor's exec ends");
    berth.delete_bot(&bot).await.unwrap();
}

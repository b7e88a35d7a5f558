//! Exec through the real bridge binary: I/O, exit statuses, errors, back-pressure, cancellation.

mod common;

use std::time::Duration;

use berth_bridge::{BridgeError, ExecRequest, ExitStatus};
use common::{eventually, proc_state, Bridge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_round_trips_through_cat() {
    let b = Bridge::start().await;
    // Larger than any pipe buffer and than one stdin chunk, and not valid UTF-8.
    let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = b
        .run(ExecRequest::new(["cat"]), Some(input.clone()))
        .await
        .unwrap();
    assert_eq!(
        out.status,
        ExitStatus {
            code: Some(0),
            signal: None
        }
    );
    assert_eq!(out.stdout.len(), input.len());
    assert!(out.stdout == input, "cat output differs from its input");
    assert!(out.stderr.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_separate() {
    let b = Bridge::start().await;
    let out = b.sh("echo to-out; echo to-err >&2; echo more-out").await;
    assert_eq!(out.stdout, b"to-out\nmore-out\n");
    assert_eq!(out.stderr, b"to-err\n");
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_and_signal_are_reported() {
    let b = Bridge::start().await;
    assert_eq!(
        b.sh("exit 7").await.status,
        ExitStatus {
            code: Some(7),
            signal: None
        }
    );
    assert_eq!(
        b.sh("kill -KILL $$").await.status,
        ExitStatus {
            code: None,
            signal: Some(9)
        }
    );
    assert_eq!(
        b.sh("kill -TERM $$").await.status,
        ExitStatus {
            code: None,
            signal: Some(15)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_output_arrives_complete() {
    let b = Bridge::start().await;
    let out = b.sh("head -c 20971520 /dev/zero").await;
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 20 * 1024 * 1024);
    assert!(out.stdout.iter().all(|&c| c == 0));

    // Ordered, distinguishable content on both streams at once.
    let out = b.sh("seq 1 300000; seq 1 100000 >&2").await;
    let expect = |n: u32| {
        (1..=n)
            .map(|i| format!("{i}\n"))
            .collect::<String>()
            .into_bytes()
    };
    assert!(
        out.stdout == expect(300000),
        "stdout corrupted or incomplete"
    );
    assert!(
        out.stderr == expect(100000),
        "stderr corrupted or incomplete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_executable_is_not_found() {
    let b = Bridge::start().await;
    let err = b
        .run(ExecRequest::new(["no-such-program-xyz"]), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BridgeError::NotFound("executable \"no-such-program-xyz\" not found".into())
    );
    let err = b
        .run(ExecRequest::new(["/bin/no-such"]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::NotFound(_)), "{err:?}");
    let err = b.run(ExecRequest::default(), None).await.unwrap_err();
    assert!(matches!(err, BridgeError::InvalidArgument(_)), "{err:?}");
    let mut req = ExecRequest::new(["true"]);
    req.env = vec!["NOEQUALS".into()];
    assert!(matches!(
        b.run(req, None).await.unwrap_err(),
        BridgeError::InvalidArgument(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cwd_defaults_to_data_and_bad_cwd_fails() {
    let b = Bridge::start().await;
    let out = b.sh("pwd").await;
    let data = b.data().canonicalize().unwrap();
    assert_eq!(out.stdout_str().trim_end(), data.to_str().unwrap());

    let mut req = ExecRequest::new(["pwd"]);
    req.cwd = Some("/tmp".into());
    assert_eq!(b.run(req, None).await.unwrap().stdout, b"/tmp\n");

    let mut req = ExecRequest::new(["pwd"]);
    req.cwd = Some("/no/such/dir".into());
    let err = b.run(req, None).await.unwrap_err();
    assert!(
        matches!(&err, BridgeError::NotFound(m) if m.contains("/no/such/dir")),
        "{err:?}"
    );

    let mut req = ExecRequest::new(["pwd"]);
    req.cwd = Some("/etc/hostname".into());
    assert!(matches!(
        b.run(req, None).await.unwrap_err(),
        BridgeError::InvalidArgument(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_is_added_and_argv_may_be_non_utf8() {
    let b = Bridge::start().await;
    let mut req = ExecRequest::new(["sh", "-c", "printf '%s|%s' \"$BERTH_T\" \"$1\"", "sh"]);
    req.argv.push(vec![b'a', 0xff, 0xfe, b'z']);
    req.env = vec!["BERTH_T=x=y".into()];
    let out = b.run(req, None).await.unwrap();
    assert_eq!(out.stdout, b"x=y|a\xff\xfez");
    // The bridge's own environment is inherited (PATH found `sh` above); HOME-less is fine.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_call_kills_the_process_group() {
    let b = Bridge::start().await;
    // A pipeline: both the shell and its background child must die. The shell names both
    // once they run.
    let script = "sleep 300 & echo $! $$ ready; wait";
    let (stdout, mut printed) = common::published();
    let client = b.client.clone();
    let call = async move {
        let req = ExecRequest::new(["sh", "-c", script]);
        client
            .exec(req, None::<&'static [u8]>, stdout, tokio::io::sink())
            .await
    };
    // Whichever comes first: the pids (then the call is dropped) or the call's end (a failure).
    let line = tokio::select! {
        r = call => panic!("the call ended while sleep 300 runs: {r:?}"),
        line = common::line_with(&mut printed, " ready", Duration::from_secs(20)) => line,
    };
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(5), || proc_state(pid).is_none()).await,
            "pid {pid} survived the cancelled call: {:?}",
            proc_state(pid)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_holder_of_stdout_does_not_hang_exec() {
    let b = Bridge::start().await;
    // The shell exits at once but its child keeps stdout open for 30 s; exec must still end.
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        b.sh("echo before; sleep 30 & exit 3"),
    )
    .await;
    let out = out.expect("exec hung on a descendant holding stdout");
    assert_eq!(out.stdout, b"before\n");
    assert_eq!(out.status.code, Some(3));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_execs_get_their_own_status() {
    let b = Bridge::start().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let client = b.client.clone();
        set.spawn(async move {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let script = format!("sleep 0.$(({i} % 3)); echo {i}; exit {i}");
            let req = ExecRequest::new(["sh", "-c", &script]);
            let status = client
                .exec(req, None::<&'static [u8]>, &mut out, &mut err)
                .await
                .unwrap();
            (i, status, out)
        });
    }
    while let Some(r) = set.join_next().await {
        let (i, status, out) = r.unwrap();
        assert_eq!(status.code, Some(i), "exec {i}");
        assert_eq!(out, format!("{i}\n").into_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_reader_applies_back_pressure() {
    let b = Bridge::start().await;
    // The client's stdout is a small in-memory pipe nobody reads: the exec stalls on it.
    let (stalled_writer, reader) = tokio::io::duplex(64 * 1024);
    let client = b.client.clone();
    let call = tokio::spawn(async move {
        let req = ExecRequest::new(["head", "-c", "4000000000", "/dev/zero"]);
        client
            .exec(
                req,
                None::<&'static [u8]>,
                stalled_writer,
                tokio::io::sink(),
            )
            .await
    });
    // Back-pressure reached the program: `head` only ever writes, so sleeping means its write
    // blocks on the full pipe.
    let bridge = b.pid();
    let head = || {
        common::children(bridge).into_iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "head")
        })
    };
    assert!(
        eventually(Duration::from_secs(20), || head()
            .and_then(proc_state)
            .is_some_and(|(state, _)| state == 'S'))
        .await,
        "`head` never blocked on its output"
    );
    // Then nobody reads for 1.5 s (the stall is what is tested).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !call.is_finished(),
        "4 GB cannot have been delivered into a 64 KiB pipe"
    );
    // An unbounded queue would hold gigabytes by now; bounded queues keep the bridge small.
    let rss_kb = vm_rss_kb(b.pid());
    assert!(
        rss_kb < 64 * 1024,
        "bridge RSS grew to {rss_kb} kB while the reader was stalled"
    );
    drop(reader); // the client's write fails, the call ends, the bridge kills `head`
    let res = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("exec ended")
        .unwrap();
    assert!(res.is_err(), "{res:?}");
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

//! Terminals through the real bridge binary: PTY I/O, size and resize, exit statuses, large and
//! multi-byte output, concurrent sessions, back-pressure.

mod common;

use std::time::Duration;

use berth_bridge::{
    BridgeError, ExitStatus, TerminalClient, TerminalEvent, TerminalReader, TerminalRequest,
    TerminalSession,
};
use common::Bridge;

const WAIT: Duration = Duration::from_secs(20);

async fn open(b: &Bridge, argv: &[&str], rows: u16, cols: u16) -> TerminalSession {
    let client = TerminalClient::connect(&b.socket(), b.peer.clone())
        .await
        .expect("connect");
    client
        .open(TerminalRequest {
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
            rows,
            cols,
            ..Default::default()
        })
        .await
        .expect("open terminal")
}

/// Reads until `needle` appears in the output so far; returns everything read.
async fn read_until(r: &mut TerminalReader, seen: &mut Vec<u8>, needle: &str) {
    let fut = async {
        while !String::from_utf8_lossy(seen).contains(needle) {
            match r.next().await.expect("terminal event") {
                TerminalEvent::Output(b) => seen.extend_from_slice(&b),
                TerminalEvent::Exit(s) => panic!(
                    "exited ({s:?}) before {needle:?}: {}",
                    String::from_utf8_lossy(seen)
                ),
            }
        }
    };
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| {
        panic!(
            "no {needle:?} within {WAIT:?}; got {:?}",
            String::from_utf8_lossy(seen)
        )
    });
}

/// Reads everything up to the exit status.
async fn read_to_exit(r: &mut TerminalReader) -> (Vec<u8>, ExitStatus, usize) {
    let mut out = Vec::new();
    let mut chunks = 0;
    let fut = async {
        loop {
            match r.next().await.expect("terminal event") {
                TerminalEvent::Output(b) => {
                    chunks += 1;
                    out.extend_from_slice(&b)
                }
                TerminalEvent::Exit(s) => return s,
            }
        }
    };
    let status = tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("exit in time");
    (out, status, chunks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_in_a_shell_with_a_real_tty() {
    let b = Bridge::start().await;
    let mut t = open(&b, &["sh"], 0, 0).await;
    let mut seen = Vec::new();
    // The quotes keep the echoed command line itself from matching.
    t.writer
        .write(b"tty; echo \"$TERM\" $(pwd) hel''lo-round-trip\n")
        .await
        .unwrap();
    read_until(&mut t.reader, &mut seen, "hello-round-trip").await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("/dev/pts/"), "stdin is a pty: {text}");
    assert!(
        text.contains(&format!("xterm-256color {} hello", b.data().display())),
        "{text}"
    );
    t.writer.write(b"exit 3\n").await.unwrap();
    let (_, status, _) = read_to_exit(&mut t.reader).await;
    assert_eq!(
        status,
        ExitStatus {
            code: Some(3),
            signal: None
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_size_and_resize_reach_stty() {
    let b = Bridge::start().await;
    let mut t = open(&b, &["sh"], 33, 101).await;
    let mut seen = Vec::new();
    t.writer
        .write(b"stty size; echo size-''one\n")
        .await
        .unwrap();
    read_until(&mut t.reader, &mut seen, "size-one").await;
    assert!(
        String::from_utf8_lossy(&seen).contains("33 101"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    t.writer.resize(47, 163).await.unwrap();
    // SIGWINCH reaches the foreground program (here: a trap in the shell itself).
    t.writer
        .write(b"stty size; echo size-''two\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_until(&mut t.reader, &mut seen, "size-two").await;
    assert!(
        String::from_utf8_lossy(&seen).contains("47 163"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_signals_and_session_leadership() {
    let b = Bridge::start().await;
    let mut t = open(&b, &["sh", "-c", "exit 42"], 0, 0).await;
    assert_eq!(
        read_to_exit(&mut t.reader).await.1,
        ExitStatus {
            code: Some(42),
            signal: None
        }
    );

    let mut t = open(&b, &["sh", "-c", "kill -KILL $$"], 0, 0).await;
    assert_eq!(
        read_to_exit(&mut t.reader).await.1,
        ExitStatus {
            code: None,
            signal: Some(9)
        }
    );

    // The process leads its own session, and the pty is its controlling terminal: /proc's
    // session id equals the pid and the tty number is set.
    let mut t = open(
        &b,
        &["sh", "-c", "cut -d' ' -f6,7 /proc/$$/stat; echo $$"],
        0,
        0,
    )
    .await;
    let pid = t.pid;
    let (out, status, _) = read_to_exit(&mut t.reader).await;
    assert!(status.success());
    let text = String::from_utf8_lossy(&out);
    let mut lines = text.lines();
    let stat: Vec<&str> = lines.next().unwrap().trim().split(' ').collect();
    assert_eq!(stat[0], pid.to_string(), "session id = pid: {text}");
    assert_ne!(stat[1], "0", "has a controlling tty: {text}");

    // A signal goes to the foreground group: SIGINT stops `sleep`, the interactive shell
    // survives and reports 130.
    let mut t = open(&b, &["sh"], 0, 0).await;
    t.writer.write(b"sleep 30\n").await.unwrap();
    assert!(
        common::eventually(WAIT, || foreground_comm(t.pid).as_deref() == Some("sleep")).await,
        "sleep never became the terminal's foreground job ({:?})",
        foreground_comm(t.pid)
    );
    t.writer.signal(libc_sigint()).await.unwrap();
    t.writer.write(b"echo status-$?-''end\n").await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut t.reader, &mut seen, "-end").await;
    assert!(
        String::from_utf8_lossy(&seen).contains("status-130-end"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
}

/// The command name of the foreground process group's leader of `pid`'s terminal (the 8th
/// field of /proc/PID/stat is that group's id).
fn foreground_comm(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let tpgid = stat[stat.rfind(')')? + 2..].split(' ').nth(5)?;
    let comm = std::fs::read_to_string(format!("/proc/{tpgid}/comm")).ok()?;
    Some(comm.trim().to_string())
}

fn libc_sigint() -> i32 {
    2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_megabytes_arrive_complete_and_in_order() {
    let b = Bridge::start().await;
    // 1..=2_600_000 is 20.0 MB of digits and newlines (the pty turns each \n into \r\n).
    let n = 2_600_000u32;
    let mut t = open(&b, &["seq", "1", &n.to_string()], 0, 0).await;
    let (out, status, chunks) = read_to_exit(&mut t.reader).await;
    assert!(status.success(), "{status:?}");
    assert!(out.len() > 20_000_000, "{} bytes", out.len());
    let mut expected = 1u32;
    for line in out.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert_eq!(line, expected.to_string().as_bytes(), "line {expected}");
        expected += 1;
    }
    assert_eq!(expected, n + 1, "every line arrived");
    assert!(chunks > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_split_across_reads_arrives_intact() {
    let b = Bridge::start().await;
    let unit = "终端テスト🚀🦀é"; // 3-byte CJK, 4-byte emoji, 2-byte Latin
    let dir = tempfile::tempdir().unwrap();
    let text = unit.repeat(20_000); // ~ 520 KB: many 32 KiB reads, boundaries fall mid-character
    std::fs::write(dir.path().join("u.txt"), &text).unwrap();
    let file = dir.path().join("u.txt");
    let mut t = open(&b, &["cat", file.to_str().unwrap()], 0, 0).await;
    let mut out = Vec::new();
    let mut split = 0;
    loop {
        match t.reader.next().await.unwrap() {
            TerminalEvent::Output(chunk) => {
                if std::str::from_utf8(&chunk).is_err() {
                    split += 1; // this read ended or began inside a character
                }
                out.extend_from_slice(&chunk);
            }
            TerminalEvent::Exit(s) => {
                assert!(s.success());
                break;
            }
        }
    }
    assert_eq!(
        String::from_utf8(out).expect("valid UTF-8 once joined"),
        text
    );
    assert!(
        split > 0,
        "no read split a character; the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_at_once_stay_separate() {
    let b = Bridge::start().await;
    let mut a = open(&b, &["sh"], 0, 0).await;
    let mut c = open(&b, &["sh"], 0, 0).await;
    assert_ne!(a.pid, c.pid);
    a.writer
        .write(b"A=first; echo one-$A-''end\n")
        .await
        .unwrap();
    c.writer
        .write(b"A=second; echo two-$A-''end\n")
        .await
        .unwrap();
    let (mut sa, mut sc) = (Vec::new(), Vec::new());
    tokio::join!(
        read_until(&mut a.reader, &mut sa, "one-first-end"),
        read_until(&mut c.reader, &mut sc, "two-second-end")
    );
    assert!(!String::from_utf8_lossy(&sa).contains("two-"));
    assert!(!String::from_utf8_lossy(&sc).contains("one-"));
    a.writer.write(b"exit 5\n").await.unwrap();
    assert_eq!(read_to_exit(&mut a.reader).await.1.code, Some(5));
    // The other session is unaffected.
    c.writer.write(b"echo still-''here\n").await.unwrap();
    read_until(&mut c.reader, &mut sc, "still-here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_does_not_read_pauses_the_program() {
    let b = Bridge::start().await;
    let bridge_pid = b.pid();
    let mut t = open(
        &b,
        &["sh", "-c", "yes 0123456789abcdef0123456789abcdef"],
        0,
        0,
    )
    .await;
    let rss = || {
        let s = std::fs::read_to_string(format!("/proc/{bridge_pid}/status")).unwrap();
        let line = s
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    // Back-pressure reached the program: `yes` only ever writes, so sleeping means its write
    // blocks on the full terminal.
    let writer = || {
        std::iter::once(t.pid)
            .chain(common::children(t.pid))
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "yes")
            })
    };
    assert!(
        common::eventually(WAIT, || writer()
            .and_then(common::proc_state)
            .is_some_and(|(state, _)| state == 'S'))
        .await,
        "`yes` never blocked on its output"
    );
    // Then nobody reads for two seconds (the stall is what is tested): `yes` would write
    // gigabytes into the bridge without back-pressure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let kb = rss();
    assert!(
        kb < 64 * 1024,
        "bridge RSS {kb} KiB while the reader is stalled"
    );
    // And it resumes once we read.
    match t.reader.next().await.unwrap() {
        TerminalEvent::Output(b) => assert!(!b.is_empty()),
        e => panic!("{e:?}"),
    }
    drop(t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_program_is_not_found() {
    let b = Bridge::start().await;
    let client = TerminalClient::connect(&b.socket(), b.peer.clone())
        .await
        .unwrap();
    let err = client
        .open(TerminalRequest {
            argv: vec![b"no-such-program-x".to_vec()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, BridgeError::NotFound(_)), "{err:?}");
}

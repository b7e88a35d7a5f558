//! Terminals in a real workspace (containerd + the static bridge), through core: the shell and
//! its environment, resize, scrollback replay on re-attach, exit codes, bash-vs-sh, 20 MB of
//! output in order, UTF-8 split across reads, two sessions at once, workspace stop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_core::model::PullPolicy;
use berth_core::terminals::{
    TerminalEvent, TerminalInfo, TerminalRequest, TerminalSink, TerminalStatus, Terminals,
};
use berth_core::{Berth, ExecRequest};
use berth_tests::{TestEnv, BUSYBOX};

/// A view that records what it is sent.
#[derive(Clone, Default)]
struct Recorder {
    out: Arc<Mutex<Vec<u8>>>,
    status: Arc<Mutex<Vec<TerminalInfo>>>,
}

impl TerminalSink for Recorder {
    fn output(&self, data: &[u8]) -> bool {
        self.out.lock().unwrap().extend_from_slice(data);
        true
    }
    fn status(&self, info: &TerminalInfo) -> bool {
        self.status.lock().unwrap().push(info.clone());
        true
    }
}

impl Recorder {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let t = self.text();
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in terminal output: {t:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn wait_status(&self, want: impl Fn(&TerminalInfo) -> bool) -> TerminalInfo {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.status.lock().unwrap().iter().rev().find(|i| want(i)) {
                return i.clone();
            }
            assert!(
                Instant::now() < deadline,
                "status never matched: {:?}",
                self.status.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn exec(berth: &Berth, bot: &str, argv: &[&str], stdin: Option<Vec<u8>>) -> String {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let status = berth
        .exec(
            bot,
            ExecRequest::new(argv),
            stdin.map(std::io::Cursor::new),
            &mut out,
            &mut err,
        )
        .await
        .expect("exec");
    assert!(
        status.success(),
        "{argv:?}: {status:?} {}",
        String::from_utf8_lossy(&err)
    );
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `argv` on a PTY through core and the bridge; returns the output and exit code.
async fn run_tty(berth: &Berth, bot: &str, argv: &[&str]) -> (Vec<u8>, Option<i32>, usize) {
    let req = TerminalRequest {
        argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        ..Default::default()
    };
    let mut s = berth.terminal(bot, req).await.expect("terminal");
    let mut out = Vec::new();
    let mut split = 0;
    let done = async {
        loop {
            match s.reader.next().await.expect("event") {
                TerminalEvent::Output(b) => {
                    if std::str::from_utf8(&b).is_err() {
                        split += 1;
                    }
                    out.extend_from_slice(&b)
                }
                TerminalEvent::Exit(st) => return st.code,
            }
        }
    };
    let code = tokio::time::timeout(Duration::from_secs(120), done)
        .await
        .expect("exit in time");
    (out, code, split)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_in_a_workspace() {
    let Some(env) = TestEnv::new("terminal") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("term-{}", berth_tests::suffix());
    berth.create_bot(&bot).unwrap();
    berth
        .create_workspace(
            &bot,
            Some(&env.image(BUSYBOX)),
            Some(PullPolicy::IfNotPresent),
            &|_| {},
        )
        .await
        .expect("create workspace");
    let terminals = Terminals::new(berth.clone());

    // The busybox image has no bash: the shell is sh, in /data, with TERM set, on a real tty.
    let view = Recorder::default();
    let info = terminals
        .open(&bot, 30, 100, Box::new(view.clone()))
        .await
        .unwrap();
    assert_eq!(info.program, "/bin/sh");
    assert_eq!(info.status, TerminalStatus::Running);
    let marker = format!("hello-{}", berth_tests::suffix());
    let (a, b) = marker.split_at(3);
    terminals
        .write(
            &info.id,
            format!("echo $TERM $(pwd) $(tty) {a}''{b}\n").as_bytes(),
        )
        .await
        .unwrap();
    let text = view.wait_for(&marker).await;
    assert!(
        text.contains(&format!("xterm-256color /data /dev/pts/0 {marker}")),
        "{text}"
    );

    // Size at open and after a resize.
    terminals
        .write(&info.id, b"stty size; echo size-''one\n")
        .await
        .unwrap();
    assert!(view.wait_for("size-one").await.contains("30 100"));
    terminals.resize(&info.id, 51, 142).await.unwrap();
    terminals
        .write(&info.id, b"stty size; echo size-''two\n")
        .await
        .unwrap();
    assert!(view.wait_for("size-two").await.contains("51 142"));

    // A view attaching again gets the scrollback first, then live output.
    let again = Recorder::default();
    terminals.attach(&info.id, Box::new(again.clone())).unwrap();
    let replay = again.text();
    assert!(
        replay.contains(&marker) && replay.contains("51 142"),
        "replay: {replay}"
    );
    assert_eq!(
        replay.as_bytes(),
        terminals.scrollback(&info.id).unwrap().as_slice()
    );
    terminals
        .write(&info.id, b"echo after-''attach\n")
        .await
        .unwrap();
    again.wait_for("after-attach").await;

    // Two sessions at once, each with its own shell state.
    let other_view = Recorder::default();
    let other = terminals
        .open(&bot, 24, 80, Box::new(other_view.clone()))
        .await
        .unwrap();
    assert_ne!(other.id, info.id);
    terminals
        .write(&info.id, b"V=first; echo one-$V-''x\n")
        .await
        .unwrap();
    terminals
        .write(&other.id, b"V=second; echo two-$V-''x\n")
        .await
        .unwrap();
    again.wait_for("one-first-x").await;
    other_view.wait_for("two-second-x").await;
    assert!(!other_view.text().contains("one-first"));
    assert_eq!(terminals.list(Some(&bot)).len(), 2);

    // The shell's exit code reaches the view; the session stays listed until closed.
    terminals.write(&other.id, b"exit 7\n").await.unwrap();
    let ended = other_view
        .wait_status(|i| i.status == TerminalStatus::Exited)
        .await;
    assert_eq!(ended.exit_code, Some(7));
    assert!(terminals.write(&other.id, b"x").await.is_err());
    terminals.close(&other.id).unwrap();
    assert_eq!(terminals.list(Some(&bot)).len(), 1);

    // 20 MB through the PTY, complete and in order.
    let n = 2_600_000u32;
    let (out, code, _) = run_tty(&berth, &bot, &["seq", "1", &n.to_string()]).await;
    assert_eq!(code, Some(0));
    assert!(out.len() > 20_000_000, "{} bytes", out.len());
    let mut expected = 1u32;
    for line in out.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert_eq!(line, expected.to_string().as_bytes(), "line {expected}");
        expected += 1;
    }
    assert_eq!(expected, n + 1);

    // CJK and emoji split across reads arrive intact once joined.
    let text = "终端テスト🚀🦀é".repeat(20_000);
    exec(
        &berth,
        &bot,
        &["sh", "-c", "cat > /data/utf8.txt"],
        Some(text.clone().into_bytes()),
    )
    .await;
    let (out, code, split) = run_tty(&berth, &bot, &["cat", "/data/utf8.txt"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(String::from_utf8(out).expect("valid UTF-8"), text);
    assert!(
        split > 0,
        "no read split a character; the check proves nothing"
    );

    // bash when the image has it. The busybox image has none, so install a real one: the
    // host's bash with its shared libraries, copied in through exec. (A symlink to busybox
    // would only prove that a file named bash exists, not that bash runs.)
    install_host_bash(&berth, &bot).await;
    let bash_view = Recorder::default();
    let bash = terminals
        .open(&bot, 24, 80, Box::new(bash_view.clone()))
        .await
        .unwrap();
    assert_eq!(bash.program, "/bin/bash");
    terminals
        .write(&bash.id, b"echo bash-$BASH_VERSION-''end $(pwd)\n")
        .await
        .unwrap();
    let t = bash_view.wait_for("-end /data").await;
    assert!(
        t.contains("bash-") && !t.contains("bash--end"),
        "BASH_VERSION empty: {t}"
    );
    terminals.close(&bash.id).unwrap();

    // Stopping the workspace: the open session says so.
    berth.stop(&bot).await.unwrap();
    let stopped = again
        .wait_status(|i| i.status == TerminalStatus::WorkspaceStopped)
        .await;
    assert_eq!(stopped.id, info.id);
    assert!(terminals.write(&info.id, b"x").await.is_err());
    terminals.close(&info.id).unwrap();

    berth.delete_bot(&bot).await.unwrap();
}

/// Copies /bin/bash and the libraries `ldd` lists into the workspace at the same paths.
async fn install_host_bash(berth: &Berth, bot: &str) {
    let ldd = std::process::Command::new("ldd")
        .arg("/bin/bash")
        .output()
        .expect("ldd");
    let mut files = vec!["/bin/bash".to_string()];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = line
            .split("=>")
            .last()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap_or("");
        if path.starts_with('/') {
            files.push(path.to_string());
        }
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("reading {f}: {e}"));
        let script =
            format!("mkdir -p \"$(dirname {f})\" && rm -f {f} && cat > {f} && chmod 755 {f}");
        exec(berth, bot, &["sh", "-c", &script], Some(bytes)).await;
    }
}

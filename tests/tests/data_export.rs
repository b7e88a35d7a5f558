//! Export on a real workspace: a FIFO in `/data` is left out and counted instead of
//! blocking the export, GNU tar lists everything else, the counts are right, progress reports
//! the source total up front and `done` reaches it, a file appended to during the export still
//! gives a valid archive of whole lines, and `berth export` names what it left out.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use berth_core::data::{DataProgress, ExportReport};
use berth_core::{Berth, CancellationToken};
use berth_tests::appender::Appender;
use berth_tests::{create, sh, TestEnv, BUSYBOX};

/// Bytes of the regular files below.
const BIG: u64 = 48 << 20;
const POPULATE: &str = r#"set -e
cd /data
rm -rf ./* ./.[!.]*
mkdir -p docs/sub empty-dir
printf 'hello\n' > docs/a.txt
printf 'deeper\n' > docs/sub/b.txt
: > empty-file
head -c 50331648 /dev/urandom > big.bin
ln -s docs/a.txt link-to-a
ln -s docs link-to-dir
ln -s nowhere dangling
mkfifo pipe
"#;
const SMALL: u64 = 6 + 7;

/// `tar -tzf`: GNU tar must read the archive; its entry names without trailing slashes.
fn gnu_names(archive: &Path) -> BTreeSet<String> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(archive)
        .output()
        .expect("GNU tar");
    assert!(
        out.status.success(),
        "GNU tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// Exports, recording every progress report; bounded, so a blocked export fails the test.
async fn export(berth: &Berth, bot: &str, dest: &Path) -> (ExportReport, Vec<DataProgress>) {
    let seen = Mutex::new(Vec::new());
    let (record, cancel) = (|p| seen.lock().unwrap().push(p), CancellationToken::new());
    let run = berth.export_data(bot, dest, &record, &cancel);
    let report = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the export did not finish within 120 s (blocked on the FIFO?)")
        .expect("export");
    (report, seen.into_inner().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_skips_fifos_reports_progress_and_survives_a_writer() {
    let Some(env) = TestEnv::new("data-export") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dx-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let host = tempfile::tempdir().unwrap();
    sh(&berth, &bot, POPULATE).await;

    // --- a FIFO is left out and counted; everything else is there ----------------------------
    let out = host.path().join("export.tar.gz");
    let (report, seen) = export(&berth, &bot, &out).await;
    assert_eq!(report.skipped, 1, "the FIFO: {report:?}");
    assert_eq!(
        (report.files, report.dirs, report.links),
        (4, 3, 3),
        "{report:?}"
    );
    assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
    let want: BTreeSet<String> = [
        "docs",
        "docs/a.txt",
        "docs/sub",
        "docs/sub/b.txt",
        "empty-dir",
        "empty-file",
        "big.bin",
        "link-to-a",
        "link-to-dir",
        "dangling",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(gnu_names(&out), want);
    let x = host.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&out)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(std::fs::metadata(x.join("big.bin")).unwrap().len(), BIG);
    assert_eq!(
        std::fs::read_link(x.join("link-to-dir")).unwrap(),
        Path::new("docs")
    );

    // --- progress: the total known before the data, `done` climbing to it ---------------------
    let total = BIG + SMALL;
    let first = seen.first().copied().expect("progress reports");
    assert_eq!(
        first.total, total,
        "the pre-walk's total comes first: {first:?}"
    );
    assert!(
        seen.iter().all(|p| p.total == total),
        "one total throughout"
    );
    assert!(
        seen.windows(2)
            .all(|w| w[0].done <= w[1].done && w[0].archive <= w[1].archive),
        "monotonic"
    );
    let midway = seen
        .iter()
        .filter(|p| p.archive > 0 && p.archive < report.bytes)
        .count();
    assert!(midway > 10, "reports while the data flows: {midway}");
    let last = seen.last().copied().unwrap();
    assert_eq!((last.done, last.archive), (total, report.bytes), "{last:?}");

    // --- a file appended to the whole time: a valid archive of whole lines --------------------
    sh(&berth, &bot, "rm /data/big.bin").await;
    let mut writer = Appender::start(&berth, &bot).await;
    let busy = host.path().join("busy.tar.gz");
    let (r, seen) = export(&berth, &bot, &busy).await;
    writer.ping(&berth, &bot).await; // it ran on after the export
    writer.stop(&berth, &bot).await;
    assert_eq!(r.skipped, 1);
    assert!(gnu_names(&busy).contains("grow"));
    let y = host.path().join("y");
    std::fs::create_dir(&y).unwrap();
    assert!(Command::new("tar")
        .arg("-xzf")
        .arg(&busy)
        .arg("-C")
        .arg(&y)
        .status()
        .unwrap()
        .success());
    let grow = std::fs::read(y.join("grow")).unwrap();
    assert!(
        !grow.is_empty() && grow.len().is_multiple_of(11),
        "{} bytes",
        grow.len()
    );
    assert!(
        grow.chunks(11).all(|l| l == b"0123456789\n"),
        "only whole lines: the writer was paused"
    );
    let last = seen.last().copied().unwrap();
    assert_eq!(last.done, last.total);

    // --- the CLI names what it left out -------------------------------------------------------
    let cli_out = host.path().join("cli.tar.gz");
    let o = env.cli(&["export", &bot, cli_out.to_str().unwrap()], None);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "berth export: {stderr}");
    assert!(
        stdout.contains("4 file(s), 3 folder(s), 3 link(s)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("left out 1 FIFO(s), socket(s) or device(s)"),
        "{stderr}"
    );
    assert!(gnu_names(&cli_out).contains("grow"));

    berth.delete_bot(&bot).await.expect("delete");
}

//! Change of image on a real workspace: `/data` survives byte-for-byte (checksum
//! listing) and the workspace then runs the new image, with the phases in order and the restore's
//! byte progress reaching the archive's size; a bad reference, a missing image or a cancel while
//! preserving leave the old workspace running with `/data` untouched and no kept archive; a
//! failure after the old workspace was deleted keeps the archive (the error says where) and the
//! next create restores it; `berth change-image` does the same from the command line.

use std::sync::Mutex;

use berth_core::model::{CreateEvent, ErrorCode, PullPolicy, WorkspaceInfo, WorkspaceState};
use berth_core::Berth;
use berth_tests::{create, sh, TestEnv, BUSYBOX, DOCKER};

/// Type, name, mode, size and checksum of every entry below `/data`, and link targets.
const LISTING: &str = r#"cd /data && {
  find . -mindepth 1 -type f -exec stat -c 'F %n %a %s %Y' {} + ;
  find . -mindepth 1 -type d -exec stat -c 'D %n %a' {} + ;
  find . -mindepth 1 -type l -exec stat -c 'L %N' {} + ;
  find . -mindepth 1 -type f -exec sha256sum {} + ;
} | LC_ALL=C sort"#;

const POPULATE: &str = r#"set -e
cd /data
mkdir -p notes/deep 'with space' empty-dir
printf 'hello\n' > notes/deep/a.txt
printf 'exec\n' > notes/run.sh && chmod 750 notes/run.sh
: > empty-file
touch -d '2001-02-03 04:05:06' notes/deep/a.txt
ln -s deep/a.txt notes/link
head -c 3145728 /dev/urandom > 'with space/random.bin'
"#;

/// The phase a create event belongs to, in the documented order of a change of image.
fn rank(e: &CreateEvent) -> u8 {
    match e {
        CreateEvent::Resolving { .. } => 0,
        CreateEvent::Pulling(_) => 1,
        CreateEvent::Unpacking { .. } => 2,
        CreateEvent::Preserving => 3,
        CreateEvent::RemovingOld => 4,
        CreateEvent::Creating => 5,
        CreateEvent::Starting => 6,
        CreateEvent::WaitingBridge => 7,
        CreateEvent::Restoring => 8,
        CreateEvent::DataTransfer(_) => u8::MAX, // belongs to the phase before it
        CreateEvent::Complete { .. } | CreateEvent::Failed { .. } => 9,
    }
}

async fn change(
    berth: &Berth,
    bot: &str,
    image: &str,
    policy: Option<PullPolicy>,
) -> (berth_core::Result<WorkspaceInfo>, Vec<CreateEvent>) {
    let events = Mutex::new(Vec::new());
    let emit = |e: CreateEvent| events.lock().unwrap().push(e);
    let r = berth.change_image(bot, image, policy, &emit).await;
    (r, events.into_inner().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_image_keeps_data_and_runs_the_new_image() {
    let Some(env) = TestEnv::new("change-image") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("ci-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, POPULATE).await;
    let before = sh(&berth, &bot, LISTING).await;
    assert!(
        sh(&berth, &bot, "cat /etc/berth-docker-marker 2>&1 || true")
            .await
            .contains("No such file")
    );

    let (info, events) = change(&berth, &bot, &env.image(DOCKER), None).await;
    let info = info.expect("change image");
    assert_eq!(info.state, WorkspaceState::Running);
    assert_eq!(info.image.as_deref(), Some(env.image(DOCKER).as_str()));
    assert_eq!(info.data_restored, Some(true));
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-docker-marker").await,
        "docker-ok"
    );
    assert_eq!(sh(&berth, &bot, LISTING).await, before, "/data changed");
    assert!(
        berth.kept_data(&bot).is_none(),
        "the kept archive is removed after the restore"
    );

    // Phases in order; every data transfer inside the phase before it.
    let ranks: Vec<u8> = events.iter().map(rank).filter(|r| *r != u8::MAX).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "phases out of order: {events:?}"
    );
    for once in [0, 3, 4, 5, 6, 7, 8, 9] {
        assert_eq!(
            ranks.iter().filter(|r| **r == once).count(),
            1,
            "phase {once} not once: {ranks:?}"
        );
    }
    assert!(matches!(events.last(), Some(CreateEvent::Complete { .. })));
    let transfers_after = |phase: u8| -> Vec<berth_core::data::DataProgress> {
        let start = events.iter().position(|e| rank(e) == phase).unwrap();
        events[start + 1..]
            .iter()
            .take_while(|e| rank(e) == u8::MAX)
            .map(|e| match e {
                CreateEvent::DataTransfer(p) => *p,
                _ => unreachable!(),
            })
            .collect()
    };
    let preserved = transfers_after(3);
    assert!(
        preserved.last().is_some_and(|p| p.archive > 0),
        "no preserve progress: {preserved:?}"
    );
    let restored = transfers_after(8);
    let last = restored.last().expect("restore progress");
    assert!(
        last.total > 0 && last.done == last.total,
        "restore progress ends at {last:?}"
    );
    assert!(
        restored.windows(2).all(|w| w[0].done <= w[1].done),
        "restore progress went back"
    );

    let activity = berth.activity(&bot).unwrap();
    assert!(
        activity.iter().any(|a| a.kind == "change-image"),
        "{activity:?}"
    );
    berth.delete_workspace(&bot).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_change_leaves_the_old_workspace_untouched() {
    let Some(env) = TestEnv::new("change-image-fail") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("cf-{}", berth_tests::suffix());
    let old = create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, POPULATE).await;
    // Outside /data: gone if the container were recreated.
    sh(&berth, &bot, "echo same > /etc/same-container").await;
    let before = sh(&berth, &bot, LISTING).await;

    let missing = format!("{}/berth-test/no-such-image:1", env.registry);
    let cases: [(&str, &str, Option<PullPolicy>); 3] = [
        ("a bad reference", "Not A Valid::Reference", None),
        ("a missing image", &missing, None),
        (
            "an image not local under --pull never",
            &env.image(DOCKER),
            Some(PullPolicy::Never),
        ),
    ];
    for (what, image, policy) in cases {
        let (r, events) = change(&berth, &bot, image, policy).await;
        let e = r.expect_err(what);
        assert!(e.code != ErrorCode::Internal, "{what}: {e:?}");
        assert!(
            matches!(events.last(), Some(CreateEvent::Failed { .. })),
            "{what}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, CreateEvent::Preserving)),
            "{what}: preserved: {events:?}"
        );
        if what != "a bad reference" {
            assert!(
                e.message.contains("the workspace is unchanged"),
                "{what}: {e:?}"
            );
        }
        assert_untouched(&berth, &bot, &old, &before, what).await;
    }

    // Cancelled while preserving: the archive is not kept, the old workspace stays.
    let canceller = berth.clone();
    let name = bot.clone();
    let emit = move |e: CreateEvent| {
        if matches!(e, CreateEvent::Preserving) {
            canceller.cancel_create(&name);
        }
    };
    let e = berth
        .change_image(&bot, &env.image(DOCKER), None, &emit)
        .await
        .expect_err("cancelled");
    assert_eq!(e.code, ErrorCode::Cancelled, "{e:?}");
    assert_untouched(&berth, &bot, &old, &before, "a cancel while preserving").await;
    berth.delete_workspace(&bot).await.unwrap();
}

async fn assert_untouched(berth: &Berth, bot: &str, old: &WorkspaceInfo, before: &str, what: &str) {
    let now = berth.info(bot).await.unwrap();
    assert_eq!(now.state, WorkspaceState::Running, "{what}: state");
    assert_eq!(now.image, old.image, "{what}: image");
    assert_eq!(now.created_at, old.created_at, "{what}: recreated");
    assert_eq!(
        sh(berth, bot, "cat /etc/same-container").await,
        "same\n",
        "{what}: another container"
    );
    assert_eq!(
        sh(berth, bot, LISTING).await,
        before,
        "{what}: /data changed"
    );
    assert!(
        berth.kept_data(bot).is_none(),
        "{what}: a kept archive remains"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_after_the_delete_keeps_the_data_for_the_next_create() {
    let Some(env) = TestEnv::new("change-image-late") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("cl-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    sh(&berth, &bot, POPULATE).await;
    let before = sh(&berth, &bot, LISTING).await;

    // Cancelled once the old workspace is being deleted: the new one is never finished.
    let canceller = berth.clone();
    let name = bot.clone();
    let emit = move |e: CreateEvent| {
        if matches!(e, CreateEvent::RemovingOld) {
            canceller.cancel_create(&name);
        }
    };
    let e = berth
        .change_image(&bot, &env.image(DOCKER), None, &emit)
        .await
        .expect_err("cancelled");
    assert_eq!(e.code, ErrorCode::Cancelled, "{e:?}");
    let kept = berth
        .kept_data(&bot)
        .expect("the archive stays as kept data");
    assert!(
        e.message.contains(&kept.path.display().to_string()),
        "the error says where /data is: {e:?}"
    );
    assert_eq!(
        berth.info(&bot).await.unwrap().state,
        WorkspaceState::Absent
    );
    env.assert_no_workspace(&bot, "after a cancelled change of image");

    // The next create restores it.
    let (info, _) = create(&berth, &bot, &env.image(DOCKER)).await;
    assert_eq!(info.expect("create").data_restored, Some(true));
    assert_eq!(
        sh(&berth, &bot, LISTING).await,
        before,
        "/data after the create"
    );
    berth.delete_workspace(&bot).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_change_image() {
    let Some(env) = TestEnv::new("change-image-cli") else {
        return;
    };
    let bot = format!("cc-{}", berth_tests::suffix());
    let run = |args: &[&str]| {
        let out = env.cli(args, None);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, _, err) = run(&["create", &bot, "--image", &env.image(BUSYBOX)]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["exec", &bot, "--", "sh", "-c", "echo via-cli > /data/note"]);
    assert_eq!(code, Some(0), "{err}");

    let (code, out, err) = run(&[
        "change-image",
        &bot,
        &env.image(DOCKER),
        "--pull",
        "if-not-present",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("{bot} is running ({})", env.image(DOCKER))),
        "{out}"
    );
    assert!(out.contains("kept data restored"), "{out}");
    let (_, note, _) = run(&[
        "exec",
        &bot,
        "--",
        "cat",
        "/data/note",
        "/etc/berth-docker-marker",
    ]);
    assert_eq!(note, "via-cli\ndocker-ok");

    let (code, _, err) = run(&["change-image", &bot, "Not A Reference"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid image reference"), "{err}");
    let (code, _, err) = run(&["rm", &bot]);
    assert_eq!(code, Some(0), "{err}");
}

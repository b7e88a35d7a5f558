//! Our own pull against the real registry and containerd: exact progress, completeness, pull
//! policies, Docker media types, multi-platform indexes, whiteouts, and cancel leaving nothing.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_core::model::{CreateEvent, LayerStatus};
use berth_runtime::{
    CancellationToken, ErrorKind, ImageRef, PullEvent, PullPolicy, PullSink, Runtime,
};
use berth_tests::{
    create, manifest_layers, registry_manifest, sh, Recorder, TestEnv, BUSYBOX, DOCKER, LAYERED,
    MULTI,
};

/// Checks a fresh pull's events against the manifest: totals, growth, one done per layer,
/// each layer unpacked in order once it and the layers below it are fetched.
fn check_fresh_pull(events: &[PullEvent], image: &str, expected: &[(String, u64)]) {
    let PullEvent::Resolved {
        image: resolved,
        layers,
    } = &events[0]
    else {
        panic!("first event is not Resolved: {:?}", events[0]);
    };
    assert_eq!(resolved, image);
    assert_eq!(
        layers, expected,
        "per-layer totals differ from the manifest"
    );
    let sizes: HashMap<&str, u64> = expected.iter().map(|(d, s)| (d.as_str(), *s)).collect();
    let mut progress: HashMap<&str, u64> = HashMap::new();
    let mut done: HashMap<&str, bool> = HashMap::new();
    let mut unpacked = 0;
    for e in &events[1..] {
        match e {
            PullEvent::Resolved { .. } => panic!("second Resolved"),
            PullEvent::Overall(_) => panic!("containerd reports layers, not a whole pull"),
            PullEvent::Downloading {
                digest,
                done: bytes,
            } => {
                assert!(
                    !done.contains_key(digest.as_str()),
                    "progress for {digest} after it was done"
                );
                let size = sizes[digest.as_str()];
                let prev = progress.insert(digest, *bytes).unwrap_or(0);
                assert!(
                    *bytes > prev,
                    "progress of {digest} went from {prev} to {bytes}"
                );
                assert!(*bytes <= size, "progress of {digest} is {bytes} of {size}");
            }
            PullEvent::LayerDone { digest, existed } => {
                assert!(
                    !existed,
                    "{digest} reported as existing in a fresh namespace"
                );
                assert!(done.insert(digest, true).is_none(), "{digest} done twice");
                assert_eq!(
                    progress.get(digest.as_str()),
                    Some(&sizes[digest.as_str()]),
                    "{digest} done early"
                );
            }
            PullEvent::Unpacking { layer, layers } => {
                // A layer is unpacked once it and every layer below it are fetched; later
                // layers may still be downloading.
                for (digest, _) in &expected[..*layer as usize] {
                    assert!(
                        done.contains_key(digest.as_str()),
                        "layer {layer} unpacked before {digest} was fetched"
                    );
                }
                unpacked += 1;
                assert_eq!((*layer, *layers as usize), (unpacked, expected.len()));
            }
        }
    }
    assert_eq!(
        unpacked as usize,
        expected.len(),
        "not every layer was unpacked"
    );
}

/// Events of a pull that found everything local: every layer exists, nothing downloaded.
fn check_all_existed(events: &[PullEvent], expected: &[(String, u64)]) {
    let PullEvent::Resolved { layers, .. } = &events[0] else {
        panic!("no Resolved: {events:?}")
    };
    assert_eq!(layers, expected);
    let rest: Vec<_> = events[1..]
        .iter()
        .filter(|e| !matches!(e, PullEvent::Unpacking { .. }))
        .collect();
    let want: Vec<PullEvent> = expected
        .iter()
        .map(|(d, _)| PullEvent::LayerDone {
            digest: d.clone(),
            existed: true,
        })
        .collect();
    let mut got: Vec<PullEvent> = rest.into_iter().cloned().collect();
    got.sort_by_key(|e| format!("{e:?}"));
    let mut want_sorted = want.clone();
    want_sorted.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(got, want_sorted, "a present image was fetched again");
}

fn check_line(env: &TestEnv, image: &str) -> String {
    env.ctr(&["images", "check"])
        .lines()
        .find(|l| l.starts_with(&format!("{image} ")))
        .unwrap_or_else(|| panic!("{image} not in `ctr images check`"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layered_pull_progress_completeness_and_whiteouts() {
    let Some(env) = TestEnv::new("pull-layered") else {
        return;
    };
    let image = env.fresh_image(LAYERED);
    let expected =
        manifest_layers(&registry_manifest(&env.registry, repo_and_tag(&env, &image)).await);
    assert_eq!(expected.len(), 4);
    let rt = env.runtime().await;
    let r = ImageRef::parse(&image).unwrap();

    let rec = Recorder::default();
    rt.ensure_image(
        &r,
        PullPolicy::IfNotPresent,
        &rec,
        &CancellationToken::new(),
    )
    .await
    .expect("pull");
    check_fresh_pull(&rec.take(), &image, &expected);

    let line = check_line(&env, &image);
    assert!(
        line.contains("complete (5/5)"),
        "image not complete: {line}"
    );
    assert!(
        line.trim_end().ends_with("true"),
        "image not unpacked: {line}"
    );
    assert!(
        env.leases().is_empty(),
        "pull left leases: {:?}",
        env.leases()
    );
    assert!(
        env.ingests().is_empty(),
        "pull left ingests: {:?}",
        env.ingests()
    );

    // The GC labels must hold everything once the pull's lease is gone: force a synchronous GC.
    let lease = env.ctr(&["leases", "create"]).trim().to_string();
    env.ctr(&["leases", "rm", "--sync", &lease]);
    let line = check_line(&env, &image);
    assert!(
        line.contains("complete (5/5)") && line.trim_end().ends_with("true"),
        "GC ate the image: {line}"
    );

    // Present now: if-not-present fetches nothing.
    rt.ensure_image(
        &r,
        PullPolicy::IfNotPresent,
        &rec,
        &CancellationToken::new(),
    )
    .await
    .expect("second pull");
    check_all_existed(&rec.take(), &expected);

    // Whiteouts, seen from inside a workspace made from the image.
    let berth = env.berth().await;
    let bot = format!("wh-{}", berth_tests::suffix());
    let (info, events) = create(&berth, &bot, &image).await;
    info.expect("create from layered");
    let last_pull = events.iter().rev().find_map(|e| match e {
        CreateEvent::Pulling(p) => Some(p.clone()),
        _ => None,
    });
    let p = last_pull.expect("no pulling event");
    assert!(
        p.layers.iter().all(|l| l.status == LayerStatus::Exists),
        "layers fetched again: {p:?}"
    );
    let opt = sh(&berth, &bot, "ls -a /opt").await;
    let names: Vec<&str> = opt.split_whitespace().collect();
    for present in ["blob-a", "blob-b", "berth"] {
        assert!(names.contains(&present), "/opt lacks {present}: {names:?}");
    }
    for absent in [
        "removed-by-whiteout",
        "dir-gone",
        ".wh.removed-by-whiteout",
        ".wh.dir-gone",
    ] {
        assert!(
            !names.contains(&absent),
            "/opt still has {absent}: {names:?}"
        );
    }
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-layered-marker")
            .await
            .trim(),
        "layered-ok"
    );
    berth.delete_workspace(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_policies() {
    let Some(env) = TestEnv::new("pull-policy") else {
        return;
    };
    let image = env.fresh_image(BUSYBOX);
    let expected =
        manifest_layers(&registry_manifest(&env.registry, repo_and_tag(&env, &image)).await);
    let rt = env.runtime().await;
    let r = ImageRef::parse(&image).unwrap();
    let rec = Recorder::default();
    let go = CancellationToken::new();

    // never + absent: NotFound, and nothing fetched.
    let err = rt
        .ensure_image(&r, PullPolicy::Never, &rec, &go)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err:?}");
    assert!(
        err.message.contains(&image) && err.message.contains("never"),
        "unclear: {}",
        err.message
    );
    env.assert_namespace_empty("after a never-pull of an absent image");

    rt.ensure_image(&r, PullPolicy::IfNotPresent, &rec, &go)
        .await
        .expect("pull");
    check_fresh_pull(&rec.take(), &image, &expected);

    rt.ensure_image(&r, PullPolicy::Never, &rec, &go)
        .await
        .expect("never with a present image");
    check_all_existed(&rec.take(), &expected);

    // The same image under a name whose registry does not answer: only `always` may contact it.
    let offline = "127.0.0.1:1/berth-test/busybox:1";
    env.ctr(&["images", "tag", &image, offline]);
    let off = ImageRef::parse(offline).unwrap();
    rt.ensure_image(&off, PullPolicy::Never, &rec, &go)
        .await
        .expect("never must not contact the registry");
    rec.take();
    rt.ensure_image(&off, PullPolicy::IfNotPresent, &rec, &go)
        .await
        .expect("if-not-present with a present image");
    rec.take();
    let err = rt
        .ensure_image(&off, PullPolicy::Always, &rec, &go)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Unavailable,
        "always did not contact the registry: {err:?}"
    );
    assert!(
        err.message.contains("127.0.0.1:1"),
        "error does not name the registry: {}",
        err.message
    );
    rec.take();

    // always re-resolves at the registry and finds every layer present.
    rt.ensure_image(&r, PullPolicy::Always, &rec, &go)
        .await
        .expect("always");
    check_all_existed(&rec.take(), &expected);
    assert!(check_line(&env, &image).contains("complete (2/2)"));
    assert!(env.leases().is_empty() && env.ingests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_media_types() {
    let Some(env) = TestEnv::new("pull-docker") else {
        return;
    };
    let berth = env.berth().await;
    let bot = format!("dk-{}", berth_tests::suffix());
    let image = env.image(DOCKER);
    create(&berth, &bot, &image)
        .await
        .0
        .expect("create from a Docker-schema image");
    let line = check_line(&env, &image);
    assert!(
        line.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{line}"
    );
    assert!(
        line.contains("complete (3/3)") && line.trim_end().ends_with("true"),
        "{line}"
    );
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-docker-marker")
            .await
            .trim(),
        "docker-ok"
    );
    berth.delete_workspace(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_selects_the_host() {
    let Some(env) = TestEnv::new("pull-multi") else {
        return;
    };
    let index = registry_manifest(&env.registry, MULTI).await;
    let platforms: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_ne!(
        platforms[0],
        berth_tests::host_arch(),
        "the index must not list the host first for this test"
    );
    let berth = env.berth().await;
    let bot = format!("mp-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(MULTI))
        .await
        .0
        .expect("create from an index");
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-platform").await.trim(),
        berth_tests::host_arch()
    );
    berth.delete_workspace(&bot).await.unwrap();
    env.assert_no_workspace(&bot, "after delete");
}

/// A sink that cancels when `when` first matches.
struct CancelOn<F: Fn(&PullEvent) -> bool + Send + Sync> {
    when: F,
    token: CancellationToken,
    seen: Mutex<Vec<PullEvent>>,
}

impl<F: Fn(&PullEvent) -> bool + Send + Sync> CancelOn<F> {
    fn new(when: F) -> Self {
        CancelOn {
            when,
            token: CancellationToken::new(),
            seen: Mutex::default(),
        }
    }

    /// Pulls `image` into `rt` with this sink and its token; the pull must fail.
    async fn failed_pull(&self, rt: &dyn Runtime, image: &ImageRef) -> berth_runtime::RuntimeError {
        rt.ensure_image(image, PullPolicy::IfNotPresent, self, &self.token)
            .await
            .unwrap_err()
    }
}

impl<F: Fn(&PullEvent) -> bool + Send + Sync> PullSink for CancelOn<F> {
    fn event(&self, event: PullEvent) {
        if (self.when)(&event) {
            self.token.cancel();
        }
        self.seen.lock().unwrap().push(event);
    }
}

async fn cancel_leaves_nothing(
    name: &str,
    when: impl Fn(&PullEvent) -> bool + Send + Sync,
) -> Vec<PullEvent> {
    let Some(env) = TestEnv::new(name) else {
        return vec![];
    };
    let rt = env.runtime().await;
    let r = ImageRef::parse(&env.fresh_image(LAYERED)).unwrap();
    let sink = CancelOn::new(when);
    let err = sink.failed_pull(&rt, &r).await;
    assert_eq!(err.kind, ErrorKind::Cancelled, "{err:?}");
    assert!(sink.token.is_cancelled());
    env.assert_namespace_empty("after a cancelled pull");
    sink.seen.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_download_leaves_nothing() {
    let seen =
        cancel_leaves_nothing("cancel-dl", |e| matches!(e, PullEvent::Downloading { .. })).await;
    if !seen.is_empty() {
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, PullEvent::Unpacking { .. })),
            "unpacked after cancel"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_unpack_leaves_nothing() {
    // Cancel when layer 3 starts: layers 1-2 are committed snapshots by then.
    let seen = cancel_leaves_nothing("cancel-unpack", |e| {
        matches!(e, PullEvent::Unpacking { layer: 3, .. })
    })
    .await;
    if !seen.is_empty() {
        assert!(seen
            .iter()
            .any(|e| matches!(e, PullEvent::Unpacking { layer: 2, .. })));
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, PullEvent::Unpacking { layer: 4, .. })),
            "unpack went on"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_in_the_middle_of_a_layer_unpack_leaves_nothing() {
    // Cancel 100 ms into unpacking the 25 MB layer: the apply is in flight in containerd.
    let Some(env) = TestEnv::new("cancel-apply") else {
        return;
    };
    let rt = env.runtime().await;
    let r = ImageRef::parse(&env.image(LAYERED)).unwrap();
    let token = CancellationToken::new();
    let t = token.clone();
    let sink = CancelOn {
        when: move |e: &PullEvent| {
            if matches!(e, PullEvent::Unpacking { layer: 2, .. }) {
                let t = t.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    t.cancel();
                });
            }
            false
        },
        token: token.clone(),
        seen: Mutex::default(),
    };
    let err = rt
        .ensure_image(&r, PullPolicy::IfNotPresent, &sink, &token)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled, "{err:?}");
    env.assert_namespace_empty("after a pull cancelled mid-unpack");
}

/// Pulls a fresh copy of the layered image made with `salt_args` (see `salt-image.py push`),
/// which must be refused as invalid with a message containing `want` and leave the namespace
/// empty (`after`: when, for that assertion). Returns the pull's events (none without services).
async fn refused_pull(name: &str, salt_args: &[&str], want: &str, after: &str) -> Vec<PullEvent> {
    let Some(env) = TestEnv::new(name) else {
        return vec![];
    };
    let rt = env.runtime().await;
    let r = ImageRef::parse(&env.fresh_image_with(LAYERED, salt_args)).unwrap();
    let sink = CancelOn::new(|_: &PullEvent| false);
    let err = sink.failed_pull(&rt, &r).await;
    assert_eq!(err.kind, ErrorKind::InvalidArgument, "{err:?}");
    assert!(err.message.contains(want), "{err:?}");
    env.assert_namespace_empty(after);
    sink.seen.into_inner().unwrap()
}

/// A layer that unpacks to something other than its config says fails the pull, and leaves
/// nothing: not the layers still downloading at that moment (their writes are dropped, not
/// aborted; the pull's lease goes with a synchronous GC, and containerd takes their ingests
/// with it), nor the layers already unpacked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_unpack_leaves_no_download_behind() {
    // The bottom layer (1 MB) fails to unpack while the 25 and 20 MB layers still download.
    let seen = refused_pull(
        "bad-diff-id",
        &["--wrong-diff-id", "0"],
        "the image config says",
        "after a failed unpack",
    )
    .await;
    let done = seen
        .iter()
        .filter(|e| matches!(e, PullEvent::LayerDone { .. }))
        .count();
    eprintln!("layers done when the unpack failed: {done} of 4");
}

/// An image whose config lists fewer layers than its manifest is refused once the config
/// arrives, and the layers that started downloading meanwhile are not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_does_not_list_every_layer_is_refused() {
    refused_pull(
        "short-config",
        &["--drop-diff-id"],
        "4 layers but 3 diff ids",
        "after a config short of a layer",
    )
    .await;
}

/// A registry that serves other bytes than a layer's digest names (here: one byte changed on its
/// disk) fails the pull with a clear error, and nothing of it is kept: containerd checks the
/// digest of what it was sent before committing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_that_does_not_match_its_digest_is_refused() {
    // BERTH_TEST_ROOT comes with the services (`scripts/services.sh env`); unset, the path names it.
    let storage = std::env::var("BERTH_TEST_ROOT").unwrap_or_else(|_| "$BERTH_TEST_ROOT".into())
        + "/registry";
    // The 25 MB layer: its bytes arrive in many chunks before the mismatch can be seen.
    refused_pull(
        "bad-digest",
        &["--corrupt-layer", "1", "--storage", &storage],
        "do not match this digest",
        "after a layer with a wrong digest",
    )
    .await;
}

/// Two workspaces created at once from the same uncached image in one namespace: both pulls
/// race over the same blobs and chain ids, and both must succeed with a complete image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_share_one_pull() {
    let Some(env) = TestEnv::new("pull-race") else {
        return;
    };
    let berth = env.berth().await;
    let image = env.image(LAYERED);
    let (a, b) = (
        format!("ra-{}", berth_tests::suffix()),
        format!("rb-{}", berth_tests::suffix()),
    );
    let ((ra, _), (rb, _)) = tokio::join!(create(&berth, &a, &image), create(&berth, &b, &image));
    ra.expect("first create");
    rb.expect("second create");
    let line = check_line(&env, &image);
    assert!(
        line.contains("complete (5/5)") && line.trim_end().ends_with("true"),
        "{line}"
    );
    // Both leases are gone and a synchronous GC keeps the image.
    assert!(env.leases().is_empty() && env.ingests().is_empty());
    let lease = env.ctr(&["leases", "create"]).trim().to_string();
    env.ctr(&["leases", "rm", "--sync", &lease]);
    assert!(check_line(&env, &image).contains("complete (5/5)"));
    for bot in [&a, &b] {
        assert_eq!(
            sh(&berth, bot, "cat /etc/berth-layered-marker")
                .await
                .trim(),
            "layered-ok"
        );
        berth.delete_workspace(bot).await.unwrap();
        env.assert_no_workspace(bot, "after delete");
    }
}

/// An image pulled by another client (`ctr images pull`: the record's target is the index) is
/// present: `never` uses it, and if-not-present fetches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pulled_by_ctr_is_present() {
    let Some(env) = TestEnv::new("pull-ctr") else {
        return;
    };
    let image = env.image(MULTI);
    env.ctr(&["images", "pull", "--plain-http", &image]);
    let rt = env.runtime().await;
    let r = ImageRef::parse(&image).unwrap();
    let rec = Recorder::default();
    rt.ensure_image(&r, PullPolicy::Never, &rec, &CancellationToken::new())
        .await
        .expect("never with an image ctr pulled");
    let events = rec.take();
    assert!(
        events.iter().all(|e| !matches!(
            e,
            PullEvent::Downloading { .. } | PullEvent::LayerDone { existed: false, .. }
        )),
        "{events:?}"
    );
    let berth = env.berth().await;
    let bot = format!("pc-{}", berth_tests::suffix());
    berth.create_bot(&bot).unwrap();
    berth
        .create_workspace(
            &bot,
            Some(&image),
            Some(berth_core::model::PullPolicy::Never),
            &|_| {},
        )
        .await
        .expect("create with pull policy never");
    assert_eq!(
        sh(&berth, &bot, "cat /etc/berth-platform").await.trim(),
        berth_tests::host_arch()
    );
    berth.delete_workspace(&bot).await.unwrap();
}

/// `berth-bench/…:0` of `127.0.0.1:5000/berth-bench/…:0`.
fn repo_and_tag<'a>(env: &TestEnv, image: &'a str) -> &'a str {
    image
        .strip_prefix(&format!("{}/", env.registry))
        .expect("a local image")
}

/// containerd keeps one copy of a blob for all namespaces: a namespace that pulls an image
/// another namespace holds links its layers instead of downloading them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_held_by_another_namespace_are_not_downloaded_again() {
    let Some(first) = TestEnv::new("shared-a") else {
        return;
    };
    let image = first.fresh_image(BUSYBOX);
    let r = ImageRef::parse(&image).unwrap();
    let fetched = Recorder::default();
    first
        .runtime()
        .await
        .ensure_image(
            &r,
            PullPolicy::IfNotPresent,
            &fetched,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(fetched
        .take()
        .iter()
        .any(|e| matches!(e, PullEvent::LayerDone { existed: false, .. })));

    let second = TestEnv::on(
        berth_tests::services("shared-b").unwrap(),
        &first.socket,
        "shared-b",
    );
    let linked = Recorder::default();
    second
        .runtime()
        .await
        .ensure_image(
            &r,
            PullPolicy::IfNotPresent,
            &linked,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let events = linked.take();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PullEvent::Downloading { .. })),
        "downloaded again: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, PullEvent::LayerDone { existed: true, .. })),
        "{events:?}"
    );
    let check = second.ctr(&["images", "check"]);
    assert!(check.contains("complete"), "{check}");
}

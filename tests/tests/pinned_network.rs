//! A workspace's network namespace is pinned by Berth and set up before its task exists: the
//! task's init is in the pinned namespace, on the bridge, from its first instruction; stop and
//! delete release address and pin; a pin left by a task that died behind Berth's back is made
//! again at the next start; a create that fails after the network was set up leaves nothing; a
//! workspace created before namespaces were pinned still starts on the bridge and stops clean.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use berth_core::model::NetworkMode;
use berth_tests::{create, sh, TestEnv, BUSYBOX};

/// Where the data directory's runtime pins the namespace of `bot`'s workspace.
fn pin(env: &TestEnv, bot: &str) -> PathBuf {
    let id = berth_core::container_id(bot);
    env.data_dir()
        .join("net/netns")
        .join(format!("{}-{id}", env.ns))
}

/// The network namespace (device, inode) of a process, and of what the pin file is bound to.
fn netns_of_pid(pid: u32) -> (u64, u64) {
    let m = std::fs::metadata(format!("/proc/{pid}/ns/net")).expect("the task's netns");
    (m.dev(), m.ino())
}
fn netns_of_pin(path: &std::path::Path) -> (u64, u64) {
    let m = std::fs::metadata(path).expect("the pin");
    (m.dev(), m.ino())
}

fn addresses_held(env: &TestEnv, bot: &str) -> usize {
    let id = berth_core::container_id(bot);
    berth_tests::network_leftovers(&env.ns, &id)
        .iter()
        .filter(|l| l.starts_with("address"))
        .count()
}

/// A test environment and its Berth, when workspaces can be on the bridge.
async fn on_the_bridge(name: &str) -> Option<(TestEnv, berth_core::Berth)> {
    let env = TestEnv::new(name)?;
    let berth = env.berth().await;
    if berth.status().await.network != NetworkMode::Cni {
        berth_tests::unavailable(name, "CNI plugins are not installed");
        return None;
    }
    Some((env, berth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_starts_in_its_pinned_namespace_and_stop_and_delete_release_it() {
    let Some((env, berth)) = on_the_bridge("pinned-net").await else {
        return;
    };
    let bot = format!("pin-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    let pinned = pin(&env, &bot);
    assert_eq!(
        netns_of_pid(env.task_pid(&bot)),
        netns_of_pin(&pinned),
        "the task's init is not in the pinned namespace"
    );
    assert!(sh(&berth, &bot, "ip -4 -o addr show dev eth0")
        .await
        .contains("inet 10.89."));
    assert_eq!(addresses_held(&env, &bot), 1);

    berth.stop(&bot).await.expect("stop");
    assert!(!pinned.exists(), "the pin outlived the stop");
    assert_eq!(addresses_held(&env, &bot), 0, "address kept after stop");

    berth.start(&bot).await.expect("start");
    assert_eq!(netns_of_pid(env.task_pid(&bot)), netns_of_pin(&pinned));
    assert_eq!(addresses_held(&env, &bot), 1);

    // The task dies behind Berth's back: its pin and address stay, stale. Another Berth (one
    // that did not prepare them) starts the workspace in a namespace made again.
    let stale = netns_of_pin(&pinned);
    let task = berth_core::container_id(&bot);
    // `rm -f` kills the task, waits for its exit and deletes it.
    env.ctr(&["tasks", "rm", "-f", &task]);
    assert!(pinned.exists());
    drop(berth);
    let berth = env.berth().await;
    berth.start(&bot).await.expect("start after the task died");
    let fresh = netns_of_pin(&pinned);
    assert_ne!(fresh, stale, "the stale namespace was reused");
    assert_eq!(netns_of_pid(env.task_pid(&bot)), fresh);
    assert_eq!(
        addresses_held(&env, &bot),
        1,
        "the stale address was not released"
    );
    assert!(sh(&berth, &bot, "ip -4 -o addr show dev eth0")
        .await
        .contains("inet 10.89."));

    berth.delete_bot(&bot).await.expect("delete");
    assert!(!pinned.exists(), "the pin outlived the delete");
    assert_eq!(
        berth_tests::network_leftovers(&env.ns, &task),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_pull_fails_leaves_no_network() {
    let Some((env, berth)) = on_the_bridge("pinned-net-fail").await else {
        return;
    };
    let bot = format!("pinf-{}", berth_tests::suffix());
    // The network is set up while the pull runs, and the pull fails: no such image.
    let missing = env.image("berth-test/no-such-image:1");
    let (result, _) = create(&berth, &bot, &missing).await;
    assert!(result.is_err(), "created from a missing image");
    let id = berth_core::container_id(&bot);
    assert!(
        !pin(&env, &bot).exists(),
        "the pin outlived the failed create"
    );
    assert_eq!(
        berth_tests::network_leftovers(&env.ns, &id),
        Vec::<String>::new()
    );
    env.assert_no_workspace(&bot, "after a failed create");
}

/// Rewrites the container's stored spec as Berth wrote it before pinning: a network namespace
/// without a path, which runc makes with the task.
async fn unpin_spec(env: &TestEnv, id: &str) {
    use containerd_client::services::v1::containers_client::ContainersClient;
    use containerd_client::services::v1::{GetContainerRequest, UpdateContainerRequest};
    use containerd_client::with_namespace;
    use tonic::Request;
    let channel = containerd_client::connect(&env.socket)
        .await
        .expect("containerd");
    let mut client = ContainersClient::new(channel);
    let get = with_namespace!(GetContainerRequest { id: id.into() }, env.ns.as_str());
    let mut container = client
        .get(get)
        .await
        .expect("get container")
        .into_inner()
        .container
        .expect("a container");
    let any = container.spec.as_mut().expect("a spec");
    let mut spec: serde_json::Value = serde_json::from_slice(&any.value).unwrap();
    for ns in spec["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns.as_object_mut().unwrap().remove("path");
        }
    }
    any.value = serde_json::to_vec(&spec).unwrap();
    let update = UpdateContainerRequest {
        container: Some(container),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["spec".into()],
        }),
    };
    client
        .update(with_namespace!(update, env.ns.as_str()))
        .await
        .expect("update container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_from_before_pinning_starts_on_the_bridge() {
    let Some((env, berth)) = on_the_bridge("unpinned-net").await else {
        return;
    };
    let bot = format!("unpin-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");
    berth.stop(&bot).await.expect("stop");
    let id = berth_core::container_id(&bot);
    unpin_spec(&env, &id).await;

    berth.start(&bot).await.expect("start");
    assert!(!pin(&env, &bot).exists(), "a namespace was pinned anyway");
    assert!(sh(&berth, &bot, "ip -4 -o addr show dev eth0")
        .await
        .contains("inet 10.89."));
    assert_eq!(addresses_held(&env, &bot), 1);
    berth.stop(&bot).await.expect("stop");
    assert_eq!(addresses_held(&env, &bot), 0, "address kept after stop");
    berth.delete_bot(&bot).await.expect("delete");
    assert_eq!(
        berth_tests::network_leftovers(&env.ns, &id),
        Vec::<String>::new()
    );
}

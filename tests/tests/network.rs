//! A workspace's network isolates it: it reaches neither another workspace nor a server of the
//! host on the bridge's gateway, while the host still reaches a server in the workspace and
//! nothing is left per workspace after delete. (Only this machine's own namespaces and bridge
//! are ever contacted.)

use std::io::Read;
use std::net::TcpListener;

use berth_core::model::NetworkMode;
use berth_tests::{create, exec, sh, TestEnv, BUSYBOX};

/// The workspace's IPv4 address on eth0.
async fn address(berth: &berth_core::Berth, bot: &str) -> String {
    let out = sh(berth, bot, "ip -4 -o addr show dev eth0").await;
    let cidr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .expect("an inet address");
    cidr.split('/').next().unwrap().to_string()
}

/// Whether `nc` in the workspace connects to `ip:port` (and is answered) within two seconds.
async fn connects(berth: &berth_core::Berth, bot: &str, ip: &str, port: u16) -> (bool, String) {
    let script = format!("echo hello | nc -w 2 {ip} {port}");
    let ran = exec(berth, bot, &["sh", "-c", &script], None)
        .await
        .expect("exec");
    (
        ran.status.code == Some(0) && !ran.stdout.is_empty(),
        format!("{ran:?}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspaces_reach_neither_each_other_nor_the_host() {
    let Some(env) = TestEnv::new("isolation") else {
        return;
    };
    let berth = env.berth().await;
    if berth.status().await.network != NetworkMode::Cni {
        berth_tests::unavailable(
            "workspaces_reach_neither_each_other_nor_the_host",
            "CNI plugins are not installed",
        );
        return;
    }
    let suffix = berth_tests::suffix();
    let (a, b) = (format!("nia-{suffix}"), format!("nib-{suffix}"));
    create(&berth, &a, &env.image(BUSYBOX))
        .await
        .0
        .expect("create a");
    create(&berth, &b, &env.image(BUSYBOX))
        .await
        .0
        .expect("create b");
    let (ip_a, ip_b) = (address(&berth, &a).await, address(&berth, &b).await);

    // A serves on 8080 (an echo server kept alive by the bridge after the exec ends).
    // `setsid`: its own session, so the end of this exec does not end it; then wait until the
    // kernel lists the socket as listening.
    sh(
        &berth,
        &a,
        "setsid nc -ll -p 8080 -e cat </dev/null >/dev/null 2>&1 & \
         timeout 10 sh -c 'until netstat -ltn | grep -q \":8080 \"; do :; done'",
    )
    .await;
    // Positive controls: A reaches its own server, and so does the host.
    let (ok, out) = connects(&berth, &a, &ip_a, 8080).await;
    assert!(ok, "the workspace does not reach its own server: {out}");
    let mut from_host =
        std::net::TcpStream::connect((ip_a.as_str(), 8080)).expect("the host reaches a workspace");
    std::io::Write::write_all(&mut from_host, b"ping\n").unwrap();
    let mut echoed = [0u8; 5];
    from_host.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"ping\n");
    drop(from_host);

    // B does not reach A.
    let (ok, out) = connects(&berth, &b, &ip_a, 8080).await;
    assert!(!ok, "one workspace reached another's server: {out}");

    // Neither reaches a server of the host on the bridge's gateway.
    let gateway = sh(&berth, &b, "ip -4 route show default").await;
    let gateway = gateway
        .split_whitespace()
        .nth(2)
        .expect("a default route")
        .to_string();
    let listener = TcpListener::bind((gateway.as_str(), 0)).expect("a listener on the gateway");
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for bot in [&a, &b] {
        let (ok, out) = connects(&berth, bot, &gateway, port).await;
        assert!(!ok, "{bot} reached the host's server on the gateway: {out}");
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the host's listener saw a connection: {other:?}"),
    }
    assert_ne!(ip_a, ip_b);

    // Deleting the workspaces leaves nothing of theirs behind.
    for bot in [&a, &b] {
        let id = berth_core::container_id(bot);
        berth.delete_bot(bot).await.unwrap();
        assert_eq!(
            berth_tests::network_leftovers(&env.ns, &id),
            Vec::<String>::new(),
            "network left after delete"
        );
        assert!(
            berth_tests::nat_rules(&id).is_empty(),
            "NAT rules left for {id}"
        );
    }
}

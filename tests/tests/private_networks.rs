//! "Block private networks": a workspace reaches a server on a private (LAN) address until its
//! bot is set to keep off private networks, from that moment on (applied to the running
//! workspace), across a restart, and again once the setting is off. The rules live in the
//! workspace's own network namespace: the host's firewall never holds them and nothing is left
//! after delete. The "LAN" is a network namespace of this machine behind a veth pair.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use berth_core::model::NetworkMode;
use berth_tests::{create, exec, sh, TestEnv, BUSYBOX};

const LAN_HOST: &str = "192.168.251.1";
const LAN_SERVER: &str = "192.168.251.2";
const PORT: u16 = 8080;

/// A private network of this machine: a namespace with a TCP server answering `lan`, routed
/// from the host through a veth pair. Removed on drop.
struct Lan {
    netns: String,
    server: Option<Child>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    fn start() -> Lan {
        let id = std::process::id() % 100_000;
        let netns = format!("berth-lan-{id}");
        let (host_if, lan_if) = (format!("bl{id}h"), format!("bl{id}n"));
        ip(&["netns", "add", &netns]);
        // Made first, so that a failed step below still removes the namespace.
        let mut lan = Lan {
            netns,
            server: None,
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &lan_if,
        ]);
        ip(&["link", "set", &lan_if, "netns", &lan.netns]);
        ip(&["addr", "add", &format!("{LAN_HOST}/24"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        let in_lan = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &lan.netns, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        in_lan(&["addr", "add", &format!("{LAN_SERVER}/24"), "dev", &lan_if]);
        in_lan(&["link", "set", &lan_if, "up"]);
        in_lan(&["link", "set", "lo", "up"]);
        let script = format!(
            "import socket\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('{LAN_SERVER}', {PORT})); s.listen(16)\n\
             print('ready', flush=True)\n\
             while True:\n    c, _ = s.accept(); c.sendall(b'lan\\n'); c.close()\n"
        );
        let mut server = Command::new("ip")
            .args(["netns", "exec", &lan.netns, "python3", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the LAN's server");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        lan.server = Some(server);
        assert_eq!(line.trim(), "ready", "the LAN's server did not start");
        lan
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        // Deleting the namespace removes the veth pair with it.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
    }
}

/// Whether the workspace gets the LAN server's answer, and what nc said.
async fn reaches_lan(berth: &berth_core::Berth, bot: &str) -> (bool, String) {
    let script = format!("nc -w 2 {LAN_SERVER} {PORT} </dev/null");
    let ran = exec(berth, bot, &["sh", "-c", &script], None)
        .await
        .expect("exec");
    (ran.stdout.trim() == "lan", format!("{ran:?}"))
}

/// The rules in the network namespace of the process `pid`.
fn rules_in(pid: u32, tool: &str) -> String {
    let out = Command::new("nsenter")
        .args([&format!("--net=/proc/{pid}/ns/net"), tool, "-S", "OUTPUT"])
        .output()
        .expect("nsenter");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn host_filter_table() -> String {
    let out = Command::new("iptables-save")
        .args(["-t", "filter"])
        .output()
        .expect("iptables-save");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The inode of a process's network namespace, and whether any process is still in it.
fn netns_inode(pid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino()
}

fn netns_in_use(inode: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|p| std::fs::metadata(p.path().join("ns/net")).is_ok_and(|m| m.ino() == inode))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_kept_off_private_networks_does_not_reach_the_lan() {
    let Some(env) = TestEnv::new("private_networks") else {
        return;
    };
    let berth = env.berth().await;
    if berth.status().await.network != NetworkMode::Cni {
        berth_tests::unavailable(
            "a_workspace_kept_off_private_networks_does_not_reach_the_lan",
            "CNI plugins are not installed",
        );
        return;
    }
    let lan = Lan::start();
    let bot = format!("lan-{}", berth_tests::suffix());
    create(&berth, &bot, &env.image(BUSYBOX))
        .await
        .0
        .expect("create");

    // Positive control: on the bridge, the LAN is reachable by default.
    let (ok, out) = reaches_lan(&berth, &bot).await;
    assert!(ok, "the workspace does not reach the LAN at all: {out}");

    // Blocked from the CLI, applied to the running workspace at once.
    let out = env.cli(&["network", &bot, "--block-private"], None);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("applied to the running workspace"), "{said}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("private networks:  blocked"));
    let (ok, out) = reaches_lan(&berth, &bot).await;
    assert!(!ok, "a blocked workspace reached the LAN: {out}");
    assert!(out.contains("No route to host"), "refused at once: {out}");

    // The workspace's resolvers stay reachable on port 53 (here the host's resolver is often
    // on a private address), and the rules are the workspace's alone.
    let pid = env.task_pid(&bot);
    let rules = rules_in(pid, "iptables");
    for ns in sh(&berth, &bot, "cat /etc/resolv.conf")
        .await
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .filter(|ns| !ns.contains(':'))
    {
        let accept = rules
            .find(&format!("-d {ns}/32 -p udp -m udp --dport 53 -j ACCEPT"))
            .unwrap_or_else(|| panic!("no exception for the resolver {ns}: {rules}"));
        assert!(accept < rules.find("-d 10.0.0.0/8").unwrap(), "{rules}");
    }
    assert!(rules.contains("-d 169.254.0.0/16 -j REJECT"), "{rules}");
    assert!(rules_in(pid, "ip6tables").contains("-d fe80::/10 -j REJECT"));
    assert!(
        !host_filter_table().contains("192.168.0.0/16"),
        "the host's firewall holds a workspace's rule"
    );

    // A restart keeps it (a new task, a new namespace: applied at start).
    berth.stop(&bot).await.unwrap();
    berth.start(&bot).await.unwrap();
    let (ok, out) = reaches_lan(&berth, &bot).await;
    assert!(!ok, "blocked no more after a restart: {out}");

    // And off again.
    let out = env.cli(&["network", &bot, "--allow-private", "--json"], None);
    assert!(out.status.success(), "{out:?}");
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["block_private_networks"], false, "{shown}");
    assert_eq!(shown["workspace_network"], "bridge", "{shown}");
    let (ok, out) = reaches_lan(&berth, &bot).await;
    assert!(ok, "unblocked but still refused: {out}");

    // Host networking and the block exclude each other, and saying so changes nothing.
    let out = env.cli(
        &["network", &bot, "--network", "host", "--block-private"],
        None,
    );
    assert!(!out.status.success());
    assert!(!berth.info(&bot).await.unwrap().host_network);

    // Nothing of the workspace's network is left once it is deleted.
    berth.set_block_private_networks(&bot, true).await.unwrap();
    let pid = env.task_pid(&bot);
    let inode = netns_inode(pid);
    berth.delete_bot(&bot).await.unwrap();
    assert!(
        !netns_in_use(inode),
        "the workspace's namespace outlived it"
    );
    assert!(!host_filter_table().contains("192.168.0.0/16"));
    drop(lan);
}

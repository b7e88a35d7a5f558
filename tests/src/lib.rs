//! Support for Berth's integration tests against a real containerd and the local test registry:
//! the service gate (fail under `CI`, skip otherwise), one containerd namespace and one data
//! directory per test, `ctr` for looking at containerd's state, and the `berth` binary.

pub mod appender;
pub mod daemon;
pub mod dir_watch;
pub mod file_events;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_core::model::{CreateEvent, PullPolicy};
use berth_core::{Berth, ExecRequest, ExitStatus, Options};
use berth_runtime::{PullEvent, PullSink};

/// The backend these tests run against, as the app and the CLI choose it.
pub fn connector() -> std::sync::Arc<dyn berth_core::Connector> {
    std::sync::Arc::new(berth_containerd::ContainerdConnector)
}

/// The images `scripts/build-test-images.py` pushes.
pub const BUSYBOX: &str = "berth-test/busybox:1";
pub const LAYERED: &str = "berth-test/layered:1";
pub const DOCKER: &str = "berth-test/docker:1";
pub const MULTI: &str = "berth-test/multi:1";

/// What every test needs from the machine, checked once per test binary.
#[derive(Debug, Clone)]
pub struct Services {
    pub socket: PathBuf,
    /// `127.0.0.1:5000`
    pub registry: String,
}

/// The service gate: containerd answers on `BERTH_CONTAINERD_SOCKET`, the registry on
/// `BERTH_TEST_REGISTRY` holds the test images, `ctr` and the static bridge exist. When something
/// is missing the test fails if `CI` is set, and is skipped (with a message saying why) otherwise.
pub fn services(test: &str) -> Option<Services> {
    static CHECKED: OnceLock<Result<Services, String>> = OnceLock::new();
    match CHECKED.get_or_init(check_services) {
        Ok(s) => Some(s.clone()),
        Err(why) => {
            unavailable(test, why);
            None
        }
    }
}

/// Fails under `CI`, prints a skip notice otherwise.
pub fn unavailable(test: &str, why: &str) {
    let hint =
        "start them with `scripts/services.sh start && python3 scripts/build-test-images.py \
                && scripts/build-bridge.sh`, then `eval \"$(scripts/services.sh env)\"`";
    if std::env::var_os("CI").is_some() {
        panic!("{test}: required test services are missing under CI: {why}; {hint}");
    }
    eprintln!("SKIPPED {test}: {why}; {hint}");
}

fn check_services() -> Result<Services, String> {
    let socket = std::env::var_os("BERTH_CONTAINERD_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .ok_or("BERTH_CONTAINERD_SOCKET is not set")?;
    let registry = std::env::var("BERTH_TEST_REGISTRY")
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or("BERTH_TEST_REGISTRY is not set")?;
    let version = Command::new("timeout")
        .args(["10", "ctr", "--address"])
        .arg(&socket)
        .arg("version")
        .output()
        .map_err(|e| format!("cannot run ctr: {e}"))?;
    if !version.status.success() {
        return Err(format!(
            "containerd does not answer on {}: {}",
            socket.display(),
            String::from_utf8_lossy(&version.stderr).trim()
        ));
    }
    let status = http_status(&registry, "/v2/")
        .map_err(|e| format!("registry {registry} does not answer: {e}"))?;
    if status != 200 {
        return Err(format!("registry {registry} answered {status} for /v2/"));
    }
    for image in [BUSYBOX, LAYERED, DOCKER, MULTI] {
        let (repo, tag) = image.split_once(':').unwrap();
        let status = http_status(&registry, &format!("/v2/{repo}/manifests/{tag}"))
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!(
                "test image {registry}/{image} is missing (HTTP {status})"
            ));
        }
    }
    if berth_core::find_bridge_binary(None).is_none() {
        return Err("the static bridge binary is missing (target/bridge/berth-bridge)".into());
    }
    Ok(Services { socket, registry })
}

/// A minimal HTTP/1.0 HEAD-like GET for the gate (keeps the gate free of an async runtime).
fn http_status(host: &str, path: &str) -> std::io::Result<u16> {
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let accept =
        "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json";
    write!(
        s,
        "HEAD {path} HTTP/1.0\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n"
    )?;
    let mut head = String::new();
    s.read_to_string(&mut head)?;
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP answer {head:?}")))
}

/// A random lower-case suffix, so names never collide between tests and runs.
pub fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// One test's world: its own containerd namespace and data directory. Dropping it removes
/// whatever the test left in the namespace (best effort; tests assert cleanliness themselves).
pub struct TestEnv {
    pub services: Services,
    pub socket: PathBuf,
    pub registry: String,
    pub ns: String,
    pub dir: tempfile::TempDir,
    /// State files of the salted image copies this test pushed (removed on drop).
    salted: std::sync::Mutex<Vec<PathBuf>>,
}

impl TestEnv {
    /// A new namespace `t-<name>-<random>` on the shared containerd.
    pub fn new(name: &str) -> Option<TestEnv> {
        let services = services(name)?;
        let socket = services.socket.clone();
        Some(Self::on(services, &socket, name))
    }

    /// Same, on another containerd socket (the restart tests' private daemon).
    pub fn on(services: Services, socket: &Path, name: &str) -> TestEnv {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        TestEnv {
            registry: services.registry.clone(),
            services,
            socket: socket.to_path_buf(),
            ns: format!("t-{clean}-{}", suffix()),
            dir: tempfile::Builder::new()
                .prefix("berth-t")
                .tempdir()
                .expect("temp dir"),
            salted: std::sync::Mutex::new(vec![]),
        }
    }

    /// A copy of `name` whose blobs containerd has never seen, so a pull really downloads:
    /// containerd shares content between namespaces, so a new namespace alone is not a cold
    /// pull. `scripts/salt-image.py` changes only gzip header bytes; unpacked files are identical.
    pub fn fresh_image(&self, name: &str) -> String {
        self.fresh_image_with(name, &[])
    }

    /// [`TestEnv::fresh_image`] with more arguments for `salt-image.py push`.
    pub fn fresh_image_with(&self, name: &str, args: &[&str]) -> String {
        let state = self.dir.path().join(format!("salt-{}.json", suffix()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/salt-image.py");
        let out = Command::new("python3")
            .arg(script)
            .args([
                "push",
                "--source",
                &self.image(name),
                "--count",
                "1",
                "--state",
            ])
            .arg(&state)
            .args(["--run", &self.ns])
            .args(args)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "salting {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.salted.lock().unwrap().push(state);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("a reference")
            .trim()
            .to_string()
    }

    /// `127.0.0.1:5000/berth-test/busybox:1`
    pub fn image(&self, name: &str) -> String {
        format!("{}/{name}", self.registry)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn options(&self) -> Options {
        Options {
            data_dir: Some(self.data_dir()),
            containerd_socket: Some(self.socket.clone()),
            namespace: Some(self.ns.clone()),
            bridge_binary: None,
            agent_env: vec![],
        }
    }

    /// Berth's core on this namespace and data directory.
    pub async fn berth(&self) -> Berth {
        let berth = Berth::open(self.options(), connector())
            .await
            .expect("Berth::open");
        let status = berth.status().await;
        assert!(
            status.connected,
            "Berth is not connected: {:?}",
            status.error
        );
        berth
    }

    /// The containerd backend directly.
    pub async fn runtime(&self) -> berth_containerd::ContainerdRuntime {
        berth_containerd::ContainerdRuntime::connect(
            &self.socket,
            &self.ns,
            &self.dir.path().join("net"),
        )
        .await
        .expect("connecting to containerd")
    }

    /// `ctr -a SOCK -n NS args…`, or its stderr.
    pub fn ctr_try(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("timeout")
            .args(["30", "ctr", "--address"])
            .arg(&self.socket)
            .args(["--namespace", &self.ns])
            .args(args)
            .output()
            .map_err(|e| format!("running ctr: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "ctr {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn ctr(&self, args: &[&str]) -> String {
        self.ctr_try(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The first column of a `ctr … ls` table, without its header.
    fn first_column(&self, args: &[&str]) -> Vec<String> {
        self.ctr(args)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect()
    }

    pub fn containers(&self) -> Vec<String> {
        lines(&self.ctr(&["containers", "ls", "-q"]))
    }
    /// `(id, status)` of every task.
    pub fn tasks(&self) -> Vec<(String, String)> {
        self.ctr(&["tasks", "ls"])
            .lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3).then(|| (f[0].to_string(), f[2].to_string()))
            })
            .collect()
    }
    /// The host pid of the running task of `bot`'s workspace.
    pub fn task_pid(&self, bot: &str) -> u32 {
        let id = berth_core::container_id(bot);
        self.ctr(&["tasks", "ls"])
            .lines()
            .skip(1)
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id.as_str()) && f.get(2) == Some(&"RUNNING"))
                    .then(|| f[1].parse().ok())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("{bot}'s workspace has no running task"))
    }
    pub fn images(&self) -> Vec<String> {
        lines(&self.ctr(&["images", "ls", "-q"]))
    }
    pub fn snapshots(&self) -> Vec<String> {
        self.first_column(&["snapshots", "ls"])
    }
    pub fn leases(&self) -> Vec<String> {
        lines(&self.ctr(&["leases", "ls", "-q"]))
    }
    pub fn content(&self) -> Vec<String> {
        lines(&self.ctr(&["content", "ls", "-q"]))
    }
    /// In-progress ingests (`ctr content active`).
    pub fn ingests(&self) -> Vec<String> {
        self.first_column(&["content", "active"])
    }

    /// Asserts the namespace holds nothing at all: what a failed or cancelled pull must leave.
    pub fn assert_namespace_empty(&self, context: &str) {
        let state = [
            ("images", self.images()),
            ("leases", self.leases()),
            ("ingests", self.ingests()),
            ("snapshots", self.snapshots()),
            ("content", self.content()),
            ("containers", self.containers()),
        ];
        for (what, found) in state {
            assert!(
                found.is_empty(),
                "{context}: {what} left in namespace {}: {found:?}",
                self.ns
            );
        }
    }

    /// Asserts no trace of a workspace: no container, task or writable layer `berth-<bot>`, no
    /// lease, no ingest.
    pub fn assert_no_workspace(&self, bot: &str, context: &str) {
        let id = berth_core::container_id(bot);
        assert!(
            !self.containers().contains(&id),
            "{context}: container {id} left behind"
        );
        assert!(
            !self.tasks().iter().any(|(t, _)| *t == id),
            "{context}: task {id} left behind"
        );
        assert!(
            !self.snapshots().contains(&id),
            "{context}: snapshot {id} left behind"
        );
        assert!(
            self.leases().is_empty(),
            "{context}: leases left behind: {:?}",
            self.leases()
        );
        assert!(
            self.ingests().is_empty(),
            "{context}: ingests left behind: {:?}",
            self.ingests()
        );
    }

    /// Runs the `berth` binary against this namespace and data directory.
    pub fn cli(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(berth_binary());
        cmd.args(args)
            .env("BERTH_CONTAINERD_SOCKET", &self.socket)
            .env("BERTH_NAMESPACE", &self.ns)
            .env("BERTH_DATA_DIR", self.data_dir())
            .env_remove("BERTH_LOG")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("running berth");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input).expect("writing berth's stdin");
        }
        child.wait_with_output().expect("waiting for berth")
    }

    /// Runs the CLI, which must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args, None);
        assert!(
            out.status.success(),
            "berth {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the CLI, which must fail with `want` in its message.
    pub fn cli_fails(&self, args: &[&str], want: &str) {
        let out = self.cli(args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "berth {} succeeded", args.join(" "));
        assert!(
            err.contains(want),
            "berth {}: {err:?} lacks {want:?}",
            args.join(" ")
        );
    }

    /// Removes what the test left: tasks, containers, images (with a synchronous GC), leases,
    /// snapshots, content, then the namespace itself.
    pub fn purge(&self) {
        // Workspaces first through the backend, which also releases their network (ctr cannot).
        let (socket, ns, net) = (
            self.socket.clone(),
            self.ns.clone(),
            self.dir.path().join("net"),
        );
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use berth_runtime::Runtime;
                let Ok(r) = berth_containerd::ContainerdRuntime::connect(&socket, &ns, &net).await
                else {
                    return;
                };
                for c in r.list().await.unwrap_or_default() {
                    let _ = r.delete(&c.id).await;
                }
            })
        })
        .join();
        let ctr = |args: &[&str]| self.ctr_try(args).unwrap_or_default();
        for t in lines(&ctr(&["tasks", "ls", "-q"])) {
            let _ = self.ctr_try(&["tasks", "kill", "-s", "SIGKILL", &t]);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.ctr_try(&["tasks", "rm", "-f", &t]).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        for c in lines(&ctr(&["containers", "ls", "-q"])) {
            let _ = self.ctr_try(&["containers", "rm", &c]);
        }
        for l in lines(&ctr(&["leases", "ls", "-q"])) {
            let _ = self.ctr_try(&["leases", "rm", &l]);
        }
        let images = lines(&ctr(&["images", "ls", "-q"]));
        if !images.is_empty() {
            let mut args = vec!["images", "rm", "--sync"];
            args.extend(images.iter().map(String::as_str));
            let _ = self.ctr_try(&args);
        }
        // Children before parents: a few rounds remove any chain.
        for _ in 0..8 {
            let snaps = self.first_column(&["snapshots", "ls"]);
            if snaps.is_empty() {
                break;
            }
            for s in snaps {
                let _ = self.ctr_try(&["snapshots", "rm", &s]);
            }
        }
        for c in lines(&ctr(&["content", "ls", "-q"])) {
            let _ = self.ctr_try(&["content", "rm", &c]);
        }
        let out = Command::new("timeout")
            .args(["10", "ctr", "--address"])
            .arg(&self.socket)
            .args(["namespaces", "rm", &self.ns])
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("note: namespace {} could not be removed", self.ns);
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.socket.exists() {
            self.purge();
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/salt-image.py");
        let storage =
            std::env::var_os("BERTH_TEST_ROOT").map(|r| PathBuf::from(r).join("registry"));
        for state in self.salted.lock().unwrap().drain(..) {
            let mut cmd = Command::new("python3");
            cmd.arg(&script).arg("clean").arg("--state").arg(&state);
            if let Some(s) = &storage {
                cmd.arg("--storage").arg(s);
            }
            let _ = cmd.output();
        }
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `berth` binary of this workspace, built (once per test binary) so it is never stale.
pub fn berth_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/debug/deps/<test> → target/debug/berth
        let exe = std::env::current_exe().expect("current exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = Command::new(cargo)
            .args(["build", "--quiet", "-p", "berth-cli", "--bin", "berth"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status();
        let bin = dir.join("berth");
        if !built.is_ok_and(|s| s.success()) {
            eprintln!(
                "note: `cargo build -p berth-cli` failed; using {} as it is",
                bin.display()
            );
        }
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo build -p berth-cli`",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Records every pull event.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<PullEvent>>,
}

impl Recorder {
    pub fn take(&self) -> Vec<PullEvent> {
        std::mem::take(&mut self.events.lock().unwrap())
    }
}

impl PullSink for Recorder {
    fn event(&self, event: PullEvent) {
        self.events.lock().unwrap().push(event);
    }
}

/// A manifest as the registry serves it (the index for multi-platform images).
pub async fn registry_manifest(registry: &str, image: &str) -> serde_json::Value {
    let (repo, tag) = image.split_once(':').unwrap();
    let resp = reqwest::Client::new()
        .get(format!("http://{registry}/v2/{repo}/manifests/{tag}"))
        .header(
            "Accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .await
        .expect("GET manifest");
    assert!(
        resp.status().is_success(),
        "GET manifest {image}: {}",
        resp.status()
    );
    resp.json().await.expect("manifest JSON")
}

/// `(digest, size)` of each layer of a manifest.
pub fn manifest_layers(manifest: &serde_json::Value) -> Vec<(String, u64)> {
    manifest["layers"]
        .as_array()
        .expect("manifest has layers")
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// What an exec printed and how it ended.
#[derive(Debug)]
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command in a bot's workspace through Berth, optionally feeding stdin.
pub async fn exec(
    berth: &Berth,
    bot: &str,
    argv: &[&str],
    stdin: Option<&[u8]>,
) -> berth_core::Result<Ran> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let req = ExecRequest::new(argv.iter().copied());
    let status = match stdin {
        Some(s) => {
            berth
                .exec(
                    bot,
                    req,
                    Some(std::io::Cursor::new(s.to_vec())),
                    &mut out,
                    &mut err,
                )
                .await?
        }
        None => {
            berth
                .exec(bot, req, None::<tokio::io::Empty>, &mut out, &mut err)
                .await?
        }
    };
    Ok(Ran {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    })
}

/// Runs a command that must succeed and returns its stdout.
pub async fn sh(berth: &Berth, bot: &str, script: &str) -> String {
    let ran = exec(berth, bot, &["sh", "-c", script], None)
        .await
        .expect("exec");
    assert_eq!(ran.status.code, Some(0), "`{script}` failed: {ran:?}");
    ran.stdout
}

/// Creates the bot and its workspace, recording the create events.
pub async fn create(
    berth: &Berth,
    bot: &str,
    image: &str,
) -> (
    berth_core::Result<berth_core::model::WorkspaceInfo>,
    Vec<CreateEvent>,
) {
    if berth.bots().unwrap().iter().all(|b| b.name != bot) {
        berth.create_bot(bot).expect("create bot");
    }
    let events = Mutex::new(Vec::new());
    let emit = |e: CreateEvent| events.lock().unwrap().push(e);
    let result = berth
        .create_workspace(bot, Some(image), Some(PullPolicy::IfNotPresent), &emit)
        .await;
    (result, events.into_inner().unwrap())
}

/// The architecture name the images use for this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Polls `f` until it returns Some or `timeout` passes.
pub async fn eventually<T>(timeout: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy to `upstream` that forwards responses at about `bytes_per_second`, so a pull
/// takes long enough to be interrupted at a known point. Returns its port and a counter of the
/// bytes sent to clients. Runs on the current tokio runtime.
pub async fn slow_proxy(
    upstream: &str,
    bytes_per_second: u64,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let (upstream, counter) = (upstream.to_string(), sent.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, counter) = (upstream.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let chunk = (bytes_per_second / 20).max(1) as usize;
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = match sr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
    });
    (port, sent)
}

/// The host's NAT rules that name a container (the CNI bridge plugin's ipMasq rules).
pub fn nat_rules(container_id: &str) -> Vec<String> {
    let out = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S"])
        .output()
        .expect("iptables");
    let needle = format!("id: \\\"{container_id}\\\"");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// Berth's one NAT rule for the workspace subnet is installed.
pub fn masquerade_rule_present() -> bool {
    let out = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", "POSTROUTING"])
        .output()
        .expect("iptables");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.contains("10.89.0.0/16") && l.contains("MASQUERADE"))
}

/// What the network still holds for a workspace: per-container NAT rules and host-local address
/// reservations (files named by address whose first line is the CNI container id
/// `<namespace>-<container id>`).
pub fn network_leftovers(ns: &str, container_id: &str) -> Vec<String> {
    let cni_id = format!("{ns}-{container_id}");
    let mut found = nat_rules(&cni_id);
    found.extend(nat_rules(container_id));
    if let Ok(dir) = std::fs::read_dir("/var/lib/cni/networks/berth") {
        for entry in dir.flatten() {
            let owner = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if owner.lines().next() == Some(cni_id.as_str()) {
                found.push(format!(
                    "address {} reserved",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

/// VmHWM / VmRSS of a process in KiB.
pub fn mem_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs the CLI, sampling its peak RSS until it exits; returns (success, stderr, peak KiB, time).
pub fn cli_peak(env: &TestEnv, args: &[&str]) -> (bool, String, u64, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new(berth_binary())
        .args(args)
        .env("BERTH_CONTAINERD_SOCKET", &env.socket)
        .env("BERTH_NAMESPACE", &env.ns)
        .env("BERTH_DATA_DIR", env.data_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0;
    loop {
        if let Some(h) = mem_kib(child.id(), "VmHWM:") {
            peak = peak.max(h);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let ok = child.wait().unwrap().success();
    (ok, err, peak, t0.elapsed())
}

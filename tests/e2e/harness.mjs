// The set-up every real-app e2e test shares: paths and binaries, the prerequisites (skip, or fail
// under CI), a private containerd namespace and data directory, tauri-driver launching the app
// through a wrapper that keeps its log, the `berth` CLI with the app's environment, screenshots,
// and a cleanup that leaves no process, workspace, image, lease or namespace behind.
//
//   const app = new RealApp("files");            // screenshots/files-*.png, files-app.log
//   describe("…", { skip: app.skip }, () => {
//     before(() => app.start({ workspace: { bot, image } }));
//     after(() => app.stop([bot]));
//   });
//
// Environment: BERTH_CONTAINERD_SOCKET, BERTH_TEST_REGISTRY (from `scripts/services.sh env`);
// optional BERTH_E2E_APP / BERTH_E2E_CLI / TAURI_DRIVER / WEBKIT_WEBDRIVER override binaries.

import { it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Session, waitFor, waitForServer } from "./webdriver.mjs";

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(HERE, "../..");
export const SHOTS = join(HERE, "screenshots");
export const APP = resolve(process.env.BERTH_E2E_APP ?? join(ROOT, "target/debug/berth-app"));
export const CLI = resolve(process.env.BERTH_E2E_CLI ?? join(ROOT, "target/debug/berth"));
export const SOCKET = process.env.BERTH_CONTAINERD_SOCKET;
export const REGISTRY = process.env.BERTH_TEST_REGISTRY;
/** The small test image (`scripts/build-test-images.py`). */
export const BUSYBOX = `${REGISTRY}/berth-test/busybox:1`;

export const log = (...a) => console.log(...a);

export function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir || ".", cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}

export const TAURI_DRIVER = process.env.TAURI_DRIVER ?? which("tauri-driver") ?? join(homedir(), ".cargo/bin/tauri-driver");
export const NATIVE_DRIVER = process.env.WEBKIT_WEBDRIVER ?? which("WebKitWebDriver") ?? "/usr/bin/WebKitWebDriver";

/** Shell quoting for the wrapper script. */
export const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

/** What is missing to run a real-app test (empty when nothing is). */
function missingPrerequisites() {
  const missing = [];
  if (process.platform !== "linux") missing.push("Linux (WebKitWebDriver)");
  if (!process.env.DISPLAY) missing.push("an X display (DISPLAY; run under xvfb-run or scripts/e2e.sh)");
  for (const [what, p] of [["app binary", APP], ["CLI binary", CLI], ["tauri-driver", TAURI_DRIVER], ["WebKitWebDriver", NATIVE_DRIVER]]) {
    if (!existsSync(p)) missing.push(`${what} (${p})`);
  }
  if (!SOCKET || !existsSync(SOCKET)) missing.push(`containerd socket (BERTH_CONTAINERD_SOCKET=${SOCKET ?? ""}; scripts/services.sh start)`);
  if (!REGISTRY && !process.env.BERTH_E2E_IMAGE) missing.push('BERTH_TEST_REGISTRY (eval "$(scripts/services.sh env)")');
  return missing;
}

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

// --- process tree (/proc) -----------------------------------------------------

export function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const fields = s.slice(close + 2).split(" ");
    return { pid, comm, state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return null;
  }
}

function allProcs() {
  return readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number).map(procStat).filter(Boolean);
}

/** All descendants of `root` (not including it). */
export function descendants(root) {
  const kids = new Map();
  for (const p of allProcs()) {
    if (!kids.has(p.ppid)) kids.set(p.ppid, []);
    kids.get(p.ppid).push(p);
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    for (const c of kids.get(stack.pop()) ?? []) {
      out.push(c);
      stack.push(c.pid);
    }
  }
  return out;
}

// --- one app under tauri-driver -------------------------------------------------

export class RealApp {
  /** `name` prefixes the namespace, the screenshots and the logs. */
  constructor(name) {
    this.name = name;
    this.ns = `e2e-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const missing = missingPrerequisites();
    /** The `skip` option of the test's describe: false, or why it is skipped. */
    this.skip = missing.length ? `missing: ${missing.join("; ")}` : false;
    // In CI a missing prerequisite is a failure, never a quiet skip.
    if (this.skip && process.env.CI) it(`${name} e2e prerequisites`, () => assert.fail(this.skip));
    this.env = null;
    this.tmp = null;
    this.driver = null;
    this.session = null;
  }

  /** A fresh data directory and namespace, tauri-driver, and a session on the app. With
   *  `workspace: { bot, image }` the CLI creates that workspace first (the app adopts it), then
   *  `prepare()` runs (e.g. files written with `berth exec`). */
  async start({ workspace, prepare, env = {} } = {}) {
    this.setUp({ env });
    if (workspace) this.cliOk("create", workspace.bot, "--image", workspace.image, "--pull", "if-not-present");
    await prepare?.();
    const base = await this.startDriver();
    await this.openSession(base);
  }

  /** The temporary directory and the environment of the app and the CLI (plus `env`). */
  setUp({ env = {} } = {}) {
    mkdirSync(SHOTS, { recursive: true });
    this.tmp = mkdtempSync(join(tmpdir(), `berth-e2e-${this.name}-`));
    this.env = {
      ...process.env,
      BERTH_DATA_DIR: join(this.tmp, "data"),
      BERTH_CONTAINERD_SOCKET: SOCKET,
      BERTH_NAMESPACE: this.ns,
      // Keep WebKit's storage (localStorage: language) and any settings out of the user's home.
      XDG_DATA_HOME: join(this.tmp, "xdg-data"),
      XDG_CONFIG_HOME: join(this.tmp, "xdg-config"),
      XDG_CACHE_HOME: join(this.tmp, "xdg-cache"),
      LANGUAGE: "en",
      // No accessibility bus under Xvfb; saves a warning and a timeout.
      NO_AT_BRIDGE: "1",
      NO_COLOR: "1",
      ...env,
    };
  }

  /** Starts tauri-driver (its log: screenshots/<name>-tauri-driver.log); returns its URL. */
  async startDriver() {
    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(this.file("tauri-driver.log"), "w");
    this.driver = spawn(TAURI_DRIVER, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER], {
      env: this.env,
      stdio: ["ignore", out, out],
    });
    this.driver.on("exit", (code, sig) => log(`${this.name}: tauri-driver exited (${code ?? sig})`));
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);
    return base;
  }

  /** A WebDriver session on the app (or on `program`). The app logs to stdout, which
   *  tauri-driver drops: a wrapper keeps both streams in screenshots/<name>-app.log. `prelude`:
   *  shell lines the wrapper runs first. */
  async openSession(base, { program = APP, prelude = "" } = {}) {
    const wrapper = join(this.tmp, "berth-app");
    writeFileSync(wrapper, `#!/bin/sh\n${prelude}exec ${shq(program)} "$@" >>${shq(this.file("app.log"))} 2>&1\n`, { mode: 0o755 });
    this.session = await Session.create(base, { "tauri:options": { application: wrapper } });
    return this.session;
  }

  /** screenshots/<name>-<what>. */
  file(what) {
    return join(SHOTS, `${this.name}-${what}`);
  }

  /** `berth <args>` with the app's environment: { code, stdout, stderr }. */
  cli(...args) {
    const r = spawnSync(CLI, args, { env: this.env, encoding: "utf8", timeout: 120_000 });
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** `berth <args>` that must succeed; its stdout. */
  cliOk(...args) {
    const r = this.cli(...args);
    assert.equal(r.code, 0, `berth ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  }

  /** `berth info BOT --json`, or { missing } when it fails. */
  cliState(bot) {
    const r = this.cli("info", bot, "--json");
    if (r.code !== 0) return { missing: true, stderr: r.stderr.trim() };
    return JSON.parse(r.stdout);
  }

  /** Saves a screenshot as screenshots/<name>-<what>.png (or `file`); returns the file, null
   *  when it could not be taken. With `settleMs`, first waits two animation frames and that
   *  long, so the last DOM change is painted: under load (e.g. while /data is compressed) WebKit
   *  paints late and an immediate screenshot shows an older frame. Waiting changes the timing
   *  of the test, so it is asked for, not the default. */
  async shot(what, { file = this.file(`${what}.png`), settleMs = 0 } = {}) {
    if (!this.session) return null;
    try {
      if (settleMs > 0) {
        await this.session
          .executeAsync(
            `const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => done(true), ${settleMs})));`,
          )
          .catch(() => {});
      }
      // WebKit's WebDriver takes the screenshot after the view's next update, and without
      // accelerated compositing (src-tauri/src/webview.rs) a page where nothing changes has
      // none: an invisible pixel changes every frame until the screenshot is taken.
      await this.session.execute(
        `const px = document.createElement("div");
         px.style.cssText = "position:fixed;left:0;top:0;width:1px;height:1px;pointer-events:none";
         document.body.append(px);
         let n = 0;
         const tick = () => {
           if (!px.isConnected) return;
           px.style.background = n++ % 2 ? "rgba(0,0,0,0.01)" : "rgba(0,0,0,0.02)";
           requestAnimationFrame(tick);
         };
         tick();
         window.__berthShotPixel = px;`,
      );
      try {
        writeFileSync(file, await this.session.screenshot());
      } finally {
        await this.session.execute("window.__berthShotPixel?.remove();").catch(() => {});
      }
      return file;
    } catch (e) {
      log(`screenshot ${what} failed: ${e.message}`);
      return null;
    }
  }

  async clickWhenEnabled(selector, timeoutMs = 15_000) {
    const el = await this.session.waitForElement(selector, { timeoutMs });
    await waitFor(`${selector} enabled`, () => this.session.enabled(el), { timeoutMs });
    await this.session.click(el);
  }

  /** Ends the session (after a last screenshot unless `finalShot` is false) and every process
   *  under tauri-driver, deletes `bots` and the namespace's images, leases and the namespace
   *  itself, and the temporary directory. */
  async stop(bots = [], { finalShot = true } = {}) {
    if (this.session) {
      if (finalShot) await this.shot("final");
      await this.session.delete().catch((e) => log(`delete session: ${e.message}`));
    }
    if (this.driver) this.killDriverTree();
    if (this.env) {
      for (const bot of bots) {
        const rm = this.cli("rm", bot);
        log(`berth rm ${bot}: ${rm.code === 0 ? "ok" : rm.stderr.trim()}`);
      }
      this.cleanupNamespace();
    }
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
  }

  /** Everything under our tauri-driver is ours: WebKitWebDriver, berth-app, WebKit helpers. */
  killDriverTree() {
    const tree = descendants(this.driver.pid);
    this.driver.kill("SIGTERM");
    spawnSync("sleep", ["0.5"]);
    for (const p of [this.driver.pid, ...tree.map((p) => p.pid)]) {
      const st = procStat(p);
      if (st && st.state !== "Z") {
        try {
          process.kill(p, "SIGKILL");
          log(`killed leftover ${st.comm} (${p})`);
        } catch {}
      }
    }
  }

  /** Best effort: images and leases of the namespace, then the namespace (containerd's GC frees
   *  the snapshots), so repeated runs don't pile up. Needs `ctr`. */
  cleanupNamespace() {
    const ctr = which("ctr");
    if (!ctr) return;
    const run = (...a) => spawnSync(ctr, ["--address", SOCKET, ...a], { encoding: "utf8", timeout: 20_000 });
    const lines = (r) => r.stdout?.split("\n").filter(Boolean) ?? [];
    const images = lines(run("-n", this.ns, "images", "ls", "-q"));
    if (images.length) run("-n", this.ns, "images", "rm", "--sync", ...images);
    for (const lease of lines(run("-n", this.ns, "leases", "ls", "-q"))) run("-n", this.ns, "leases", "rm", lease);
    let r;
    for (let i = 0; i < 5 && (r = run("namespaces", "rm", this.ns)).status !== 0; i++) spawnSync("sleep", ["1"]);
    log(`namespace ${this.ns}: ${r.status === 0 ? "removed" : `not removed: ${(r.stderr ?? "").trim()}`}`);
  }
}

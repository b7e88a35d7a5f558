// The real app as a normal user (BERTH_ROOTLESS_USER, `berth-ci` from scripts/test.sh): the app,
// WebKit and tauri-driver run as that user against Berth's own rootless containerd. Through the
// window: the daemon is started from the banner, a bot and its workspace are created, a shell
// in the Terminal tab shows it runs as root of the workspace, and Files lists and opens a file
// written there. From outside, every process of the app, the daemon and the workspace belongs to
// the user, and stopping the daemon leaves none running.
//
// The test itself runs as root (scripts/e2e.sh); `setpriv` drops to the user for tauri-driver
// and for the `berth` CLI that checks state from outside.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APP, BUSYBOX, CLI, NATIVE_DRIVER, RealApp, TAURI_DRIVER, descendants, freePort, log, procStat } from "./harness.mjs";
import { Keys, waitFor, waitForServer } from "./webdriver.mjs";

const USER = process.env.BERTH_ROOTLESS_USER ?? "berth-ci";
const BOT = "e2e-rootless";

function idOf(flag) {
  const r = spawnSync("id", [flag, USER], { encoding: "utf8" });
  return r.status === 0 ? Number(r.stdout.trim()) : null;
}
const UID = idOf("-u");
const GID = idOf("-g");

/** The real-app harness with the app, the driver and the CLI run as the user. */
class UserApp extends RealApp {
  setUp(opts) {
    super.setUp(opts);
    // The user's own directory, not root's temporary one.
    rmSync(this.tmp, { recursive: true, force: true });
    this.tmp = mkdtempSync(join(tmpdir(), "berth-e2e-rootless-"));
    chownSync(this.tmp, UID, GID);
    const env = {
      HOME: this.tmp,
      USER,
      // Debian's PATH for a normal user: no sbin directories.
      PATH: "/usr/local/bin:/usr/bin:/bin",
      DISPLAY: process.env.DISPLAY,
      BERTH_DATA_DIR: join(this.tmp, "data"),
      XDG_DATA_HOME: join(this.tmp, "xdg-data"),
      XDG_CONFIG_HOME: join(this.tmp, "xdg-config"),
      XDG_CACHE_HOME: join(this.tmp, "xdg-cache"),
      XDG_RUNTIME_DIR: join(this.tmp, "run"),
      LANGUAGE: "en",
      NO_AT_BRIDGE: "1",
      NO_COLOR: "1",
      BERTH_LOG: "info",
    };
    // xvfb-run's cookie file is root's: the user gets a copy.
    if (process.env.XAUTHORITY) {
      env.XAUTHORITY = join(this.tmp, "Xauthority");
      copyFileSync(process.env.XAUTHORITY, env.XAUTHORITY);
      chownSync(env.XAUTHORITY, UID, GID);
    }
    this.env = env;
    this.user(["mkdir", "-m", "0700", env.XDG_RUNTIME_DIR]);
  }

  /** `argv` as the user, with the app's environment. */
  asUser(argv) {
    const env = Object.entries(this.env).map(([k, v]) => `${k}=${v}`);
    return ["setpriv", `--reuid=${UID}`, `--regid=${GID}`, "--init-groups", "--", "env", "-i", ...env, ...argv];
  }

  user(argv) {
    const [cmd, ...args] = this.asUser(argv);
    return spawnSync(cmd, args, { encoding: "utf8", timeout: 120_000 });
  }

  cli(...args) {
    const r = this.user([CLI, ...args]);
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  async startDriver() {
    // root's cargo directory is closed to the user: the driver runs from a copy.
    const driver = join(this.tmp, "tauri-driver");
    copyFileSync(TAURI_DRIVER, driver);
    chmodSync(driver, 0o755);
    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(this.file("tauri-driver.log"), "w");
    const [cmd, ...args] = this.asUser([driver, "--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER]);
    this.driver = spawn(cmd, args, { stdio: ["ignore", out, out] });
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);
    return base;
  }

  async openSession(base) {
    // The app's log is written by the user: it goes to the user's directory.
    this.appLog = join(this.tmp, "app.log");
    const session = await super.openSession(base);
    return session;
  }

  file(what) {
    return what === "app.log" && this.appLog ? this.appLog : super.file(what);
  }

  /** The session and the driver's tree, the bot, then the daemon with everything it ran, and
   *  the user's directory. Repeatable. */
  async teardown() {
    if (this.session) await this.session.delete().catch((e) => log(`delete session: ${e.message}`));
    this.session = null;
    if (this.driver) this.killDriverTree();
    this.driver = null;
    if (this.env) {
      // The daemon the window started outlives the window.
      this.outlived = JSON.parse(this.cli("system", "status", "--json").stdout || "{}").connected === true;
      log(`berth rm ${BOT}: ${JSON.stringify(this.cli("rm", BOT))}`);
      const r = this.cli("system", "stop");
      log(`berth system stop: ${JSON.stringify(r)}`);
      this.env = null;
      return r;
    }
    return null;
  }
}

const app = new UserApp("rootless");
if (UID === null && !app.skip) app.skip = `no user ${USER} (scripts/test.sh creates it)`;
if (UID === null && process.env.CI) it("rootless e2e prerequisites", () => assert.fail(`no user ${USER}`));

let session;
const term = () =>
  session.execute(`const h = window.__berthTerminal; return h ? { id: h.id(), text: h.text() } : null;`);

/** Processes of the user that are not zombies. */
function userProcesses() {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((pid) => {
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        return uid === UID && !/^State:\s+Z/m.test(status) ? procStat(Number(pid)) : null;
      } catch {
        return null;
      }
    })
    .filter(Boolean);
}

describe("the real app as a normal user, on a rootless containerd", { skip: app.skip }, () => {
  before(async () => {
    app.setUp();
    log(`user ${USER} (${UID}), data ${app.env.BERTH_DATA_DIR}, app ${APP}`);
    const base = await app.startDriver();
    session = await app.openSession(base);
  });

  after(async () => {
    await app.teardown();
    if (app.tmp) rmSync(app.tmp, { recursive: true, force: true });
  });

  it("starts Berth's own containerd, creates a workspace, and works in it", async () => {
    // Nothing answers yet: the banner says Berth runs its own containerd as the user, and
    // offers to start it.
    await session.waitForElement('[data-testid="banner-own"]', { timeoutMs: 30_000 });
    await app.shot("banner", { settleMs: 100 });
    await app.clickWhenEnabled('[data-testid="run-managed"]', 30_000);
    await waitFor("connected", async () => (await session.execute(`return !document.querySelector('[data-testid="containerd-banner"]')`)) || null, {
      timeoutMs: 30_000,
    });
    const status = JSON.parse(app.cli("system", "status", "--json").stdout);
    assert.equal(status.rootless, true, JSON.stringify(status));
    assert.equal(status.managed, true, JSON.stringify(status));
    await app.shot("connected", { settleMs: 100 });

    await app.clickWhenEnabled('[data-testid="add-bot"]');
    await session.sendKeys(await session.waitForElement('[data-testid="add-bot-input"]'), BOT + Keys.ENTER);
    const image = await session.waitForElement('[data-testid="image-input"]');
    await session.clear(image);
    await session.sendKeys(image, BUSYBOX);
    await app.clickWhenEnabled('[data-testid="create-workspace"]');
    await waitFor("Running", () => (app.cliState(BOT).state === "running" ? true : null), { timeoutMs: 90_000, intervalMs: 500 });
    await session.waitForElement('[data-testid="limits-unavailable"]', { timeoutMs: 15_000 });
    await waitFor("the workspace's details", async () => {
      const shown = await session.execute(`return document.querySelector('[data-testid="ws-image"]')?.textContent ?? ""`);
      return shown.includes("busybox") ? true : null;
    }, { timeoutMs: 15_000 });
    const badge = await session.execute(`return document.querySelector('[data-testid="connection-badge"]')?.textContent ?? ""`);
    assert.match(badge, /rootless/);
    await app.shot("running", { settleMs: 100 });

    // The terminal: root of the workspace, which is the user outside.
    await app.clickWhenEnabled('[data-tab="terminal"]');
    await waitFor("a shell prompt", async () => ((await term())?.text.includes("/data #") ? true : null), { timeoutMs: 20_000 });
    const input = await session.waitForElement(".xterm-helper-textarea", { displayed: false });
    await session.sendKeys(input, "echo uid=$(id -u) > /data/who.txt; cat /data/who.txt" + Keys.ENTER);
    await waitFor("the shell's output", async () => ((await term()).text.split("\n").some((l) => l.trim() === "uid=0") ? true : null), {
      timeoutMs: 10_000,
    });
    await app.shot("terminal", { settleMs: 100 });

    // Files: the file the shell wrote, opened in the editor.
    await app.clickWhenEnabled('[data-tab="files"]');
    const row = '[data-testid="files-row"][data-name="who.txt"]';
    await session.click(await session.waitForElement(row, { timeoutMs: 30_000 }));
    await session.sendKeys(await session.find('[data-testid="files-list"]'), Keys.ENTER);
    const content = await session.waitForElement('[data-testid="file-editor"] .cm-content', { timeoutMs: 30_000 });
    await waitFor("the file in the editor", async () => ((await session.text(content)).includes("uid=0") ? true : null), { timeoutMs: 15_000 });
    // A file made inside the workspace appears in the listing by itself (the bridge's watch).
    await app.clickWhenEnabled('[data-tab="files"]');
    await session.waitForElement(row, { timeoutMs: 15_000 });
    assert.equal(app.cli("exec", BOT, "--", "sh", "-c", "echo new > /data/watched.txt").code, 0);
    await session.waitForElement('[data-testid="files-row"][data-name="watched.txt"]', { timeoutMs: 15_000 });
    await app.shot("files", { settleMs: 100 });

    // Everything the app started runs as the user: the app, WebKit, the daemon, the workspace.
    const appTree = descendants(app.driver.pid);
    assert.ok(appTree.some((p) => p.comm === "berth-app"), "the app runs under the driver");
    const mine = userProcesses().map((p) => p.comm);
    for (const comm of ["berth-app", "rootlesskit", "containerd", "slirp4netns"]) {
      assert.ok(mine.includes(comm), `${comm} runs as ${USER}: ${mine.join(" ")}`);
    }
    assert.ok(mine.some((c) => c.startsWith("containerd-shim")), `the shim runs as ${USER}`);
  });

  it("leaves no process of the user once the app is closed and the daemon stopped", async () => {
    await app.shot("final");
    const r = await app.teardown();
    assert.equal(app.outlived, true, "the daemon started from the window outlives the window");
    assert.equal(r?.code, 0, r?.stderr);
    assert.deepEqual(userProcesses().map((p) => `${p.comm}(${p.pid})`), []);
  });
});

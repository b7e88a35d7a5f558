// The Terminal page in the real app (berth-app under tauri-driver + WebKitWebDriver) against a
// real workspace: type `echo hello-<random>` and see it in the xterm buffer, switch to another
// page and back and see the same scrollback, resize the window and see `stty size` follow.
//
//   eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/terminal.test.mjs
//
// Needs the debug app and CLI built (cargo build -p berth-app -p berth-cli, after
// `npm --prefix ui run build`), the static bridge (scripts/build-bridge.sh) and the test images.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Keys, Session, waitFor, waitForServer } from "./webdriver.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const SHOTS = join(HERE, "screenshots");
const APP = resolve(process.env.BERTH_E2E_APP ?? join(ROOT, "target/debug/berth-app"));
const CLI = resolve(process.env.BERTH_E2E_CLI ?? join(ROOT, "target/debug/berth"));
const SOCKET = process.env.BERTH_CONTAINERD_SOCKET;
const REGISTRY = process.env.BERTH_TEST_REGISTRY;
const IMAGE = `${REGISTRY}/berth-test/busybox:1`;
const BOT = "e2e-term";
const NS = `e2e-term-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    const p = join(dir || ".", cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}
const TAURI_DRIVER = process.env.TAURI_DRIVER ?? which("tauri-driver") ?? join(homedir(), ".cargo/bin/tauri-driver");
const NATIVE_DRIVER = process.env.WEBKIT_WEBDRIVER ?? which("WebKitWebDriver") ?? "/usr/bin/WebKitWebDriver";

const missing = [];
if (!process.env.DISPLAY) missing.push("an X display");
for (const [what, p] of [["app", APP], ["CLI", CLI], ["tauri-driver", TAURI_DRIVER], ["WebKitWebDriver", NATIVE_DRIVER]]) {
  if (!existsSync(p)) missing.push(`${what} (${p})`);
}
if (!SOCKET || !existsSync(SOCKET)) missing.push("containerd socket (BERTH_CONTAINERD_SOCKET)");
if (!REGISTRY) missing.push("BERTH_TEST_REGISTRY");
const SKIP = missing.length ? `missing: ${missing.join("; ")}` : false;
if (SKIP && process.env.CI) it("terminal e2e prerequisites", () => assert.fail(SKIP));

const log = (...a) => console.log(...a);
const freePort = () =>
  new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

let tmp;
let env;
let driver;
let session;

function cli(...args) {
  const r = spawnSync(CLI, args, { env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function shot(name) {
  try {
    writeFileSync(join(SHOTS, `terminal-${name}.png`), await session.screenshot());
  } catch (e) {
    log(`screenshot ${name}: ${e.message}`);
  }
}

/** The visible terminal's buffer text, id and size (through the view's read-only hook). */
const term = () =>
  session.execute(`const h = window.__berthTerminal; return h ? { id: h.id(), text: h.text(), rows: h.rows(), cols: h.cols() } : null;`);

async function typeLine(text) {
  const input = await session.waitForElement(".xterm-helper-textarea", { displayed: false });
  await session.sendKeys(input, text + Keys.ENTER);
}

/** Lines of the buffer equal to `line` (output lines, not the echoed command). */
const countLine = (text, line) => text.split("\n").filter((l) => l.trim() === line).length;

describe("Terminal page end to end", { skip: SKIP }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), "berth-e2e-term-"));
    env = {
      ...process.env,
      BERTH_DATA_DIR: join(tmp, "data"),
      BERTH_CONTAINERD_SOCKET: SOCKET,
      BERTH_NAMESPACE: NS,
      XDG_DATA_HOME: join(tmp, "xdg-data"),
      XDG_CONFIG_HOME: join(tmp, "xdg-config"),
      XDG_CACHE_HOME: join(tmp, "xdg-cache"),
      LANGUAGE: "en",
      NO_AT_BRIDGE: "1",
      NO_COLOR: "1",
    };
    const created = cli("create", BOT, "--image", IMAGE, "--pull", "if-not-present");
    assert.equal(created.code, 0, created.stderr);

    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(join(SHOTS, "terminal-tauri-driver.log"), "w");
    driver = spawn(TAURI_DRIVER, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER], {
      env,
      stdio: ["ignore", out, out],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);
    const wrapper = join(tmp, "berth-app");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${shq(APP)} "$@" >>${shq(join(SHOTS, "terminal-app.log"))} 2>&1\n`, { mode: 0o755 });
    session = await Session.create(base, { "tauri:options": { application: wrapper } });
    await session.waitForElement(`nav.list [data-bot="${BOT}"]`, { timeoutMs: 30_000 });
  });

  after(async () => {
    if (session) {
      await shot("final");
      await session.delete().catch(() => {});
    }
    driver?.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    if (env) {
      const rm = cli("rm", BOT);
      log(`berth rm ${BOT}: ${rm.code === 0 ? "ok" : rm.stderr.trim()}`);
      // The image (pulled into our namespace) and any lease, then the namespace itself.
      const run = (...a) => spawnSync(which("ctr") ?? "ctr", ["--address", SOCKET, ...a], { encoding: "utf8", timeout: 20_000 });
      const images = run("-n", NS, "images", "ls", "-q").stdout?.split("\n").filter(Boolean) ?? [];
      if (images.length) run("-n", NS, "images", "rm", "--sync", ...images);
      for (const lease of run("-n", NS, "leases", "ls", "-q").stdout?.split("\n").filter(Boolean) ?? []) run("-n", NS, "leases", "rm", lease);
      const r = run("namespaces", "rm", NS);
      log(`namespace ${NS}: ${r.status === 0 ? "removed" : `not removed: ${(r.stderr ?? "").trim()}`}`);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("opens a shell, keeps its scrollback across pages, and follows window resizes", async () => {
    await session.click(await session.find(`nav.list [data-bot="${BOT}"]`));
    await session.click(await session.waitForElement('[data-tab="terminal"]'));
    // A shell opens by itself on a running workspace; the prompt shows /data.
    const first = await waitFor("a shell prompt", async () => {
      const t = await term();
      return t && t.id && t.text.includes("/data #") ? t : null;
    }, { timeoutMs: 20_000 });
    log(`session ${first.id}, ${first.rows}x${first.cols}`);

    const marker = `hello-${Math.random().toString(36).slice(2, 10)}`;
    await typeLine(`echo ${marker}`);
    await waitFor(`${marker} as an output line`, async () => countLine((await term()).text, marker) >= 1, { timeoutMs: 10_000 });
    await shot("echo");

    // Copy on selection and Ctrl+Shift+V, with the real mouse and keyboard: double-click the
    // output word (xterm selects it, the view copies it), then paste it at the prompt.
    const pos = await session.execute(`const h = window.__berthTerminal;
      const lines = h.text().split("\\n"); const r = document.querySelector(".xterm-screen").getBoundingClientRect();
      return { line: lines.findIndex((l) => l.trim() === ${JSON.stringify(marker)}) - window.__berthTerminal.text().split("\\n").length + h.rows(),
               x: r.left, y: r.top, w: r.width / h.cols(), h: r.height / h.rows() };`);
    const x = Math.round(pos.x + pos.w * 3);
    const y = Math.round(pos.y + pos.h * (pos.line + 0.5));
    await session.cmd("POST", "/actions", { actions: [{ type: "pointer", id: "mouse", parameters: { pointerType: "mouse" }, actions: [
      { type: "pointerMove", x, y, origin: "viewport" },
      { type: "pointerDown", button: 0 }, { type: "pointerUp", button: 0 },
      { type: "pointerDown", button: 0 }, { type: "pointerUp", button: 0 },
    ] }] });
    await new Promise((r) => setTimeout(r, 300));
    const CTRL = "\uE009";
    const SHIFT = "\uE008";
    await session.cmd("POST", "/actions", { actions: [{ type: "key", id: "kbd", actions: [
      { type: "keyDown", value: CTRL }, { type: "keyDown", value: SHIFT }, { type: "keyDown", value: "V" },
      { type: "keyUp", value: "V" }, { type: "keyUp", value: SHIFT }, { type: "keyUp", value: CTRL },
    ] }] });
    await waitFor("the pasted word at the prompt", async () => (await term()).text.split("\n").some((l) => l.trim() === `/data # ${marker}`), { timeoutMs: 5_000 });
    await typeLine(""); // runs the pasted word: "not found", harmless
    await shot("pasted");

    // Away (Overview) and back: the same session, its scrollback replayed from Rust.
    await session.click(await session.find('[data-tab="overview"]'));
    await waitFor("the terminal view to go away", async () => (await term()) === null, { timeoutMs: 5_000 });
    await session.click(await session.find('[data-tab="terminal"]'));
    const back = await waitFor("the replayed scrollback", async () => {
      const t = await term();
      return t && t.id && countLine(t.text, marker) >= 1 ? t : null;
    }, { timeoutMs: 10_000 });
    assert.equal(back.id, first.id, "the same session after switching pages");
    await shot("after-switch");

    // A full-screen program draws in the terminal (busybox top), and q leaves it.
    await typeLine("top");
    await waitFor("top's screen", async () => /Mem: .*used/.test((await term()).text) && /PID\s+PPID/.test((await term()).text), { timeoutMs: 10_000 });
    await shot("top");
    const input = await session.waitForElement(".xterm-helper-textarea", { displayed: false });
    await session.sendKeys(input, "q");
    await typeLine("clear; echo ''; echo $((6*7))-''done");
    await waitFor("the shell back after top", async () => countLine((await term()).text, "42-done") >= 1, { timeoutMs: 10_000 });

    // Resize the window: the view refits, the PTY follows, `stty size` reports it.
    const before = await term();
    await session.cmd("POST", "/window/rect", { width: 900, height: 560 });
    const resized = await waitFor("a new terminal size", async () => {
      const t = await term();
      return t && (t.rows !== before.rows || t.cols !== before.cols) ? t : null;
    }, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 300)); // the resize call is in flight
    await typeLine("stty size");
    const want = `${resized.rows} ${resized.cols}`;
    await waitFor(`stty size = ${want}`, async () => countLine((await term()).text, want) >= 1, { timeoutMs: 10_000 });
    log(`resized ${before.rows}x${before.cols} -> ${want}`);
    await shot("resized");

    // Reloading the window keeps the session and its scrollback (they live in Rust).
    await session.cmd("POST", "/refresh", {});
    await session.click(await session.waitForElement(`nav.list [data-bot="${BOT}"]`, { timeoutMs: 20_000 }));
    await session.click(await session.waitForElement('[data-tab="terminal"]'));
    const reloaded = await waitFor("the session after a reload", async () => {
      const t = await term();
      return t && t.id && countLine(t.text, "42-done") >= 1 ? t : null;
    }, { timeoutMs: 15_000 });
    assert.equal(reloaded.id, first.id, "the same session after reloading the window");
  });

  it("shows a shell's exit code, and a stopped workspace with reconnect once it runs again", async () => {
    await session.click(await session.find('[data-testid="term-new"]'));
    const second = await waitFor("a second shell", async () => {
      const t = await term();
      return t && t.id && t.text.includes("/data #") && (await session.execute(`return document.querySelectorAll('[data-testid="term-tab"]').length`)) === 2 ? t : null;
    }, { timeoutMs: 15_000 });
    await typeLine("exit 3");
    await waitFor("the tab to say exited 3", () => session.execute(
      `return [...document.querySelectorAll('[data-testid="term-tab-state"]')].some((e) => e.textContent.trim() === "exited 3")`,
    ), { timeoutMs: 10_000 });
    assert.match(await session.execute(`return document.querySelector('[data-testid="term-ended"]').textContent`), /exited with code 3/);
    await shot("exited");
    await session.click(await session.find('[data-testid="term-tab"]:nth-child(2) button.x'));
    log(`closed ${second.id}`);

    const stop = cli("stop", BOT);
    assert.equal(stop.code, 0, stop.stderr);
    await waitFor("the tab to say the workspace stopped", () => session.execute(
      `return document.querySelector('[data-testid="term-ended"]')?.textContent ?? ""`,
    ).then((t) => /workspace stopped/i.test(t)), { timeoutMs: 20_000 });
    assert.equal(await session.execute(`return !!document.querySelector('[data-testid="term-reconnect"]')`), false, "no reconnect while stopped");
    await shot("workspace-stopped");
    const start = cli("start", BOT);
    assert.equal(start.code, 0, start.stderr);
    const button = await session.waitForElement('[data-testid="term-reconnect"]', { timeoutMs: 20_000 });
    await session.click(button);
    const fresh = await waitFor("a new shell after reconnect", async () => {
      const t = await term();
      return t && t.id && t.text.includes("/data #") ? t : null;
    }, { timeoutMs: 20_000 });
    assert.notEqual(fresh.id, second.id);
    await typeLine("echo back-''again");
    await waitFor("output after reconnect", async () => countLine((await term()).text, "back-again") >= 1, { timeoutMs: 10_000 });
    await shot("reconnected");
  });
});

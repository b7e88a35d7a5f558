// End-to-end test of Files in the real Berth app (issue 3): tauri-driver + WebKitWebDriver, a
// private containerd namespace, the `berth` CLI to prepare and to check from outside.
// Open Files, upload a file through the upload button (WebDriver sets the file input), see a
// file made by `berth exec` appear by itself (watch), open the upload in the editor, change and
// save it, and read it back with `berth exec … cat`.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/files.test.mjs

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
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
const BOT = "e2e-files";
const NS = `e2e-f-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

function which(cmd) {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    try {
      accessSync(join(dir || ".", cmd), constants.X_OK);
      return join(dir || ".", cmd);
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
if (!SOCKET || !existsSync(SOCKET)) missing.push("containerd socket (scripts/services.sh start)");
if (!REGISTRY) missing.push("BERTH_TEST_REGISTRY");
const SKIP = missing.length ? `missing: ${missing.join("; ")}` : false;
if (SKIP && process.env.CI) it("e2e prerequisites", () => assert.fail(SKIP));

const freePort = () =>
  new Promise((res, rej) => {
    const srv = createServer();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });

let env;
let driver;
let session;
let tmp;

function cli(...args) {
  const r = spawnSync(CLI, args, { env, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
function cliOk(...args) {
  const r = cli(...args);
  assert.equal(r.code, 0, `berth ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function shot(name) {
  try {
    writeFileSync(join(SHOTS, `files-${name}.png`), await session.screenshot());
  } catch {}
}

async function clickWhenEnabled(selector, timeoutMs = 15_000) {
  const el = await session.waitForElement(selector, { timeoutMs });
  await waitFor(`${selector} enabled`, () => session.enabled(el), { timeoutMs });
  await session.click(el);
}

describe("Files in the real app", { skip: SKIP }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), "berth-e2e-f-"));
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
    // The workspace is made with the CLI (the create flow has its own test); the app adopts it.
    cliOk("create", BOT, "--image", IMAGE);

    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(join(SHOTS, "files-tauri-driver.log"), "w");
    driver = spawn(TAURI_DRIVER, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER], {
      env,
      stdio: ["ignore", out, out],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);
    const wrapper = join(tmp, "berth-app");
    const q = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
    writeFileSync(wrapper, `#!/bin/sh\nexec ${q(APP)} "$@" >>${q(join(SHOTS, "files-app.log"))} 2>&1\n`, { mode: 0o755 });
    session = await Session.create(base, { "tauri:options": { application: wrapper } });
  });

  after(async () => {
    if (session) {
      await shot("final");
      await session.delete().catch(() => {});
    }
    driver?.kill("SIGTERM");
    if (env) {
      cli("rm", BOT);
      // The pulled image keeps the namespace alive: remove it (synchronous GC) first.
      const images = spawnSync("ctr", ["--address", SOCKET, "--namespace", NS, "images", "ls", "-q"], { encoding: "utf8" }).stdout ?? "";
      for (const ref of images.split("\n").filter(Boolean)) {
        spawnSync("ctr", ["--address", SOCKET, "--namespace", NS, "images", "rm", "--sync", ref]);
      }
      for (let i = 0; i < 5 && spawnSync("ctr", ["--address", SOCKET, "namespaces", "rm", NS]).status !== 0; i++) {
        spawnSync("sleep", ["1"]);
      }
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const row = (name) => `[data-testid="files-row"][data-name="${name}"]`;

  it("upload with the button, live refresh, edit and save, read back with berth exec", { timeout: 180_000 }, async () => {
    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await clickWhenEnabled('[data-tab="files"]');
    await session.waitForElement('[data-testid="files-list"]', { timeoutMs: 30_000 });

    // Upload through the button's file input: WebDriver sets the input's file.
    const local = join(tmp, "uploaded note.txt");
    writeFileSync(local, "first line\n");
    const input = await session.find('[data-testid="files-upload-input"]');
    await session.sendKeys(input, local);
    await session.waitForElement(row("uploaded note.txt"), { timeoutMs: 30_000 });
    await session.waitForElement('[data-testid="files-transfer"][data-state="done"]', { timeoutMs: 30_000 });
    assert.equal(cliOk("exec", BOT, "--", "cat", "/data/uploaded note.txt"), "first line\n");

    // A file made inside the workspace appears by itself (watch), within a second or so.
    const t0 = Date.now();
    cliOk("exec", BOT, "--", "sh", "-c", "echo x > /data/new");
    await session.waitForElement(row("new"), { timeoutMs: 5_000 });
    console.log(`watch: /data/new listed ${Date.now() - t0} ms after berth exec started`);
    await shot("listed");

    // Open the upload in the editor (select, then Enter), change it, save.
    await session.click(await session.find(row("uploaded note.txt")));
    await session.sendKeys(await session.find('[data-testid="files-list"]'), Keys.ENTER);
    const content = await session.waitForElement('[data-testid="file-editor"] .cm-content', { timeoutMs: 30_000 });
    await waitFor("the file in the editor", async () => (await session.text(content)).includes("first line"), { timeoutMs: 15_000 });
    await session.click(content);
    await session.execute(
      `const v = document.querySelector('[data-testid="file-editor"] .cm-content'); v.focus();
       const sel = window.getSelection(); sel.selectAllChildren(v); sel.collapseToEnd();`,
    );
    await session.sendKeys(content, "edited in Berth");
    await clickWhenEnabled('[data-testid="editor-save"]');
    await waitFor(
      "the saved content",
      () => cli("exec", BOT, "--", "cat", "/data/uploaded note.txt").stdout.includes("edited in Berth"),
      { timeoutMs: 15_000, intervalMs: 300 },
    );
    const saved = cliOk("exec", BOT, "--", "cat", "/data/uploaded note.txt");
    assert.match(saved, /^first line\n?edited in Berth/);
    await shot("saved");
  });
});

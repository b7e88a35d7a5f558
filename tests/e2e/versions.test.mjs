// End-to-end test of Versions in the real Berth app (issue 5): tauri-driver + WebKitWebDriver,
// a private containerd namespace, the `berth` CLI to prepare and to check from outside.
// Save a version in the UI, change a file with `berth exec`, roll back in the UI (with its
// confirmation), and see the old content through `berth exec … cat`.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/versions.test.mjs

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
const BOT = "e2e-versions";
const NS = `e2e-v-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

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
    writeFileSync(join(SHOTS, `versions-${name}.png`), await session.screenshot());
  } catch {}
}

async function clickWhenEnabled(selector, timeoutMs = 15_000) {
  const el = await session.waitForElement(selector, { timeoutMs });
  await waitFor(`${selector} enabled`, () => session.enabled(el), { timeoutMs });
  await session.click(el);
}

describe("Versions in the real app", { skip: SKIP }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    tmp = mkdtempSync(join(tmpdir(), "berth-e2e-v-"));
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
    cliOk("exec", BOT, "--", "sh", "-c", "echo original > /data/notes.txt");

    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(join(SHOTS, "versions-tauri-driver.log"), "w");
    driver = spawn(TAURI_DRIVER, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER], {
      env,
      stdio: ["ignore", out, out],
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);
    const wrapper = join(tmp, "berth-app");
    const q = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
    writeFileSync(wrapper, `#!/bin/sh\nexec ${q(APP)} "$@" >>${q(join(SHOTS, "versions-app.log"))} 2>&1\n`, { mode: 0o755 });
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
      spawnSync("ctr", ["--address", SOCKET, "namespaces", "rm", NS]);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("save a version, change a file, roll back in the UI, see the old content", { timeout: 180_000 }, async () => {
    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await clickWhenEnabled('[data-tab="versions"]');
    const name = await session.waitForElement('[data-testid="version-name"]');
    await session.sendKeys(name, "before edit");
    await clickWhenEnabled('[data-testid="version-save"]');
    await session.waitForElement('[data-testid="version-row"][data-version="1"] [data-testid="version-current"]', { timeoutMs: 60_000 });
    await shot("saved");
    const listed = JSON.parse(cliOk("versions", BOT, "--json"));
    assert.deepEqual(listed.map((v) => [v.version, v.name, v.current]), [[1, "before edit", true]]);

    // Change the file from outside the UI (as the terminal or file manager would).
    cliOk("exec", BOT, "--", "sh", "-c", "echo edited > /data/notes.txt");
    assert.equal(cliOk("exec", BOT, "--", "cat", "/data/notes.txt"), "edited\n");

    // "Changes since" lists the edit.
    await clickWhenEnabled('[data-testid="version-row"][data-version="1"] [data-testid="version-changes"]');
    const panel = await session.waitForElement('[data-testid="version-changes-panel"]', { timeoutMs: 30_000 });
    await waitFor("the edit listed", async () => (await session.text(panel)).includes("/data/notes.txt"), { timeoutMs: 15_000 });

    // Roll back with the confirmation; the current state is saved first (v2).
    await clickWhenEnabled('[data-testid="version-row"][data-version="1"] [data-testid="version-rollback"]');
    await session.waitForElement('[data-testid="rollback-dialog"][open]');
    assert.equal(await session.property(await session.find('[data-testid="rollback-save"]'), "checked"), true);
    await shot("confirm");
    await clickWhenEnabled('[data-testid="rollback-confirm"]');
    await session.waitForElement('[data-testid="version-row"][data-version="2"]', { timeoutMs: 60_000 });
    await session.waitForElement('[data-testid="version-row"][data-version="1"] [data-testid="version-current"]', { timeoutMs: 30_000 });
    await shot("rolled-back");

    await waitFor("the old content", () => cli("exec", BOT, "--", "cat", "/data/notes.txt").stdout === "original\n", {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    const after = JSON.parse(cliOk("versions", BOT, "--json"));
    assert.equal(after.find((v) => v.version === 2)?.source, "before-rollback");
    void Keys;
  });
});

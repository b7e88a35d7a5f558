// End-to-end test of the real Berth app: tauri-driver + WebKitWebDriver under Xvfb, plain W3C
// WebDriver calls, a private containerd namespace, and the `berth` CLI to check from outside.
//
// Run it through scripts/e2e.sh (builds, starts services, Xvfb). Directly:
//   eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/
// Missing prerequisites skip the suite, except with CI set, where they fail it.
//
// Environment: BERTH_CONTAINERD_SOCKET, BERTH_TEST_REGISTRY (from services.sh env), optional
// BERTH_E2E_APP / BERTH_E2E_CLI / TAURI_DRIVER / WEBKIT_WEBDRIVER to override binaries,
// BERTH_E2E_IMAGE to override the image (default $BERTH_TEST_REGISTRY/berth-test/layered:1).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, accessSync, constants } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Keys, Session, waitFor, waitForServer } from "./webdriver.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "../..");
const SHOTS = join(HERE, "screenshots");
const APP = resolve(process.env.BERTH_E2E_APP ?? join(ROOT, "target/debug/berth-app"));
const CLI = resolve(process.env.BERTH_E2E_CLI ?? join(ROOT, "target/debug/berth"));
const SOCKET = process.env.BERTH_CONTAINERD_SOCKET;
const REGISTRY = process.env.BERTH_TEST_REGISTRY;
const IMAGE = process.env.BERTH_E2E_IMAGE ?? `${REGISTRY}/berth-test/layered:1`;
const BOT = "e2e-bot";
const NS = `e2e-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

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

// ----------------------------------------------------------------- prerequisites

const missing = [];
if (process.platform !== "linux") missing.push("Linux (WebKitWebDriver)");
if (!process.env.DISPLAY) missing.push("an X display (DISPLAY; run under xvfb-run or scripts/e2e.sh)");
for (const [what, p] of [["app binary", APP], ["CLI binary", CLI], ["tauri-driver", TAURI_DRIVER], ["WebKitWebDriver", NATIVE_DRIVER]]) {
  if (!existsSync(p)) missing.push(`${what} (${p})`);
}
if (!SOCKET || !existsSync(SOCKET)) missing.push(`containerd socket (BERTH_CONTAINERD_SOCKET=${SOCKET ?? ""}; scripts/services.sh start)`);
if (!REGISTRY && !process.env.BERTH_E2E_IMAGE) missing.push("BERTH_TEST_REGISTRY (eval \"$(scripts/services.sh env)\")");
const SKIP = missing.length ? `missing: ${missing.join("; ")}` : false;
if (SKIP && process.env.CI) {
  // In CI a missing prerequisite is a failure, never a quiet skip.
  it("e2e prerequisites", () => assert.fail(SKIP));
}

// ----------------------------------------------------------------- helpers

const log = (...a) => console.log(...a);

function freePort() {
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

let appEnv;

const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

/** `berth <args>` with the app's environment; returns { code, stdout, stderr }. */
function cli(...args) {
  const r = spawnSync(CLI, args, { env: appEnv, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cliState(bot) {
  const r = cli("info", bot, "--json");
  if (r.code !== 0) return { missing: true, stderr: r.stderr.trim() };
  return JSON.parse(r.stdout);
}

// --- process tree (/proc) -----------------------------------------------------

function procStat(pid) {
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
function descendants(root) {
  const procs = allProcs();
  const kids = new Map();
  for (const p of procs) {
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

function memOf(pid) {
  let rssKiB = 0;
  let pssKiB = 0;
  try {
    rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {}
  try {
    pssKiB = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
  } catch {}
  return { rssKiB, pssKiB };
}

/** The app and its WebKit children (WebKitWebProcess, WebKitNetworkProcess, ...). */
function appProcesses() {
  const app = descendants(driver.pid).find((p) => p.comm === "berth-app");
  if (!app) return [];
  return [app, ...descendants(app.pid)].filter((p) => p.state !== "Z");
}

// --- page helpers -----------------------------------------------------------

const SEL = {
  connection: '[data-testid="connection"]',
  addBot: '[data-testid="add-bot"]',
  addBotInput: '[data-testid="add-bot-input"]',
  botRow: (n) => `nav.list [data-bot="${n}"]`,
  // No data-testid on the header's state badge: the labelled badge lives in the header only.
  headerBadge: "header .badge.with-label",
  imageInput: '[data-testid="image-input"]',
  pullPolicy: '[data-testid="pull-policy"]',
  create: '[data-testid="create-workspace"]',
  progress: '[data-testid="create-progress"]',
  start: '[data-testid="ws-start"]',
  stop: '[data-testid="ws-stop"]',
  deleteWs: '[data-testid="ws-delete"]',
  openDialog: "dialog[open]",
  dialogConfirm: 'dialog[open] [data-testid="confirm"]',
};

/** One round trip: everything the journey looks at. */
const SNAPSHOT_JS = `
  const q = (s) => document.querySelector(s);
  const badge = q(${JSON.stringify(SEL.headerBadge)});
  const prog = q(${JSON.stringify(SEL.progress)});
  const conn = q(${JSON.stringify(SEL.connection)});
  return {
    badgeState: badge?.dataset.state ?? null,
    badgeText: badge?.textContent.trim() ?? null,
    conn: conn?.textContent.trim() ?? null,
    connOk: !!conn?.querySelector(".dot.ok"),
    phase: prog?.dataset.phase ?? null,
    outcome: prog?.dataset.outcome ?? null,
    phaseText: prog?.querySelector('[data-testid="phase-text"]')?.textContent.trim() ?? null,
    percent: prog?.querySelector('[data-testid="percent"]')?.textContent.trim() ?? null,
    layers: prog ? [...prog.querySelectorAll(".layer")].map((l) => l.dataset.status) : [],
    steps: prog ? [...prog.querySelectorAll('[data-testid="stepper"] li')].map((l) => l.dataset.step + ":" + l.dataset.status) : [],
    error: prog?.querySelector(".error, [role=alert]")?.textContent.trim() ?? null,
  };`;

// Records every distinct progress-panel state from inside the page, so a pull too fast for
// WebDriver polling still leaves a trace (window.__e2eProgress).
const RECORDER_JS = `
  window.__e2eProgress = [];
  let last = "";
  const take = () => {
    const prog = document.querySelector(${JSON.stringify(SEL.progress)});
    if (!prog) return;
    const s = {
      t: Math.round(performance.now()),
      phase: prog.dataset.phase,
      outcome: prog.dataset.outcome,
      percent: prog.querySelector('[data-testid="percent"]')?.textContent.trim() ?? null,
      layers: [...prog.querySelectorAll(".layer")].map((l) => l.dataset.status).join(","),
    };
    const key = s.phase + "|" + s.outcome + "|" + s.percent + "|" + s.layers;
    if (key !== last) { last = key; window.__e2eProgress.push(s); }
  };
  new MutationObserver(take).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  return true;`;

let driver; // tauri-driver child process
let session;
let tmp;
let shotN = 0;
const bench = {};
let failed = false;

async function snap() {
  return session.execute(SNAPSHOT_JS);
}

async function shot(name) {
  if (!session) return null;
  try {
    // Let the last DOM change reach the screen first: a screenshot taken right after the DOM
    // changed can show the previous frame.
    await session.executeAsync(
      "const done = arguments[arguments.length - 1]; setTimeout(done, 250); requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
    ).catch(() => {});
    const file = join(SHOTS, `${String(++shotN).padStart(2, "0")}-${name}.png`);
    writeFileSync(file, await session.screenshot());
    log(`screenshot ${file}`);
    return file;
  } catch (e) {
    log(`screenshot ${name} failed: ${e.message}`);
    return null;
  }
}

/** A journey step: later steps are skipped once one fails; a failure leaves a screenshot. */
function step(name, fn, timeout = 90_000) {
  it(name, { timeout }, async (t) => {
    if (failed) return t.skip("an earlier step failed");
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      await shot(`FAILED-${name.replace(/\W+/g, "-")}`);
      try {
        log("page state:", JSON.stringify(await snap()));
      } catch {}
      throw e;
    }
  });
}

async function clickWhenEnabled(selector, timeoutMs = 10_000) {
  const el = await session.waitForElement(selector, { timeoutMs });
  await waitFor(`${selector} enabled`, () => session.enabled(el), { timeoutMs });
  await session.click(el);
}

async function waitBadge(state, timeoutMs) {
  return waitFor(`state badge "${state}"`, async () => {
    const s = await snap();
    return s.badgeState === state ? s : null;
  }, { timeoutMs, intervalMs: 100 });
}

async function waitCli(state, timeoutMs = 10_000) {
  return waitFor(`CLI state ${state}`, () => {
    const info = cliState(BOT);
    return info.state === state ? info : null;
  }, { timeoutMs, intervalMs: 250 });
}

// ----------------------------------------------------------------- the journey

describe("Berth app end to end", { skip: SKIP }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (f.endsWith(".png") || f.endsWith(".log")) rmSync(join(SHOTS, f));
    tmp = mkdtempSync(join(tmpdir(), "berth-e2e-"));
    appEnv = {
      ...process.env,
      BERTH_DATA_DIR: join(tmp, "data"),
      BERTH_CONTAINERD_SOCKET: SOCKET,
      BERTH_NAMESPACE: NS,
      // Keep WebKit's storage (localStorage: language) and any settings out of the user's home.
      XDG_DATA_HOME: join(tmp, "xdg-data"),
      XDG_CONFIG_HOME: join(tmp, "xdg-config"),
      XDG_CACHE_HOME: join(tmp, "xdg-cache"),
      LANGUAGE: "en",
      // No accessibility bus under Xvfb; saves a warning and a timeout.
      NO_AT_BRIDGE: "1",
      RUST_BACKTRACE: "1",
      NO_COLOR: "1",
      BERTH_LOG: process.env.BERTH_LOG ?? "info",
    };
    log(`namespace ${NS}, data ${appEnv.BERTH_DATA_DIR}, image ${IMAGE}`);

    const port = await freePort();
    const nativePort = await freePort();
    const out = openSync(join(SHOTS, "tauri-driver.log"), "w");
    driver = spawn(TAURI_DRIVER, ["--port", String(port), "--native-port", String(nativePort), "--native-driver", NATIVE_DRIVER], {
      env: appEnv,
      stdio: ["ignore", out, out],
    });
    driver.on("exit", (code, sig) => log(`tauri-driver exited (${code ?? sig})`));
    const base = `http://127.0.0.1:${port}`;
    await waitForServer(base, 15_000);

    // The app logs with tracing to stdout, which tauri-driver sends to /dev/null (only stderr
    // is inherited): launch it through a wrapper that keeps both in screenshots/app.log.
    const wrapper = join(tmp, "berth-app");
    writeFileSync(wrapper, `#!/bin/sh\nexec ${shq(APP)} "$@" >>${shq(join(SHOTS, "app.log"))} 2>&1\n`, { mode: 0o755 });

    const t0 = performance.now();
    session = await Session.create(base, { "tauri:options": { application: wrapper } });
    bench.session_ms = Math.round(performance.now() - t0);
    // "First window": the sidebar's bot list has loaded (the empty-list text, or a bot).
    await waitFor("the bot list", () => session.execute(
      `const l = document.querySelector("nav.list"); return !!l && (!!l.querySelector(".none") || !!l.querySelector("[data-bot]"));`,
    ), { timeoutMs: 30_000, intervalMs: 20 });
    bench.time_to_first_window_ms = Math.round(performance.now() - t0);
    log(`session ${bench.session_ms} ms, bot list ${bench.time_to_first_window_ms} ms after POST /session`);
  });

  after(async () => {
    if (session) {
      await shot("final");
      try {
        await session.delete();
      } catch (e) {
        log(`delete session: ${e.message}`);
      }
    }
    if (driver) {
      // Everything under our tauri-driver is ours: WebKitWebDriver, berth-app, WebKit helpers.
      const tree = descendants(driver.pid);
      log(`cleanup: tauri-driver ${driver.pid} exit=${driver.exitCode} tree: ${tree.map((p) => `${p.comm}(${p.pid})`).join(" ")}`);
      driver.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      for (const p of [driver.pid, ...tree.map((p) => p.pid)]) {
        const st = procStat(p);
        if (st && st.state !== "Z") {
          try {
            process.kill(p, "SIGKILL");
            log(`killed leftover ${st.comm} (${p})`);
          } catch (e) {
            log(`kill ${p}: ${e.message}`);
          }
        }
      }
    }
    if (appEnv) {
      const rm = cli("rm", BOT);
      log(`berth rm ${BOT}: ${rm.code === 0 ? "ok" : rm.stderr.trim()}`);
      cleanupNamespace();
    }
    if (failed) {
      try {
        const lines = readFileSync(join(SHOTS, "app.log"), "utf8").trimEnd().split("\n");
        log(`last lines of screenshots/app.log:\n${lines.slice(-25).join("\n")}`);
      } catch {}
    }
    if (Object.keys(bench).length) {
      console.log(`BENCH ${Object.entries(bench).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  step("the window shows containerd as connected", async () => {
    const s = await waitFor("connection indicator connected", async () => {
      const s = await snap();
      return s.connOk ? s : null;
    }, { timeoutMs: 15_000 });
    assert.match(s.conn, /^containerd\b/);
    log(`connection indicator: "${s.conn}"`);
    await shot("connected");
  });

  step("add a bot from the sidebar", async () => {
    await clickWhenEnabled(SEL.addBot);
    const input = await session.waitForElement(SEL.addBotInput);
    await session.sendKeys(input, BOT + Keys.ENTER);
    await session.waitForElement(SEL.botRow(BOT));
    const s = await waitBadge("absent", 10_000);
    assert.equal(s.badgeText, "No workspace");
    await session.waitForElement(SEL.imageInput);
    assert.equal(cliState(BOT).state, "absent");
    await shot("bot-added");
  });

  step("create a workspace: progress, 100 %, Running", async () => {
    const input = await session.find(SEL.imageInput);
    await session.clear(input);
    await session.sendKeys(input, IMAGE);
    assert.equal(await session.property(input, "value"), IMAGE);
    assert.equal(await session.property(await session.find(SEL.pullPolicy), "value"), "if-not-present");
    await session.execute(RECORDER_JS);

    const t0 = performance.now();
    await clickWhenEnabled(SEL.create);
    const intermediate = [];
    let saw100 = false;
    const polled = [];
    const final = await waitFor("100 % and Running", async () => {
      const s = await snap();
      const key = `${s.phase}|${s.outcome}|${s.percent}|${s.layers.join(",")}`;
      if (polled.at(-1) !== key) polled.push(key);
      if (s.outcome === "failed") throw Object.assign(new Error(`create failed: ${s.phaseText} ${s.error ?? ""}`), { fatal: true });
      if (s.percent === "100 %") saw100 = true;
      // Up to two intermediate screenshots: mid-download (percent shown, below 100), and a
      // later phase (unpacking / creating / starting / waiting for the bridge).
      const midPull = s.outcome === "active" && s.phase === "pulling" && s.percent && s.percent !== "100 %";
      const later = s.outcome === "active" && ["unpacking", "creating", "starting", "waitingBridge"].includes(s.phase);
      if ((midPull && !intermediate.some((i) => i.phase === "pulling")) || (later && !intermediate.some((i) => i.phase !== "pulling"))) {
        intermediate.push(s);
        log(`intermediate state at ${Math.round(performance.now() - t0)} ms: ${JSON.stringify(s)}`);
        await shot(`progress-${s.phase}`);
      }
      return saw100 && s.badgeState === "running" ? s : null;
    }, { timeoutMs: 60_000, intervalMs: 25 }).catch(async (e) => {
      log("progress trace:", JSON.stringify(await session.execute("return window.__e2eProgress")));
      throw e;
    });
    bench.create_ms = Math.round(performance.now() - t0);
    await shot("running");
    const trace = await session.execute("return window.__e2eProgress");
    log(`create took ${bench.create_ms} ms; WebDriver polls saw ${polled.length} states; page recorder saw ${trace.length}:`);
    for (const s of trace) log(`  +${s.t - trace[0].t} ms ${s.outcome} ${s.phase} ${s.percent ?? "-"} [${s.layers}]`);
    if (!intermediate.length) log("note: the create finished before a poll could see an intermediate state");
    assert.ok(trace.some((s) => s.percent === "100 %"), "the page showed 100 %");
    assert.equal(final.badgeText, "Running");
    assert.ok(final.steps.length === 0 || final.steps.every((s) => s.endsWith(":done")), `stepper all done: ${final.steps}`);
    const info = await waitCli("running");
    assert.equal(info.image, IMAGE);
  });

  step("idle memory with one workspace running (measured, not asserted)", async () => {
    await new Promise((r) => setTimeout(r, 3000));
    await session.execute("return 1").catch((e) => assert.fail(`the app died while idle (see screenshots/app.log): ${e.message}`));
    const procs = appProcesses();
    let rss = 0;
    let pss = 0;
    const parts = [];
    for (const p of procs) {
      const m = memOf(p.pid);
      rss += m.rssKiB;
      pss += m.pssKiB;
      parts.push(`${p.comm}(${p.pid})=${(m.rssKiB / 1024).toFixed(1)}`);
    }
    log(`app processes (RSS MiB): ${parts.join(" ")}`);
    bench.idle_rss_mib = (rss / 1024).toFixed(1);
    bench.idle_pss_mib = (pss / 1024).toFixed(1);
    bench.app_processes = procs.length;
    if (!procs.length) {
      const tree = descendants(driver.pid).map((p) => `${p.comm}(${p.pid}<${p.ppid})`).join(" ");
      const apps = allProcs().filter((p) => p.comm === "berth-app").map((p) => `${p.pid}<${p.ppid}`).join(" ");
      assert.fail(`no berth-app under tauri-driver ${driver.pid}: tree [${tree}], berth-app processes [${apps}]`);
    }
  });

  step("Stop → Stopped", async () => {
    const t0 = performance.now();
    await clickWhenEnabled(SEL.stop);
    const s = await waitBadge("stopped", 30_000);
    bench.stop_ms = Math.round(performance.now() - t0);
    assert.equal(s.badgeText, "Stopped");
    await waitCli("stopped");
    await shot("stopped");
  });

  step("Start → Running", async () => {
    const t0 = performance.now();
    await clickWhenEnabled(SEL.start);
    const s = await waitBadge("running", 30_000);
    bench.start_ms = Math.round(performance.now() - t0);
    assert.equal(s.badgeText, "Running");
    await waitCli("running");
    await shot("restarted");
  });

  step("Delete workspace → confirm → No workspace", async () => {
    await clickWhenEnabled(SEL.deleteWs);
    await session.waitForElement(SEL.openDialog);
    await shot("confirm-delete");
    const t0 = performance.now();
    await session.click(await session.find(SEL.dialogConfirm));
    const s = await waitBadge("absent", 30_000);
    bench.delete_ms = Math.round(performance.now() - t0);
    assert.equal(s.badgeText, "No workspace");
    await session.waitForElement(SEL.imageInput); // back to the create form
    await waitCli("absent");
    await shot("deleted");
  });
});

/** Best effort: drop images left in the test namespace and the namespace itself (containerd's
 *  GC then frees the snapshots), so repeated runs don't pile up. Needs `ctr`; skipped without. */
function cleanupNamespace() {
  const ctr = which("ctr");
  if (!ctr) return;
  const run = (...a) => spawnSync(ctr, ["--address", SOCKET, ...a], { encoding: "utf8", timeout: 20_000 });
  const images = run("-n", NS, "images", "ls", "-q").stdout?.split("\n").filter(Boolean) ?? [];
  if (images.length) run("-n", NS, "images", "rm", "--sync", ...images);
  for (const lease of run("-n", NS, "leases", "ls", "-q").stdout?.split("\n").filter(Boolean) ?? []) {
    run("-n", NS, "leases", "rm", lease);
  }
  const r = run("namespaces", "rm", NS);
  log(`namespace ${NS}: ${r.status === 0 ? "removed" : `not removed: ${(r.stderr ?? "").trim()}`}`);
}

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
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { RealApp, REGISTRY, SHOTS, descendants, log, procStat } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const IMAGE = process.env.BERTH_E2E_IMAGE ?? `${REGISTRY}/berth-test/layered:1`;
const BOT = "e2e-bot";
const app = new RealApp("app");
const cli = (...a) => app.cli(...a);
const cliState = (bot) => app.cliState(bot);

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
  const main = descendants(driver().pid).find((p) => p.comm === "berth-app");
  if (!main) return [];
  return [main, ...descendants(main.pid)].filter((p) => p.state !== "Z");
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

/** The tauri-driver child process. */
const driver = () => app.driver;
let session;
let shotN = 0;
const bench = {};
let failed = false;

async function snap() {
  return session.execute(SNAPSHOT_JS);
}

/** A numbered screenshot (screenshots/NN-name.png), so the journey reads in order. */
async function shot(name) {
  // A frame after the last DOM change, so the picture matches what the step checked.
  const file = await app.shot(name, { file: join(SHOTS, `${String(++shotN).padStart(2, "0")}-${name}.png`), settleMs: 1 });
  if (file) log(`screenshot ${file}`);
  return file;
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

describe("Berth app end to end", { skip: app.skip }, () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    for (const f of readdirSync(SHOTS)) if (f.endsWith(".png") || f.endsWith(".log")) rmSync(join(SHOTS, f));
    app.setUp({
      env: {
        RUST_BACKTRACE: "1",
        BERTH_LOG: process.env.BERTH_LOG ?? "info",
      },
    });
    log(`namespace ${app.ns}, data ${app.env.BERTH_DATA_DIR}, image ${IMAGE}`);
    const base = await app.startDriver();

    const t0 = performance.now();
    session = await app.openSession(base);
    bench.session_ms = Math.round(performance.now() - t0);
    // "First window": the sidebar's bot list has loaded (the empty-list text, or a bot).
    await waitFor("the bot list", () => session.execute(
      `const l = document.querySelector("nav.list"); return !!l && (!!l.querySelector(".none") || !!l.querySelector("[data-bot]"));`,
    ), { timeoutMs: 30_000, intervalMs: 20 });
    bench.time_to_first_window_ms = Math.round(performance.now() - t0);
    log(`session ${bench.session_ms} ms, bot list ${bench.time_to_first_window_ms} ms after POST /session`);
  });

  after(async () => {
    if (session) await shot("final");
    if (app.driver) {
      const tree = descendants(app.driver.pid);
      log(`cleanup: tauri-driver ${app.driver.pid} exit=${app.driver.exitCode} tree: ${tree.map((p) => `${p.comm}(${p.pid})`).join(" ")}`);
    }
    const appLog = app.file("app.log");
    await app.stop([BOT], { finalShot: false });
    if (failed) {
      try {
        const lines = readFileSync(appLog, "utf8").trimEnd().split("\n");
        log(`last lines of ${appLog}:\n${lines.slice(-25).join("\n")}`);
      } catch {}
    }
    if (Object.keys(bench).length) {
      console.log(`BENCH ${Object.entries(bench).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    }
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
      const tree = descendants(driver().pid).map((p) => `${p.comm}(${p.pid}<${p.ppid})`).join(" ");
      const apps = allProcs().filter((p) => p.comm === "berth-app").map((p) => `${p.pid}<${p.ppid}`).join(" ");
      assert.fail(`no berth-app under tauri-driver ${driver().pid}: tree [${tree}], berth-app processes [${apps}]`);
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

  step("Keep off private networks → applied to the running workspace", async () => {
    await clickWhenEnabled('[data-testid="block-private"]');
    await waitFor("the CLI sees the block", () => (cliState(BOT).block_private_networks === true ? true : null), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    await waitFor("the toast says it applies now", () =>
      session.execute("return document.body.innerText.includes('Applied to the running workspace')").then((v) => v || null),
    );
    await shot("private-networks-blocked");
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

// End-to-end test of Data in the real Berth app: tauri-driver + WebKitWebDriver, a
// private containerd namespace, the `berth` CLI to prepare and to check from outside.
// Write files into /data with `berth exec`; delete the workspace in the UI keeping its data (the
// "preserving" bar shows); see the kept archive on the Data page; create again and see the
// "restoring" phase and the data back (`berth exec … cat`, checksums); change the image in the UI
// (preserving → pull → create → restoring) and find the data on the new image; and import an
// archive dropped on the window: a real XDND drag from a small GTK drag source
// (tests/e2e/drag-source.c) moved by xdotool, through the app's native drop handler.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/data.test.mjs

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDragSource, dragOntoApp } from "./drag.mjs";
import { BUSYBOX, REGISTRY, RealApp, log } from "./harness.mjs";
import { waitFor } from "./webdriver.mjs";

const BOT = "e2e-data";
const DOCKER = `${REGISTRY}/berth-test/docker:1`;
const app = new RealApp("data");
const cli = (...a) => app.cli(...a);
const cliOk = (...a) => app.cliOk(...a);
// Progress bars move while /data is compressed: wait until the frame is painted.
const shot = (what) => app.shot(what, { settleMs: 200 });
const clickWhenEnabled = (selector, timeoutMs) => app.clickWhenEnabled(selector, timeoutMs);

/** /data's files with sizes and checksums, and the notes' text. */
const LISTING = "cd /data && find . -type f | LC_ALL=C sort | xargs sha256sum && cat notes/keep.txt";
/** 24 MiB of random bytes make preserving and restoring last long enough to be seen. */
const POPULATE = "mkdir -p /data/notes && echo 'kept across delete' > /data/notes/keep.txt && head -c 25165824 /dev/urandom > /data/blob.bin";

// Records from inside the page every phase the progress panel shows and whether a data bar was
// seen (and with which bytes), so fast phases still leave a trace (window.__e2eData).
const RECORDER_JS = `
  const seen = (window.__e2eData = { phases: [], states: [], preserving: 0, bars: [] });
  const take = () => {
    const prog = document.querySelector('[data-testid="create-progress"]');
    const phase = prog?.dataset.phase;
    if (phase && seen.phases[seen.phases.length - 1] !== phase) seen.phases.push(phase);
    const state = prog ? prog.dataset.outcome + ":" + phase : "";
    if (state && seen.states[seen.states.length - 1] !== state) seen.states.push(state);
    const keep = document.querySelector('[data-testid="ws-preserving"] [data-testid="data-bar"]');
    if (keep) seen.preserving = Math.max(seen.preserving, Number(keep.dataset.done));
    const bar = document.querySelector('[data-testid="create-data"] [data-testid="data-bar"]');
    if (bar) seen.bars.push(phase + ":" + bar.dataset.done + "/" + bar.dataset.total);
  };
  new MutationObserver(take).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  return true;`;
const recorded = () => app.session.execute("return window.__e2eData;");

/** Waits until the page's recorder saw the operation complete after its `restoring` phase. The
 *  100 % panel shows for a few seconds only, and a slow screenshot before this wait could miss
 *  it; the recorder does not. (A previous operation's panel may still show when recording
 *  starts: only a completion after this operation's restoring counts.) */
async function seeComplete(timeoutMs = 120_000) {
  await waitFor("the operation complete", async () => {
    const { states } = await recorded();
    if (states.some((s) => s.startsWith("failed:"))) {
      throw Object.assign(new Error(`the operation failed: ${states}`), { fatal: true });
    }
    const restoring = states.findIndex((s) => s === "active:restoring");
    return restoring >= 0 && states.slice(restoring).some((s) => s.startsWith("complete:"));
  }, { timeoutMs, intervalMs: 50 });
}

/** Waits until the page's recorder saw `phase`, taking a screenshot as soon as it does. */
async function seePhase(phase, what, timeoutMs = 60_000) {
  await waitFor(`phase ${phase}`, async () => (await recorded()).phases.includes(phase), { timeoutMs, intervalMs: 50 });
  await shot(what);
}

describe("Data in the real app", { skip: app.skip }, () => {
  before(() => app.start({ workspace: { bot: BOT, image: BUSYBOX }, prepare: () => cliOk("exec", BOT, "--", "sh", "-c", POPULATE) }));
  after(() => app.stop([BOT]));

  let before_;

  it("delete keeping data, see it on the Data page, create again: restored", { timeout: 240_000 }, async () => {
    const session = app.session;
    before_ = cliOk("exec", BOT, "--", "sh", "-c", LISTING);
    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await session.waitForElement('[data-testid="workspace-details"]', { timeoutMs: 30_000 });
    await session.execute(RECORDER_JS);

    await clickWhenEnabled('[data-testid="ws-delete"]');
    const keep = await session.waitForElement('dialog[open] [data-testid="ws-keep-data"]');
    assert.equal(await session.property(keep, "checked"), true, "keep its data is on by default");
    await clickWhenEnabled('dialog[open] [data-testid="confirm"]');
    await waitFor("the preserving bar", async () => (await recorded()).preserving > 0, { timeoutMs: 60_000, intervalMs: 50 });
    await shot("preserving");
    await session.waitForElement('[data-testid="create-workspace"]', { timeoutMs: 60_000 });
    assert.equal(app.cliState(BOT).state, "absent");
    assert.ok(existsSync(join(app.env.BERTH_DATA_DIR, "backups", `${BOT}.tar.gz`)), "the kept archive");

    await clickWhenEnabled('[data-tab="data"]');
    const kept = await session.waitForElement('[data-testid="data-kept"]', { timeoutMs: 15_000 });
    assert.match(await session.text(kept), /MB, kept /);
    await shot("kept");

    await clickWhenEnabled('[data-tab="overview"]');
    await clickWhenEnabled('[data-testid="create-workspace"]');
    await seePhase("restoring", "restoring");
    await seeComplete();
    const seen = await recorded();
    log(`create phases: ${seen.phases.join(" → ")}; bars: ${seen.bars.slice(-3).join(" ")}`);
    assert.equal(cliOk("exec", BOT, "--", "sh", "-c", LISTING), before_, "/data after the restore");
    assert.equal(existsSync(join(app.env.BERTH_DATA_DIR, "backups", `${BOT}.tar.gz`)), false, "the archive is removed");
  });

  it("change image in the UI: preserving, pull, create, restoring; the data on the new image", { timeout: 240_000 }, async () => {
    const session = app.session;
    await session.execute(RECORDER_JS);
    await clickWhenEnabled('[data-testid="ws-change-image"]', 30_000);
    const input = await session.waitForElement('dialog[open] [data-testid="image-input"]');
    await session.sendKeys(input, DOCKER);
    await shot("change-image-confirm");
    await clickWhenEnabled('dialog[open] [data-testid="confirm"]');
    await seePhase("preserving", "change-image-preserving");
    await seePhase("restoring", "change-image-restoring");
    await seeComplete();
    await shot("change-image-complete");
    const seen = await recorded();
    log(`change-image phases: ${seen.phases.join(" → ")}; bars: ${seen.bars.slice(-3).join(" ")}`);
    // The new image first (the old workspace untouched meanwhile), then its data, then the rest.
    assert.ok(inOrder(seen.phases, ["resolving", "preserving", "removingOld", "creating", "restoring"]), `phases ${seen.phases}`);
    assert.equal(cliOk("exec", BOT, "--", "cat", "/etc/berth-docker-marker"), "docker-ok");
    assert.equal(cliOk("exec", BOT, "--", "sh", "-c", LISTING), before_, "/data on the new image");
    assert.equal(app.cliState(BOT).image, DOCKER);
  });

  it("import an archive dropped on the window (a real drag, through the native drop handler)", { timeout: 180_000 }, async (t) => {
    const source = buildDragSource(app);
    if (!source) {
      // Every machine that builds the app has both (rustc links with cc; webkit2gtk pulls GTK 3).
      assert.ok(!process.env.CI, "no C compiler or GTK 3 headers to build the drag source");
      return t.skip("no C compiler or GTK 3 headers to build the drag source");
    }
    const session = app.session;
    const archive = join(app.tmp, "dropped.tar.gz");
    const tree = join(app.tmp, "tree");
    spawnSync("sh", ["-c", `mkdir -p '${tree}/imported' && echo 'from a drop' > '${tree}/imported/hello.txt'`]);
    assert.equal(spawnSync("tar", ["-czf", archive, "-C", tree, "imported"]).status, 0);

    await clickWhenEnabled('[data-tab="data"]');
    await session.waitForElement('[data-testid="data-export"]', { timeoutMs: 15_000 });
    await dragOntoApp(app, source, archive);
    const preview = await session.waitForElement('[data-testid="data-preview"]', { timeoutMs: 30_000 });
    assert.match(await session.text(preview), /dropped\.tar\.gz · files: 1, folders: 1, links: 0/);
    await shot("drop-preview");
    await clickWhenEnabled('[data-testid="data-start-import"]');
    await waitFor("the imported file", () => cli("exec", BOT, "--", "cat", "/data/imported/hello.txt").stdout === "from a drop\n", {
      timeoutMs: 30_000,
      intervalMs: 300,
    });
    assert.equal(cliOk("exec", BOT, "--", "cat", "/data/notes/keep.txt"), "kept across delete\n", "merge keeps what was there");
    await shot("drop-imported");
  });
});

/** Whether `want` occurs in `list` in this order (other entries may come between). */
function inOrder(list, want) {
  let i = 0;
  for (const x of list) if (x === want[i]) i++;
  return i === want.length;
}

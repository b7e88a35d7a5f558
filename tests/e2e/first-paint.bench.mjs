// Time to first paint of the real app, next to an empty Tauri 2 window (bench/empty-window: the
// same Tauri and WebKitGTK, an empty page), alternating, under Xvfb. Berth has one running
// workspace, as in scripts/bench-memory.sh.
//
// The clock starts when the launcher script execs the program (its `date`, in the wrapper that
// tauri-driver starts) and stops at the page's first contentful paint (Paint Timing, from
// `performance.timeOrigin`, both wall-clock). The empty page has no content to paint, so for
// both windows the end of the page's load event is reported too.
//
// A benchmark, not part of the test command:
//   scripts/bench-memory.sh --paint   (or scripts/e2e.sh tests/e2e/first-paint.bench.mjs)
// Prints:  BENCH paint berth_fcp_ms=… berth_load_ms=… empty_load_ms=… (best of N rounds each)

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { APP, BUSYBOX, ROOT, RealApp, log, shq } from "./harness.mjs";
import { waitFor } from "./webdriver.mjs";

const BOT = "e2e-paint";
const ROUNDS = Number(process.env.BERTH_BENCH_ROUNDS ?? 3);
const EMPTY = resolve(process.env.BERTH_EMPTY_WINDOW ?? join(ROOT, "target/debug/empty-window"));
const app = new RealApp("first-paint");

const TIMES = `
  const paint = performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
  const nav = performance.getEntriesByType("navigation")[0];
  if (!nav || nav.loadEventEnd === 0) return null;
  return { origin: performance.timeOrigin, fcp: paint ? paint.startTime : null, load: nav.loadEventEnd };
`;

/** Launches `program` through tauri-driver; milliseconds from its exec to its first paint and
 *  to the end of its load event. */
async function launch(program, { contentful }) {
  const launched = join(app.tmp, "launched");
  const base = await app.startDriver();
  const session = await app.openSession(base, { program, prelude: `date +%s%N >${shq(launched)}\n` });
  try {
    const t = await waitFor(
      "the page's load event (and its first paint)",
      async () => {
        const t = await session.execute(TIMES);
        return t && (!contentful || t.fcp !== null) ? t : null;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    const start = Number(readFileSync(launched, "utf8").trim()) / 1e6;
    return { fcp: t.fcp === null ? null : t.origin + t.fcp - start, load: t.origin + t.load - start };
  } finally {
    await session.delete().catch(() => {});
    app.killDriverTree();
    app.driver = null;
    app.session = null;
  }
}

describe("Time to first paint", { skip: app.skip }, () => {
  before(() => {
    app.setUp();
    app.cliOk("create", BOT, "--image", BUSYBOX, "--pull", "if-not-present");
  });
  after(() => app.stop([BOT], { finalShot: false }));

  it(`${ROUNDS} rounds, alternating`, { timeout: 600_000 }, async () => {
    const berth = [];
    const empty = [];
    for (let r = 0; r < ROUNDS; r++) {
      const b = await launch(APP, { contentful: true });
      const e = await launch(EMPTY, { contentful: false });
      log(`round ${r + 1}: berth first paint ${b.fcp.toFixed(0)} ms, load ${b.load.toFixed(0)} ms; empty load ${e.load.toFixed(0)} ms`);
      berth.push(b);
      empty.push(e);
    }
    const best = (v) => Math.min(...v).toFixed(0);
    const line = `BENCH paint berth_fcp_ms=${best(berth.map((b) => b.fcp))} berth_load_ms=${best(berth.map((b) => b.load))} empty_load_ms=${best(empty.map((e) => e.load))}`;
    assert.ok(berth.every((b) => b.fcp > 0 && b.load > 0));
    log(line);
    console.log(line);
  });
});

// Keystroke latency in the real app, the whole path: a key pressed in xterm.js (a real key event
// from WebKitWebDriver), the app's IPC write, core, the bridge, the PTY's echo, the bridge's
// output stream, core's channel back to the view, xterm.js parsing and rendering it, until the
// frame that shows it. Measured in the page: from the `keydown` on xterm's textarea to the first
// animation frame after the echoed character is in the DOM rows (xterm's DOM renderer), so the
// WebDriver round trip is not counted.
//
// A benchmark, not part of the test command (its figures depend on the machine's load):
//   scripts/bench-keys.sh [--keys N]        (or scripts/e2e.sh tests/e2e/keystrokes.bench.mjs)
// Prints:  BENCH keys n=… echo_p50_ms=… echo_p99_ms=… echo_max_ms=… painted_p50_ms=… painted_p99_ms=… painted_max_ms=…
// (echo: the character parsed by xterm.js; painted: the frame that shows it). Targets: p50 < 5 ms, p99 < 16 ms.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { BUSYBOX, RealApp, log } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const BOT = "e2e-keys";
const KEYS = Number(process.env.BERTH_BENCH_KEYS ?? 400);
const app = new RealApp("keystrokes");
let session;

/** For each `x` typed: from its keydown to the echo parsed by xterm.js (IPC, core, the bridge,
 *  the PTY and back), and to the rows rendered with it (xterm renders in the next animation
 *  frame; the browser paints that frame right after). */
const INSTALL = `
  const ta = document.querySelector(".xterm-helper-textarea");
  const hook = window.__berthTerminal;
  if (!ta || !hook) return false;
  const count = () => (hook.text().match(/x/g) || []).length;
  const out = (window.__keyLatency = { parsed: [], rendered: [] });
  let pending = null;
  ta.addEventListener("keydown", (e) => {
    if (e.key === "x") pending = { t0: performance.now(), before: count(), parsed: null };
  }, true);
  hook.watch(
    () => {
      if (pending && pending.parsed === null && count() > pending.before) pending.parsed = performance.now();
    },
    () => {
      if (!pending || pending.parsed === null) return;
      out.parsed.push(pending.parsed - pending.t0);
      out.rendered.push(performance.now() - pending.t0);
      pending = null;
    },
  );
  return true;
`;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

describe("Keystroke latency in the real app", { skip: app.skip }, () => {
  before(async () => {
    await app.start({ workspace: { bot: BOT, image: BUSYBOX } });
    session = app.session;
  });
  after(() => app.stop([BOT]));

  it(`${KEYS} keys: keydown to the painted echo`, { timeout: 600_000 }, async () => {
    await app.clickWhenEnabled(`nav.list [data-bot="${BOT}"]`, 30_000);
    await app.clickWhenEnabled('[data-tab="terminal"]');
    await waitFor("a shell prompt", async () => {
      const t = await session.execute("const h = window.__berthTerminal; return h ? h.text() : '';");
      return t.includes("/data #");
    }, { timeoutMs: 20_000 });
    const input = await session.waitForElement(".xterm-helper-textarea", { displayed: false });
    // A clear screen and `cat` reading the line: the echo is the line discipline's, and the
    // typed line only grows (no scrolling changes the rows being watched).
    await session.sendKeys(input, "printf '\\033[2J\\033[H'; cat >/dev/null" + Keys.ENTER);
    await waitFor("the screen cleared for cat", async () => !(await session.execute("return window.__berthTerminal.text();")).includes("printf"), {
      timeoutMs: 10_000,
    });
    assert.equal(await session.execute(INSTALL), true, "xterm's textarea and DOM rows");
    for (let i = 1; i <= KEYS; i++) {
      await session.sendKeys(input, "x");
      await waitFor(`echo ${i}`, async () => (await session.execute("return window.__keyLatency.rendered.length;")) >= i, {
        timeoutMs: 10_000,
        intervalMs: 2,
      });
    }
    const got = await session.execute("return window.__keyLatency;");
    const f = (v) => v.toFixed(1);
    const stats = (name, values) => {
      const v = [...values].sort((a, b) => a - b);
      return `${name}_p50_ms=${f(pct(v, 50))} ${name}_p99_ms=${f(pct(v, 99))} ${name}_max_ms=${f(v[v.length - 1])}`;
    };
    const line = `BENCH keys n=${got.rendered.length} ${stats("echo", got.parsed)} ${stats("painted", got.rendered)}`;
    log(line);
    console.log(line);
    await app.shot("typed", { settleMs: 200 });
  });
});

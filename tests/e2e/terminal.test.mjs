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
import { BUSYBOX, RealApp, log } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const BOT = "e2e-term";
const app = new RealApp("terminal");
const shot = (what) => app.shot(what);
const cli = (...a) => app.cli(...a);
/** The app's WebDriver session, once started. */
let session;

/** The visible terminal's buffer text, id and size (through the view's read-only hook). */
const term = () =>
  session.execute(`const h = window.__berthTerminal; return h ? { id: h.id(), text: h.text(), rows: h.rows(), cols: h.cols() } : null;`);

/** Types into the visible terminal's own input: after a reconnect the replaced terminal's input
 *  can still be in the page for a moment, and a CSS lookup may find it just before it goes. */
async function typeLine(text) {
  const input = await waitFor("the visible terminal's input", () =>
    session.execute("const h = window.__berthTerminal; return h ? h.input() : null;"),
  );
  await session.sendKeys(Object.values(input)[0], text + Keys.ENTER);
}

/** Lines of the buffer equal to `line` (output lines, not the echoed command). */
const countLine = (text, line) => text.split("\n").filter((l) => l.trim() === line).length;

describe("Terminal page end to end", { skip: app.skip }, () => {
  before(async () => {
    await app.start({ workspace: { bot: BOT, image: BUSYBOX } });
    session = app.session;
    await session.waitForElement(`nav.list [data-bot="${BOT}"]`, { timeoutMs: 30_000 });
  });

  after(() => app.stop([BOT]));

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
    // The view copies a selection as it is made; paste only once that copy finished.
    await waitFor("the selected word copied", async () => (await session.execute(`return window.__berthTerminal.copied()`)) === marker, { timeoutMs: 5_000 });
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

    // Resize the window: the view refits, the PTY follows, `stty size` reports it. A program
    // that prints the size on every SIGWINCH (which the PTY's resize sends) shows when the
    // resize reached the PTY.
    await typeLine(`sh -c 'trap "stty size; kill \\$! 2>/dev/null" WINCH; echo winch-''ready; while :; do sleep 60 & wait \\$!; done'`);
    await waitFor("the size reporter running", async () => countLine((await term()).text, "winch-ready") >= 1, { timeoutMs: 10_000 });
    const before = await term();
    await session.cmd("POST", "/window/rect", { width: 900, height: 560 });
    const resized = await waitFor("a new terminal size", async () => {
      const t = await term();
      return t && (t.rows !== before.rows || t.cols !== before.cols) ? t : null;
    }, { timeoutMs: 10_000 });
    const want = `${resized.rows} ${resized.cols}`;
    await waitFor(`stty size = ${want}`, async () => countLine((await term()).text, want) >= 1, { timeoutMs: 10_000 });
    log(`resized ${before.rows}x${before.cols} -> ${want}`);
    await shot("resized");
    await session.cmd("POST", "/actions", { actions: [{ type: "key", id: "kbd", actions: [
      { type: "keyDown", value: CTRL }, { type: "keyDown", value: "c" }, { type: "keyUp", value: "c" }, { type: "keyUp", value: CTRL },
    ] }] });
    await typeLine("echo reporter-''ended");
    await waitFor("the shell back after the size reporter", async () => countLine((await term()).text, "reporter-ended") >= 1, { timeoutMs: 10_000 });

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

// End-to-end test of Files in the real Berth app: tauri-driver + WebKitWebDriver, a
// private containerd namespace, the `berth` CLI to prepare and to check from outside.
// Open Files, upload a file through the upload button (WebDriver sets the file input), see a
// file made by `berth exec` appear by itself (watch), open the upload in the editor, change and
// save it, and read it back with `berth exec … cat`.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/files.test.mjs

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX, RealApp } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const BOT = "e2e-files";
const app = new RealApp("files");
const cli = (...a) => app.cli(...a);
const cliOk = (...a) => app.cliOk(...a);
const shot = (what) => app.shot(what);
const clickWhenEnabled = (selector, timeoutMs) => app.clickWhenEnabled(selector, timeoutMs);

describe("Files in the real app", { skip: app.skip }, () => {
  before(() => app.start({ workspace: { bot: BOT, image: BUSYBOX } }));
  after(() => app.stop([BOT]));

  const row = (name) => `[data-testid="files-row"][data-name="${name}"]`;

  it("upload with the button, live refresh, edit and save, read back with berth exec", { timeout: 180_000 }, async () => {
    const session = app.session;
    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await clickWhenEnabled('[data-tab="files"]');
    await session.waitForElement('[data-testid="files-list"]', { timeoutMs: 30_000 });

    // Upload through the button's file input: WebDriver sets the input's file.
    const local = join(app.tmp, "uploaded note.txt");
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

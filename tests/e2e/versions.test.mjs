// End-to-end test of Versions in the real Berth app: tauri-driver + WebKitWebDriver,
// a private containerd namespace, the `berth` CLI to prepare and to check from outside.
// Save a version in the UI, change a file with `berth exec`, roll back in the UI (with its
// confirmation), and see the old content through `berth exec … cat`.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/versions.test.mjs

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { BUSYBOX, RealApp } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const BOT = "e2e-versions";
const app = new RealApp("versions");
const cli = (...a) => app.cli(...a);
const cliOk = (...a) => app.cliOk(...a);
const shot = (what) => app.shot(what);
const clickWhenEnabled = (selector, timeoutMs) => app.clickWhenEnabled(selector, timeoutMs);

describe("Versions in the real app", { skip: app.skip }, () => {
  before(() =>
    app.start({
      workspace: { bot: BOT, image: BUSYBOX },
      prepare: () => cliOk("exec", BOT, "--", "sh", "-c", "echo original > /data/notes.txt"),
    }),
  );
  after(() => app.stop([BOT]));

  it("save a version, change a file, roll back in the UI, see the old content", { timeout: 180_000 }, async () => {
    const session = app.session;
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

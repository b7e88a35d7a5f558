// End-to-end test of the real app on the Apple Container backend (BERTH_BACKEND=apple): the app
// and the CLI drive the fake `container` (crates/apple/tests/fake) in its real mode, where the
// workspace runs for real through this machine's containerd and the real bridge answers on the
// published socket. The window names the backend and lists what it cannot do; Versions say that
// only /data is captured; a version saved and rolled back in the UI restores /data.
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/apple.test.mjs

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BUSYBOX, RealApp, SOCKET } from "./harness.mjs";
import { waitFor } from "./webdriver.mjs";

const BOT = "e2e-apple";
const app = new RealApp("apple");
const cliOk = (...a) => app.cliOk(...a);
const shot = (what) => app.shot(what);
const clickWhenEnabled = (selector, timeoutMs) => app.clickWhenEnabled(selector, timeoutMs);

const FAKE = resolve(import.meta.dirname, "../../crates/apple/tests/fake/container");
const fakeDir = mkdtempSync(join(tmpdir(), "berth-e2e-apple-fake-"));

/** The fake `container`, real mode, its containers in the app's own containerd namespace (so
 *  the harness's clean-up removes them with the rest). */
function writeFake() {
  mkdirSync(join(fakeDir, "state"), { recursive: true });
  const bin = join(fakeDir, "container");
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`;
  writeFileSync(
    bin,
    [
      "#!/bin/sh",
      `export FAKE_CONTAINER_VERSION=1.2 FAKE_CONTAINER_STATE=${q(join(fakeDir, "state"))}`,
      `export FAKE_CONTAINER_LOG=${q(join(fakeDir, "calls.jsonl"))} FAKE_CONTAINER_CTR=1`,
      `export CONTAINERD_ADDRESS=${q(SOCKET ?? "")} FAKE_CONTAINER_CTR_NAMESPACE=${q(app.ns)}`,
      `exec python3 ${q(FAKE)} "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return bin;
}

describe("The real app on Apple Container", { skip: app.skip }, () => {
  before(() =>
    app.start({
      env: { BERTH_BACKEND: "apple", BERTH_CONTAINER_BIN: writeFake() },
      workspace: { bot: BOT, image: BUSYBOX },
      prepare: () => cliOk("exec", BOT, "--", "sh", "-c", "echo original > /data/notes.txt"),
    }),
  );
  after(async () => {
    await app.stop([BOT]);
    rmSync(fakeDir, { recursive: true, force: true });
  });

  it("names the backend and its limitations; versions of /data saved and rolled back in the UI", { timeout: 180_000 }, async () => {
    const session = app.session;
    assert.match(cliOk("system", "status"), /backend: +Apple Container/);

    await session.waitForElement('[data-testid="connection"]', { timeoutMs: 30_000 });
    // Found again each time: the indicator is rendered anew when the status arrives.
    const indicator = async () => session.property(await session.find('[data-testid="connection"]'), "textContent");
    let seen = "";
    await waitFor("connected to Apple Container", async () => (seen = await indicator()).includes("Apple Container"), { timeoutMs: 30_000 }).catch((e) => {
      throw new Error(`${e.message}; the indicator said ${JSON.stringify(seen)}`);
    });
    await clickWhenEnabled('[data-testid="connection"]');
    const lim = await session.waitForElement('[data-testid="backend-limitations"]', { timeoutMs: 15_000 });
    const text = await session.text(lim);
    for (const what of ["per layer", "archives of /data", "fixes a workspace's limits", "no event stream"]) {
      assert.ok(text.includes(what), `"${what}" in ${text}`);
    }
    await app.shot("settings", { settleMs: 300 });

    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await clickWhenEnabled('[data-tab="versions"]');
    await session.waitForElement('[data-testid="versions-only-data"]', { timeoutMs: 30_000 });
    await clickWhenEnabled('[data-testid="version-save"]');
    await session.waitForElement('[data-testid="version-row"][data-version="1"] [data-testid="version-current"]', { timeoutMs: 60_000 });

    cliOk("exec", BOT, "--", "sh", "-c", "echo edited > /data/notes.txt");
    await clickWhenEnabled('[data-testid="version-row"][data-version="1"] [data-testid="version-rollback"]');
    await session.waitForElement('[data-testid="rollback-dialog"][open]');
    await clickWhenEnabled('[data-testid="rollback-confirm"]');
    await session.waitForElement('[data-testid="version-row"][data-version="2"]', { timeoutMs: 60_000 });
    await app.shot("versions", { settleMs: 300 });
    await waitFor("the old content", () => app.cli("exec", BOT, "--", "cat", "/data/notes.txt").stdout === "original\n", {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
  });
});

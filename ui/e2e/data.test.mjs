// Data transfers and Change image against the mock backend: a change of image walks pull →
// keep data → create → restore with byte bars and ends on the new image; a failed pull leaves
// the workspace as it was; export, import, restore and delete-keeping show a bar with bytes,
// speed and time left, and the export's left-out entries.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { launch, openPage, serve, shot } from "./harness.mjs";

let server;
let browser;
before(async () => {
  server = await serve();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

const phase = (p) => `[data-testid="create-progress"][data-phase="${p}"]`;

async function openChange(page, bot) {
  await page.locator(`[data-bot="${bot}"]`).click();
  await page.getByTestId("ws-change-image").click();
  const dialog = page.locator("dialog[open]");
  await dialog.waitFor();
  return dialog;
}

test("change image: pull, keep data, create, restore, and the workspace runs the new image", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=2");
  const dialog = await openChange(page, "atlas");
  assert.match(await dialog.textContent(), /\/data is kept/);
  assert.equal(await dialog.getByTestId("confirm").isDisabled(), true, "no image yet");
  await dialog.getByTestId("image-input").fill("debian:trixie");
  await shot(page, "change-image-confirm");
  await dialog.getByTestId("confirm").click();

  await page.locator(phase("pulling")).waitFor();
  await page.locator('[data-testid="stepper"] [data-step="preserve"]').waitFor();
  await page.locator(`${phase("preserving")} [data-testid="data-bar"]`).waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="data-bar"]')?.dataset.done) > 0);
  await shot(page, "change-image-preserving");
  assert.match(await page.getByTestId("create-data").textContent(), /\d+ % [\d.]+ [KM]?B \/ 3\.3 MB/);
  await page.locator(phase("restoring")).waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="data-bar"]')?.dataset.done) > 0);
  await shot(page, "change-image-restoring");
  assert.equal(await page.locator('[data-step="pull"][data-status="done"]').count(), 1);
  assert.equal(await page.locator('[data-step="preserve"][data-status="done"]').count(), 1);

  await page.locator('[data-testid="create-progress"][data-outcome="complete"]').waitFor();
  await page.getByText(/now runs debian:trixie/).waitFor();
  assert.equal(await page.getByTestId("ws-image").textContent(), "debian:trixie");
  await page.locator('.header [data-state="running"]').waitFor();
  assert.deepEqual(problems, []);
});

test("change image: a failed pull leaves the workspace running on its old image", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  const dialog = await openChange(page, "atlas");
  await dialog.getByTestId("image-input").fill("example.org/will-fail:1");
  await dialog.getByTestId("confirm").click();
  await page.locator('[data-testid="create-progress"][data-outcome="failed"]').waitFor();
  await shot(page, "change-image-failed");
  assert.equal(await page.locator('[data-step="preserve"][data-status="todo"]').count(), 1);
  await page.locator('.header [data-state="running"]').waitFor();
  assert.equal(await page.getByTestId("ws-image").textContent(), "debian:bookworm-slim");
  assert.deepEqual(problems, []);
});

test("data tab: transfers show bytes, speed and time left; export names what it left out", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=3");
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="data"]').click();
  await page.getByTestId("data-export").click();
  const bar = page.locator('[data-testid="data-export-progress"] [data-testid="data-bar"]');
  await page.waitForFunction(() => {
    const b = document.querySelector('[data-testid="data-export-progress"] [data-testid="data-bar"]');
    return b && Number(b.dataset.done) >= 1_000_000;
  });
  assert.match(await bar.textContent(), /\d+ %.*MB \/ 3\.3 MB.*\/s.*left/);
  await shot(page, "data-exporting");
  await page.getByTestId("data-export-skipped").waitFor();
  assert.match(await page.getByTestId("data-export-result").textContent(), /1\.2 MB \(37 files, 4 folders, 1 links\).*Left out 2/);
  await shot(page, "data-exported");

  await page.getByTestId("data-import").click();
  await page.getByTestId("data-start-import").click();
  await page.locator('[data-testid="data-import-progress"] [data-testid="data-bar"]').waitFor();
  await page.getByText(/Imported 37 files/).waitFor();
  assert.deepEqual(problems, []);
});

test("delete keeping data shows the preserve's bar; restore from the Data tab shows its own", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=3");
  await page.locator('[data-bot="atlas"]').click();
  await page.getByTestId("ws-delete").click();
  await page.locator("dialog[open]").getByTestId("confirm").click();
  await page.locator('[data-testid="ws-preserving"] [data-testid="data-bar"]').waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="ws-preserving"] [data-testid="data-bar"]')?.dataset.done) > 0);
  await shot(page, "delete-preserving");
  await page.getByTestId("create-workspace").waitFor();
  // Create again: the kept data comes back in a "restoring" phase with bytes.
  await page.getByTestId("create-workspace").click();
  await page.locator(`${phase("restoring")} [data-testid="data-bar"]`).waitFor({ timeout: 20_000 });
  await page.locator('[data-testid="create-progress"][data-outcome="complete"]').waitFor({ timeout: 20_000 });
  await page.getByText(/Kept data was restored/).waitFor();
  assert.deepEqual(problems, []);
});

// The Versions tab against the mock backend: save with a name, the current marker, the tree
// after a rollback (saving first), rename, delete refused with the reason, changes since a
// version, the workspace-delete dialog counting versions, and an honest "unavailable" backend.
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

const row = (page, n) => page.locator(`[data-testid="version-row"][data-version="${n}"]`);

test("save, roll back with a save first, rename, refuse a delete, show changes", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="versions"]').click();
  await page.getByText("No versions yet").waitFor();

  await page.getByTestId("version-name").fill("clean install");
  await page.getByTestId("version-save").click();
  await row(page, 1).getByText("clean install").waitFor();
  await row(page, 1).getByTestId("version-current").waitFor();
  await page.getByTestId("version-save").click();
  await row(page, 2).getByText("Version 2").waitFor();
  assert.equal(await row(page, 1).getByTestId("version-current").count(), 0, "only one current version");

  // Roll back to v1; the dialog saves the current state first by default.
  await row(page, 1).getByTestId("version-rollback").click();
  const dialog = page.getByTestId("rollback-dialog");
  await dialog.waitFor();
  assert.equal(await dialog.getByTestId("rollback-save").isChecked(), true);
  await shot(page, "versions-rollback-confirm");
  await dialog.getByTestId("rollback-confirm").click();
  await page.getByText("Rolled back to v1").waitFor();
  await row(page, 1).getByTestId("version-current").waitFor();

  // Rename inline.
  await row(page, 2).getByTestId("version-rename").click();
  const input = page.getByTestId("version-rename-input");
  await input.fill("experiment");
  await input.press("Enter");
  await row(page, 2).getByText("experiment").waitFor();

  // v1 has versions on it: the reason is shown in place.
  await row(page, 1).getByTestId("version-delete").click();
  await page.locator("dialog[open]").getByTestId("confirm").click();
  await page.getByText("Cannot delete").waitFor();
  assert.match(await page.getByRole("alert").textContent(), /v2/);

  await row(page, 2).getByTestId("version-changes").click();
  const panel = page.getByTestId("version-changes-panel");
  await panel.waitFor();
  assert.match(await panel.textContent(), /\/data\/notes\.md/);
  await shot(page, "versions-tab");

  // Deleting the workspace says how many versions go with it.
  await page.locator('[data-tab="overview"]').click();
  await page.getByTestId("ws-delete").click();
  await page.locator("dialog[open]").getByText("saved version(s) are deleted with it").waitFor();
  await page.locator("dialog[open]").getByText("Cancel").click();
  assert.deepEqual(problems, []);
});

test("a backend without native snapshots says so", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?versions=unsupported");
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="versions"]').click();
  await page.getByTestId("versions-unavailable").waitFor();
  assert.equal(await page.getByTestId("version-save").count(), 0);
  assert.deepEqual(problems, []);
});

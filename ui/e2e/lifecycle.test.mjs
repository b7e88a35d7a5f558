// Bots and workspaces around the create flow: add (with validation), stop/start, delete with
// confirmation, honest empty tabs, host networking, and a missing containerd.
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

test("add a bot: client-side rules, server refusal, then success", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.getByTestId("add-bot").click();
  const input = page.getByTestId("add-bot-input");
  await input.fill("Bad_Name");
  await page.getByTestId("add-bot-error").waitFor();
  assert.match(await page.getByTestId("add-bot-error").textContent(), /lowercase/);
  await shot(page, "add-bot-invalid");

  await input.fill("atlas");
  await input.press("Enter");
  await page.getByText('A bot named "atlas" already exists').waitFor();

  await input.fill("e2e-bot");
  await input.press("Enter");
  await page.locator('[data-bot="e2e-bot"][aria-current="page"]').waitFor();
  await page.getByTestId("create-workspace").waitFor();
  assert.equal(await page.locator('[data-bot="e2e-bot"] [data-state="absent"]').count(), 1);
  await shot(page, "add-bot-created");
  assert.deepEqual(problems, []);
});

test("stop and start a workspace", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  assert.equal(await page.getByTestId("ws-start").isDisabled(), true);
  await page.getByTestId("ws-stop").click();
  await page.locator('.header [data-state="stopped"]').waitFor();
  await page.locator('[data-bot="atlas"] [data-state="stopped"]').waitFor();
  assert.equal(await page.getByTestId("ws-stop").isDisabled(), true);
  await shot(page, "workspace-stopped");
  await page.getByTestId("ws-start").click();
  await page.locator('.header [data-state="running"]').waitFor();

  await page.locator('[data-tab="activity"]').click();
  const list = page.getByTestId("activity-list");
  await list.waitFor();
  const first = list.locator("li").first();
  await assert.doesNotReject(first.getByText("workspace.started").waitFor());
  assert.match(await list.textContent(), /workspace\.stopped/);
  await shot(page, "activity");
  assert.deepEqual(problems, []);
});

test("delete a workspace and a bot, each after confirmation", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="scribe"]').click();
  await page.getByTestId("ws-delete").click();
  const dialog = page.locator("dialog[open]");
  await dialog.waitFor();
  await shot(page, "delete-workspace-confirm");
  // Cancel keeps it.
  await dialog.getByText("Cancel").click();
  await dialog.waitFor({ state: "detached" });
  assert.equal(await page.locator('.header [data-state="stopped"]').count(), 1);

  await page.getByTestId("ws-delete").click();
  // "Keep its data" is on by default; the kept archive shows on the Data tab.
  assert.equal(await page.locator("dialog[open]").getByTestId("ws-keep-data").isChecked(), true);
  await page.locator("dialog[open]").getByTestId("confirm").click();
  await page.getByTestId("create-workspace").waitFor();
  await page.locator('[data-tab="data"]').click();
  await page.getByTestId("data-kept").waitFor();
  await page.locator('[data-tab="overview"]').click();
  await page.locator('[data-bot="scribe"] [data-state="absent"]').waitFor();
  // The remembered image is offered again.
  assert.equal(await page.getByTestId("image-input").inputValue(), "docker.io/library/alpine:3.20");

  await page.getByTestId("delete-bot").click();
  await page.locator("dialog[open]").getByTestId("confirm").click();
  await page.locator('[data-bot="scribe"]').waitFor({ state: "detached" });
  assert.deepEqual(problems, []);
});

test("an error state shows the last error; tabs that need a running workspace say so", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="relay"]').click();
  await page.getByText("killed: out of memory").waitFor();
  assert.equal(await page.getByTestId("ws-start").isDisabled(), false);
  await shot(page, "workspace-error");
  await page.locator('[data-tab="skills"]').click();
  await page.getByText("Start the workspace to see and edit its skills.").waitFor();
  await shot(page, "skills-not-running");
  // An agent's configuration does not need the workspace to run; trying a server does.
  await page.locator('[data-tab="agents"]').click();
  await page.getByTestId("agent-json").getByText("berth-relay").waitFor();
  assert.deepEqual(problems, []);
});

test("the host's network only when chosen for the bot, with a warning", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?network=host");
  await page.locator('[data-bot="nova"]').click();
  // No CNI plugins: no silent fallback, the create fails and says how to fix it.
  await page.getByTestId("create-workspace").click();
  const progress = page.locator('[data-testid="create-progress"][data-outcome="failed"]');
  await progress.getByText(/no isolated network/).waitFor();
  await progress.getByRole("button", { name: "Dismiss" }).click();
  // Chosen explicitly: a warning first, then the workspace on the host's network.
  assert.equal(await page.getByTestId("host-network-warning").count(), 0);
  await page.getByTestId("host-network").check();
  assert.match(await page.getByTestId("host-network-warning").textContent(), /every service on this computer/);
  await shot(page, "host-network-choice");
  await page.getByTestId("create-workspace").click();
  await page.getByTestId("host-note").waitFor();
  assert.match(await page.getByTestId("host-note").textContent(), /Chosen for this bot/);
  assert.deepEqual(problems, []);
});

test("limits: saved for the bot, with when they apply; bad values refused", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  const limits = page.getByTestId("limits");
  await limits.waitFor();
  assert.equal(await page.getByTestId("limit-memory").inputValue(), "");
  await page.getByTestId("limit-memory").fill("16");
  await page.getByTestId("limits-save").click();
  await page.getByText("below 32 MiB").waitFor();
  await page.getByTestId("limit-memory").fill("2048");
  await page.getByTestId("limit-cpus").fill("1.5");
  await page.getByTestId("limits-save").click();
  await page.getByText("restart the workspace (stop, then start) to apply them").waitFor();
  await shot(page, "limits");
  // What was saved comes back from the backend.
  await page.locator('[data-bot="nova"]').click();
  await page.locator('[data-bot="atlas"]').click();
  await limits.waitFor();
  assert.equal(await page.getByTestId("limit-memory").inputValue(), "2048");
  assert.equal(await page.getByTestId("limit-cpus").inputValue(), "1.5");
  assert.equal(await page.getByTestId("limit-pids").inputValue(), "");
  assert.deepEqual(problems, []);
});

test("usage: read every two seconds while shown, not while the window is hidden", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.getByTestId("usage-cpu").waitFor();
  const reads = () => page.evaluate(() => window.__berthFakeStatsReads.count);
  const setHidden = (hidden) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
      document.dispatchEvent(new Event("visibilitychange"));
    }, hidden);
  // It polls while shown.
  const first = await reads();
  await page.waitForFunction((n) => window.__berthFakeStatsReads.count > n, first, { timeout: 5000 });
  // Hidden: the read under way may end, then nothing for three periods (time is what is checked).
  await setHidden(true);
  await page.waitForTimeout(500);
  const hidden = await reads();
  await page.waitForTimeout(6000);
  assert.equal(await reads(), hidden, "the Usage panel polled while the window was hidden");
  // Shown again: it reads at once.
  await setHidden(false);
  await page.waitForFunction((n) => window.__berthFakeStatsReads.count > n, hidden, { timeout: 1000 });
  assert.deepEqual(problems, []);
});

test("containerd missing: banner, then Berth's own containerd", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?containerd=down");
  const banner = page.getByTestId("containerd-banner");
  await banner.waitFor();
  assert.match(await banner.textContent(), /sudo systemctl start containerd/);
  assert.match(await page.getByTestId("connection").textContent(), /Not connected/);
  await page.locator('[data-bot="nova"]').click();
  assert.equal(await page.getByTestId("create-workspace").isDisabled(), true);
  await shot(page, "containerd-down");

  await page.getByTestId("connection").click();
  await page.getByTestId("settings-status").waitFor();
  assert.match(await page.getByTestId("settings-status").textContent(), /Not connected/);

  await page.getByTestId("run-managed").click();
  await banner.waitFor({ state: "detached" });
  assert.match(await page.getByTestId("connection").textContent(), /containerd 1\.6\.20/);
  await shot(page, "containerd-managed");
  assert.deepEqual(problems, []);
});

test("settings: validation, server refusal, save", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.getByTestId("open-settings").click();
  const socket = page.getByTestId("set-socket");
  await socket.fill("relative/containerd.sock");
  await page.getByTestId("save-settings").click();
  await page.getByText("Must be an absolute path").waitFor();
  await shot(page, "settings-invalid");
  await socket.fill("/run/other/containerd.sock");
  await page.getByTestId("save-settings").click();
  await page.getByText("Settings saved").waitFor();
  assert.match(await page.getByTestId("settings-status").textContent(), /\/run\/other\/containerd\.sock/);
  assert.deepEqual(problems, []);
});

test("data tab: export with progress, import preview (merge or replace), a dropped archive", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="data"]').click();
  await page.getByTestId("data-tab").waitFor();
  await page.getByTestId("data-export").click();
  await page.getByTestId("data-export-progress").waitFor();
  await page.getByText(/Exported/).waitFor();
  await page.getByTestId("data-import").click();
  await page.getByTestId("data-preview").getByText(/already in \/data: 3/).waitFor();
  await shot(page, "data-import-preview");
  await page.getByTestId("data-replace").check();
  await page.getByTestId("data-start-import").click();
  await page.getByText(/Imported 37 files .*replaced/).waitFor();
  // A .tar.gz dropped on the window (the Files feature's native drop event) is previewed.
  await page.evaluate(() => window.__berthFakeFiles.drop(["backup.tar.gz"], 10, 10));
  await page.getByTestId("data-preview").waitFor();
  assert.deepEqual(problems, []);
});

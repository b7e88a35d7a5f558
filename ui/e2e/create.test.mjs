// The create flow against the mock backend: progress to 100 % and running, progress surviving
// navigation, cancel, and a failed pull with "Try again".
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

const percentOf = async (page) => Number((await page.getByTestId("percent").textContent()).replace(/[^\d]/g, ""));

test("create a workspace: progress reaches 100 % and the state becomes running", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=1.5");
  await page.locator('[data-bot="nova"]').click();
  await assert.doesNotReject(page.getByTestId("image-input").waitFor());
  assert.equal(await page.getByTestId("image-input").inputValue(), "docker.io/library/ubuntu:24.04");
  await page.getByTestId("create-workspace").click();

  const panel = page.getByTestId("create-progress");
  await panel.waitFor();
  await page.locator('[data-testid="create-progress"][data-phase="pulling"] [data-testid="percent"]').waitFor();
  await page.waitForFunction(() => {
    const p = document.querySelector('[data-testid="percent"]');
    return p && Number(p.textContent.replace(/[^\d]/g, "")) >= 30;
  });
  await shot(page, "create-pulling");
  assert.equal(await page.locator(".layer").count(), 3);
  assert.match(await panel.textContent(), /MB \/ .*MB/);
  assert.match(await panel.textContent(), /ETA \d+:\d\d/);

  // Percent only grows: every value the page shows, recorded as it changes (no sampling).
  await page.evaluate(() => {
    const shown = (window.__percents = []);
    const read = () => {
      const p = document.querySelector('[data-testid="percent"]');
      if (p) shown.push(Number(p.textContent.replace(/[^\d]/g, "")));
    };
    read();
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
  });

  await page.locator('[data-testid="create-progress"][data-phase="unpacking"]').waitFor();
  const shown = await page.evaluate(() => window.__percents);
  assert.ok(shown.length >= 2, `percent changes seen while pulling: ${shown}`);
  for (let i = 1; i < shown.length; i++) {
    assert.ok(shown[i] >= shown[i - 1], `percent went back from ${shown[i - 1]} to ${shown[i]}: ${shown}`);
  }
  await shot(page, "create-unpacking");
  await page.locator('[data-testid="create-progress"][data-phase="waitingBridge"]').waitFor();
  await shot(page, "create-waiting-bridge");

  await page.locator('[data-testid="create-progress"][data-outcome="complete"]').waitFor();
  assert.equal(await percentOf(page), 100);
  await page.locator('[data-bot="nova"] [data-state="running"]').waitFor();
  await page.getByTestId("workspace-details").waitFor();
  await shot(page, "create-complete");
  assert.match(await page.getByTestId("ws-image").textContent(), /^ubuntu:24\.04$/);
  // After the linger the panel goes and the running workspace stays.
  await panel.waitFor({ state: "detached", timeout: 6000 });
  await page.locator('.header [data-state="running"]').waitFor();
  assert.deepEqual(problems, []);
});

test("progress survives navigating to another bot and another tab", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=3");
  await page.locator('[data-bot="nova"]').click();
  await page.getByTestId("create-workspace").click();
  await page.locator('[data-testid="create-progress"][data-phase="pulling"] [data-testid="percent"]').waitFor();
  const before = await percentOf(page);

  await page.locator('[data-bot="atlas"]').click();
  await page.getByTestId("workspace-details").waitFor();
  assert.equal(await page.getByTestId("create-progress").count(), 0);
  // The sidebar still shows nova creating.
  await page.locator('[data-bot="nova"] [data-state="creating"]').waitFor();

  await page.locator('[data-bot="nova"]').click();
  await page.getByTestId("create-progress").waitFor();
  const after = await percentOf(page);
  assert.ok(after >= before, `progress restarted: ${before} -> ${after}`);

  await page.locator('[data-tab="activity"]').click();
  await page.getByTestId("activity-list").waitFor();
  await page.locator('[data-tab="overview"]').click();
  await page.getByTestId("create-progress").waitFor();
  await shot(page, "create-after-navigation");

  await page.locator('[data-testid="create-progress"][data-outcome="complete"]').waitFor({ timeout: 15000 });
  assert.deepEqual(problems, []);
});

test("cancel a create", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=3");
  await page.locator('[data-bot="nova"]').click();
  await page.getByTestId("create-workspace").click();
  await page.locator('[data-testid="create-progress"][data-phase="pulling"]').waitFor();
  await page.getByTestId("cancel-create").click();
  await page.getByTestId("create-progress").waitFor({ state: "detached" });
  await page.getByTestId("create-workspace").waitFor();
  await page.locator('[data-bot="nova"] [data-state="absent"]').waitFor();
  await page.getByText("Creation of nova's workspace cancelled").waitFor();
  await shot(page, "create-cancelled");
  assert.deepEqual(problems, []);
});

test("a failed pull shows the error and Try again", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=1");
  await page.locator('[data-bot="nova"]').click();
  await page.getByTestId("image-input").fill("example/fail:1.0");
  await page.getByTestId("create-workspace").click();
  await page.locator('[data-testid="create-progress"][data-outcome="failed"]').waitFor();
  const text = await page.getByTestId("create-progress").textContent();
  assert.match(text, /registry answered 404/);
  assert.equal(await page.locator('[data-step="pull"][data-status="failed"]').count(), 1);
  await shot(page, "create-failed");

  await page.getByTestId("try-again").click();
  await page.locator('[data-testid="create-progress"][data-outcome="active"]').waitFor();
  await page.locator('[data-testid="create-progress"][data-outcome="failed"]').waitFor();
  assert.deepEqual(problems, []);
});

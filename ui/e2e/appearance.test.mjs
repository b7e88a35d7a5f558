// Dark theme and Chinese, switched in Settings and kept in localStorage across a reload.
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

test("switch to dark theme and Chinese", async () => {
  const { page, problems } = await openPage(browser.context, server.url + "?speed=4");
  await page.getByTestId("open-settings").click();
  await page.locator('[data-theme-option="dark"]').click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await page.getByTestId("language").selectOption("zh");
  await page.getByText("外观").waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), "zh-CN");
  await shot(page, "settings-dark-zh");

  await page.locator('[data-bot="atlas"]').click();
  await page.getByTestId("ws-delete").getByText("删除工作区").waitFor();
  await shot(page, "overview-dark-zh");

  await page.locator('[data-bot="nova"]').click();
  await page.getByTestId("create-workspace").click();
  await page.locator('[data-testid="create-progress"][data-phase="pulling"] [data-testid="percent"]').waitFor();
  await page.waitForTimeout(1200);
  await shot(page, "create-dark-zh");
  await page.getByTestId("cancel-create").click();
  await page.getByTestId("create-workspace").waitFor();

  // Preferences survive a reload (the fake backend does not, which is fine here).
  await page.reload();
  await page.waitForSelector(".sidebar");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await page.getByText("设置").first().waitFor();
  await page.locator('[data-bot="relay"]').click();
  await page.getByText("最近的错误").waitFor();
  await shot(page, "error-dark-zh");

  // Back to the defaults so other runs in this profile start clean.
  await page.evaluate(() => localStorage.clear());
  assert.deepEqual(problems, []);
});

test("light theme follows the OS when set to system", async () => {
  const { page } = await openPage(browser.context, server.url);
  await page.evaluate(() => localStorage.clear());
  await page.reload();
  await page.waitForSelector(".sidebar");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.waitForFunction(() => document.documentElement.dataset.theme === "light");
});

// The Terminal page against the mock backend in Chromium: a shell opens by itself, typing
// echoes, the scrollback survives leaving the page, tabs open/rename/close, links go to the
// backend, the font zooms, the theme applies, a stopped workspace is reported.
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

const buffer = (page) => page.evaluate(() => window.__berthTerminal?.text() ?? null);
const waitText = (page, needle) =>
  page.waitForFunction((n) => (window.__berthTerminal?.text() ?? "").includes(n), needle, { timeout: 5000 });

async function openTerminal(page) {
  await page.locator('[data-bot="atlas"]').first().click();
  await page.locator('[data-tab="terminal"]').click();
  await page.getByTestId("terminal-page").waitFor();
  await waitText(page, "/data # ");
}

test("type, leave and come back, tabs, links, zoom", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await openTerminal(page);
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type("echo hello-''mock");
  await page.keyboard.press("Enter");
  await waitText(page, "\nhello-mock");
  await shot(page, "terminal-echo");

  // Away and back: the same session's scrollback is replayed.
  await page.locator('[data-tab="overview"]').click();
  assert.equal(await buffer(page), null);
  await page.locator('[data-tab="terminal"]').click();
  await waitText(page, "\nhello-mock");

  // Rename by double-click; a second tab; close it.
  await page.locator('[data-testid="term-tab"] button[role="tab"]').first().dblclick();
  await page.locator("input.rename").fill("build");
  await page.locator("input.rename").press("Enter");
  await page.locator('[data-testid="term-tab"]', { hasText: "build" }).waitFor();
  await page.getByTestId("term-new").click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="term-tab"]').length === 2);
  await waitText(page, "/data # ");
  assert.ok(!(await buffer(page)).includes("hello-mock"), "a new tab has its own session");
  await page.locator('[data-testid="term-tab"]').nth(1).locator("button.x").click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="term-tab"]').length === 1);
  await waitText(page, "hello-mock");

  // Links are handed to the backend (the system browser in the app).
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type("echo https://example.com/docs");
  await page.keyboard.press("Enter");
  await waitText(page, "\nhttps://example.com/docs");
  const line = await page.evaluate(() => window.__berthTerminal.text().split("\n").findIndex((l) => l.startsWith("https://")));
  const box = await page.locator(".xterm-screen").boundingBox();
  const cell = box.height / (await page.evaluate(() => window.__berthTerminal.rows()));
  await page.mouse.move(box.x + 30, box.y + cell * (line + 0.5));
  await page.mouse.click(box.x + 30, box.y + cell * (line + 0.5), { modifiers: [] });
  await page.waitForFunction(() => (window.__berthOpenedLinks ?? []).includes("https://example.com/docs"), null, { timeout: 5000 });

  // Font zoom changes the grid.
  const cols = await page.evaluate(() => window.__berthTerminal.cols());
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.press("Control+=");
  await page.keyboard.press("Control+=");
  await page.waitForFunction((c) => window.__berthTerminal.cols() < c, cols);
  await page.keyboard.press("Control+0");
  await page.waitForFunction((c) => window.__berthTerminal.cols() === c, cols);
  assert.deepEqual(problems, []);
});

test("dark theme, and a stopped workspace offers reconnect once it runs again", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.evaluate(() => (document.documentElement.dataset.theme = "dark"));
  await openTerminal(page);
  await page.waitForFunction(() => {
    const bg = getComputedStyle(document.querySelector(".xterm-scrollable-element")).backgroundColor;
    return bg === "rgb(35, 35, 40)";
  });
  await shot(page, "terminal-dark");
  await page.locator('[data-tab="overview"]').click();
  await page.getByTestId("ws-stop").click();
  await page.locator('[data-tab="terminal"]').click();
  await page.getByTestId("term-ended").waitFor();
  assert.match(await page.getByTestId("term-ended").textContent(), /workspace stopped/i);
  assert.equal(await page.getByTestId("term-reconnect").count(), 0);
  await shot(page, "terminal-stopped");
  await page.locator('[data-tab="overview"]').click();
  await page.getByTestId("ws-start").click();
  await page.locator('[data-tab="terminal"]').click();
  await page.getByTestId("term-reconnect").click();
  await waitText(page, "/data # ");
  await page.waitForFunction(() => !document.querySelector('[data-testid="term-ended"]'));
  assert.deepEqual(problems, []);
});

// The Files tab against the mock backend: browse /data (directories first, natural order),
// breadcrumbs and the path bar, the editor (save, then a change on disk over unsaved edits shows
// reload / overwrite / diff), upload by the button with the name-exists choice, a native drop
// (simulated) into the transfer list, new folder, rename, delete with confirmation, extract, and
// keyboard navigation.
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

const names = async (page) => page.getByTestId("files-row").evaluateAll((rows) => rows.map((r) => r.dataset.name));
const row = (page, name) => page.locator(`[data-testid="files-row"][data-name="${name}"]`);

test("browse, edit with a change on disk, upload, drop, create, rename, delete, extract", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="files"]').click();
  await row(page, "README.md").waitFor();
  assert.deepEqual(await names(page), ["etc-link", "notes", "projects", "agent.py", "bundle.tar.gz", "config.json", "README.md"]);
  assert.match(await row(page, "etc-link").textContent(), /→ \/etc/);
  await page.getByTestId("files-hidden").check();
  await row(page, ".cache").waitFor();
  await page.getByTestId("files-hidden").uncheck();

  // Into a folder by double click; natural order; back by breadcrumb; the path bar.
  await row(page, "notes").dblclick();
  await row(page, "todo.txt").waitFor();
  assert.deepEqual(await names(page), ["file2.txt", "file10.txt", "todo.txt"]);
  await page.getByTestId("files-crumbs").getByText("data").click();
  await row(page, "README.md").waitFor();
  await page.getByTestId("files-path-edit").click();
  await page.getByTestId("files-path-input").fill("/etc/../data/notes/");
  await page.getByTestId("files-path-input").press("Enter");
  await row(page, "todo.txt").waitFor();
  await page.getByTestId("files-crumbs").getByText("data").click();

  // Keyboard: focus the list, move down, Enter opens the folder, Backspace goes up.
  await page.getByTestId("files-list").focus();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  await row(page, "todo.txt").waitFor();
  await page.keyboard.press("Backspace");
  await row(page, "README.md").waitFor();

  // Editor: open, change, save; then a change on disk over unsaved edits.
  await row(page, "README.md").dblclick();
  const editor = page.getByTestId("file-editor");
  await editor.locator(".cm-content").waitFor();
  await editor.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("edited\n");
  await editor.getByTestId("editor-save").click();
  await page.getByText("Saved README.md").waitFor();
  await editor.locator(".cm-content").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("unsaved\n");
  await page.evaluate(() => window.__berthFakeFiles.external("atlas", "/data/README.md", "changed by the bot\n"));
  await editor.getByTestId("editor-conflict").waitFor();
  await editor.getByTestId("editor-diff").click();
  await editor.getByTestId("editor-diff-view").getByText("changed by the bot").waitFor();
  await shot(page, "files-editor-conflict");
  await editor.getByTestId("editor-reload").click();
  await editor.locator(".cm-content").getByText("changed by the bot").waitFor();
  assert.equal(await editor.getByTestId("editor-conflict").count(), 0);
  await editor.getByTestId("editor-close").click();

  // Upload through the button; the same name again asks replace / skip / keep both.
  const file = { name: "hello.txt", mimeType: "text/plain", buffer: Buffer.from("hello\n") };
  await page.getByTestId("files-upload-input").setInputFiles(file);
  await row(page, "hello.txt").waitFor();
  await page.locator('[data-testid="files-transfer"][data-state="done"]').first().waitFor();
  await page.getByTestId("files-upload-input").setInputFiles(file);
  const dialog = page.getByTestId("files-exists-dialog");
  await dialog.getByTestId("files-exists-keep").click();
  await row(page, "hello (2).txt").waitFor();

  // A native drop (simulated) goes through the drop path into the transfer list.
  await page.evaluate(() => window.__berthFakeFiles.drop(["dropped.txt", "photos"]));
  await row(page, "dropped.txt").waitFor();
  await row(page, "photos").waitFor();
  // Dropped on a folder row: into that folder.
  const box = await row(page, "notes").boundingBox();
  await page.evaluate(([x, y]) => window.__berthFakeFiles.drop(["into-notes.txt"], x, y), [box.x + 40, box.y + box.height / 2]);
  await page.locator('[data-testid="files-transfer"]', { hasText: "into-notes.txt" }).and(page.locator('[data-state="done"]')).waitFor();
  assert.equal(await row(page, "into-notes.txt").count(), 0, "not in the current folder");

  // New folder, rename, delete with confirmation, extract.
  await page.getByTestId("files-new-dir").click();
  await page.getByTestId("files-create-name").fill("made");
  await page.getByTestId("files-create-ok").click();
  await row(page, "made").waitFor();
  await row(page, "made").click();
  await page.getByTestId("files-list").focus();
  await page.keyboard.press("F2");
  await page.getByTestId("files-rename-input").fill("renamed");
  await page.getByTestId("files-rename-input").press("Enter");
  await row(page, "renamed").waitFor();
  await row(page, "renamed").click();
  await page.getByTestId("files-delete").click();
  await page.locator("dialog[open]").getByTestId("confirm").click();
  await row(page, "renamed").waitFor({ state: "detached" });
  await row(page, "bundle.tar.gz").hover();
  await row(page, "bundle.tar.gz").getByTestId("files-extract").click();
  await row(page, "bundle").waitFor();
  await shot(page, "files-tab");
  assert.deepEqual(problems, []);
});

test("a stopped workspace says how to browse it", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  const stopped = page.locator('[data-bot] >> text=stopped').first();
  if ((await stopped.count()) === 0) return;
  await stopped.click();
  await page.locator('[data-tab="files"]').click();
  await page.getByTestId("files-not-running").waitFor();
  assert.deepEqual(problems, []);
});

// The Skills and Agents tabs against the mock backend: a skill created from the template,
// edited with live validation (an invalid name refuses the save), saved, renamed and deleted;
// the agent configuration shown; an in-workspace server added through the form, probed (its
// tools and stderr), edited, a pasted configuration imported, a failing server's reason shown,
// and removed with confirmation.
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

const card = (page, name) => page.locator(`[data-testid="skill-card"][data-skill="${name}"]`);
const srv = (page, name) => page.locator(`[data-testid="mcp-server"][data-server="${name}"]`);

test("skills: new, live validation, save, rename, delete", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="skills"]').click();
  await card(page, "hello").getByText("Greets the user.").waitFor();

  await page.getByTestId("skill-new-name").fill("pdf-forms");
  await page.getByTestId("skill-new").click();
  await card(page, "pdf-forms").waitFor();
  const editor = page.getByTestId("skill-editor");
  await editor.getByTestId("skill-valid").waitFor();

  const text = editor.getByTestId("skill-text");
  const original = await text.inputValue();
  await text.fill(original.replace("name: pdf-forms", "name: PDF"));
  await editor.getByTestId("skill-problem").getByText("may hold only").waitFor();
  assert.equal(await editor.getByTestId("skill-save").isDisabled(), true, "an invalid skill cannot be saved");
  await shot(page, "skills-invalid");
  await text.fill(original.replace("What this skill does and when to use it.", "Fill PDF forms."));
  await editor.getByTestId("skill-valid").waitFor();
  await editor.getByTestId("skill-save").click();
  await card(page, "pdf-forms").getByText("Fill PDF forms.").waitFor();

  await card(page, "pdf-forms").getByTestId("skill-rename").click();
  await page.getByTestId("skill-rename-input").fill("pdf");
  await page.getByTestId("skill-rename-input").press("Enter");
  await card(page, "pdf").getByText("Fill PDF forms.").waitFor();
  assert.equal(await card(page, "pdf-forms").count(), 0);
  await shot(page, "skills");

  // Another skills folder: empty there; back to the default, the skills are there again.
  await page.getByTestId("skill-root-change").click();
  await page.getByTestId("skill-root-input").fill("/data/agent/skills");
  await page.getByTestId("skill-root-input").press("Enter");
  await page.getByTestId("skill-root").getByText("/data/agent/skills").waitFor();
  await page.getByTestId("skills-empty").waitFor();
  await page.getByTestId("skill-root-change").click();
  await page.getByRole("button", { name: "Default" }).click();
  await page.getByTestId("skill-root").getByText("/data/.skills").waitFor();
  await card(page, "pdf").getByText("Fill PDF forms.").waitFor();

  await card(page, "pdf").getByTestId("skill-delete").click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await card(page, "pdf").waitFor({ state: "detached" });
  assert.deepEqual(problems, []);
});

test("agents: configuration, add, probe, edit, import, a failing server, remove", async () => {
  const { page, problems } = await openPage(browser.context, server.url);
  await page.locator('[data-bot="atlas"]').click();
  await page.locator('[data-tab="agents"]').click();
  await page.getByTestId("agent-json").getByText('"mcp"').waitFor();
  assert.match(await page.getByTestId("agent-cli").innerText(), /^claude mcp add berth-atlas -- \/usr\/bin\/berth mcp serve atlas$/);
  await page.getByTestId("mcp-empty").waitFor();

  await page.getByTestId("mcp-add").click();
  const form = page.getByTestId("mcp-form");
  await form.getByTestId("mcp-form-name").fill("fx");
  await form.getByTestId("mcp-form-command").fill("sh");
  await form.getByTestId("mcp-form-args").fill("/data/fixture.sh\nit's one argument");
  await form.getByTestId("mcp-form-env").fill("novalue");
  await form.getByText("not KEY=VALUE: novalue").waitFor();
  assert.equal(await form.getByTestId("mcp-form-save").isDisabled(), true);
  await form.getByTestId("mcp-form-env").fill("GREETING=hola");
  await form.getByTestId("mcp-form-save").click();
  await srv(page, "fx").getByText("'it'\\''s one argument'").waitFor();

  await srv(page, "fx").getByTestId("mcp-probe").click();
  await srv(page, "fx").getByTestId("mcp-status").getByText("running: 2 tools").waitFor();
  await srv(page, "fx").getByTestId("mcp-tools").getByText("fx__echo").waitFor();
  await srv(page, "fx").getByTestId("mcp-stderr").getByText("fx: started").waitFor();

  await srv(page, "fx").getByTestId("mcp-edit").click();
  await page.getByTestId("mcp-form-cwd").fill("/data/tools");
  await page.getByTestId("mcp-form-save").click();
  await page.getByTestId("mcp-form").waitFor({ state: "detached" });

  await page.getByTestId("mcp-import-toggle").click();
  await page.getByTestId("mcp-import-text").fill('{"mcpServers": {"everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}}');
  await page.getByTestId("mcp-import").click();
  await srv(page, "everything").waitFor();
  await srv(page, "everything").getByTestId("mcp-probe").click();
  await srv(page, "everything").getByTestId("mcp-error").getByText("has no `npx`").waitFor();
  await shot(page, "agents");

  await srv(page, "everything").getByTestId("mcp-delete").click();
  await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
  await srv(page, "everything").waitFor({ state: "detached" });
  assert.equal(await srv(page, "fx").count(), 1);
  assert.deepEqual(problems, []);
});

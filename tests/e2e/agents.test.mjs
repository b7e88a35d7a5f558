// End-to-end test of the Skills and Agents tabs in the real Berth app (tauri-driver +
// WebKitWebDriver, a private containerd namespace, the `berth` CLI to prepare and check).
// Skills: a skill the bot made is listed, an invalid one with its badge; a skill created and
// edited in the app is what `berth skills show` prints; a skill the bot adds while the tab is
// open appears by itself. Agents: the configuration names the real `berth`; an in-workspace
// MCP server added with `berth mcp add` is probed from the app (its tools and stderr).
//
// Run through scripts/e2e.sh, or: eval "$(scripts/services.sh env)"; xvfb-run -a node --test tests/e2e/agents.test.mjs

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDragSource, dragOntoApp } from "./drag.mjs";
import { BUSYBOX, CLI, HERE, RealApp } from "./harness.mjs";
import { Keys, waitFor } from "./webdriver.mjs";

const BOT = "e2e-agents";
const app = new RealApp("agents");
const cliOk = (...a) => app.cliOk(...a);
const shot = (what) => app.shot(what);
const clickWhenEnabled = (selector, timeoutMs) => app.clickWhenEnabled(selector, timeoutMs);
const skill = (name) => `---\nname: ${name}\ndescription: Made by the bot.\n---\nSteps.\n`;

describe("Skills and Agents in the real app", { skip: app.skip }, () => {
  before(() =>
    app.start({
      workspace: { bot: BOT, image: BUSYBOX },
      prepare: () => {
        cliOk("exec", BOT, "--", "sh", "-c", `mkdir -p /data/.skills/bot-made /data/.skills/broken && printf '%s' '${skill("bot-made")}' > /data/.skills/bot-made/SKILL.md && echo nope > /data/.skills/broken/SKILL.md`);
        cliOk("cp", join(HERE, "../fixtures/mcp-fixture.sh"), `${BOT}:/data/fixture.sh`);
        cliOk("mcp", "add", BOT, "fx", "--env", "GREETING=hola", "--", "sh", "/data/fixture.sh");
      },
    }),
  );
  after(() => app.stop([BOT]));

  it("lists, creates, edits and follows skills", { timeout: 180_000 }, async () => {
    const s = app.session;
    await clickWhenEnabled(`[data-bot="${BOT}"]`, 30_000);
    await clickWhenEnabled('[data-tab="skills"]');
    const card = (name) => `[data-testid="skill-card"][data-skill="${name}"]`;
    await s.waitForElement(card("bot-made"), { timeoutMs: 30_000 });
    await s.waitForElement(`${card("broken")} [data-testid="skill-invalid"]`);

    await s.sendKeys(await s.waitForElement('[data-testid="skill-new-name"]'), "from-app");
    await clickWhenEnabled('[data-testid="skill-new"]');
    await s.waitForElement(`${card("from-app")}`, { timeoutMs: 30_000 });
    const text = await s.waitForElement('[data-testid="skill-text"]');
    await waitFor("the template in the editor", async () => (await s.property(text, "value")).includes("name: from-app"));
    const edited = (await s.property(text, "value")).replace("What this skill does and when to use it.", "Written in the app.");
    await s.clear(text);
    // WebDriver types a newline as the Enter key (a bare "\n" is dropped).
    await s.sendKeys(text, edited.replaceAll("\n", Keys.ENTER));
    await waitFor("the typed text", async () => (await s.property(text, "value")) === edited);
    await s.waitForElement('[data-testid="skill-valid"]');
    await clickWhenEnabled('[data-testid="skill-save"]');
    await waitFor("the saved skill", () => app.cli("skills", "show", BOT, "from-app").stdout === edited, { timeoutMs: 15_000, intervalMs: 300 });
    await shot("skills");

    // The bot adds a skill while the tab is open: it appears by itself (the watch).
    cliOk("exec", BOT, "--", "sh", "-c", `mkdir -p /data/.skills/later && printf '%s' '${skill("later")}' > /data/.skills/later/SKILL.md`);
    await s.waitForElement(card("later"), { timeoutMs: 15_000 });
    const listed = JSON.parse(cliOk("skills", "ls", BOT, "--json"));
    assert.deepEqual(listed.map((x) => [x.name, x.valid]), [["bot-made", true], ["broken", false], ["from-app", true], ["later", true]]);
  });

  it("adds a skill folder dropped on the tab (a real drag)", { timeout: 120_000 }, async (t) => {
    const source = buildDragSource(app);
    if (!source) {
      assert.ok(!process.env.CI, "no C compiler or GTK 3 headers to build the drag source");
      return t.skip("no C compiler or GTK 3 headers to build the drag source");
    }
    const folder = join(app.tmp, "dropped-skill");
    mkdirSync(join(folder, "scripts"), { recursive: true });
    writeFileSync(join(folder, "SKILL.md"), skill("dropped-skill"));
    writeFileSync(join(folder, "scripts", "run.sh"), "echo dropped\n");
    await dragOntoApp(app, source, folder);
    await app.session.waitForElement('[data-testid="skill-card"][data-skill="dropped-skill"]', { timeoutMs: 30_000 });
    assert.equal(cliOk("exec", BOT, "--", "cat", "/data/.skills/dropped-skill/scripts/run.sh"), "echo dropped\n");
    await shot("skill-dropped");
  });

  it("shows the agent configuration and probes an in-workspace server", { timeout: 120_000 }, async () => {
    const s = app.session;
    await clickWhenEnabled('[data-tab="agents"]');
    const json = await s.waitForElement('[data-testid="agent-json"]', { timeoutMs: 30_000 });
    const config = JSON.parse(await s.text(json));
    const entry = config.mcpServers[`berth-${BOT}`];
    assert.equal(entry.command, CLI, "the app names the berth next to it");
    assert.deepEqual(entry.args, ["mcp", "serve", BOT]);
    assert.equal(entry.env.BERTH_NAMESPACE, app.ns, "an agent reaches the Berth this app uses");

    await clickWhenEnabled('[data-testid="mcp-server"][data-server="fx"] [data-testid="mcp-probe"]');
    const status = await s.waitForElement('[data-server="fx"] [data-testid="mcp-status"]', { timeoutMs: 40_000 });
    assert.match(await s.text(status), /running: 3 tools/);
    await s.waitForElement('[data-server="fx"] [data-testid="mcp-tools"]');
    const stderr = await s.text(await s.waitForElement('[data-server="fx"] [data-testid="mcp-stderr"]'));
    assert.match(stderr, /fixture: started/);
    await shot("agents");
  });
});

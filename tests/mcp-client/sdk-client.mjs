// Drives `berth mcp serve BOT` with the official TypeScript MCP SDK over stdio, the way Claude
// Desktop or Cursor launch it: every tool called, errors checked to be `isError` results, a
// timed-out exec followed by a working one, skills as prompts. Exits non-zero on the first
// failed check. Usage: node sdk-client.mjs BERTH_BINARY BOT   (the workspace of BOT runs, with
// /data/.skills/hello as tests/tests/mcp.rs makes it)
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [berth, bot] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: berth,
  args: ["mcp", "serve", bot],
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "berth-sdk-test", version: "1.0.0" });
await client.connect(transport);

const text = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");
const call = (name, args) => client.callTool({ name, arguments: args });

const { tools } = await client.listTools();
assert.deepEqual(
  tools.map((t) => t.name).sort(),
  ["edit_file", "exec", "get_skill", "list_dir", "list_skills", "read_file", "write_file"],
);
for (const t of tools) {
  const readOnly = ["read_file", "list_dir", "list_skills", "get_skill"].includes(t.name);
  assert.equal(t.annotations.readOnlyHint, readOnly, t.name);
  assert.equal(t.annotations.destructiveHint, !readOnly, t.name);
}

let r = await call("write_file", { path: "sdk/notes.txt", content: "one\ntwo\nthree\n" });
assert.equal(r.isError, false, text(r));
r = await call("edit_file", { path: "sdk/notes.txt", old_text: "two", new_text: "2" });
assert.equal(r.isError, false, text(r));
r = await call("read_file", { path: "/data/sdk/notes.txt", offset: 2, limit: 1 });
assert.equal(r.content[0].text, "2\n");
assert.equal(r.structuredContent.total_lines, 3);
r = await call("list_dir", { path: "sdk" });
assert.match(text(r), /notes\.txt {2}12/);
r = await call("list_skills", {});
assert.match(text(r), /^hello: Says hello/m);
r = await call("get_skill", { name: "hello" });
assert.match(text(r), /^---\nname: hello\n/);

// errors are results the agent reads, and the session goes on
r = await call("read_file", { path: "no/such/file" });
assert.equal(r.isError, true);
assert.match(text(r), /no such file|not found|does not exist/i);
r = await call("edit_file", { path: "sdk/notes.txt", old_text: "absent", new_text: "x" });
assert.equal(r.isError, true);
assert.match(text(r), /not found/);
r = await call("write_file", { path: "/opt/berth/x", content: "x" });
assert.equal(r.isError, true);
assert.match(text(r), /read-only/);
r = await call("get_skill", { name: ".." });
assert.equal(r.isError, true);

// a timed-out exec kills its processes and the next one works
let progress = 0;
r = await client.callTool(
  { name: "exec", arguments: { command: "echo started; sleep 30", timeout_s: 2 } },
  undefined,
  { onprogress: () => progress++, timeout: 20000 },
);
assert.equal(r.isError, true);
assert.equal(r.structuredContent.timed_out, true);
assert.match(r.structuredContent.stdout, /started/);
assert.ok(progress >= 1, `progress notifications: ${progress}`);
r = await call("exec", { command: "echo $GREETING; pwd; ps | grep -c '[s]leep 30' || true", env: { GREETING: "hi there" } });
assert.equal(r.isError, false, text(r));
assert.equal(r.structuredContent.exit_code, 0);
assert.equal(r.structuredContent.stdout, "hi there\n/data\n0\n");

const { prompts } = await client.listPrompts();
assert.deepEqual(prompts.map((p) => p.name), ["hello"]);
const prompt = await client.getPrompt({ name: "hello" });
assert.match(prompt.messages[0].content.text, /name: hello/);

await client.close();
console.log("sdk client: every check passed");
